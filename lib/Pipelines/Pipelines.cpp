//===- Pipelines.cpp - qat-mlir pass pipelines ----------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "qat/Conversion/Passes.h"
#include "qat/Transforms/Passes.h"

using namespace mlir;

void mlir::qat::buildQatCpuPipeline(OpPassManager &pm) {
  pm.addPass(createConvertQatToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  // Chains of elementwise ops (bias, activation, fake quantization) become
  // one loop nest.
  pm.addPass(createLinalgElementwiseOpFusionPass());
  // Float matmuls get register-blocked vector code; other contractions
  // contiguous innermost loops, which LLVM vectorizes.
  pm.addNestedPass<func::FuncOp>(createVectorizeMatmul());
  pm.addNestedPass<func::FuncOp>(createInterchangeLoops());

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

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::qat::registerQatPipelines() {
  PassPipelineRegistration<>(
      "qat-cpu-pipeline",
      "Lower qat ops and linalg on tensors to the LLVM dialect (scalar loops)",
      buildQatCpuPipeline);
}
