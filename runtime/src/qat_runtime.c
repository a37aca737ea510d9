/*===- qat_runtime.c - The qat-mlir runtime C API ---------------*- C -*-===*
 *
 * Part of qat-mlir. See include/qat_runtime/qat_runtime.h.
 *
 *===----------------------------------------------------------------------===*/

#define _GNU_SOURCE
#include "qat_runtime/qat_runtime.h"

#include "qat_cuda.h"

#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <pthread.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*===------------------------------------------------------------------===*
 * Status
 *===------------------------------------------------------------------===*/

struct qat_status_t {
  qat_status_code code;
  char message[];
};

/* Out-of-memory while reporting an error still yields a status. */
static struct {
  qat_status_code code;
  char message[32];
} out_of_memory = {QAT_STATUS_RESOURCE_EXHAUSTED, "out of memory"};

static qat_status make_status(qat_status_code code, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (length < 0)
    length = 0;
  qat_status status = malloc(sizeof(*status) + (size_t)length + 1);
  if (!status)
    return (qat_status)&out_of_memory;
  status->code = code;
  va_start(args, format);
  vsnprintf(status->message, (size_t)length + 1, format, args);
  va_end(args);
  return status;
}

qat_status_code qat_status_get_code(qat_status status) {
  return status ? status->code : QAT_STATUS_OK;
}

const char *qat_status_message(qat_status status) {
  return status ? status->message : "";
}

void qat_status_free(qat_status status) {
  if (status != (qat_status)&out_of_memory)
    free(status);
}

/*===------------------------------------------------------------------===*
 * Tensors
 *===------------------------------------------------------------------===*/

struct qat_tensor {
  qat_dtype dtype;
  int32_t rank;
  int64_t shape[QAT_MAX_RANK];
  int64_t num_elements;
  void *data;
  int owns_data;
};

size_t qat_dtype_size(qat_dtype dtype) {
  return (size_t)qat_abi_dtype_size(dtype);
}

const char *qat_dtype_name(qat_dtype dtype) {
  return qat_abi_dtype_name(dtype);
}

/* Writes "[2x3x?]" into buffer. */
static const char *format_shape(char *buffer, size_t size, int32_t rank,
                                const int64_t *shape) {
  size_t used = (size_t)snprintf(buffer, size, "[");
  for (int32_t i = 0; i < rank && used < size; ++i) {
    if (shape[i] < 0)
      used += (size_t)snprintf(buffer + used, size - used, "%s?", i ? "x" : "");
    else
      used += (size_t)snprintf(buffer + used, size - used, "%s%lld",
                               i ? "x" : "", (long long)shape[i]);
  }
  if (used < size)
    snprintf(buffer + used, size - used, "]");
  return buffer;
}

static qat_status new_tensor(qat_dtype dtype, int32_t rank,
                             const int64_t *shape, qat_tensor **out) {
  if (!out)
    return make_status(QAT_STATUS_INVALID_ARGUMENT, "out must not be NULL");
  *out = NULL;
  if (qat_dtype_size(dtype) == 0)
    return make_status(QAT_STATUS_INVALID_ARGUMENT, "unknown dtype %d",
                       (int)dtype);
  if (rank < 0 || rank > QAT_MAX_RANK)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "rank %d is outside [0, %d]", (int)rank, QAT_MAX_RANK);
  if (rank > 0 && !shape)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "shape must not be NULL for rank %d", (int)rank);
  int64_t count = 1;
  const int64_t limit = INT64_MAX / 16; /* room for the byte size */
  for (int32_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return make_status(QAT_STATUS_INVALID_ARGUMENT,
                         "dimension %d has negative size %lld", (int)i,
                         (long long)shape[i]);
    if (shape[i] != 0 && count > limit / shape[i])
      return make_status(QAT_STATUS_INVALID_ARGUMENT,
                         "the tensor's size overflows");
    count *= shape[i];
  }
  qat_tensor *tensor = calloc(1, sizeof(*tensor));
  if (!tensor)
    return make_status(QAT_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  tensor->dtype = dtype;
  tensor->rank = rank;
  if (rank)
    memcpy(tensor->shape, shape, sizeof(int64_t) * (size_t)rank);
  tensor->num_elements = count;
  *out = tensor;
  return NULL;
}

qat_status qat_tensor_create(qat_dtype dtype, int32_t rank,
                             const int64_t *shape, qat_tensor **out) {
  qat_status status = new_tensor(dtype, rank, shape, out);
  if (status)
    return status;
  qat_tensor *tensor = *out;
  size_t bytes = qat_tensor_byte_size(tensor);
  /* Round up to the alignment (aligned_alloc requires it); never 0. */
  size_t padded = (bytes + QAT_TENSOR_ALIGNMENT - 1) / QAT_TENSOR_ALIGNMENT *
                  QAT_TENSOR_ALIGNMENT;
  if (padded == 0)
    padded = QAT_TENSOR_ALIGNMENT;
  tensor->data = aligned_alloc(QAT_TENSOR_ALIGNMENT, padded);
  if (!tensor->data) {
    free(tensor);
    *out = NULL;
    return make_status(QAT_STATUS_RESOURCE_EXHAUSTED,
                       "cannot allocate %zu bytes", padded);
  }
  memset(tensor->data, 0, padded);
  tensor->owns_data = 1;
  return NULL;
}

qat_status qat_tensor_wrap(qat_dtype dtype, int32_t rank, const int64_t *shape,
                           void *data, qat_tensor **out) {
  qat_status status = new_tensor(dtype, rank, shape, out);
  if (status)
    return status;
  if (!data && (*out)->num_elements > 0) {
    free(*out);
    *out = NULL;
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "data must not be NULL for a non-empty tensor");
  }
  (*out)->data = data;
  return NULL;
}

void qat_tensor_release(qat_tensor *tensor) {
  if (!tensor)
    return;
  if (tensor->owns_data)
    free(tensor->data);
  free(tensor);
}

void *qat_tensor_data(const qat_tensor *t) { return t ? t->data : NULL; }
qat_dtype qat_tensor_dtype(const qat_tensor *t) {
  return t ? t->dtype : (qat_dtype)0;
}
int32_t qat_tensor_rank(const qat_tensor *t) { return t ? t->rank : 0; }
const int64_t *qat_tensor_shape(const qat_tensor *t) {
  return t ? t->shape : NULL;
}
int64_t qat_tensor_num_elements(const qat_tensor *t) {
  return t ? t->num_elements : 0;
}
size_t qat_tensor_byte_size(const qat_tensor *t) {
  return t ? (size_t)t->num_elements * qat_dtype_size(t->dtype) : 0;
}

/*===------------------------------------------------------------------===*
 * Modules
 *===------------------------------------------------------------------===*/

struct qat_entry {
  const qat_abi_entry *abi;
  const struct qat_module *module;
  /* Every tensor has a static shape (qat_entry_invoke_static may call it). */
  int all_static;
};

struct qat_module {
  void *handle;
  const qat_abi_module *info;
  qat_entry *entries;
  /* GPU code: detach is set once attached; unavailable says why the entries
   * cannot run (NULL when they can). */
  int gpu;
  qat_gpu_detach_fn detach;
  char *unavailable;
};

/* The tables come from a library: check them before trusting them. */
static qat_status check_tensor_table(const char *path, const char *entry,
                                     const qat_abi_tensor *table,
                                     int32_t count) {
  if (count < 0 || (count > 0 && !table))
    return make_status(QAT_STATUS_FAILED_PRECONDITION,
                       "%s: entry '%s' has a malformed signature", path, entry);
  for (int32_t i = 0; i < count; ++i) {
    const qat_abi_tensor *t = &table[i];
    if (!t->name || qat_dtype_size((qat_dtype)t->dtype) == 0 || t->rank < 0 ||
        t->rank > QAT_MAX_RANK || (t->rank > 0 && !t->shape))
      return make_status(QAT_STATUS_FAILED_PRECONDITION,
                         "%s: entry '%s' has a malformed tensor #%d", path,
                         entry, (int)i);
  }
  return NULL;
}

/* Compiled programs allocate their temporaries (im2col matrices, gradients)
 * on every call and free them before returning. glibc serves blocks of
 * 128 KiB and more with mmap and gives freed memory back to the kernel, so
 * every call would fault those pages in again (measured: 3.5x slower CNN
 * gradients). qat_runtime_keep_freed_memory keeps freed memory in the heap
 * instead; it runs its body once per process (pthread_once). */
static int keep_freed_memory_applied;

static void keep_freed_memory_once(void) {
#ifdef __GLIBC__
  const char *choice = getenv("QAT_RUNTIME_MALLOC");
  if (choice && strcmp(choice, "system") == 0)
    return;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1); /* never trim (mallopt(3)) */
  keep_freed_memory_applied = 1;
#endif
}

int qat_runtime_keep_freed_memory(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, keep_freed_memory_once);
  return keep_freed_memory_applied;
}

static int tensors_are_static(const qat_abi_tensor *tensors, int32_t count) {
  for (int32_t i = 0; i < count; ++i)
    for (int32_t d = 0; d < tensors[i].rank; ++d)
      if (tensors[i].shape[d] < 0)
        return 0;
  return 1;
}

static int entry_is_static(const qat_abi_entry *e) {
  return tensors_are_static(e->args, e->num_args) &&
         tensors_are_static(e->results, e->num_results);
}

/* A module with GPU code gets the CUDA runtime functions and loads its
 * kernels, when there is a GPU; otherwise it records why not. */
static void attach_gpu(qat_module *module, const char *path) {
  qat_gpu_attach_fn attach =
      (qat_gpu_attach_fn)dlsym(module->handle, QAT_GPU_ATTACH_SYMBOL);
  if (!attach)
    return;
  module->gpu = 1;
  char why[600] = "";
  const char *reason = qat_cuda_unavailable();
  if (reason)
    snprintf(why, sizeof(why), "%s has GPU code, but there is %s", path,
             reason);
  else if (attach(qat_cuda_lookup) != 0)
    snprintf(why, sizeof(why),
             "%s needs a GPU runtime function this runtime lacks", path);
  else {
    module->detach =
        (qat_gpu_detach_fn)dlsym(module->handle, QAT_GPU_DETACH_SYMBOL);
    char error[512];
    if (qat_cuda_take_error(error, sizeof(error)))
      snprintf(why, sizeof(why), "%s: loading its kernels on %s: %s", path,
               qat_cuda_device_name(), error);
  }
  if (why[0])
    module->unavailable = strdup(why);
}

qat_status qat_module_open(const char *path, qat_module **out) {
  if (!path || !out)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "path and out must not be NULL");
  *out = NULL;
  /* A bare file name is a file in the current directory, not a library for
   * dlopen to search for. */
  char local[4096];
  const char *file = path;
  if (!strchr(path, '/')) {
    if (snprintf(local, sizeof(local), "./%s", path) >= (int)sizeof(local))
      return make_status(QAT_STATUS_INVALID_ARGUMENT, "path too long: %s",
                         path);
    file = local;
  }
  void *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return make_status(QAT_STATUS_NOT_FOUND, "cannot load %s: %s", path,
                       dlerror());
  qat_module_info_fn info_fn =
      (qat_module_info_fn)dlsym(handle, QAT_MODULE_INFO_SYMBOL);
  if (!info_fn) {
    dlclose(handle);
    return make_status(QAT_STATUS_FAILED_PRECONDITION,
                       "%s is not a qat-compile library (no %s symbol)", path,
                       QAT_MODULE_INFO_SYMBOL);
  }
  const qat_abi_module *info = info_fn();
  qat_status status = NULL;
  if (!info || info->abi_version < QAT_ABI_MIN_VERSION ||
      info->abi_version > QAT_ABI_VERSION)
    status = make_status(QAT_STATUS_FAILED_PRECONDITION,
                         "%s was built for runtime ABI version %u, this "
                         "runtime implements versions %d to %d",
                         path, info ? info->abi_version : 0u,
                         QAT_ABI_MIN_VERSION, QAT_ABI_VERSION);
  else if (info->num_entries < 0 || (info->num_entries > 0 && !info->entries))
    status = make_status(QAT_STATUS_FAILED_PRECONDITION,
                         "%s has a malformed entry table", path);
  for (int32_t i = 0; !status && i < info->num_entries; ++i) {
    const qat_abi_entry *e = &info->entries[i];
    if (!e->name || !e->invoke) {
      status = make_status(QAT_STATUS_FAILED_PRECONDITION,
                           "%s has a malformed entry #%d", path, (int)i);
      break;
    }
    status = check_tensor_table(path, e->name, e->args, e->num_args);
    if (!status)
      status = check_tensor_table(path, e->name, e->results, e->num_results);
  }
  qat_module *module = NULL;
  if (!status) {
    module = calloc(1, sizeof(*module));
    if (module)
      module->entries = calloc(
          info->num_entries ? (size_t)info->num_entries : 1, sizeof(qat_entry));
    if (!module || !module->entries) {
      free(module);
      module = NULL;
      status = make_status(QAT_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  if (status) {
    dlclose(handle);
    return status;
  }
  module->handle = handle;
  module->info = info;
  for (int32_t i = 0; i < info->num_entries; ++i) {
    module->entries[i].abi = &info->entries[i];
    module->entries[i].module = module;
    module->entries[i].all_static = entry_is_static(&info->entries[i]);
  }
  attach_gpu(module, path);
  *out = module;
  return NULL;
}

void qat_module_release(qat_module *module) {
  if (!module)
    return;
  if (module->detach) {
    module->detach();
    qat_cuda_release_memory();
  }
  dlclose(module->handle);
  free(module->unavailable);
  free(module->entries);
  free(module);
}

const char *qat_module_device(const qat_module *module) {
  return !module ? "" : module->gpu ? "cuda" : "cpu";
}

const char *qat_module_unavailable(const qat_module *module) {
  return module ? module->unavailable : NULL;
}

int32_t qat_module_num_entries(const qat_module *module) {
  return module ? module->info->num_entries : 0;
}

const qat_entry *qat_module_entry(const qat_module *module, int32_t i) {
  if (!module || i < 0 || i >= module->info->num_entries)
    return NULL;
  return &module->entries[i];
}

qat_status qat_module_find_entry(const qat_module *module, const char *name,
                                 const qat_entry **out) {
  if (!module || !name || !out)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "module, name and out must not be NULL");
  *out = NULL;
  char available[512] = "";
  size_t used = 0;
  for (int32_t i = 0; i < module->info->num_entries; ++i) {
    const char *candidate = module->entries[i].abi->name;
    if (strcmp(candidate, name) == 0) {
      *out = &module->entries[i];
      return NULL;
    }
    if (used < sizeof(available))
      used += (size_t)snprintf(available + used, sizeof(available) - used,
                               "%s%s", i ? ", " : "", candidate);
  }
  return make_status(QAT_STATUS_NOT_FOUND,
                     "no entry point '%s'; the module has: %s", name,
                     module->info->num_entries ? available : "(none)");
}

/*===------------------------------------------------------------------===*
 * Entry points
 *===------------------------------------------------------------------===*/

const char *qat_entry_name(const qat_entry *entry) {
  return entry ? entry->abi->name : "";
}
int32_t qat_entry_num_args(const qat_entry *entry) {
  return entry ? entry->abi->num_args : 0;
}
int32_t qat_entry_num_results(const qat_entry *entry) {
  return entry ? entry->abi->num_results : 0;
}

static void fill_info(const qat_abi_tensor *t, qat_tensor_info *out) {
  out->name = t->name;
  out->dtype = (qat_dtype)t->dtype;
  out->rank = t->rank;
  out->shape = t->shape;
}

qat_status qat_entry_arg_info(const qat_entry *entry, int32_t i,
                              qat_tensor_info *out) {
  if (!entry || !out)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "entry and out must not be NULL");
  if (i < 0 || i >= entry->abi->num_args)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "argument index %d out of range: '%s' has %d", (int)i,
                       entry->abi->name, (int)entry->abi->num_args);
  fill_info(&entry->abi->args[i], out);
  return NULL;
}

qat_status qat_entry_result_info(const qat_entry *entry, int32_t i,
                                 qat_tensor_info *out) {
  if (!entry || !out)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "entry and out must not be NULL");
  if (i < 0 || i >= entry->abi->num_results)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "result index %d out of range: '%s' has %d", (int)i,
                       entry->abi->name, (int)entry->abi->num_results);
  fill_info(&entry->abi->results[i], out);
  return NULL;
}

/* A tensor matches its signature: dtype, rank, static sizes. */
static qat_status check_tensor(const qat_entry *entry, const char *kind,
                               int32_t i, const qat_abi_tensor *expected,
                               const qat_tensor *actual) {
  const char *name = entry->abi->name;
  if (!actual)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "%s %d ('%s') of '%s' is NULL", kind, (int)i,
                       expected->name, name);
  char want[256], got[256];
  if (actual->dtype != (qat_dtype)expected->dtype)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "%s %d ('%s') of '%s': expected dtype %s, got %s", kind,
                       (int)i, expected->name, name,
                       qat_dtype_name((qat_dtype)expected->dtype),
                       qat_dtype_name(actual->dtype));
  int mismatch = actual->rank != expected->rank;
  for (int32_t d = 0; !mismatch && d < expected->rank; ++d)
    mismatch =
        expected->shape[d] >= 0 && expected->shape[d] != actual->shape[d];
  if (mismatch)
    return make_status(
        QAT_STATUS_INVALID_ARGUMENT,
        "%s %d ('%s') of '%s': expected shape %s, got %s", kind, (int)i,
        expected->name, name,
        format_shape(want, sizeof(want), expected->rank, expected->shape),
        format_shape(got, sizeof(got), actual->rank, actual->shape));
  return NULL;
}

/* Whether two buffers share a byte (empty or NULL ones share none). */
static int buffers_overlap(const void *a, size_t an, const void *b,
                           size_t bn) {
  const char *a0 = a, *b0 = b;
  if (!a0 || !b0 || an == 0 || bn == 0)
    return 0;
  return a0 < b0 + bn && b0 < a0 + an;
}

static int overlaps(const qat_tensor *a, const qat_tensor *b) {
  return buffers_overlap(a->data, qat_tensor_byte_size(a), b->data,
                         qat_tensor_byte_size(b));
}

/* Words of a memref descriptor of rank R: allocated, aligned, offset,
 * sizes[R], strides[R]. */
#define QAT_DESCRIPTOR_WORDS (3 + 2 * QAT_MAX_RANK)
typedef int64_t descriptor[QAT_DESCRIPTOR_WORDS];

/* The descriptor of a row-major buffer. */
static void fill_descriptor_of(descriptor d, void *data, int32_t rank,
                               const int64_t *shape) {
  memcpy(&d[0], &data, sizeof(void *));
  memcpy(&d[1], &data, sizeof(void *));
  d[2] = 0;
  int64_t stride = 1;
  for (int32_t i = rank - 1; i >= 0; --i) {
    d[3 + i] = shape[i];
    d[3 + rank + i] = stride;
    stride *= shape[i];
  }
}

static void fill_descriptor(descriptor d, const qat_tensor *t) {
  fill_descriptor_of(d, t->data, t->rank, t->shape);
}

/* Runs the entry on its descriptors; a GPU module's missing device or CUDA
 * error is the call's status. */
static qat_status run_entry(const qat_entry *entry, void **pointers) {
  const qat_abi_entry *abi = entry->abi;
  if (entry->module->unavailable)
    return make_status(QAT_STATUS_UNAVAILABLE, "cannot call '%s': %s",
                       abi->name, entry->module->unavailable);
  abi->invoke(pointers);
  char error[512];
  if (entry->module->gpu && qat_cuda_take_error(error, sizeof(error)))
    return make_status(QAT_STATUS_INTERNAL, "'%s' on the GPU: %s", abi->name,
                       error);
  return NULL;
}

static int64_t static_bytes(const qat_abi_tensor *t) {
  int64_t n = qat_abi_dtype_size(t->dtype);
  for (int32_t d = 0; d < t->rank; ++d)
    n *= t->shape[d];
  return n;
}

qat_status qat_entry_invoke_static(const qat_entry *entry, void *const *data,
                                   int32_t count) {
  if (!entry)
    return make_status(QAT_STATUS_INVALID_ARGUMENT, "entry must not be NULL");
  const qat_abi_entry *abi = entry->abi;
  int32_t expected = abi->num_args + abi->num_results;
  if (!entry->all_static)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "'%s' has a dynamic size: call it with "
                       "qat_entry_invoke",
                       abi->name);
  if (count != expected || (count > 0 && !data))
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "'%s' takes %d buffers (arguments, then results), got "
                       "%d%s",
                       abi->name, (int)expected, (int)count,
                       count > 0 && !data ? " and a NULL array" : "");
  enum { kInline = 16 };
  descriptor inline_descriptors[kInline];
  void *inline_pointers[kInline];
  descriptor *descriptors = inline_descriptors;
  void **pointers = inline_pointers;
  if (count > kInline) {
    descriptors = malloc(sizeof(descriptor) * (size_t)count);
    pointers = malloc(sizeof(void *) * (size_t)count);
  }
  qat_status status = NULL;
  if (!descriptors || !pointers)
    status = make_status(QAT_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t i = 0; !status && i < count; ++i) {
    int result = i >= abi->num_args;
    const qat_abi_tensor *t =
        result ? &abi->results[i - abi->num_args] : &abi->args[i];
    int64_t bytes = static_bytes(t);
    if (!data[i] && bytes > 0) {
      status = make_status(QAT_STATUS_INVALID_ARGUMENT,
                           "%s %d ('%s') of '%s' is NULL",
                           result ? "result" : "argument",
                           (int)(result ? i - abi->num_args : i), t->name,
                           abi->name);
      break;
    }
    /* Results never overlap arguments (the ABI lets outputs be written
     * while inputs are read). */
    for (int32_t j = 0; result && !status && j < abi->num_args; ++j)
      if (buffers_overlap(data[i], (size_t)bytes, data[j],
                          (size_t)static_bytes(&abi->args[j])))
        status = make_status(QAT_STATUS_INVALID_ARGUMENT,
                             "result %d of '%s' overlaps argument %d",
                             (int)(i - abi->num_args), abi->name, (int)j);
    fill_descriptor_of(descriptors[i], data[i], t->rank, t->shape);
    pointers[i] = descriptors[i];
  }
  if (!status)
    status = run_entry(entry, pointers);
  if (count > kInline) {
    free(descriptors);
    free(pointers);
  }
  return status;
}

qat_status qat_entry_invoke(const qat_entry *entry, qat_tensor *const *args,
                            int32_t num_args, qat_tensor *const *results,
                            int32_t num_results) {
  if (!entry)
    return make_status(QAT_STATUS_INVALID_ARGUMENT, "entry must not be NULL");
  const qat_abi_entry *abi = entry->abi;
  if (num_args != abi->num_args)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "'%s' takes %d argument%s, got %d", abi->name,
                       (int)abi->num_args, abi->num_args == 1 ? "" : "s",
                       (int)num_args);
  if (num_args > 0 && !args)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "args of '%s' is NULL: expected an array of %d "
                       "tensor%s",
                       abi->name, (int)num_args, num_args == 1 ? "" : "s");
  if (num_results != abi->num_results)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "'%s' has %d result%s, got %d result tensors", abi->name,
                       (int)abi->num_results, abi->num_results == 1 ? "" : "s",
                       (int)num_results);
  if (num_results > 0 && !results)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "results of '%s' is NULL: expected an array of %d "
                       "tensor%s",
                       abi->name, (int)num_results,
                       num_results == 1 ? "" : "s");
  for (int32_t i = 0; i < num_args; ++i) {
    qat_status status =
        check_tensor(entry, "argument", i, &abi->args[i], args[i]);
    if (status)
      return status;
  }
  for (int32_t i = 0; i < num_results; ++i) {
    qat_status status =
        check_tensor(entry, "result", i, &abi->results[i], results[i]);
    if (status)
      return status;
    for (int32_t j = 0; j < num_args; ++j)
      if (overlaps(results[i], args[j]))
        return make_status(QAT_STATUS_INVALID_ARGUMENT,
                           "result %d of '%s' overlaps argument %d", (int)i,
                           abi->name, (int)j);
  }

  int32_t count = num_args + num_results;
  descriptor *descriptors = malloc(sizeof(descriptor) * (size_t)(count + 1));
  void **pointers = malloc(sizeof(void *) * (size_t)(count + 1));
  if (!descriptors || !pointers) {
    free(descriptors);
    free(pointers);
    return make_status(QAT_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int32_t i = 0; i < count; ++i) {
    fill_descriptor(descriptors[i],
                    i < num_args ? args[i] : results[i - num_args]);
    pointers[i] = descriptors[i];
  }
  qat_status status = run_entry(entry, pointers);
  free(pointers);
  free(descriptors);
  return status;
}

qat_status qat_entry_call(const qat_entry *entry, qat_tensor *const *args,
                          int32_t num_args, qat_tensor **results,
                          int32_t num_results) {
  if (!entry)
    return make_status(QAT_STATUS_INVALID_ARGUMENT, "entry must not be NULL");
  const qat_abi_entry *abi = entry->abi;
  if (num_results != abi->num_results)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "'%s' has %d result%s, got room for %d", abi->name,
                       (int)abi->num_results, abi->num_results == 1 ? "" : "s",
                       (int)num_results);
  if (num_results > 0 && !results)
    return make_status(QAT_STATUS_INVALID_ARGUMENT,
                       "results of '%s' is NULL: expected room for %d "
                       "tensor%s",
                       abi->name, (int)num_results,
                       num_results == 1 ? "" : "s");
  for (int32_t i = 0; i < num_results; ++i)
    results[i] = NULL;
  qat_status status = NULL;
  for (int32_t i = 0; !status && i < num_results; ++i)
    status = qat_tensor_create((qat_dtype)abi->results[i].dtype,
                               abi->results[i].rank, abi->results[i].shape,
                               &results[i]);
  if (!status)
    status = qat_entry_invoke(entry, args, num_args, results, num_results);
  if (status)
    for (int32_t i = 0; i < num_results; ++i) {
      qat_tensor_release(results[i]);
      results[i] = NULL;
    }
  return status;
}
