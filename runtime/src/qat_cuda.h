/*===- qat_cuda.h - The runtime's GPU support (internal) ----------*- C -*-===*
 *
 * Part of qat-mlir. MLIR's GPU runtime functions on the CUDA driver, opened
 * with dlopen when a module with GPU code is opened (qat_cuda.c).
 *
 *===----------------------------------------------------------------------===*/

#ifndef QAT_RUNTIME_SRC_QAT_CUDA_H
#define QAT_RUNTIME_SRC_QAT_CUDA_H

#include <stddef.h>

/* NULL when a CUDA device is ready; otherwise why not ("no CUDA driver
 * (...)", "no CUDA device (...)"). The first call opens the driver
 * ($QAT_CUDA_LIBRARY, else libcuda.so.1) and device 0. */
const char *qat_cuda_unavailable(void);

/* The device's name, or NULL when none is ready. */
const char *qat_cuda_device_name(void);

/* The mgpu* function called `name`, for qat_gpu_attach; NULL if unknown. */
void *qat_cuda_lookup(const char *name);

/* Moves the calling thread's first GPU error since the last call into
 * `buffer`; returns 1 when there was one. */
int qat_cuda_take_error(char *buffer, size_t size);

/* Returns the kept device memory to the driver (when a module closes). */
void qat_cuda_release_memory(void);

#endif /* QAT_RUNTIME_SRC_QAT_CUDA_H */
