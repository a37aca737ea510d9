/*===- qat_abi.h - The ABI between compiled modules and the runtime -*- C
 *-*-===*
 *
 * Part of qat-mlir.
 *
 * Every shared library or object that qat-compile produces exports
 *
 *     const qat_abi_module *qat_module_info(void);
 *
 * describing its entry points, and one function per entry point
 *
 *     void qat_entry_<name>(void **args);
 *
 * where args[0 .. num_args-1] point to the input memref descriptors and
 * args[num_args .. num_args+num_results-1] to the result descriptors, which
 * the caller allocates (results are out-parameters). A memref descriptor of
 * rank R is laid out as MLIR's StridedMemRefType<T, R>:
 *
 *     struct { T *allocated; T *aligned; int64_t offset;
 *              int64_t sizes[R]; int64_t strides[R]; };
 *
 * The structs below are read by the runtime and written by the compiler as
 * LLVM constants; their layout is the C layout of these declarations. Bump
 * QAT_ABI_VERSION on any change.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QAT_RUNTIME_QAT_ABI_H
#define QAT_RUNTIME_QAT_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: modules may carry GPU code (qat_gpu_attach below). The runtime also
 * opens version 1 modules, which have none. */
#define QAT_ABI_VERSION 2
#define QAT_ABI_MIN_VERSION 1

/* Element types of entry-point tensors. */
typedef enum qat_dtype {
  QAT_DTYPE_F32 = 1,
  QAT_DTYPE_F64 = 2,
  QAT_DTYPE_I1 = 3, /* one byte per element, 0 or 1 */
  QAT_DTYPE_I8 = 4, /* signless: int8 or uint8 data */
  QAT_DTYPE_I16 = 5,
  QAT_DTYPE_I32 = 6,
  QAT_DTYPE_I64 = 7,
} qat_dtype;

/* Bytes per element; 0 for an unknown dtype. */
static inline int qat_abi_dtype_size(int32_t dtype) {
  switch (dtype) {
  case QAT_DTYPE_F32:
  case QAT_DTYPE_I32:
    return 4;
  case QAT_DTYPE_F64:
  case QAT_DTYPE_I64:
    return 8;
  case QAT_DTYPE_I1:
  case QAT_DTYPE_I8:
    return 1;
  case QAT_DTYPE_I16:
    return 2;
  }
  return 0;
}

/* "f32", "i8", ...; "unknown" for an unknown dtype. */
static inline const char *qat_abi_dtype_name(int32_t dtype) {
  switch (dtype) {
  case QAT_DTYPE_F32:
    return "f32";
  case QAT_DTYPE_F64:
    return "f64";
  case QAT_DTYPE_I1:
    return "i1";
  case QAT_DTYPE_I8:
    return "i8";
  case QAT_DTYPE_I16:
    return "i16";
  case QAT_DTYPE_I32:
    return "i32";
  case QAT_DTYPE_I64:
    return "i64";
  }
  return "unknown";
}

/* A tensor in an entry-point signature. shape[i] is -1 for a dynamic size. */
typedef struct qat_abi_tensor {
  const char *name;
  int32_t dtype; /* a qat_dtype */
  int32_t rank;
  const int64_t *shape;
} qat_abi_tensor;

typedef struct qat_abi_entry {
  const char *name;
  void (*invoke)(void **args);
  int32_t num_args;
  int32_t num_results;
  const qat_abi_tensor *args;
  const qat_abi_tensor *results;
} qat_abi_entry;

typedef struct qat_abi_module {
  uint32_t abi_version; /* QAT_ABI_VERSION of the producer */
  int32_t num_entries;
  const qat_abi_entry *entries;
  const char *producer; /* e.g. "qat-compile" and the source file name */
} qat_abi_module;

/* The symbol every compiled module exports. */
#define QAT_MODULE_INFO_SYMBOL "qat_module_info"
typedef const qat_abi_module *(*qat_module_info_fn)(void);

/* A module with GPU kernels (qat-compile --target=nvptx) also exports
 *
 *     int qat_gpu_attach(void *(*lookup)(const char *name));
 *     void qat_gpu_detach(void);
 *
 * Its host code calls MLIR's GPU runtime functions (mgpuModuleLoadJIT,
 * mgpuLaunchKernel, mgpuMemAlloc, mgpuMemcpy, ...), which the module does not
 * define: attach asks `lookup` for each by name, then loads the kernels; it
 * returns 0, or 1 when `lookup` lacks a function (nothing may be called
 * then). detach unloads the kernels. The runtime attaches a module once it
 * has found a GPU, and detaches it before closing it. */
#define QAT_GPU_ATTACH_SYMBOL "qat_gpu_attach"
#define QAT_GPU_DETACH_SYMBOL "qat_gpu_detach"
typedef void *(*qat_gpu_lookup_fn)(const char *name);
typedef int (*qat_gpu_attach_fn)(qat_gpu_lookup_fn lookup);
typedef void (*qat_gpu_detach_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QAT_RUNTIME_QAT_ABI_H */
