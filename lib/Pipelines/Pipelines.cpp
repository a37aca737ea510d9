//===- Pipelines.cpp - qat-mlir pass pipelines ----------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Pipelines/Pipelines.h"

#include <thread>

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "qat/Conversion/Passes.h"
#include "qat/Transforms/Passes.h"

using namespace mlir;

void mlir::qat::buildQatCpuPipeline(OpPassManager &pm,
                                    const CpuPipelineOptions &options) {
  pm.addPass(createConvertQatToLinalg());
  pm.addNestedPass<func::FuncOp>(createDecomposeAggregates());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  // Chains of elementwise ops (bias, activation, fake quantization) become
  // one loop nest; matmuls and convolutions stay named for their kernels.
  pm.addNestedPass<func::FuncOp>(createFuseElementwise());
  // Float matmuls get register-blocked vector code; other contractions
  // contiguous innermost loops, which LLVM vectorizes.
  pm.addNestedPass<func::FuncOp>(createBatchMatmulToMatmul());
  pm.addNestedPass<func::FuncOp>(createConvToMatmul());
  if (options.vnni) {
    X86VnniMatmulOptions vnni;
    vnni.parallel = options.parallel;
    pm.addNestedPass<func::FuncOp>(createX86VnniMatmul(vnni));
  }
  VectorizeMatmulOptions vectorize;
  vectorize.parallel = options.parallel;
  pm.addNestedPass<func::FuncOp>(createVectorizeMatmul(vectorize));
  pm.addNestedPass<func::FuncOp>(createInterchangeLoops());
  if (options.parallel) {
    ParallelizeLoopsOptions parallelize;
    parallelize.threads =
        options.chunks > 0
            ? options.chunks
            : std::max<int64_t>(2, std::thread::hardware_concurrency());
    pm.addNestedPass<func::FuncOp>(createParallelizeLoops(parallelize));
  }

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));

  // The runtime ABI: results are out-parameters the caller allocates.
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  bufferization::buildBufferDeallocationPipeline(pm);

  if (options.vnni)
    pm.addNestedPass<func::FuncOp>(createX86LowerVnniDot());
  if (options.parallel) {
    // scf.forall -> scf.parallel -> an OpenMP worksharing loop.
    pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
    pm.addPass(createConvertSCFToOpenMPPass());
    // Inlines the memref.alloca_scope the conversion wraps the body in (it
    // holds no allocas), before scf-to-cf gives that body several blocks.
    pm.addPass(createCanonicalizerPass());
  }
  // No calls into MLIR's runner libraries from compiled code.
  pm.addNestedPass<func::FuncOp>(createExpandStridedCopies());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

namespace {
struct CpuPipelineCommandLine
    : public PassPipelineOptions<CpuPipelineCommandLine> {
  Option<bool> vnni{*this, "vnni",
                    llvm::cl::desc("Use AVX-512 VNNI for int8 matmuls"),
                    llvm::cl::init(false)};
  Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Run large matmuls on OpenMP threads (needs libomp)"),
      llvm::cl::init(false)};
};
} // namespace

void mlir::qat::registerQatPipelines() {
  PassPipelineRegistration<CpuPipelineCommandLine>(
      "qat-cpu-pipeline",
      "Lower qat ops and linalg on tensors to the LLVM dialect",
      [](OpPassManager &pm, const CpuPipelineCommandLine &commandLine) {
        CpuPipelineOptions options;
        options.vnni = commandLine.vnni;
        options.parallel = commandLine.parallel;
        buildQatCpuPipeline(pm, options);
      });
}
