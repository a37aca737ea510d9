//===- qat-opt.cpp - The qat-mlir pass driver -----------------------------===//
//
// Part of qat-mlir. Like mlir-opt, with the qat dialect and passes added to
// every upstream dialect and pass, so a whole pipeline runs in one tool.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "qat/InitAll.h"
#include "qat/Version.h"

int main(int argc, char **argv) {
  llvm::cl::SetVersionPrinter(
      [](llvm::raw_ostream &os) { os << mlir::qat::versionLine() << "\n"; });
  mlir::registerAllPasses();
  mlir::qat::registerAllQatPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::qat::registerAllQatDialects(registry);

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "qat-mlir optimizer driver\n", registry));
}
