//===- qat-compile.cpp - The qat-mlir ahead-of-time compiler --------------===//
//
// Part of qat-mlir. Today qat-compile parses and verifies its input and
// reports what it found; code generation (object files, shared libraries and
// headers) arrives with the AOT work and is refused with a diagnostic until
// then, never faked.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include "qat/InitAll.h"

using namespace mlir;

static llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                                llvm::cl::desc("<input.mlir>"),
                                                llvm::cl::init("-"));

static llvm::cl::opt<std::string>
    outputFilename("o",
                   llvm::cl::desc("Output file (code generation is not "
                                  "available yet)"),
                   llvm::cl::value_desc("filename"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(
      argc, argv,
      "qat-compile: ahead-of-time compiler for qat-mlir programs\n\n"
      "This version parses and verifies a program (float linalg, qat ops or\n"
      "integer linalg) and lists its public functions. Code generation to\n"
      "objects and shared libraries is not available yet; asking for it with\n"
      "-o is an error.\n");

  if (!outputFilename.empty()) {
    llvm::errs() << "qat-compile: error: code generation (-o " << outputFilename
                 << ") is not available yet; this version only verifies its "
                    "input\n";
    return 1;
  }

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  qat::registerAllQatDialects(registry);
  MLIRContext context(registry);

  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFilename, &errorMessage);
  if (!file) {
    llvm::errs() << "qat-compile: error: " << errorMessage << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module || failed(verify(*module)))
    return 1;

  unsigned numPublic = 0;
  module->walk([&](FunctionOpInterface func) {
    if (func.isExternal() || !func.isPublic())
      return;
    ++numPublic;
    llvm::outs() << "function @" << func.getName() << ": "
                 << func.getFunctionType() << "\n";
  });
  llvm::outs() << "verified " << inputFilename << ": " << numPublic
               << " public function" << (numPublic == 1 ? "" : "s") << "\n";
  return 0;
}
