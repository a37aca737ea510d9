//===- MergeKernelModules.cpp - qat-gpu-merge-kernel-modules --------------===//
//
// Part of qat-mlir. gpu-kernel-outlining gives every kernel a gpu.module of
// its own; one module per program means one PTX (or cubin) image, loaded
// once, and one file for ptxas to check.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/GPU/Passes.h"

namespace mlir::qat {
#define GEN_PASS_DEF_GPUMERGEKERNELMODULES
#include "qat/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

LogicalResult mlir::qat::mergeKernelModules(ModuleOp module) {
  SmallVector<gpu::GPUModuleOp> kernelModules(
      module.getOps<gpu::GPUModuleOp>());
  if (kernelModules.size() < 2)
    return success();
  gpu::GPUModuleOp target = kernelModules.front();
  SymbolTable targetSymbols(target);
  // (module, kernel) -> the kernel's name in `target`. Outlining names every
  // kernel after its function, and every module uniquely: a moved kernel
  // takes its module's name.
  DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
  for (gpu::GPUModuleOp source : llvm::drop_begin(kernelModules)) {
    auto kernels = llvm::to_vector(source.getOps<gpu::GPUFuncOp>());
    if (kernels.size() != 1 ||
        &source.getBody()->front() != kernels.front().getOperation() ||
        source.getBody()->getOperations().size() != 1)
      return source.emitOpError("holds more than one kernel; "
                                "qat-gpu-merge-kernel-modules merges "
                                "outlined modules of one kernel each");
    gpu::GPUFuncOp kernel = kernels.front();
    StringAttr oldName = kernel.getNameAttr(), newName = source.getNameAttr();
    if (targetSymbols.lookup(newName))
      return kernel.emitOpError("cannot be renamed @")
             << newName.getValue() << ": @" << target.getName()
             << " has that symbol";
    kernel->moveBefore(target.getBody(), target.getBody()->end());
    kernel.setName(newName);
    targetSymbols.insert(kernel);
    renamed[{source.getNameAttr(), oldName}] = newName;
  }
  module.walk([&](gpu::LaunchFuncOp launch) {
    auto it = renamed.find(
        {launch.getKernelModuleName(), launch.getKernelName()});
    if (it != renamed.end())
      launch.setKernelAttr(SymbolRefAttr::get(
          target.getNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
  });
  for (gpu::GPUModuleOp source : llvm::drop_begin(kernelModules))
    source.erase();
  return success();
}

namespace {

struct GpuMergeKernelModulesPass
    : public qat::impl::GpuMergeKernelModulesBase<GpuMergeKernelModulesPass> {
  void runOnOperation() override {
    if (failed(mergeKernelModules(getOperation())))
      signalPassFailure();
  }
};

} // namespace
