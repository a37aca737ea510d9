//===- Passes.h - GPU code generation ---------------------------*- C++ -*-===//
//
// Part of qat-mlir. Passes and public functions that take bufferized loops
// onto an NVIDIA GPU (qat-gpu-pipeline, docs/GPU.md).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CODEGEN_GPU_PASSES_H
#define QAT_CODEGEN_GPU_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::qat {

/// Lowers every linalg op of `func` (buffers) to loops mapped to a grid of
/// GPU threads, one per parallel iteration, `threadsPerBlock` per block
/// (qat-gpu-map-loops).
LogicalResult mapLinalgToGpuThreads(func::FuncOp func,
                                    int64_t threadsPerBlock = 256);

/// Replaces every int8 x int8 -> int32 `linalg.matmul` of `func` by a
/// tensor-core kernel (dp4a below 16 rows), fusing the elementwise consumer
/// of its accumulator as the epilogue (qat-gpu-tensor-core-matmul). With
/// `emulateOnHost`, the same kernels as loops for the CPU, the warps'
/// mma.sync computed from the PTX fragment layouts. Returns how many
/// matmuls it replaced.
FailureOr<int64_t> mapInt8MatmulsToTensorCores(func::FuncOp func,
                                               bool emulateOnHost = false);

/// Moves every kernel of `module`'s gpu.modules into the first one and
/// points the launches at it (qat-gpu-merge-kernel-modules).
LogicalResult mergeKernelModules(ModuleOp module);

/// Moves the constants (memref.global) that kernels take as arguments into
/// the device image: each kernel reads its copy there, loaded once with the
/// module, instead of one copied in every call (qat-gpu-device-buffers'
/// resident-constants).
LogicalResult makeConstantsResident(ModuleOp module);

/// Gives the kernels `func` launches device copies of the host buffers they
/// use, copying arguments and constants in, written arguments back out, and
/// turning temporaries into device allocations (qat-gpu-device-buffers).
/// Fails with a diagnostic on host code that touches a device buffer.
LogicalResult placeBuffersOnDevice(func::FuncOp func);

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qat/Codegen/GPU/Passes.h.inc"

} // namespace mlir::qat

#endif // QAT_CODEGEN_GPU_PASSES_H
