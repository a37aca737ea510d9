//===- qat-opt-fuzz.cpp - libFuzzer target: parser and qat passes --------===//
//
// Part of qat-mlir. One input is a pipeline selector byte followed by MLIR
// text. The text is parsed and verified; if it is a valid module, the
// selected qat pass or pipeline runs on it. Diagnostics are expected (most
// inputs are invalid); a crash, a sanitizer report or a module that fails
// verification after a successful pass is a bug. Built with QAT_SANITIZE=ON
// (scripts/fuzz.sh runs it, seeded with test/; test/Fuzz keeps reproducers).
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include "qat/InitAll.h"

#include <cstdint>
#include <cstdlib>

using namespace mlir;

namespace {

/// What an input's first byte selects (modulo the count).
constexpr const char *kPipelines[] = {
    "",                                  // parse and verify only
    "qat-fold-batchnorm",
    "qat-instrument",
    "qat-instrument-pipeline",
    "qat-build-train-step",
    "qat-instrument,qat-build-train-step{range-learning=ema}",
    "convert-qat-to-linalg",
    "qat-convert-to-integer",
    "qat-deploy-pipeline",
    "qat-faithful",
    "qat-expose-layers",
    "qat-cpu-pipeline",
    "qat-gpu-pipeline{emulate-on-host=1}",
    "qat-protect-arguments,qat-conv-to-matmul,qat-x86-vnni-matmul",
    "qat-prune{pattern=2:4}",
    "qat-prune{sparsity=0.5},qat-instrument,qat-build-train-step",
};

const DialectRegistry &registry() {
  static DialectRegistry *registry = [] {
    registerAllPasses();
    qat::registerAllQatPasses();
    auto *r = new DialectRegistry();
    registerAllDialects(*r);
    registerAllExtensions(*r);
    qat::registerAllQatDialects(*r);
    return r;
  }();
  return *registry;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  const char *pipeline =
      kPipelines[data[0] % (sizeof(kPipelines) / sizeof(kPipelines[0]))];
  // A fresh context per input: nothing carries over between inputs.
  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
  llvm::SourceMgr sources;
  sources.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          StringRef(reinterpret_cast<const char *>(data) + 1, size - 1),
          "fuzz.mlir"),
      llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sources, &context);
  if (!module || failed(verify(*module)) || !*pipeline)
    return 0;
  PassManager pm(&context);
  if (failed(parsePassPipeline(pipeline, pm)))
    abort(); // a bug of this harness
  if (succeeded(pm.run(*module)) && failed(verify(*module))) {
    llvm::errs() << "qat-opt-fuzz: '" << pipeline
                 << "' succeeded but left an invalid module\n";
    abort();
  }
  return 0;
}
