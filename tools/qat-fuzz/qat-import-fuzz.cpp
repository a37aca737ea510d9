//===- qat-import-fuzz.cpp - libFuzzer target: the ONNX importer ----------===//
//
// Part of qat-mlir. One input is the bytes of an ONNX model. They are
// imported (parsing, libonnx's checker, version conversion and shape
// inference, then the importer itself) at batch 2; a module that imports
// must verify and must go through qat-instrument-pipeline without a crash.
// Errors are expected (most inputs are malformed); a crash, a sanitizer
// report or an unverifiable module is a bug. Built with QAT_SANITIZE=ON
// (scripts/fuzz.sh runs it, seeded with ONNX's backend test models and
// qat-import's lit models; test/Fuzz keeps reproducers).
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include "qat/Frontend/ONNX/Importer.h"
#include "qat/InitAll.h"

#include <cstdint>
#include <cstdlib>

using namespace mlir;

namespace {

const DialectRegistry &registry() {
  static DialectRegistry *registry = [] {
    qat::registerAllQatPasses();
    auto *r = new DialectRegistry();
    qat::registerOnnxImportDialects(*r);
    qat::registerAllQatDialects(*r);
    return r;
  }();
  return *registry;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  qat::OnnxImportOptions options;
  options.batch = 2;
  options.sourceName = "fuzz.onnx";
  auto module = qat::importOnnxModel(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), &context,
      options);
  if (!module) {
    llvm::consumeError(module.takeError());
    return 0;
  }
  if (failed(verify(**module))) {
    llvm::errs() << "qat-import-fuzz: the imported module does not verify\n";
    std::abort();
  }
  PassManager pm(&context);
  if (failed(parsePassPipeline("builtin.module(qat-instrument-pipeline)", pm)))
    std::abort();
  if (succeeded(pm.run(**module)) && failed(verify(**module))) {
    llvm::errs() << "qat-import-fuzz: instrumentation left an invalid module\n";
    std::abort();
  }
  return 0;
}
