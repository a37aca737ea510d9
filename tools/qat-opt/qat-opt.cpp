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
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Process.h"

#include "qat/InitAll.h"
#include "qat/Version.h"

#include <string>
#include <vector>

namespace {

/// `-o FILE` is written to a temporary file beside FILE and renamed over it
/// when the run succeeds, so a failure or a kill leaves the old file or the
/// complete new one (and `qat-opt f.mlir -o f.mlir` is safe).
class AtomicOutput {
public:
  /// Rewrites the -o argument of `args` to the temporary file.
  explicit AtomicOutput(std::vector<std::string> &args) {
    for (size_t i = 1; i < args.size(); ++i) {
      llvm::StringRef arg = args[i];
      if ((arg == "-o" || arg == "--o") && i + 1 < args.size()) {
        redirect(args[i + 1]);
        return;
      }
      for (llvm::StringRef prefix : {"-o=", "--o="})
        if (arg.starts_with(prefix)) {
          std::string file = arg.drop_front(prefix.size()).str();
          redirect(file);
          args[i] = prefix.str() + file;
          return;
        }
    }
  }

  /// Moves the temporary file into place (success) or removes it.
  int finish(int status) {
    if (partial.empty())
      return status;
    if (status == 0) {
      if (std::error_code ec = llvm::sys::fs::rename(partial, destination)) {
        llvm::errs() << "qat-opt: error: cannot write '" << destination
                     << "': " << ec.message() << "\n";
        status = 1;
      }
    }
    llvm::sys::fs::remove(partial);
    return status;
  }

private:
  void redirect(std::string &file) {
    if (file == "-" || file.empty())
      return;
    destination = file;
    partial = file + ".partial." +
              std::to_string(llvm::sys::Process::getProcessId());
    file = partial;
  }

  std::string destination, partial;
};

} // namespace

int main(int argc, char **argv) {
  llvm::cl::SetVersionPrinter(
      [](llvm::raw_ostream &os) { os << mlir::qat::versionLine() << "\n"; });
  mlir::registerAllPasses();
  mlir::qat::registerAllQatPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::qat::registerAllQatDialects(registry);

  std::vector<std::string> args(argv, argv + argc);
  AtomicOutput output(args);
  std::vector<char *> pointers;
  for (std::string &arg : args)
    pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  int status = mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, pointers.data(), "qat-mlir optimizer driver\n", registry));
  return output.finish(status);
}
