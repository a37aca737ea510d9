//===- Compiler.h - Ahead-of-time compilation to CPU code -------*- C++ -*-===//
//
// Part of qat-mlir. The steps qat-compile runs, as functions other tools can
// call: find and check the entry points, lower with qat-cpu-pipeline,
// translate to LLVM IR with the runtime ABI (runtime/include/qat_runtime/
// qat_abi.h) added, optimize, emit an object and link a shared library, and
// write a C header.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_COMPILER_COMPILER_H
#define QAT_COMPILER_COMPILER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/CodeGen.h"

#include "qat/Pipelines/Pipelines.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
class raw_pwrite_stream;
} // namespace llvm

namespace mlir::qat {

/// A tensor of an entry point's signature. Dynamic sizes are -1.
struct TensorSignature {
  std::string name;
  int32_t dtype = 0; ///< a qat_dtype
  SmallVector<int64_t> shape;
};

/// A public function of the compiled module, callable through the runtime.
struct EntrySignature {
  std::string name;
  std::vector<TensorSignature> args;
  std::vector<TensorSignature> results;
};

/// Finds every public function with a body, checks that it can be an entry
/// point (a C identifier for a name; ranked tensors of f32, f64, i1, i8, i16,
/// i32 or i64 for arguments; statically shaped results) and marks it for the
/// C interface. Emits a diagnostic on the offending function otherwise.
FailureOr<std::vector<EntrySignature>> prepareEntryPoints(ModuleOp module);

/// Runs qat-cpu-pipeline on `module`.
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const CpuPipelineOptions &options);

/// Runs qat-gpu-pipeline on `module`: host code in the LLVM dialect and the
/// kernels in one gpu.binary.
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const GpuPipelineOptions &options);

/// The device code (PTX text, or a cubin) of a module lowered by
/// qat-gpu-pipeline.
FailureOr<std::string> getDeviceCode(ModuleOp module);

/// In LLVM IR translated from qat-gpu-pipeline's output: turns every mgpu*
/// runtime call into a call through a pointer, and the kernel-loading
/// constructors into the exported qat_gpu_attach / qat_gpu_detach
/// (runtime/include/qat_runtime/qat_abi.h). Returns whether the module had
/// GPU code.
bool bindGpuRuntime(llvm::Module &module);

struct TargetOptions {
  std::string triple; ///< empty: the host
  std::string cpu;    ///< "native" (the host CPU), or an LLVM CPU name
  std::string features;
  llvm::CodeGenOptLevel optLevel = llvm::CodeGenOptLevel::Default;
};

/// The target machine for `options`, or a diagnostic message in `error`.
std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const TargetOptions &options, std::string &error);

/// What qat-cpu-pipeline may use on `target` (e.g. VNNI when it has
/// avx512vnni).
CpuPipelineOptions getCpuPipelineOptions(const llvm::TargetMachine &target);

/// Translates a module in the LLVM dialect to LLVM IR and adds the runtime
/// ABI: one `qat_entry_<name>(void **)` per entry and `qat_module_info()`,
/// and for GPU code the binding of bindGpuRuntime.
std::unique_ptr<llvm::Module>
translateWithRuntimeABI(ModuleOp module, llvm::LLVMContext &context,
                        ArrayRef<EntrySignature> entries,
                        llvm::TargetMachine &target, StringRef producer);

/// Runs LLVM's optimization pipeline for the target's optimization level.
LogicalResult optimizeLLVMModule(llvm::Module &module,
                                 llvm::TargetMachine &target);

/// Writes an object file or assembly for `module`.
LogicalResult emitMachineCode(llvm::Module &module, llvm::TargetMachine &target,
                              llvm::raw_pwrite_stream &os, bool assembly,
                              std::string &error);

/// Optimizes `module` and compiles it to object files on up to `threads`
/// threads: the module is split by function (llvm::SplitModule, its local
/// symbols made hidden externals) into more parts than threads, and each
/// part is optimized and compiled with its own LLVMContext and target
/// machine. Returns the object files (temporary files the caller removes);
/// one thread compiles the module whole, as optimizeLLVMModule and
/// emitMachineCode would.
FailureOr<SmallVector<std::string>>
compileToObjects(std::unique_ptr<llvm::Module> module,
                 const TargetOptions &options, unsigned threads,
                 std::string &error);

/// True when the module calls into the OpenMP runtime (parallel loops).
bool usesOpenMP(const llvm::Module &module);

/// Links an object file into a shared library with the system compiler
/// driver ($QAT_CC, else cc), against libomp when `openmp` (found in
/// $QAT_OPENMP_DIR, else LLVM's library directory, recorded as the rpath).
LogicalResult linkSharedLibrary(ArrayRef<std::string> objectPaths,
                                StringRef outputPath, bool openmp,
                                std::string &error);

/// "name: f32[2x?]" for messages and listings.
std::string formatSignature(const TensorSignature &tensor);

/// A C header declaring the entry points of a compiled module.
std::string generateHeader(ArrayRef<EntrySignature> entries,
                           StringRef moduleName);

} // namespace mlir::qat

#endif // QAT_COMPILER_COMPILER_H
