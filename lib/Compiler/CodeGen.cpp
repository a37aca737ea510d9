//===- CodeGen.cpp - Lowering, LLVM optimization, emission, linking -------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Compiler/Compiler.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/Utils/SplitModule.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "qat/Pipelines/Pipelines.h"

using namespace mlir;
using namespace mlir::qat;

/// Whatever a pipeline left outside the LLVM and OpenMP dialects (and the
/// embedded GPU binary) has no lowering: name it at its location rather than
/// fail in translation.
static LogicalResult checkLowered(ModuleOp module, StringRef pipeline) {
  WalkResult leftover = module.walk([&](Operation *op) {
    StringRef dialect = op->getName().getDialectNamespace();
    if (isa<ModuleOp, gpu::BinaryOp, gpu::LaunchFuncOp>(op) ||
        dialect == "llvm" || dialect == "omp")
      return WalkResult::advance();
    op->emitError() << pipeline << " could not lower '" << op->getName()
                    << "' to LLVM: this operation is not supported yet";
    return WalkResult::interrupt();
  });
  return failure(leftover.wasInterrupted());
}

/// The pass-manager and timing flags (--mlir-timing,
/// --mlir-print-ir-after-all, ...) where the tool registered them; the
/// timing report prints when `pm` is destroyed.
static LogicalResult applyToolOptions(PassManager &pm) {
  auto timing = std::make_unique<DefaultTimingManager>();
  applyDefaultTimingManagerCLOptions(*timing);
  if (timing->isEnabled())
    pm.enableTiming(std::move(timing));
  return applyPassManagerCLOptions(pm);
}

LogicalResult mlir::qat::lowerToLLVMDialect(ModuleOp module,
                                            const CpuPipelineOptions &options) {
  PassManager pm(module.getContext());
  if (failed(applyToolOptions(pm)))
    return failure();
  buildCpuPipeline(pm, options);
  if (failed(pm.run(module)))
    return failure();
  return checkLowered(module, "qat-cpu-pipeline");
}

LogicalResult mlir::qat::lowerToLLVMDialect(ModuleOp module,
                                            const GpuPipelineOptions &options) {
  if (getPtxFeatures(options.arch).empty())
    return module.emitError("qat-gpu-pipeline: expected a GPU architecture "
                            "sm_80, sm_86, sm_89 or sm_90, found '")
           << options.arch << "'";
  if (options.format != "isa" && options.format != "bin")
    return module.emitError("qat-gpu-pipeline: expected the device code "
                            "format isa (PTX) or bin (cubin), found '")
           << options.format << "'";
  PassManager pm(module.getContext());
  if (failed(applyToolOptions(pm)))
    return failure();
  buildGpuPipeline(pm, options);
  if (failed(pm.run(module)) ||
      failed(checkLowered(module, "qat-gpu-pipeline")))
    return failure();
  if (options.emulateOnHost || options.format != "isa")
    return success();
  // Kernels that call libdevice (__nv_expf, ...) need it linked in, or the
  // driver rejects them when the library is opened: say so now.
  FailureOr<std::string> ptx = getDeviceCode(module);
  if (failed(ptx))
    return failure();
  StringRef text = *ptx;
  size_t at = text.find(".extern .func");
  if (at == StringRef::npos)
    return success();
  StringRef rest = text.substr(at);
  size_t name = rest.find("__nv_");
  StringRef missing = name == StringRef::npos
                          ? StringRef("an external function")
                          : rest.substr(name).take_while([](char c) {
                              return llvm::isAlnum(c) || c == '_';
                            });
  return module.emitError("qat-gpu-pipeline: the kernels call ")
         << missing
         << " from CUDA's libdevice, which was not found: set CUDA_ROOT to "
            "the CUDA toolkit (the folder with nvvm/libdevice)";
}

CpuPipelineOptions
mlir::qat::getCpuPipelineOptions(const llvm::TargetMachine &target) {
  CpuPipelineOptions options;
  const llvm::MCSubtargetInfo *subtarget = target.getMCSubtargetInfo();
  options.vnni = target.getTargetTriple().isX86() && subtarget &&
                 subtarget->checkFeatures("+avx512vnni");
  return options;
}

std::unique_ptr<llvm::TargetMachine>
mlir::qat::createTargetMachine(const TargetOptions &options,
                               std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::InitializeNativeTargetAsmParser();

  llvm::Triple triple(options.triple.empty()
                          ? llvm::sys::getDefaultTargetTriple()
                          : options.triple);
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;

  std::string cpu = options.cpu;
  std::string features = options.features;
  if (cpu.empty() || cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    // The host's features, so that e.g. AVX-512 VNNI is used where present.
    SmallVector<std::string> hostFeatures;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      hostFeatures.push_back((feature.second ? "+" : "-") +
                             feature.first().str());
    llvm::sort(hostFeatures);
    std::string joined = llvm::join(hostFeatures, ",");
    features = features.empty() ? joined : joined + "," + features;
  }
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      options.optLevel));
  if (!machine)
    error =
        "cannot create a target machine for " + triple.str() + " (" + cpu + ")";
  return machine;
}

LogicalResult mlir::qat::optimizeLLVMModule(llvm::Module &module,
                                            llvm::TargetMachine &target) {
  llvm::OptimizationLevel level;
  switch (target.getOptLevel()) {
  case llvm::CodeGenOptLevel::None:
    level = llvm::OptimizationLevel::O0;
    break;
  case llvm::CodeGenOptLevel::Less:
    level = llvm::OptimizationLevel::O1;
    break;
  case llvm::CodeGenOptLevel::Default:
    level = llvm::OptimizationLevel::O2;
    break;
  case llvm::CodeGenOptLevel::Aggressive:
    level = llvm::OptimizationLevel::O3;
    break;
  }
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(&target);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm =
      level == llvm::OptimizationLevel::O0
          ? builder.buildO0DefaultPipeline(level)
          : builder.buildPerModuleDefaultPipeline(level);
  mpm.run(module, mam);
  return success();
}

LogicalResult mlir::qat::emitMachineCode(llvm::Module &module,
                                         llvm::TargetMachine &target,
                                         llvm::raw_pwrite_stream &os,
                                         bool assembly, std::string &error) {
  llvm::legacy::PassManager pm;
  auto fileType = assembly ? llvm::CodeGenFileType::AssemblyFile
                           : llvm::CodeGenFileType::ObjectFile;
  if (target.addPassesToEmitFile(pm, os, nullptr, fileType)) {
    error = "the target cannot emit this file type";
    return failure();
  }
  pm.run(module);
  return success();
}

/// Turns off the SelectionDAG's merging of consecutive stores, unless the
/// command line set it. Each OpenMP region's setup stores every field of
/// the memrefs it captures, a few thousand scalar stores in one block of a
/// training or calibration function, and the merging compares every pair:
/// ResNet-50's calibration program spent 15 of its 22 s of instruction
/// selection there (11 s in all without it). The stores it would merge are
/// such setup, never a kernel's vectors.
static void limitStoreMerging() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto &options = llvm::cl::getRegisteredOptions();
    auto found = options.find("combiner-store-merging");
    if (found != options.end() && found->second->getNumOccurrences() == 0)
      (void)found->second->addOccurrence(0, "combiner-store-merging", "false");
  });
}

FailureOr<SmallVector<std::string>>
mlir::qat::compileToObjects(std::unique_ptr<llvm::Module> module,
                            const TargetOptions &options, unsigned threads,
                            std::string &error) {
  limitStoreMerging();
  unsigned functions = llvm::count_if(
      *module, [](const llvm::Function &f) { return !f.isDeclaration(); });
  // More parts than threads, so that a few large functions balance.
  unsigned parts = std::min(functions, threads * 4);
  SmallVector<SmallVector<char, 0>> bitcode;
  std::unique_ptr<llvm::Module> whole;
  if (threads <= 1 || parts <= 1) {
    whole = std::move(module);
    parts = 1;
  } else {
    // A definition a part could discard when unused there (linkonce_odr:
    // math-to-funcs' helpers) must survive in the part that holds it: made
    // internal, SplitModule then makes it a hidden external.
    for (llvm::GlobalValue &value : module->global_values())
      if (!value.isDeclaration() && !value.hasLocalLinkage() &&
          value.isDiscardableIfUnused())
        value.setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::SplitModule(*module, parts, [&](std::unique_ptr<llvm::Module> part) {
      SmallVector<char, 0> &buffer = bitcode.emplace_back();
      llvm::raw_svector_ostream os(buffer);
      llvm::WriteBitcodeToFile(*part, os);
    });
    parts = bitcode.size();
  }
  SmallVector<std::string> objects(parts);
  SmallVector<std::string> errors(parts);
  for (unsigned i = 0; i < parts; ++i) {
    SmallString<128> path;
    int fd;
    if (std::error_code ec =
            llvm::sys::fs::createTemporaryFile("qat-compile", "o", fd, path)) {
      error = "cannot create a temporary object file: " + ec.message();
      for (const std::string &done : objects)
        if (!done.empty())
          llvm::sys::fs::remove(done);
      return failure();
    }
    llvm::sys::Process::SafelyCloseFileDescriptor(fd);
    objects[i] = path.str().str();
  }
  auto compilePart = [&](unsigned i) {
    llvm::LLVMContext context;
    std::unique_ptr<llvm::Module> owned;
    llvm::Module *part = whole.get();
    if (!part) {
      auto parsed = llvm::parseBitcodeFile(
          llvm::MemoryBufferRef(StringRef(bitcode[i].data(), bitcode[i].size()),
                                "part"),
          context);
      if (!parsed) {
        errors[i] = llvm::toString(parsed.takeError());
        return;
      }
      owned = std::move(*parsed);
      part = owned.get();
    }
    std::unique_ptr<llvm::TargetMachine> machine =
        createTargetMachine(options, errors[i]);
    if (!machine)
      return;
    std::error_code ec;
    llvm::raw_fd_ostream os(objects[i], ec);
    if (ec) {
      errors[i] = objects[i] + ": " + ec.message();
      return;
    }
    if (failed(optimizeLLVMModule(*part, *machine)))
      errors[i] = "LLVM optimization failed";
    else
      (void)emitMachineCode(*part, *machine, os, /*assembly=*/false, errors[i]);
  };
  {
    // Workers take parts in turn until none is left.
    std::atomic<unsigned> next{0};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < std::min(threads, parts); ++t)
      workers.emplace_back([&] {
        for (unsigned i = next++; i < parts; i = next++)
          compilePart(i);
      });
    for (std::thread &worker : workers)
      worker.join();
  }
  for (unsigned i = 0; i < parts; ++i)
    if (!errors[i].empty()) {
      error = errors[i];
      for (const std::string &path : objects)
        llvm::sys::fs::remove(path);
      return failure();
    }
  return objects;
}

bool mlir::qat::usesOpenMP(const llvm::Module &module) {
  for (const llvm::Function &function : module)
    if (function.isDeclaration() && function.getName().starts_with("__kmpc_"))
      return true;
  return false;
}

LogicalResult mlir::qat::linkSharedLibrary(ArrayRef<std::string> objectPaths,
                                           StringRef outputPath, bool openmp,
                                           std::string &error) {
  std::string driver = "cc";
  if (const char *env = std::getenv("QAT_CC"))
    driver = env;
  llvm::ErrorOr<std::string> program = llvm::sys::findProgramByName(driver);
  if (!program) {
    error = "cannot find the linker driver '" + driver +
            "' (set QAT_CC to a C compiler)";
    return failure();
  }
  // libm for the math functions LLVM may call (e.g. roundevenf on targets
  // without a rounding instruction).
  SmallVector<std::string> args = {*program, "-shared", "-o", outputPath.str()};
  args.append(objectPaths.begin(), objectPaths.end());
  args.push_back("-lm");
  if (openmp) {
    std::string dir = QAT_OPENMP_LIBRARY_DIR;
    if (const char *env = std::getenv("QAT_OPENMP_DIR"))
      dir = env;
    if (!llvm::sys::fs::exists(dir + "/libomp.so")) {
      error = "the model runs loops on threads, but libomp.so is not in " +
              dir +
              " (install libomp-22-dev, set QAT_OPENMP_DIR, or compile "
              "with --parallel=false)";
      return failure();
    }
    args.push_back("-L" + dir);
    args.push_back("-Wl,-rpath," + dir);
    args.push_back("-lomp");
  }
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, argRefs, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0) {
    error = "linking " + outputPath.str() + " failed" +
            (message.empty() ? "" : ": " + message);
    return failure();
  }
  return success();
}
