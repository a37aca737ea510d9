/*===- qat_runtime.h - The qat-mlir runtime C API ---------------*- C -*-===*
 *
 * Part of qat-mlir.
 *
 * Opens libraries compiled by qat-compile, lists their entry points with
 * their signatures, and calls them with checked arguments.
 *
 *   qat_module *module;
 *   qat_status status = qat_module_open("libmodel.so", &module);
 *   const qat_entry *mlp;
 *   status = qat_module_find_entry(module, "mlp", &mlp);
 *   qat_tensor *x, *y;
 *   int64_t shape[2] = {1, 784};
 *   status = qat_tensor_wrap(QAT_DTYPE_F32, 2, shape, input_data, &x);
 *   status = qat_entry_call(mlp, &x, 1, &y, 1);   // allocates y
 *   ... qat_tensor_data(y) ...
 *   qat_tensor_release(y); qat_tensor_release(x);
 *   qat_module_release(module);
 *
 * Errors: every function that can fail returns a qat_status. NULL means
 * success; otherwise the caller owns the status and frees it with
 * qat_status_free. Nothing crashes on bad arguments: wrong counts, dtypes,
 * ranks and shapes are reported as QAT_STATUS_INVALID_ARGUMENT with a
 * message naming the entry, the tensor and what was expected.
 *
 * Thread safety: a qat_module and its entries are immutable once opened;
 * entries may be called from several threads at once (the compiled code keeps
 * no mutable global state). A qat_tensor is not synchronized: do not write a
 * tensor while another thread reads it. A qat_status belongs to its caller.
 *
 * Memory: compiled entries allocate their temporaries with malloc on every
 * call. Nothing here changes process-wide settings on its own; a program
 * that calls large entries repeatedly (training) should call
 * qat_runtime_keep_freed_memory once, which tunes glibc's malloc so freed
 * memory is reused rather than returned to the kernel and faulted in again.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QAT_RUNTIME_QAT_RUNTIME_H
#define QAT_RUNTIME_QAT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "qat_runtime/qat_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===------------------------------------------------------------------===*
 * Status
 *===------------------------------------------------------------------===*/

/* Canonical codes (the values of absl/gRPC status codes). */
typedef enum qat_status_code {
  QAT_STATUS_OK = 0,
  QAT_STATUS_INVALID_ARGUMENT = 3,
  QAT_STATUS_NOT_FOUND = 5,
  QAT_STATUS_RESOURCE_EXHAUSTED = 8,
  QAT_STATUS_FAILED_PRECONDITION = 9,
  QAT_STATUS_UNIMPLEMENTED = 12,
  QAT_STATUS_INTERNAL = 13,
  /* A module with GPU code, and no usable GPU (no CUDA driver, no device). */
  QAT_STATUS_UNAVAILABLE = 14,
} qat_status_code;

typedef struct qat_status_t *qat_status; /* NULL: OK */

/* The code of a status; QAT_STATUS_OK for NULL. */
qat_status_code qat_status_get_code(qat_status status);
/* The message; "" for NULL. Valid until qat_status_free. */
const char *qat_status_message(qat_status status);
/* Frees a status; NULL is allowed. Ownership: the caller owns every
 * non-NULL status a function returns and frees it exactly once. */
void qat_status_free(qat_status status);

/*===------------------------------------------------------------------===*
 * Tensors
 *===------------------------------------------------------------------===*/

/* Bytes per element of a dtype; 0 for an unknown one. */
size_t qat_dtype_size(qat_dtype dtype);
/* "f32", "i8", ...; "unknown" for an unknown dtype. */
const char *qat_dtype_name(qat_dtype dtype);

/* A dense, row-major tensor of rank <= QAT_MAX_RANK. */
#define QAT_MAX_RANK 16
typedef struct qat_tensor qat_tensor;

/* A tensor whose buffer the runtime allocates (QAT_TENSOR_ALIGNMENT-byte
 * aligned, zero-filled) and frees in qat_tensor_release. */
#define QAT_TENSOR_ALIGNMENT 64
qat_status qat_tensor_create(qat_dtype dtype, int32_t rank,
                             const int64_t *shape, qat_tensor **out);

/* A tensor over a caller-owned buffer of at least the tensor's byte size.
 * The buffer must outlive the tensor; the runtime never frees it. Any
 * alignment of the element type is accepted. */
qat_status qat_tensor_wrap(qat_dtype dtype, int32_t rank, const int64_t *shape,
                           void *data, qat_tensor **out);

/* Frees the tensor (and its buffer when the runtime allocated it). NULL is
 * allowed. Ownership: the caller owns every tensor that qat_tensor_create,
 * qat_tensor_wrap and qat_entry_call return and releases each exactly once,
 * after its last use; a tensor does not depend on the module whose entry
 * produced it. A wrapped buffer stays the caller's. */
void qat_tensor_release(qat_tensor *tensor);

/* The accessors below accept NULL: data, shape NULL; dtype, rank, counts 0. */
void *qat_tensor_data(const qat_tensor *tensor);
qat_dtype qat_tensor_dtype(const qat_tensor *tensor);
int32_t qat_tensor_rank(const qat_tensor *tensor);
/* rank sizes, valid while the tensor lives. */
const int64_t *qat_tensor_shape(const qat_tensor *tensor);
int64_t qat_tensor_num_elements(const qat_tensor *tensor);
size_t qat_tensor_byte_size(const qat_tensor *tensor);

/*===------------------------------------------------------------------===*
 * Process settings
 *===------------------------------------------------------------------===*/

/* Makes glibc's malloc keep freed memory for reuse, for the whole process:
 * no mmap for large blocks, no trimming of the heap (mallopt). Compiled
 * entries allocate and free their temporaries on every call, and glibc's
 * defaults return large blocks to the kernel, so every call faults their
 * pages in again (CNN training steps ran 3.5x slower). The process then
 * keeps its peak heap size.
 *
 * Call it once, before the calls that matter; it is thread-safe, and calls
 * after the first do nothing. It changes nothing when the environment has
 * QAT_RUNTIME_MALLOC=system or the C library is not glibc. Returns 1 when
 * the setting is in force, 0 otherwise. */
int qat_runtime_keep_freed_memory(void);

/*===------------------------------------------------------------------===*
 * Modules and entry points
 *===------------------------------------------------------------------===*/

typedef struct qat_module qat_module;
/* An entry point; owned by its module, valid until qat_module_release. */
typedef struct qat_entry qat_entry;

/* Opens a shared library produced by qat-compile (a file path; a bare name is
 * a file in the current directory). Fails with NOT_FOUND when
 * the file cannot be loaded, FAILED_PRECONDITION when it is not a qat-compile
 * library or was built for another ABI version.
 *
 * A library with GPU code (qat-compile --target=nvptx) opens the CUDA driver
 * (libcuda.so.1 through dlopen; $QAT_CUDA_LIBRARY overrides the file) and
 * loads its kernels on device 0. Without a usable GPU it still opens, and
 * every call of its entries fails with QAT_STATUS_UNAVAILABLE saying why
 * (qat_module_unavailable tells it in advance). Tensors stay in host memory:
 * each call copies its inputs to the GPU and its results back. */
qat_status qat_module_open(const char *path, qat_module **out);
/* "cpu", or "cuda" for a library with GPU code; "" for NULL. */
const char *qat_module_device(const qat_module *module);
/* NULL when the module's entries can run; otherwise why not (a GPU module
 * on a machine without a usable GPU, or kernels the driver rejected). */
const char *qat_module_unavailable(const qat_module *module);
/* Closes the library; its entries become invalid. NULL is allowed.
 * Ownership: the caller owns the module a successful qat_module_open returns
 * and releases it exactly once, when no thread is calling its entries;
 * tensors stay valid. */
void qat_module_release(qat_module *module);

int32_t qat_module_num_entries(const qat_module *module);
/* The i-th entry, or NULL when i is out of range. */
const qat_entry *qat_module_entry(const qat_module *module, int32_t i);
/* NOT_FOUND (listing the available names) when there is no such entry. */
qat_status qat_module_find_entry(const qat_module *module, const char *name,
                                 const qat_entry **out);

/* A tensor of an entry's signature: shape[i] is -1 for a dynamic size.
 * Pointers stay valid while the module is open. */
typedef struct qat_tensor_info {
  const char *name;
  qat_dtype dtype;
  int32_t rank;
  const int64_t *shape;
} qat_tensor_info;

/* For a NULL entry: "" and 0 arguments and results. */
const char *qat_entry_name(const qat_entry *entry);
int32_t qat_entry_num_args(const qat_entry *entry);
int32_t qat_entry_num_results(const qat_entry *entry);
/* Fills *out for argument / result i; INVALID_ARGUMENT when out of range. */
qat_status qat_entry_arg_info(const qat_entry *entry, int32_t i,
                              qat_tensor_info *out);
qat_status qat_entry_result_info(const qat_entry *entry, int32_t i,
                                 qat_tensor_info *out);

/* Calls the entry with caller-provided result tensors, after checking the
 * count, dtype, rank and static sizes of every argument and result. Results
 * must not overlap arguments. */
qat_status qat_entry_invoke(const qat_entry *entry, qat_tensor *const *args,
                            int32_t num_args, qat_tensor *const *results,
                            int32_t num_results);

/* The fast path, for bindings that check dtypes and shapes once per call
 * themselves (Python's Entry): calls an entry whose tensors all have static
 * shapes on raw buffers, `data` holding the arguments' then the results'
 * (`count` = arguments + results), each row-major with the entry's dtype and
 * shape, which the caller vouches for. The count, NULL buffers and results
 * overlapping arguments are still checked; INVALID_ARGUMENT for an entry
 * with a dynamic size. No allocation for up to 16 buffers. */
qat_status qat_entry_invoke_static(const qat_entry *entry, void *const *data,
                                   int32_t count);

/* Like qat_entry_invoke, but creates the result tensors (the caller releases
 * them). On failure no result is left allocated. */
qat_status qat_entry_call(const qat_entry *entry, qat_tensor *const *args,
                          int32_t num_args, qat_tensor **results,
                          int32_t num_results);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QAT_RUNTIME_QAT_RUNTIME_H */
