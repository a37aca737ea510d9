//===- Pipelines.h - qat-mlir pass pipelines --------------------*- C++ -*-===//
//
// Part of qat-mlir. qat-opt registers these builders as named pipelines, and
// the other tools call the same builders.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_PIPELINES_PIPELINES_H
#define QAT_PIPELINES_PIPELINES_H

#include <cstdint>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::qat {

/// What the target CPU offers the code generator.
struct CpuPipelineOptions {
  /// AVX-512 VNNI: int8 matmuls use vpdpbusd (qat-x86-vnni-matmul).
  bool vnni = false;
  /// Large matmuls run their row strips on OpenMP threads (the compiled code
  /// then needs libomp).
  bool parallel = false;
  /// With `parallel`, the other large linalg ops are split into this many
  /// chunks (qat-parallelize-loops); 0: the compiling machine's hardware
  /// threads, at least 2.
  int64_t chunks = 0;
};

/// `qat-cpu-pipeline`: a module with qat ops and linalg on tensors to the
/// LLVM dialect, ready for mlir-runner or translation: convert-qat-to-linalg,
/// elementwise arith on tensors to linalg, elementwise fusion, the VNNI int8
/// matmul kernels (options.vnni), register-blocked float matmuls,
/// qat-interchange-loops for the other contractions, one-shot bufferization
/// (identity layouts at function boundaries) with results turned into
/// caller-allocated out-parameters (the runtime ABI), buffer deallocation,
/// and lowering of loops, vectors and everything else to LLVM.
void buildQatCpuPipeline(OpPassManager &pm,
                         const CpuPipelineOptions &options = {});

/// Registers every pipeline above with the pass registry.
void registerQatPipelines();

} // namespace mlir::qat

#endif // QAT_PIPELINES_PIPELINES_H
