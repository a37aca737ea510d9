//===- InitAll.h - Register every qat dialect and pass ----------*- C++ -*-===//
//
// Part of qat-mlir. The one place tools call to make the project's dialects
// and passes available.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_INITALL_H
#define QAT_INITALL_H

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Codegen/GPU/Passes.h"
#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Pipelines/Pipelines.h"
#include "qat/Training/Passes.h"

namespace mlir::qat {

inline void registerAllQatDialects(DialectRegistry &registry) {
  registry.insert<QatDialect>();
  // qat-gpu-pipeline serializes GPU modules (gpu-module-to-binary), which
  // needs their LLVM IR translations.
  registerAllGPUToLLVMIRTranslations(registry);
}

inline void registerAllQatPasses() {
  registerQatGraphPasses();
  registerQatTrainingPasses();
  registerQatConversionPasses();
  registerQatCodegenCPUPasses();
  registerQatCodegenGPUPasses();
  registerQatPipelines();
}

} // namespace mlir::qat

#endif // QAT_INITALL_H
