/*===- qat_cuda_driver.h - The CUDA driver API, as used (internal) -*- C -*-===*
 *
 * Part of qat-mlir. The driver types and functions the runtime opens with
 * dlopen (qat_cuda.c), declared here instead of taken from cuda.h, which
 * the runtime must build without. The test driver (unittests/Runtime/
 * FakeCuda.c) defines the same functions against this list, so their types
 * are the ones the runtime calls through.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QAT_RUNTIME_SRC_QAT_CUDA_DRIVER_H
#define QAT_RUNTIME_SRC_QAT_CUDA_DRIVER_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef unsigned long long CUdeviceptr;
enum { CUDA_SUCCESS = 0 };
enum { CU_STREAM_NON_BLOCKING = 1, CU_EVENT_DISABLE_TIMING = 2 };
enum { CU_MEM_ATTACH_GLOBAL = 1 };

#define QAT_CUDA_FUNCTIONS(X)                                                  \
  X(cuInit, CUresult, (unsigned))                                              \
  X(cuDeviceGetCount, CUresult, (int *))                                       \
  X(cuDeviceGet, CUresult, (CUdevice *, int))                                  \
  X(cuDeviceGetName, CUresult, (char *, int, CUdevice))                        \
  X(cuDevicePrimaryCtxRetain, CUresult, (CUcontext *, CUdevice))               \
  X(cuCtxSetCurrent, CUresult, (CUcontext))                                    \
  X(cuGetErrorString, CUresult, (CUresult, const char **))                     \
  X(cuModuleLoadData, CUresult, (CUmodule *, const void *))                    \
  X(cuModuleUnload, CUresult, (CUmodule))                                      \
  X(cuModuleGetFunction, CUresult, (CUfunction *, CUmodule, const char *))     \
  X(cuLaunchKernel, CUresult,                                                  \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,   \
     unsigned, CUstream, void **, void **))                                    \
  X(cuStreamCreate, CUresult, (CUstream *, unsigned))                          \
  X(cuStreamSynchronize, CUresult, (CUstream))                                 \
  X(cuStreamDestroy_v2, CUresult, (CUstream))                                  \
  X(cuStreamWaitEvent, CUresult, (CUstream, CUevent, unsigned))                \
  X(cuEventCreate, CUresult, (CUevent *, unsigned))                            \
  X(cuEventDestroy_v2, CUresult, (CUevent))                                    \
  X(cuEventSynchronize, CUresult, (CUevent))                                   \
  X(cuEventRecord, CUresult, (CUevent, CUstream))                              \
  X(cuMemAlloc_v2, CUresult, (CUdeviceptr *, size_t))                          \
  X(cuMemAllocManaged, CUresult, (CUdeviceptr *, size_t, unsigned))            \
  X(cuMemFree_v2, CUresult, (CUdeviceptr))                                     \
  X(cuMemcpyAsync, CUresult, (CUdeviceptr, CUdeviceptr, size_t, CUstream))     \
  X(cuMemsetD32Async, CUresult, (CUdeviceptr, unsigned, size_t, CUstream))     \
  X(cuMemsetD16Async, CUresult, (CUdeviceptr, unsigned short, size_t, CUstream))

#endif /* QAT_RUNTIME_SRC_QAT_CUDA_DRIVER_H */
