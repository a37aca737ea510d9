//===- qat-compile.cpp - The qat-mlir ahead-of-time compiler --------------===//
//
// Part of qat-mlir. Compiles a program (float linalg on tensors, qat ops, or
// integer linalg) to a shared library, an object, assembly, LLVM IR, the
// lowered MLIR, or a C header, through the same pipeline builders qat-opt
// registers. Every public function becomes an entry point of the runtime ABI
// (runtime/include/qat_runtime/qat_abi.h).
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include "qat/Compiler/Compiler.h"
#include "qat/InitAll.h"
#include "qat/Version.h"

#include <thread>

using namespace mlir;

namespace {

enum class Emit { Verify, MLIR, LLVM, Asm, Obj, SharedLib, Header, Ptx };

llvm::cl::OptionCategory category("qat-compile options");

llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                         llvm::cl::desc("<input.mlir>"),
                                         llvm::cl::init("-"),
                                         llvm::cl::cat(category));

llvm::cl::opt<std::string> outputFilename("o", llvm::cl::desc("Output file"),
                                          llvm::cl::value_desc("filename"),
                                          llvm::cl::cat(category));

llvm::cl::opt<Emit> emitKind(
    "emit", llvm::cl::desc("What to produce (default: from the -o extension)"),
    llvm::cl::values(
        clEnumValN(Emit::Verify, "verify",
                   "parse, verify and list the entry points"),
        clEnumValN(Emit::MLIR, "mlir",
                   "the module lowered to the LLVM dialect"),
        clEnumValN(Emit::LLVM, "llvm", "optimized LLVM IR"),
        clEnumValN(Emit::Asm, "asm", "assembly"),
        clEnumValN(Emit::Obj, "obj", "an object file (.o)"),
        clEnumValN(Emit::SharedLib, "so", "a shared library (.so)"),
        clEnumValN(Emit::Header, "header", "a C header for the entry points"),
        clEnumValN(Emit::Ptx, "ptx",
                   "--target=nvptx: the kernels' device code (PTX)")),
    llvm::cl::cat(category));

llvm::cl::opt<std::string> targetTriple(
    "target",
    llvm::cl::desc("Target: a CPU triple (default: the host), or 'nvptx' for "
                   "NVIDIA GPU kernels driven from host code"),
    llvm::cl::init(""), llvm::cl::cat(category));

llvm::cl::opt<std::string> gpuArch(
    "gpu-arch",
    llvm::cl::desc("--target=nvptx: the GPU architecture, sm_80 or sm_90 "
                   "(also sm_86, sm_89). Default: sm_90"),
    llvm::cl::init(qat::GpuPipelineOptions().arch), llvm::cl::cat(category));

llvm::cl::opt<std::string> gpuFormat(
    "gpu-format",
    llvm::cl::desc("--target=nvptx: device code embedded as 'isa' (PTX, "
                   "compiled by the driver when the library is opened; the "
                   "default) or 'bin' (a cubin from ptxas, which must be on "
                   "PATH)"),
    llvm::cl::init(qat::GpuPipelineOptions().format), llvm::cl::cat(category));

llvm::cl::opt<std::string> targetCpu(
    "mcpu",
    llvm::cl::desc("Target CPU: 'native' (the host, the default) or an LLVM "
                   "CPU name such as x86-64-v3 for a portable build"),
    llvm::cl::init("native"), llvm::cl::cat(category));

llvm::cl::opt<std::string>
    targetFeatures("mattr", llvm::cl::desc("Extra target features (+avx2,...)"),
                   llvm::cl::init(""), llvm::cl::cat(category));

llvm::cl::opt<bool> gpuEmulate(
    "gpu-emulate",
    llvm::cl::desc("--target=nvptx: run the GPU pipeline's loop nest, mapped "
                   "to blocks and threads, on this CPU instead of a GPU (to "
                   "test the mapping without one)"),
    llvm::cl::init(false), llvm::cl::cat(category));

llvm::cl::opt<bool> parallelLoops(
    "parallel",
    llvm::cl::desc("Run large matmuls and convolutions on several threads "
                   "(OpenMP; OMP_NUM_THREADS picks how many). Default: on"),
    llvm::cl::init(qat::CpuPipelineOptions().parallel),
    llvm::cl::cat(category));

llvm::cl::opt<int64_t> parallelChunks(
    "chunks",
    llvm::cl::desc("With --parallel, split the other large linalg ops into "
                   "this many chunks (0, the default: the compiling "
                   "machine's hardware threads, at least 2)"),
    llvm::cl::init(qat::CpuPipelineOptions().chunks), llvm::cl::cat(category));

llvm::cl::opt<bool> sparseWeights(
    "sparse-weights",
    llvm::cl::desc("Store pruned int8 weights compressed (N:M groups, or "
                   "only their nonzero 4x16 tiles, which the kernel skips) "
                   "where the cost rule says so. Default: on; "
                   "--sparse-weights=false keeps every weight dense"),
    llvm::cl::init(qat::CpuPipelineOptions().sparseWeights),
    llvm::cl::cat(category));

llvm::cl::opt<char> optLevel("O",
                             llvm::cl::desc("Optimization level: -O0 to -O3 "
                                            "(default -O2)"),
                             llvm::cl::Prefix, llvm::cl::init('2'),
                             llvm::cl::cat(category));

llvm::cl::opt<unsigned> compileThreads(
    "compile-threads",
    llvm::cl::desc("Compile a shared library's functions on this many "
                   "threads (default: the machine's hardware threads; 1 "
                   "compiles the module whole)"),
    llvm::cl::init(std::max(1u, std::thread::hardware_concurrency())),
    llvm::cl::cat(category));

int fail(const Twine &message) {
  llvm::errs() << "qat-compile: error: " << message << "\n";
  return 1;
}

/// The kind to emit when --emit is not given.
std::optional<Emit> inferEmit() {
  if (emitKind.getNumOccurrences())
    return emitKind.getValue();
  if (outputFilename.empty())
    return Emit::Verify;
  StringRef ext = llvm::sys::path::extension(outputFilename);
  return llvm::StringSwitch<std::optional<Emit>>(ext)
      .Case(".so", Emit::SharedLib)
      .Case(".o", Emit::Obj)
      .Case(".s", Emit::Asm)
      .Case(".ll", Emit::LLVM)
      .Case(".mlir", Emit::MLIR)
      .Case(".h", Emit::Header)
      .Case(".ptx", Emit::Ptx)
      .Default(std::nullopt);
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // Hidden, but accepted: --mlir-timing, --mlir-print-ir-after-all, ...
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  llvm::cl::HideUnrelatedOptions(category);
  llvm::cl::SetVersionPrinter(
      [](raw_ostream &os) { os << qat::versionLine() << "\n"; });
  llvm::cl::ParseCommandLineOptions(
      argc, argv,
      "qat-compile: ahead-of-time compiler for qat-mlir programs\n\n"
      "  qat-compile model.mlir                  verify, list entry points\n"
      "  qat-compile model.mlir -o libmodel.so   shared library\n"
      "  qat-compile model.mlir -o model.o       object file\n"
      "  qat-compile model.mlir -o model.h       C header\n"
      "  qat-compile model.mlir --emit=llvm      LLVM IR on stdout\n"
      "  qat-compile model.mlir --target=nvptx --gpu-arch=sm_90 -o "
      "libmodel.so\n"
      "                                          host code + GPU kernels\n");

  std::optional<Emit> emit = inferEmit();
  if (!emit)
    return fail("cannot tell what to emit from '" + outputFilename +
                "': use --emit=so|obj|asm|llvm|mlir|header|ptx");
  bool binary = *emit == Emit::Obj || *emit == Emit::SharedLib;
  if (binary && (outputFilename.empty() || outputFilename == "-"))
    return fail("--emit=obj and --emit=so need an output file (-o)");
  if (optLevel < '0' || optLevel > '3')
    return fail("invalid optimization level -O" +
                std::string(1, optLevel.getValue()));
  bool gpu = targetTriple == "nvptx" || targetTriple == "nvptx64";
  // Kernels link CUDA's libdevice (math functions) from the toolkit MLIR
  // finds through these variables; default to the usual install.
  if (gpu && !std::getenv("CUDA_ROOT") && !std::getenv("CUDA_HOME") &&
      !std::getenv("CUDA_PATH") &&
      llvm::sys::fs::exists("/usr/local/cuda/nvvm/libdevice"))
    setenv("CUDA_ROOT", "/usr/local/cuda", /*overwrite=*/0);
  if (gpu && qat::getPtxFeatures(gpuArch).empty())
    return fail("--gpu-arch: expected sm_80, sm_86, sm_89 or sm_90, found '" +
                gpuArch + "'");
  if (gpu && gpuFormat != "isa" && gpuFormat != "bin")
    return fail("--gpu-format: expected isa or bin, found '" + gpuFormat + "'");
  if (!gpu && (gpuArch.getNumOccurrences() || gpuFormat.getNumOccurrences() ||
               gpuEmulate || *emit == Emit::Ptx))
    return fail("--gpu-arch, --gpu-format, --gpu-emulate and --emit=ptx need "
                "--target=nvptx");
  if (gpuEmulate && *emit == Emit::Ptx)
    return fail("--gpu-emulate runs on the CPU: there is no PTX to emit");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  qat::registerAllQatDialects(registry);
  MLIRContext context(registry);
  // Diagnostics are one line each: no dump of the operation they are on.
  context.printOpOnDiagnostic(false);

  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFilename, &errorMessage);
  if (!file)
    return fail(errorMessage);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module || failed(verify(*module)))
    return 1;

  FailureOr<std::vector<qat::EntrySignature>> entries =
      qat::prepareEntryPoints(*module);
  if (failed(entries))
    return 1;

  StringRef moduleName = llvm::sys::path::filename(inputFilename);
  if (*emit == Emit::Verify) {
    for (const qat::EntrySignature &entry : *entries) {
      llvm::outs() << "entry @" << entry.name << "(";
      for (auto [i, t] : llvm::enumerate(entry.args))
        llvm::outs() << (i ? ", " : "") << qat::formatSignature(t);
      llvm::outs() << ") -> (";
      for (auto [i, t] : llvm::enumerate(entry.results))
        llvm::outs() << (i ? ", " : "") << qat::formatSignature(t);
      llvm::outs() << ")\n";
    }
    llvm::outs() << "verified " << inputFilename << ": " << entries->size()
                 << " entry point" << (entries->size() == 1 ? "" : "s") << "\n";
    return 0;
  }

  // Files are written beside their destination and renamed over it once
  // complete, so a kill leaves the old file or the complete new one (and a
  // library a running process has loaded keeps its inode).
  std::string destination =
      outputFilename.empty() ? std::string("-") : outputFilename.getValue();
  std::string partial = destination == "-"
                            ? destination
                            : (destination + ".partial." +
                               Twine(llvm::sys::Process::getProcessId()))
                                  .str();
  auto openOutput = [&]() {
    std::string error;
    auto out = openOutputFile(partial, &error);
    if (!out)
      fail(error);
    return out;
  };
  // Renames the complete file over the destination; 0 on success, else 1
  // (reported).
  auto moveIntoPlace = [&]() {
    if (destination == "-")
      return 0;
    if (std::error_code ec = llvm::sys::fs::rename(partial, destination)) {
      llvm::sys::fs::remove(partial);
      return fail("cannot write '" + destination + "': " + ec.message());
    }
    return 0;
  };
  // Keeps `out` and moves it into place.
  auto commit = [&](std::unique_ptr<llvm::ToolOutputFile> &out) {
    out->os().close();
    if (out->os().has_error())
      return fail("cannot write '" + destination +
                  "': " + out->os().error().message());
    out->keep();
    return moveIntoPlace();
  };

  if (*emit == Emit::Header) {
    auto out = openOutput();
    if (!out)
      return 1;
    out->os() << qat::generateHeader(*entries, moduleName);
    return commit(out);
  }

  qat::TargetOptions targetOptions;
  // GPU kernels come with host code for this machine.
  targetOptions.triple = gpu ? std::string() : targetTriple.getValue();
  targetOptions.cpu = targetCpu;
  targetOptions.features = targetFeatures;
  targetOptions.optLevel =
      static_cast<llvm::CodeGenOptLevel>(optLevel.getValue() - '0');
  std::string error;
  std::unique_ptr<llvm::TargetMachine> target =
      qat::createTargetMachine(targetOptions, error);
  if (!target)
    return fail(error);

  if (gpu) {
    qat::GpuPipelineOptions gpuOptions;
    gpuOptions.arch = gpuArch;
    gpuOptions.format = *emit == Emit::Ptx ? "isa" : gpuFormat.getValue();
    gpuOptions.emulateOnHost = gpuEmulate;
    if (failed(qat::lowerToLLVMDialect(*module, gpuOptions)))
      return 1;
  } else {
    qat::CpuPipelineOptions pipelineOptions =
        qat::getCpuPipelineOptions(*target);
    pipelineOptions.parallel = parallelLoops;
    pipelineOptions.chunks = parallelChunks;
    pipelineOptions.sparseWeights = sparseWeights;
    if (failed(qat::lowerToLLVMDialect(*module, pipelineOptions)))
      return 1;
  }
  if (*emit == Emit::Ptx) {
    FailureOr<std::string> ptx = qat::getDeviceCode(*module);
    if (failed(ptx))
      return 1;
    auto out = openOutput();
    if (!out)
      return 1;
    out->os() << *ptx;
    return commit(out);
  }
  if (*emit == Emit::MLIR) {
    auto out = openOutput();
    if (!out)
      return 1;
    module->print(out->os());
    return commit(out);
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      qat::translateWithRuntimeABI(*module, llvmContext, *entries, *target,
                                   ("qat-compile " + moduleName).str());
  if (!llvmModule)
    return fail("translation to LLVM IR failed");

  if (*emit != Emit::SharedLib &&
      failed(qat::optimizeLLVMModule(*llvmModule, *target)))
    return 1;

  if (*emit == Emit::LLVM) {
    auto out = openOutput();
    if (!out)
      return 1;
    llvmModule->print(out->os(), nullptr);
    return commit(out);
  }

  if (*emit == Emit::Asm || *emit == Emit::Obj) {
    auto out = openOutput();
    if (!out)
      return 1;
    if (failed(qat::emitMachineCode(*llvmModule, *target, out->os(),
                                    *emit == Emit::Asm, error)))
      return fail(error);
    return commit(out);
  }

  // A shared library: objects compiled on several threads into temporary
  // files, then the link.
  bool openmp = qat::usesOpenMP(*llvmModule);
  FailureOr<SmallVector<std::string>> objects = qat::compileToObjects(
      std::move(llvmModule), targetOptions, compileThreads, error);
  if (failed(objects))
    return fail(error);
  llvm::scope_exit removeObjects([&] {
    for (const std::string &path : *objects)
      llvm::sys::fs::remove(path);
  });
  llvm::FileRemover removePartial(partial);
  if (failed(qat::linkSharedLibrary(*objects, partial, openmp, error)))
    return fail(error);
  return moveIntoPlace();
}
