/*===- FakeCuda.c - A CUDA driver without a GPU, for tests -------*- C -*-===*
 *
 * Part of qat-mlir. The driver functions the runtime opens (qat_cuda.c),
 * implemented on host memory: "device" memory is malloc'ed, copies are
 * memcpy, kernels are counted but not run. With QAT_CUDA_LIBRARY pointing
 * here, a GPU library runs its whole host side (module loading, device
 * buffers, copies, launches, streams) on a machine without a GPU, and
 * fake_cuda_counts() says what it asked the driver for.
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qat_cuda_driver.h"

/* Every function below has the type the runtime calls it through. */
#define FAKE_PROTOTYPE(name, result, params) result name params;
QAT_CUDA_FUNCTIONS(FAKE_PROTOTYPE)
#undef FAKE_PROTOTYPE

typedef struct {
  long allocations, frees, copies, launches, live;
} fake_cuda_counts_t;

static fake_cuda_counts_t counts;
static char handle; /* any non-null address serves as a handle */

void fake_cuda_counts(fake_cuda_counts_t *out) { *out = counts; }

CUresult cuInit(unsigned flags) { (void)flags; return 0; }
CUresult cuDeviceGetCount(int *count) { *count = 1; return 0; }
CUresult cuDeviceGet(CUdevice *device, int ordinal) { *device = ordinal; return 0; }
CUresult cuDeviceGetName(char *name, int length, CUdevice device) {
  (void)device;
  strncpy(name, "fake GPU", (size_t)length);
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  (void)device;
  *context = (CUcontext)&handle;
  return 0;
}
CUresult cuCtxSetCurrent(CUcontext context) { (void)context; return 0; }
CUresult cuGetErrorString(CUresult error, const char **text) {
  (void)error;
  *text = "fake error";
  return 0;
}
CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  (void)image;
  *module = (CUmodule)&handle;
  return 0;
}
CUresult cuModuleUnload(CUmodule module) { (void)module; return 0; }
CUresult cuModuleGetFunction(CUfunction *function, CUmodule module,
                             const char *name) {
  (void)module;
  (void)name;
  *function = (CUfunction)&handle;
  return 0;
}
CUresult cuLaunchKernel(CUfunction function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        CUstream stream, void **params, void **extra) {
  (void)function, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz;
  (void)smem, (void)stream, (void)params, (void)extra;
  ++counts.launches;
  return 0;
}
CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  (void)flags;
  *stream = (CUstream)&handle;
  return 0;
}
CUresult cuStreamSynchronize(CUstream stream) { (void)stream; return 0; }
CUresult cuStreamDestroy_v2(CUstream stream) { (void)stream; return 0; }
CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned flags) {
  (void)stream, (void)event, (void)flags;
  return 0;
}
CUresult cuEventCreate(CUevent *event, unsigned flags) {
  (void)flags;
  *event = (CUevent)&handle;
  return 0;
}
CUresult cuEventDestroy_v2(CUevent event) { (void)event; return 0; }
CUresult cuEventSynchronize(CUevent event) { (void)event; return 0; }
CUresult cuEventRecord(CUevent event, CUstream stream) {
  (void)event, (void)stream;
  return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t size) {
  void *memory = calloc(1, size);
  if (!memory)
    return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  *pointer = (CUdeviceptr)(uintptr_t)memory;
  ++counts.allocations;
  ++counts.live;
  return 0;
}
CUresult cuMemAllocManaged(CUdeviceptr *pointer, size_t size, unsigned flags) {
  (void)flags;
  return cuMemAlloc_v2(pointer, size);
}
CUresult cuMemFree_v2(CUdeviceptr pointer) {
  free((void *)(uintptr_t)pointer);
  ++counts.frees;
  --counts.live;
  return 0;
}
CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t size,
                       CUstream stream) {
  (void)stream;
  memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, size);
  ++counts.copies;
  return 0;
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count,
                          CUstream stream) {
  (void)stream;
  for (size_t i = 0; i < count; ++i)
    ((unsigned *)(uintptr_t)dst)[i] = value;
  return 0;
}
CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value, size_t count,
                          CUstream stream) {
  (void)stream;
  for (size_t i = 0; i < count; ++i)
    ((unsigned short *)(uintptr_t)dst)[i] = value;
  return 0;
}
