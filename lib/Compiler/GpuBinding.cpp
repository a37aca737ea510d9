//===- GpuBinding.cpp - GPU modules and the runtime -----------------------===//
//
// Part of qat-mlir. Host code lowered by qat-gpu-pipeline calls MLIR's GPU
// runtime functions (mgpuModuleLoad, mgpuLaunchKernel, mgpuMemcpy, ...) and
// loads its kernels from global constructors. A qat-compile library must
// need nothing at load time but libc, and must not load kernels before the
// runtime has found a GPU. So every mgpu* function becomes a call through a
// pointer the runtime supplies, and the constructors run when the runtime
// attaches the module (qat_abi.h: qat_gpu_attach / qat_gpu_detach).
//
//===----------------------------------------------------------------------===//

#include "qat/Compiler/Compiler.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Transforms/Utils/ModuleUtils.h"

#include "qat_runtime/qat_abi.h"

using namespace mlir;
using namespace mlir::qat;

FailureOr<std::string> mlir::qat::getDeviceCode(ModuleOp module) {
  SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
  if (binaries.empty())
    return module.emitError("the module has no GPU code (no gpu.binary)");
  if (binaries.size() != 1)
    return module.emitError("expected one gpu.binary, found ")
           << binaries.size();
  auto objects = binaries.front().getObjects();
  if (objects.size() != 1)
    return binaries.front().emitOpError("expected one object, found ")
           << objects.size();
  return cast<gpu::ObjectAttr>(objects[0]).getObject().getValue().str();
}

namespace {

/// The functions of `module`'s llvm.global_ctors (or _dtors) array, by
/// priority; the array is removed.
SmallVector<llvm::Function *> takeStructors(llvm::Module &module,
                                            StringRef arrayName) {
  SmallVector<std::pair<uint64_t, llvm::Function *>> found;
  llvm::GlobalVariable *array = module.getNamedGlobal(arrayName);
  if (!array)
    return {};
  if (auto *init = dyn_cast<llvm::ConstantArray>(array->getInitializer()))
    for (llvm::Value *element : init->operands()) {
      auto *entry = cast<llvm::ConstantStruct>(element);
      auto *priority = cast<llvm::ConstantInt>(entry->getOperand(0));
      if (auto *fn = dyn_cast<llvm::Function>(entry->getOperand(1)))
        found.push_back({priority->getZExtValue(), fn});
    }
  array->eraseFromParent();
  llvm::stable_sort(found, llvm::less_first());
  return llvm::to_vector(llvm::make_second_range(found));
}

} // namespace

bool mlir::qat::bindGpuRuntime(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  auto *i32Ty = llvm::Type::getInt32Ty(ctx);

  // Each mgpu* declaration becomes an internal function calling through a
  // pointer that qat_gpu_attach fills in.
  SmallVector<std::pair<llvm::Function *, llvm::GlobalVariable *>> thunks;
  for (llvm::Function &fn : module)
    if (fn.isDeclaration() && fn.getName().starts_with("mgpu"))
      thunks.push_back({&fn, nullptr});
  if (thunks.empty())
    return false;
  for (auto &[fn, pointer] : thunks) {
    pointer = new llvm::GlobalVariable(
        module, ptrTy, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
        llvm::ConstantPointerNull::get(ptrTy), "qat.gpu." + fn->getName());
    fn->setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    llvm::Value *target = b.CreateLoad(ptrTy, pointer);
    SmallVector<llvm::Value *> args(llvm::make_pointer_range(fn->args()));
    llvm::CallInst *call = b.CreateCall(fn->getFunctionType(), target, args);
    if (fn->getReturnType()->isVoidTy())
      b.CreateRetVoid();
    else
      b.CreateRet(call);
  }

  // int qat_gpu_attach(void *(*lookup)(const char *)): every pointer, then
  // the constructors (they load the kernels). 1 when lookup lacks one.
  SmallVector<llvm::Function *> constructors =
      takeStructors(module, "llvm.global_ctors");
  SmallVector<llvm::Function *> destructors =
      takeStructors(module, "llvm.global_dtors");
  auto *attachTy = llvm::FunctionType::get(i32Ty, {ptrTy}, false);
  auto *attach =
      llvm::Function::Create(attachTy, llvm::GlobalValue::ExternalLinkage,
                             QAT_GPU_ATTACH_SYMBOL, module);
  auto *lookupTy = llvm::FunctionType::get(ptrTy, {ptrTy}, false);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", attach));
  llvm::BasicBlock *missing = llvm::BasicBlock::Create(ctx, "missing", attach);
  for (auto &[fn, pointer] : thunks) {
    llvm::Constant *name = b.CreateGlobalString(fn->getName(), "qat.gpu.name");
    llvm::Value *found = b.CreateCall(lookupTy, attach->getArg(0), {name});
    b.CreateStore(found, pointer);
    llvm::BasicBlock *next = llvm::BasicBlock::Create(ctx, "next", attach);
    b.CreateCondBr(b.CreateIsNull(found), missing, next);
    b.SetInsertPoint(next);
  }
  for (llvm::Function *ctor : constructors)
    b.CreateCall(ctor);
  b.CreateRet(llvm::ConstantInt::get(i32Ty, 0));
  b.SetInsertPoint(missing);
  b.CreateRet(llvm::ConstantInt::get(i32Ty, 1));

  // void qat_gpu_detach(void): the destructors (they unload the kernels).
  auto *detach = llvm::Function::Create(
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false),
      llvm::GlobalValue::ExternalLinkage, QAT_GPU_DETACH_SYMBOL, module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", detach));
  for (llvm::Function *dtor : destructors)
    b.CreateCall(dtor);
  b.CreateRetVoid();
  return true;
}
