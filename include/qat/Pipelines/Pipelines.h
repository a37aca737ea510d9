//===- Pipelines.h - qat-mlir pass pipelines --------------------*- C++ -*-===//
//
// Part of qat-mlir. The stages of the user's journey as pass pipelines.
// qat-opt registers each builder under its name, qat-compile calls the CPU
// builder, and the Python front end runs every stage by its registered name
// (`qat-opt --pass-pipeline='builtin.module(qat-instrument-pipeline{...})'`);
// no tool strings pass flags together.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_PIPELINES_PIPELINES_H
#define QAT_PIPELINES_PIPELINES_H

#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Dialect/Qat/Transforms/InstrumentConfig.h"
#include "qat/Training/TrainStep.h"

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::qat {

/// `qat-instrument-pipeline`: qat-fold-batchnorm, then qat-instrument with
/// these settings (the pass's options; docs/Instrumentation.md).
struct InstrumentPipelineOptions {
  /// Bit widths, granularity, symmetry and rounding of every layer (a config
  /// file may override them per layer); `skip` is not used.
  LayerQuantSpec layers;
  bool skipFirstLast = false;
  /// The last layer's output bits (the logits); 0: `layers.actBits`.
  unsigned lastActBits = 0;
  /// JSON file with global settings and per-layer overrides.
  std::string config;
  /// Fold inference batch norm into the layers first.
  bool foldBatchNorm = true;
  /// Write the plan (layers, fake-quant points) to this file; "-": stdout.
  std::string report;
  /// Only plan (and report): the module is left unchanged.
  bool dryRun = false;
};
void buildInstrumentPipeline(OpPassManager &pm,
                             const InstrumentPipelineOptions &options = {});

/// `qat-train-pipeline`: qat-build-train-step with these settings.
void buildTrainPipeline(OpPassManager &pm,
                        const TrainStepOptions &options = {});

/// `qat-deploy-pipeline`: a frozen QAT module (qat-freeze) to integer
/// linalg: qat-convert-to-integer, then canonicalization.
struct DeployPipelineOptions {
  /// Store weight codes of 4 bits or fewer two per byte, 2 bits four.
  bool packInt4 = true;
  /// See IntegerConversionOptions::allowCollapsedRanges.
  bool allowCollapsedRanges = false;
  /// Elementwise functions of one int8 tensor become table lookups
  /// (qat-tabulate-codes).
  bool tabulate = true;
};
void buildDeployPipeline(OpPassManager &pm,
                         const DeployPipelineOptions &options = {});

/// What the target CPU offers the code generator. qat-opt's
/// `qat-cpu-pipeline` and qat-compile start from these same defaults;
/// qat-compile then sets `vnni` from its target's features.
struct CpuPipelineOptions {
  /// AVX-512 VNNI: int8 matmuls use vpdpbusd (qat-x86-vnni-matmul).
  bool vnni = false;
  /// Large matmuls run their row strips on OpenMP threads (the compiled code
  /// then needs libomp).
  bool parallel = true;
  /// With `parallel`, the other large linalg ops are split into this many
  /// chunks (qat-parallelize-loops); 0: the compiling machine's hardware
  /// threads, at least 2.
  int64_t chunks = 0;
  /// Pruned constant int8 weights stored compressed and their zero tiles
  /// skipped, where qat-x86-vnni-matmul's cost rule says so (docs/Pruning.md).
  bool sparseWeights = true;
};

/// `qat-cpu-pipeline`: a module with qat ops and linalg on tensors to the
/// LLVM dialect, ready for mlir-runner or translation: convert-qat-to-linalg,
/// elementwise arith on tensors to linalg, elementwise fusion, the VNNI int8
/// matmul kernels (options.vnni), register-blocked float matmuls,
/// qat-interchange-loops for the other contractions, one-shot bufferization
/// (identity layouts at function boundaries) with results turned into
/// caller-allocated out-parameters (the runtime ABI), buffer deallocation,
/// and lowering of loops, vectors and everything else to LLVM.
void buildCpuPipeline(OpPassManager &pm,
                      const CpuPipelineOptions &options = {});

/// What the GPU code generator targets (docs/GPU.md).
struct GpuPipelineOptions {
  /// The NVIDIA architecture: sm_80 (A100) or sm_90 (H100/H200).
  std::string arch = "sm_90";
  /// The device code embedded in the host code: "isa" (PTX, compiled by the
  /// driver when the library is opened) or "bin" (a cubin; runs ptxas at
  /// compile time).
  std::string format = "isa";
  /// Threads per block of the mapped loops (qat-gpu-map-loops).
  int64_t threadsPerBlock = 256;
  /// Stop before mapping to the GPU and lower the mapped loop nest for the
  /// CPU instead: the same tiling, executed on the host (tests).
  bool emulateOnHost = false;
};

/// `qat-gpu-pipeline`: like qat-cpu-pipeline up to bufferization, then
/// every linalg op mapped to a grid of threads (qat-gpu-map-loops), turned
/// into kernels (gpu.launch, outlining), given device buffers
/// (qat-gpu-device-buffers) on one stream (gpu-async-region), kernels
/// lowered to NVVM and serialized to PTX or a cubin, and host code lowered
/// to the LLVM dialect calling the mgpu* runtime functions (which
/// qat-compile binds to the C runtime).
void buildGpuPipeline(OpPassManager &pm,
                      const GpuPipelineOptions &options = {});

/// The PTX ISA version the GPU pipeline asks for on `arch`, as an LLVM
/// feature ("+ptx80"); empty for an architecture it does not support.
std::string getPtxFeatures(StringRef arch);

/// Registers every pipeline above with the pass registry.
void registerQatPipelines();

} // namespace mlir::qat

#endif // QAT_PIPELINES_PIPELINES_H
