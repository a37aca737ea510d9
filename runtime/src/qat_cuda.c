/*===- qat_cuda.c - MLIR's GPU runtime functions on the CUDA driver -*- C -*-===*
 *
 * Part of qat-mlir. Host code from qat-gpu-pipeline calls MLIR's GPU runtime
 * functions (mgpuModuleLoadJIT, mgpuLaunchKernel, mgpuMemAlloc, mgpuMemcpy,
 * ...). Debian ships no libmlir_cuda_runtime, and nothing here may need CUDA
 * to build or to run the CPU path: these implement them on the CUDA driver
 * API, opened with dlopen("libcuda.so.1") the first time a GPU module is
 * opened. The signatures are MLIR's (mlir/lib/ExecutionEngine/
 * CudaRuntimeWrappers.cpp); the driver types are declared here, not taken
 * from cuda.h.
 *
 * Errors cannot be returned through these signatures: the first one of a
 * thread is kept, and the runtime turns it into the status of the call
 * (qat_cuda_take_error).
 *
 *===----------------------------------------------------------------------===*/

#define _GNU_SOURCE
#include "qat_cuda.h"
#include "qat_cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
#define QAT_DECLARE(name, result, params) result(*name) params;
  QAT_CUDA_FUNCTIONS(QAT_DECLARE)
#undef QAT_DECLARE
} cu;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CUcontext context;
static char unavailable[512]; /* empty once a device is ready */
static bool keep_memory;      /* $QAT_GPU_KEEP_MEMORY is not 0 */
static char device_name[256];

static void init_cuda(void) {
  const char *keep = getenv("QAT_GPU_KEEP_MEMORY");
  keep_memory = !keep || strcmp(keep, "0") != 0;
  const char *path = getenv("QAT_CUDA_LIBRARY");
  if (!path || !*path)
    path = "libcuda.so.1";
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    snprintf(unavailable, sizeof(unavailable),
             "no CUDA driver (%s could not be loaded: %s)", path, dlerror());
    return;
  }
#define QAT_LOAD(name, result, params)                                         \
  cu.name = (result(*) params)dlsym(library, #name);                           \
  if (!cu.name) {                                                              \
    snprintf(unavailable, sizeof(unavailable),                                 \
             "the CUDA driver %s lacks %s (too old?)", path, #name);           \
    return;                                                                    \
  }
  QAT_CUDA_FUNCTIONS(QAT_LOAD)
#undef QAT_LOAD
  CUresult rc = cu.cuInit(0);
  int count = 0;
  if (rc == CUDA_SUCCESS)
    rc = cu.cuDeviceGetCount(&count);
  if (rc != CUDA_SUCCESS || count == 0) {
    const char *why = NULL;
    if (rc != CUDA_SUCCESS && cu.cuGetErrorString(rc, &why) != CUDA_SUCCESS)
      why = NULL;
    snprintf(unavailable, sizeof(unavailable), "no CUDA device (%s)",
             rc != CUDA_SUCCESS ? (why ? why : "cuInit failed")
                                : "the driver reports none");
    return;
  }
  CUdevice device;
  rc = cu.cuDeviceGet(&device, 0);
  if (rc == CUDA_SUCCESS)
    rc = cu.cuDevicePrimaryCtxRetain(&context, device);
  if (rc != CUDA_SUCCESS) {
    snprintf(unavailable, sizeof(unavailable),
             "CUDA device 0 cannot be used (error %d)", rc);
    return;
  }
  if (cu.cuDeviceGetName(device_name, sizeof(device_name), device) !=
      CUDA_SUCCESS)
    snprintf(device_name, sizeof(device_name), "CUDA device 0");
  unavailable[0] = '\0';
}

const char *qat_cuda_unavailable(void) {
  pthread_once(&init_once, init_cuda);
  return unavailable[0] ? unavailable : NULL;
}

const char *qat_cuda_device_name(void) {
  return qat_cuda_unavailable() ? NULL : device_name;
}

/*===------------------------------------------------------------------===*
 * Errors: the first of each thread, until taken
 *===------------------------------------------------------------------===*/

static _Thread_local char thread_error[512];

static void record(const char *call, CUresult rc) {
  if (thread_error[0])
    return;
  const char *text = NULL;
  if (cu.cuGetErrorString && cu.cuGetErrorString(rc, &text) != CUDA_SUCCESS)
    text = NULL;
  snprintf(thread_error, sizeof(thread_error), "%s failed: %s (CUDA error %d)",
           call, text ? text : "unknown error", rc);
}

int qat_cuda_take_error(char *buffer, size_t size) {
  if (!thread_error[0])
    return 0;
  snprintf(buffer, size, "%s", thread_error);
  thread_error[0] = '\0';
  return 1;
}

/* Every call runs on the primary context of device 0 (current per thread). */
#define QAT_CHECK(call)                                                        \
  do {                                                                         \
    CUresult rc_ = (call);                                                     \
    if (rc_ != CUDA_SUCCESS)                                                   \
      record(#call, rc_);                                                      \
  } while (0)

static bool ready(const char *what) {
  if (qat_cuda_unavailable()) {
    if (!thread_error[0])
      snprintf(thread_error, sizeof(thread_error), "%s: %s", what,
               unavailable);
    return false;
  }
  QAT_CHECK(cu.cuCtxSetCurrent(context));
  return true;
}

/*===------------------------------------------------------------------===*
 * MLIR's GPU runtime functions
 *===------------------------------------------------------------------===*/

static void *mgpuModuleLoad(void *data, size_t size) {
  (void)size;
  CUmodule module = NULL;
  if (ready("loading the kernels"))
    QAT_CHECK(cu.cuModuleLoadData(&module, data));
  return module;
}

static void *mgpuModuleLoadJIT(void *data, int optLevel) {
  (void)optLevel; /* the driver's default JIT level */
  return mgpuModuleLoad(data, 0);
}

static void mgpuModuleUnload(void *module) {
  if (module && ready("unloading the kernels"))
    QAT_CHECK(cu.cuModuleUnload((CUmodule)module));
}

static void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = NULL;
  if (module && ready("finding a kernel"))
    QAT_CHECK(cu.cuModuleGetFunction(&function, (CUmodule)module, name));
  return function;
}

static void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount) {
  (void)paramsCount;
  if (!function) {
    if (!thread_error[0])
      snprintf(thread_error, sizeof(thread_error),
               "a kernel was launched that was not loaded");
    return;
  }
  if (ready("launching a kernel"))
    QAT_CHECK(cu.cuLaunchKernel((CUfunction)function, (unsigned)gridX,
                                (unsigned)gridY, (unsigned)gridZ,
                                (unsigned)blockX, (unsigned)blockY,
                                (unsigned)blockZ, (unsigned)smem,
                                (CUstream)stream, params, extra));
}

static void *mgpuStreamCreate(void) {
  CUstream stream = NULL;
  if (ready("creating a stream"))
    QAT_CHECK(cu.cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
  return stream;
}

static void release_pending(CUstream stream);

static void mgpuStreamSynchronize(void *stream) {
  if (!ready("waiting for the GPU"))
    return;
  CUresult rc = cu.cuStreamSynchronize((CUstream)stream);
  if (rc != CUDA_SUCCESS) {
    record("cuStreamSynchronize", rc);
    return;
  }
  release_pending((CUstream)stream);
}

static void mgpuStreamDestroy(void *stream) {
  if (!stream || !ready("destroying a stream"))
    return;
  /* Whatever was freed on it is unused once it has finished. */
  mgpuStreamSynchronize(stream);
  QAT_CHECK(cu.cuStreamDestroy_v2((CUstream)stream));
}

static void mgpuStreamWaitEvent(void *stream, void *event) {
  if (ready("ordering GPU work"))
    QAT_CHECK(cu.cuStreamWaitEvent((CUstream)stream, (CUevent)event, 0));
}

static void *mgpuEventCreate(void) {
  CUevent event = NULL;
  if (ready("creating an event"))
    QAT_CHECK(cu.cuEventCreate(&event, CU_EVENT_DISABLE_TIMING));
  return event;
}

static void mgpuEventDestroy(void *event) {
  if (event && ready("destroying an event"))
    QAT_CHECK(cu.cuEventDestroy_v2((CUevent)event));
}

static void mgpuEventSynchronize(void *event) {
  if (ready("waiting for an event"))
    QAT_CHECK(cu.cuEventSynchronize((CUevent)event));
}

static void mgpuEventRecord(void *event, void *stream) {
  if (ready("recording an event"))
    QAT_CHECK(cu.cuEventRecord((CUevent)event, (CUstream)stream));
}

/*===------------------------------------------------------------------===*
 * Device memory kept across calls
 *
 * A call allocates its device buffers (inputs, results, activations) and
 * frees them before it returns. Unless $QAT_GPU_KEEP_MEMORY is 0 (read when
 * the driver is opened), a freed
 * buffer is kept instead of going back to the driver, and the next
 * allocation of the same size takes it: from the second call on, a model's
 * activations live in the same device memory and no call pays for
 * cuMemAlloc/cuMemFree (which synchronizes the device). A buffer freed on a
 * stream becomes reusable only once that stream has been synchronized, so
 * one call's buffers never serve a concurrent call while its kernels may
 * still use them. qat_cuda_release_memory() returns the kept memory.
 *===------------------------------------------------------------------===*/

typedef struct {
  CUdeviceptr pointer;
  size_t size;
  CUstream stream; /* pending: the stream it was freed on */
} qat_block;

typedef struct {
  qat_block *blocks;
  size_t count, capacity;
} qat_blocks;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static qat_blocks pool_live;    /* allocated through the pool, in use */
static qat_blocks pool_pending; /* freed, their stream not yet synchronized */
static qat_blocks pool_idle;    /* free for the next allocation */

static bool blocks_push(qat_blocks *list, qat_block block) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? 2 * list->capacity : 16;
    qat_block *grown = realloc(list->blocks, capacity * sizeof(qat_block));
    if (!grown)
      return false;
    list->blocks = grown;
    list->capacity = capacity;
  }
  list->blocks[list->count++] = block;
  return true;
}

static qat_block blocks_take(qat_blocks *list, size_t index) {
  qat_block block = list->blocks[index];
  list->blocks[index] = list->blocks[--list->count];
  return block;
}

static void *mgpuMemAlloc(uint64_t size, void *stream, bool isHostShared) {
  (void)stream;
  CUdeviceptr pointer = 0;
  if (size == 0 || !ready("allocating GPU memory"))
    return NULL;
  if (isHostShared) {
    QAT_CHECK(cu.cuMemAllocManaged(&pointer, size, CU_MEM_ATTACH_GLOBAL));
    return (void *)(uintptr_t)pointer;
  }
  pthread_mutex_lock(&pool_lock);
  for (size_t i = 0; i < pool_idle.count; ++i)
    if (pool_idle.blocks[i].size == size) {
      qat_block block = blocks_take(&pool_idle, i);
      pointer = block.pointer;
      break;
    }
  if (!pointer) {
    CUresult rc = cu.cuMemAlloc_v2(&pointer, size);
    if (rc != CUDA_SUCCESS)
      record("cuMemAlloc_v2", rc);
  }
  /* Untracked (no memory for the list), it goes back to the driver. */
  if (pointer)
    (void)blocks_push(&pool_live, (qat_block){pointer, size, NULL});
  pthread_mutex_unlock(&pool_lock);
  return (void *)(uintptr_t)pointer;
}

static void mgpuMemFree(void *pointer, void *stream) {
  if (!pointer || !ready("freeing GPU memory"))
    return;
  CUdeviceptr device = (CUdeviceptr)(uintptr_t)pointer;
  pthread_mutex_lock(&pool_lock);
  for (size_t i = 0; i < pool_live.count; ++i)
    if (pool_live.blocks[i].pointer == device) {
      qat_block block = blocks_take(&pool_live, i);
      block.stream = (CUstream)stream;
      if (keep_memory && blocks_push(&pool_pending, block)) {
        pthread_mutex_unlock(&pool_lock);
        return;
      }
      break;
    }
  pthread_mutex_unlock(&pool_lock);
  QAT_CHECK(cu.cuMemFree_v2(device));
}

/* The buffers freed on `stream`, which has been synchronized, are free. */
static void release_pending(CUstream stream) {
  pthread_mutex_lock(&pool_lock);
  for (size_t i = 0; i < pool_pending.count;) {
    if (pool_pending.blocks[i].stream != stream) {
      ++i;
      continue;
    }
    qat_block block = blocks_take(&pool_pending, i);
    block.stream = NULL;
    if (!blocks_push(&pool_idle, block))
      QAT_CHECK(cu.cuMemFree_v2(block.pointer));
  }
  pthread_mutex_unlock(&pool_lock);
}

void qat_cuda_release_memory(void) {
  if (qat_cuda_unavailable())
    return;
  /* Nobody is left to report an error to: they are ignored. */
  (void)cu.cuCtxSetCurrent(context);
  pthread_mutex_lock(&pool_lock);
  while (pool_idle.count)
    (void)cu.cuMemFree_v2(blocks_take(&pool_idle, 0).pointer);
  pthread_mutex_unlock(&pool_lock);
}

static void mgpuMemcpy(void *dst, void *src, size_t size, void *stream) {
  if (size && ready("copying to or from the GPU"))
    QAT_CHECK(cu.cuMemcpyAsync((CUdeviceptr)(uintptr_t)dst,
                               (CUdeviceptr)(uintptr_t)src, size,
                               (CUstream)stream));
}

static void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream) {
  if (count && ready("filling GPU memory"))
    QAT_CHECK(cu.cuMemsetD32Async((CUdeviceptr)(uintptr_t)dst, value, count,
                                  (CUstream)stream));
}

static void mgpuMemset16(void *dst, int value, size_t count, void *stream) {
  if (count && ready("filling GPU memory"))
    QAT_CHECK(cu.cuMemsetD16Async((CUdeviceptr)(uintptr_t)dst,
                                  (unsigned short)value, count,
                                  (CUstream)stream));
}

/*===------------------------------------------------------------------===*
 * Lookup by name, for qat_gpu_attach
 *===------------------------------------------------------------------===*/

void *qat_cuda_lookup(const char *name) {
  /* clang-format off */
  static const struct {
    const char *name;
    void *function;
  } table[] = {
#define QAT_ENTRY(fn) {#fn, (void *)fn},
    QAT_ENTRY(mgpuModuleLoad)
    QAT_ENTRY(mgpuModuleLoadJIT)
    QAT_ENTRY(mgpuModuleUnload)
    QAT_ENTRY(mgpuModuleGetFunction)
    QAT_ENTRY(mgpuLaunchKernel)
    QAT_ENTRY(mgpuStreamCreate)
    QAT_ENTRY(mgpuStreamDestroy)
    QAT_ENTRY(mgpuStreamSynchronize)
    QAT_ENTRY(mgpuStreamWaitEvent)
    QAT_ENTRY(mgpuEventCreate)
    QAT_ENTRY(mgpuEventDestroy)
    QAT_ENTRY(mgpuEventSynchronize)
    QAT_ENTRY(mgpuEventRecord)
    QAT_ENTRY(mgpuMemAlloc)
    QAT_ENTRY(mgpuMemFree)
    QAT_ENTRY(mgpuMemcpy)
    QAT_ENTRY(mgpuMemset32)
    QAT_ENTRY(mgpuMemset16)
#undef QAT_ENTRY
  };
  /* clang-format on */
  if (!name)
    return NULL;
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); ++i)
    if (strcmp(table[i].name, name) == 0)
      return table[i].function;
  return NULL;
}
