//===- EntryPoints.cpp - Entry points and the runtime ABI -----------------===//
//
// Part of qat-mlir. Finds the functions a compiled module exports, checks
// their signatures, and adds the runtime ABI of
// runtime/include/qat_runtime/qat_abi.h to the translated LLVM module.
//
//===----------------------------------------------------------------------===//

#include "qat/Compiler/Compiler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

#include "qat_runtime/qat_abi.h"

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The runtime dtype of an element type, or 0 when it has none.
int32_t getDtype(Type type) {
  if (type.isF32())
    return QAT_DTYPE_F32;
  if (type.isF64())
    return QAT_DTYPE_F64;
  if (!type.isSignlessInteger())
    return 0;
  switch (type.getIntOrFloatBitWidth()) {
  case 1:
    return QAT_DTYPE_I1;
  case 8:
    return QAT_DTYPE_I8;
  case 16:
    return QAT_DTYPE_I16;
  case 32:
    return QAT_DTYPE_I32;
  case 64:
    return QAT_DTYPE_I64;
  default:
    return 0;
  }
}

bool isCIdentifier(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name[0]) || name[0] == '_'))
    return false;
  return llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

/// The signature of one argument or result, or a diagnostic.
FailureOr<TensorSignature> getTensorSignature(func::FuncOp func, Type type,
                                              StringRef kind, unsigned index,
                                              DictionaryAttr attrs) {
  auto tensorType = dyn_cast<RankedTensorType>(type);
  if (!tensorType)
    return func.emitOpError("entry point ")
           << kind << " #" << index << " must be a ranked tensor (pass "
           << "scalars as 0-D tensors), got " << type;
  TensorSignature signature;
  signature.dtype = getDtype(tensorType.getElementType());
  if (!signature.dtype)
    return func.emitOpError("entry point ")
           << kind << " #" << index
           << " has an unsupported element type: expected f32, f64, i1, i8, "
              "i16, i32 or i64, got "
           << tensorType.getElementType();
  for (int64_t size : tensorType.getShape())
    signature.shape.push_back(ShapedType::isDynamic(size) ? -1 : size);
  StringAttr name =
      attrs ? attrs.getAs<StringAttr>(QatDialect::kNameAttrName) : StringAttr();
  signature.name = name ? name.str() : (kind + Twine(index)).str();
  return signature;
}

} // namespace

FailureOr<std::vector<EntrySignature>>
mlir::qat::prepareEntryPoints(ModuleOp module) {
  std::vector<EntrySignature> entries;
  bool failed = false;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() || !func.isPublic())
      continue;
    EntrySignature entry;
    entry.name = func.getName().str();
    if (!isCIdentifier(entry.name)) {
      func.emitOpError("entry point name '")
          << entry.name << "' is not a C identifier";
      failed = true;
      continue;
    }
    FunctionType type = func.getFunctionType();
    for (auto [i, argType] : llvm::enumerate(type.getInputs())) {
      FailureOr<TensorSignature> arg =
          getTensorSignature(func, argType, "arg", i, func.getArgAttrDict(i));
      if (::mlir::failed(arg)) {
        failed = true;
        continue;
      }
      entry.args.push_back(*arg);
    }
    for (auto [i, resultType] : llvm::enumerate(type.getResults())) {
      FailureOr<TensorSignature> result = getTensorSignature(
          func, resultType, "result", i, func.getResultAttrDict(i));
      if (::mlir::failed(result)) {
        failed = true;
        continue;
      }
      if (!cast<RankedTensorType>(resultType).hasStaticShape()) {
        func.emitOpError("entry point result #")
            << i << " must have a static shape (results are caller-allocated"
            << " out-parameters), got " << resultType;
        failed = true;
        continue;
      }
      entry.results.push_back(*result);
    }
    // The names now live in the signature; LLVM has no use for them, nor
    // for the other qat.* annotations (roles, qparam descriptions).
    auto stripQat = [](DictionaryAttr attrs) {
      SmallVector<NamedAttribute> kept;
      if (attrs)
        for (NamedAttribute attr : attrs)
          if (attr.getName().strref().split('.').first !=
              QatDialect::getDialectNamespace())
            kept.push_back(attr);
      return DictionaryAttr::get(attrs ? attrs.getContext() : nullptr, kept);
    };
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (DictionaryAttr attrs = func.getArgAttrDict(i))
        func.setArgAttrs(i, stripQat(attrs));
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
      if (DictionaryAttr attrs = func.getResultAttrDict(i))
        func.setResultAttrs(i, stripQat(attrs));
    func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  UnitAttr::get(func.getContext()));
    entries.push_back(std::move(entry));
  }
  if (failed)
    return failure();
  return entries;
}

//===----------------------------------------------------------------------===//
// The runtime ABI in LLVM IR
//===----------------------------------------------------------------------===//

namespace {

/// Builds the constant tables of qat_abi.h.
class AbiBuilder {
public:
  AbiBuilder(llvm::Module &module)
      : module(module), ctx(module.getContext()),
        ptrTy(llvm::PointerType::getUnqual(ctx)),
        i32Ty(llvm::Type::getInt32Ty(ctx)), i64Ty(llvm::Type::getInt64Ty(ctx)),
        tensorTy(llvm::StructType::create(ctx, {ptrTy, i32Ty, i32Ty, ptrTy},
                                          "qat_abi_tensor")),
        entryTy(llvm::StructType::create(
            ctx, {ptrTy, ptrTy, i32Ty, i32Ty, ptrTy, ptrTy}, "qat_abi_entry")),
        moduleTy(llvm::StructType::create(ctx, {i32Ty, i32Ty, ptrTy, ptrTy},
                                          "qat_abi_module")) {}

  llvm::Constant *string(StringRef value, const Twine &name) {
    auto *init = llvm::ConstantDataArray::getString(ctx, value);
    return global(init, name);
  }

  llvm::Constant *global(llvm::Constant *init, const Twine &name) {
    return new llvm::GlobalVariable(
        module, init->getType(),
        /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage, init, name);
  }

  llvm::Constant *tensors(ArrayRef<TensorSignature> signatures,
                          const Twine &name) {
    if (signatures.empty())
      return llvm::ConstantPointerNull::get(ptrTy);
    SmallVector<llvm::Constant *> elements;
    for (auto [i, t] : llvm::enumerate(signatures)) {
      llvm::Constant *shape = llvm::ConstantPointerNull::get(ptrTy);
      if (!t.shape.empty()) {
        SmallVector<uint64_t> sizes(t.shape.begin(), t.shape.end());
        shape = global(llvm::ConstantDataArray::get(ctx, sizes),
                       name + "." + Twine(i) + ".shape");
      }
      elements.push_back(llvm::ConstantStruct::get(
          tensorTy, {string(t.name, name + "." + Twine(i) + ".name"),
                     llvm::ConstantInt::get(i32Ty, t.dtype),
                     llvm::ConstantInt::get(i32Ty, t.shape.size()), shape}));
    }
    return global(
        llvm::ConstantArray::get(
            llvm::ArrayType::get(tensorTy, elements.size()), elements),
        name);
  }

  /// void qat_entry_<name>(void **args): loads each descriptor pointer and
  /// calls the C interface wrapper MLIR generated.
  llvm::Function *packedEntry(const EntrySignature &entry) {
    llvm::Function *ciface = module.getFunction("_mlir_ciface_" + entry.name);
    assert(ciface && "entry points are emitted with a C interface");
    auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrTy},
                                         /*isVarArg=*/false);
    auto *fn = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                      "qat_entry_" + entry.name, module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    SmallVector<llvm::Value *> operands;
    unsigned count = entry.args.size() + entry.results.size();
    assert(ciface->arg_size() == count && "one descriptor per tensor");
    for (unsigned i = 0; i < count; ++i) {
      llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, fn->getArg(0), i);
      operands.push_back(b.CreateLoad(ptrTy, slot));
    }
    b.CreateCall(ciface, operands);
    b.CreateRetVoid();
    return fn;
  }

  void moduleInfo(ArrayRef<EntrySignature> entries, StringRef producer) {
    SmallVector<llvm::Constant *> elements;
    for (const EntrySignature &entry : entries) {
      std::string prefix = "qat.abi." + entry.name;
      elements.push_back(llvm::ConstantStruct::get(
          entryTy, {string(entry.name, prefix + ".name"), packedEntry(entry),
                    llvm::ConstantInt::get(i32Ty, entry.args.size()),
                    llvm::ConstantInt::get(i32Ty, entry.results.size()),
                    tensors(entry.args, prefix + ".args"),
                    tensors(entry.results, prefix + ".results")}));
    }
    llvm::Constant *table =
        elements.empty()
            ? static_cast<llvm::Constant *>(
                  llvm::ConstantPointerNull::get(ptrTy))
            : global(
                  llvm::ConstantArray::get(
                      llvm::ArrayType::get(entryTy, elements.size()), elements),
                  "qat.abi.entries");
    llvm::Constant *info =
        global(llvm::ConstantStruct::get(
                   moduleTy, {llvm::ConstantInt::get(i32Ty, QAT_ABI_VERSION),
                              llvm::ConstantInt::get(i32Ty, entries.size()),
                              table, string(producer, "qat.abi.producer")}),
               "qat.abi.module");
    auto *type = llvm::FunctionType::get(ptrTy, /*isVarArg=*/false);
    auto *fn = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                      QAT_MODULE_INFO_SYMBOL, module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    b.CreateRet(info);
  }

private:
  llvm::Module &module;
  llvm::LLVMContext &ctx;
  llvm::PointerType *ptrTy;
  llvm::IntegerType *i32Ty, *i64Ty;
  llvm::StructType *tensorTy, *entryTy, *moduleTy;
};

} // namespace

std::unique_ptr<llvm::Module>
mlir::qat::translateWithRuntimeABI(ModuleOp module, llvm::LLVMContext &context,
                                   ArrayRef<EntrySignature> entries,
                                   llvm::TargetMachine &target,
                                   StringRef producer) {
  DialectRegistry registry;
  registerAllToLLVMIRTranslations(registry);
  module->getContext()->appendDialectRegistry(registry);
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, context, producer);
  if (!llvmModule)
    return nullptr;
  llvmModule->setDataLayout(target.createDataLayout());
  llvmModule->setTargetTriple(target.getTargetTriple());
  bindGpuRuntime(*llvmModule);
  AbiBuilder(*llvmModule).moduleInfo(entries, producer);
  return llvmModule;
}
