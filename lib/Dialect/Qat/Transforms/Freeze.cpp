//===- Freeze.cpp - qat-freeze --------------------------------------------===//
//
// Part of qat-mlir. Replaces named function arguments (learned quantization
// parameters, weights) by constants read from a values file (.npz, or JSON
// for small hand-written files).
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/FoldUtils.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::qat {
#define GEN_PASS_DEF_FREEZE
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

static bool isQParam(func::FuncOp func, unsigned i) {
  return QatDialect::getArgRole(func, i) == ArgRole::QParam;
}

FailureOr<func::FuncOp> mlir::qat::getFunctionToFreeze(ModuleOp module,
                                                       StringRef function) {
  if (!function.empty()) {
    auto func = module.lookupSymbol<func::FuncOp>(function);
    if (!func || func.isExternal())
      return module.emitError("qat-freeze: no function @")
             << function << " with a body";
    return func;
  }
  SmallVector<func::FuncOp> candidates;
  for (auto func : module.getOps<func::FuncOp>())
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isQParam(func, i)) {
        candidates.push_back(func);
        break;
      }
  if (candidates.size() == 1)
    return candidates.front();
  return module.emitError("qat-freeze: ")
         << (candidates.empty()
                 ? "no function has quantization parameter arguments"
                 : "several functions have quantization parameter "
                   "arguments")
         << "; name one with function=";
}

LogicalResult mlir::qat::freezeArguments(func::FuncOp func,
                                         const ValuesFile &values) {
  auto fail = [&](const Twine &message) {
    return emitError(func.getLoc(), "qat-freeze: " + message);
  };
  // Argument names, with the train-step prefixes accepted.
  llvm::StringMap<unsigned> byName;
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    byName[QatDialect::getArgNameOrIndex(func, i)] = i;
  llvm::DenseMap<unsigned, DenseElementsAttr> constants;
  // Trained pruning masks (a sparsity schedule's state), by layer.
  llvm::StringMap<const ValueArray *> trainedMasks;
  for (const auto &[key, array] : values.arrays()) {
    StringRef name = key;
    if (name.consume_front("mask:")) {
      trainedMasks[name] = &array;
      continue;
    }
    for (StringRef prefix : {"param:", "qparam:"})
      name.consume_front(prefix);
    auto it = byName.find(name);
    if (it == byName.end())
      return fail(llvm::formatv("'{0}' names no argument of @{1}",
                                StringRef(key), func.getSymName()));
    unsigned index = it->second;
    auto type = dyn_cast<RankedTensorType>(func.getArgumentTypes()[index]);
    if (!type || !type.hasStaticShape())
      return fail(llvm::formatv("'{0}': the argument is not a statically "
                                "shaped tensor",
                                name));
    std::string message;
    FailureOr<DenseElementsAttr> attr = toElementsAttr(array, type, message);
    if (failed(attr))
      return fail(llvm::formatv("'{0}': {1}", name, message));
    constants[index] = *attr;
  }
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (isQParam(func, i) && !constants.count(i))
      return fail(llvm::formatv("quantization parameter '{0}' of @{1} has "
                                "no value",
                                QatDialect::getArgNameOrIndex(func, i),
                                func.getSymName()));

  // A trained mask replaces its prune_mask: the mask training froze is the
  // one deployed, and the weights must already be 0 where it prunes (the
  // train step keeps them so); a nonzero there means the mask and the
  // weights come from different runs, an error rather than a silent change.
  // Checked before anything changes.
  SmallVector<std::pair<PruneMaskOp, SmallVector<bool>>> trained;
  LogicalResult masked = success();
  func.walk([&](PruneMaskOp op) {
    StringAttr layer = QatDialect::getLayerName(op);
    auto it = layer ? trainedMasks.find(layer) : trainedMasks.end();
    if (it == trainedMasks.end())
      return WalkResult::advance();
    auto type = cast<RankedTensorType>(op.getInput().getType());
    std::string message;
    FailureOr<DenseElementsAttr> mask = toElementsAttr(
        *it->second, type.clone(Float32Type::get(func.getContext())), message);
    if (failed(mask)) {
      masked = fail(llvm::formatv("'mask:{0}': {1}", layer.str(), message));
      return WalkResult::interrupt();
    }
    SmallVector<bool> keep;
    for (float v : mask->getValues<float>())
      keep.push_back(v != 0.0f);
    // The weight as it will be frozen: a value from the file, or a
    // constant already.
    DenseElementsAttr weight;
    if (auto arg = dyn_cast<BlockArgument>(op.getInput());
        arg && arg.getOwner()->getParentOp() == func)
      weight = constants.lookup(arg.getArgNumber());
    else if (auto c = op.getInput().getDefiningOp<arith::ConstantOp>())
      weight = dyn_cast<DenseElementsAttr>(c.getValue());
    if (weight) {
      int64_t revived = 0, i = 0;
      for (APFloat v : weight.getValues<APFloat>())
        revived += !keep[i++] && !v.isZero();
      if (revived) {
        masked = op.emitOpError("layer '")
                 << layer.str() << "': " << revived
                 << " weights are nonzero where its trained mask prunes "
                    "them (the mask and the weights come from different "
                    "runs?)";
        return WalkResult::interrupt();
      }
    }
    trainedMasks.erase(it);
    trained.emplace_back(op, std::move(keep));
    return WalkResult::advance();
  });
  if (failed(masked))
    return failure();
  if (!trainedMasks.empty())
    return fail(llvm::formatv("'mask:{0}' names no pruned layer of @{1}",
                              trainedMasks.begin()->getKey(),
                              func.getSymName()));

  // Rewrite: constants at the entry, arguments erased.
  OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
  llvm::BitVector erase(func.getNumArguments());
  for (unsigned index = 0, e = func.getNumArguments(); index < e; ++index) {
    auto it = constants.find(index);
    if (it == constants.end())
      continue;
    Value constant = arith::ConstantOp::create(
        b, func.getArgument(index).getLoc(), it->second);
    func.getArgument(index).replaceAllUsesWith(constant);
    erase.set(index);
  }
  if (failed(func.eraseArguments(erase)))
    return fail("cannot erase the frozen arguments");
  for (auto &[op, keep] : trained) {
    OpBuilder at(op);
    op.getResult().replaceAllUsesWith(arith::ConstantOp::create(
        at, op.getLoc(),
        DenseElementsAttr::get(cast<ShapedType>(op.getType()),
                               ArrayRef<bool>(keep))));
    op.erase();
  }
  // Pruning masks of frozen weights become part of the weights: the mask
  // is computed once, here, and the pruned weight is a constant with exact
  // zeros (what integer conversion reads).
  // The mask stays with the weight's fake-quant as `qat.mask`: an
  // invariant qat-convert-to-integer checks the codes against.
  OperationFolder folder(func.getContext());
  SmallVector<Operation *> masks;
  func.walk([&](Operation *op) {
    if (isa<PruneMaskOp, ApplyMaskOp>(op))
      masks.push_back(op);
  });
  for (Operation *op : masks) {
    if (auto apply = dyn_cast<ApplyMaskOp>(op)) {
      DenseIntElementsAttr keep;
      if (matchPattern(apply.getMask(), m_Constant(&keep)))
        for (Operation *user : apply->getUsers())
          if (auto fakeQuant = dyn_cast<FakeQuantOp>(user))
            fakeQuant->setAttr(QatDialect::kMaskAttrName, keep);
    }
    (void)folder.tryToFold(op);
  }
  // The unpruned constants the masks replaced.
  for (Operation &op : llvm::make_early_inc_range(func.getBody().front()))
    if (isa<arith::ConstantOp>(op) && op.use_empty())
      op.erase();
  WalkResult unfolded = func.walk([&](ApplyMaskOp op) {
    if (!op.getInput().getDefiningOp<arith::ConstantOp>())
      return WalkResult::advance();
    op.emitOpError("prunes a frozen weight with a mask that is not a "
                   "constant (its sparsity must be frozen too)");
    return WalkResult::interrupt();
  });
  if (unfolded.wasInterrupted())
    return failure();
  QatDialect::setFrozenAttr(func);
  // The function's initialiser (qat-instrument's @<f>_init_qparams) computed
  // the arguments that are constants now: stale, and dead code in a
  // deployed library.
  if (auto module = func->getParentOfType<ModuleOp>())
    for (auto init :
         llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (auto target = init->getAttrOfType<FlatSymbolRefAttr>(
              QatDialect::kInitQParamsForAttrName);
          target && target.getValue() == func.getSymName())
        init.erase();
  return success();
}

namespace {

struct FreezePass : public qat::impl::FreezeBase<FreezePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (valuesFile.empty()) {
      emitError(module.getLoc(),
                "qat-freeze: values=<file.npz or file.json> is required");
      return signalPassFailure();
    }
    llvm::Expected<ValuesFile> values = ValuesFile::read(valuesFile);
    if (!values) {
      emitError(module.getLoc(), "qat-freeze: ")
          << llvm::toString(values.takeError());
      return signalPassFailure();
    }
    FailureOr<func::FuncOp> func = getFunctionToFreeze(module, function);
    if (failed(func) || failed(freezeArguments(*func, *values)))
      signalPassFailure();
  }
};

} // namespace
