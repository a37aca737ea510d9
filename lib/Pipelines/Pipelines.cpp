//===- Pipelines.cpp - qat-mlir pass pipelines ----------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Pipelines/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "qat/Conversion/Passes.h"

using namespace mlir;

void mlir::qat::buildQatCpuPipeline(OpPassManager &pm) {
  pm.addPass(createConvertQatToLinalg());
  // Upstream passes, spelled as on the command line.
  LogicalResult parsed = parsePassPipeline(
      "func.func(convert-elementwise-to-linalg),"
      "one-shot-bufferize{bufferize-function-boundaries "
      "function-boundary-type-conversion=identity-layout-map},"
      "buffer-deallocation-pipeline,"
      "func.func(convert-linalg-to-loops),"
      "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
      "convert-to-llvm,reconcile-unrealized-casts",
      pm);
  assert(succeeded(parsed) && "the upstream pipeline text is fixed");
  (void)parsed;
}

void mlir::qat::registerQatPipelines() {
  PassPipelineRegistration<>(
      "qat-cpu-pipeline",
      "Lower qat ops and linalg on tensors to the LLVM dialect (scalar loops)",
      buildQatCpuPipeline);
}
