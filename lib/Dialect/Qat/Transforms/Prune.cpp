//===- Prune.cpp - qat-prune ----------------------------------------------===//
//
// Part of qat-mlir. Masks the float weight of chosen layers with
// qat.prune_mask / qat.apply_mask, before the weight's fake-quant when the
// function is instrumented (docs/Pruning.md).
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"
#include "qat/Dialect/Qat/IR/QatOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::qat {
#define GEN_PASS_DEF_PRUNE
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The operand that carries `layer`'s float weight: the layer's own weight
/// operand, or the input of the fake-quant that produces it.
OpOperand *getFloatWeightOperand(const Layer &layer) {
  linalg::LinalgOp op = layer.op;
  OpOperand *operand = op.getDpsInputOperand(*layer.weightInput);
  if (auto fakeQuant = operand->get().getDefiningOp<FakeQuantOp>())
    return &fakeQuant->getOpOperand(0);
  return operand;
}

/// The weight dimension N:M groups run along: the last weight dimension
/// that is reduced (a matmul weight's rows, a convolution's input
/// channels).
std::optional<int64_t> getReductionAxis(const Layer &layer) {
  linalg::LinalgOp op = layer.op;
  OpOperand *weight = op.getDpsInputOperand(*layer.weightInput);
  AffineMap map = op.getMatchingIndexingMap(weight);
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  std::optional<int64_t> axis;
  for (auto [d, expr] : llvm::enumerate(map.getResults()))
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      if (iterators[dim.getPosition()] == utils::IteratorType::reduction)
        axis = d;
  return axis;
}

LogicalResult pruneLayer(const Layer &layer, StringRef name,
                         const PruneSpec &spec) {
  OpOperand *operand = getFloatWeightOperand(layer);
  Value weight = operand->get();
  Operation *user = operand->getOwner();
  if (weight.getDefiningOp<ApplyMaskOp>())
    return layer.op->emitOpError("layer '")
           << name << "': its weight is pruned already";
  auto type = dyn_cast<RankedTensorType>(weight.getType());
  if (!type || !isa<FloatType>(type.getElementType()))
    return layer.op->emitOpError("layer '")
           << name << "': expected a float weight to prune, got "
           << weight.getType();
  OpBuilder b(user);
  Location loc = layer.op->getLoc();
  auto maskType = RankedTensorType::get(type.getShape(), b.getI1Type());
  Value keep;
  if (spec.kind == PruneSpec::Kind::Magnitude ||
      spec.kind == PruneSpec::Kind::Block) {
    DenseI64ArrayAttr block;
    if (spec.kind == PruneSpec::Kind::Block) {
      std::optional<int64_t> k = getReductionAxis(layer);
      std::optional<int64_t> n = layer.weightAxis;
      if (!k || !n || *k == *n)
        return layer.op->emitOpError("layer '")
               << name << "': block pruning needs a weight with a reduction "
               << "axis and an output-channel axis";
      SmallVector<int64_t> sizes(type.getRank(), 1);
      sizes[*k] = spec.blockK;
      sizes[*n] = spec.blockN;
      for (int64_t axis : {*k, *n})
        if (type.isDynamicDim(axis) ||
            type.getDimSize(axis) % sizes[axis] != 0)
          return layer.op->emitOpError("layer '")
                 << name << "': blocks of " << spec.blockK << "x"
                 << spec.blockN << " need weight dimension " << axis
                 << " to be a multiple of " << sizes[axis] << ", got "
                 << type.getDimSize(axis);
      block = b.getDenseI64ArrayAttr(sizes);
    }
    auto scalar = RankedTensorType::get({}, b.getF32Type());
    Value sparsity = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(
                    scalar, b.getF32FloatAttr(spec.sparsity).getValue()));
    keep = PruneMaskOp::create(b, loc, maskType, weight, sparsity,
                               /*n=*/nullptr, /*m=*/nullptr, /*axis=*/nullptr,
                               block);
  } else {
    std::optional<int64_t> axis = getReductionAxis(layer);
    if (!axis)
      return layer.op->emitOpError("layer '")
             << name << "': its weight has no reduction axis for N:M pruning";
    if (type.isDynamicDim(*axis) || type.getDimSize(*axis) % spec.m != 0)
      return layer.op->emitOpError("layer '")
             << name << "': N:M pruning groups of " << spec.m
             << " along weight dimension " << *axis << " need its size to be "
             << "a multiple of " << spec.m << ", got " << type.getDimSize(*axis);
    keep = PruneMaskOp::create(b, loc, maskType, weight, /*sparsity=*/Value(),
                               b.getI64IntegerAttr(spec.n),
                               b.getI64IntegerAttr(spec.m),
                               b.getI64IntegerAttr(*axis), /*block=*/nullptr);
  }
  // Named after its layer: the training state of a scheduled mask is
  // `mask:<layer>`, and qat-freeze finds the trained mask by that name.
  QatDialect::setLayerName(keep.getDefiningOp(), name);
  Value pruned = ApplyMaskOp::create(b, loc, type, weight, keep);
  operand->set(pruned);
  return success();
}

} // namespace

LogicalResult mlir::qat::prune(ModuleOp module, InstrumentConfig &config) {
  SmallVector<std::string> allNames;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() ||
        func->hasAttr(QatDialect::kInitQParamsForAttrName))
      continue;
    GraphAnalysis graph(func);
    llvm::StringMap<unsigned> kindCounts;
    FailureOr<SmallVector<std::string>> names = nameLayers(graph, kindCounts);
    if (failed(names))
      return failure();
    for (auto [layer, name] : llvm::zip(graph.getLayers(), *names)) {
      allNames.push_back(name);
      LayerQuantSpec spec = config.resolve(name);
      if (spec.skip || spec.prune.kind == PruneSpec::Kind::None ||
          !layer.weightInput)
        continue;
      if (failed(pruneLayer(layer, name, spec.prune)))
        return failure();
    }
  }
  for (const LayerOverride &override : config.overrides)
    if (override.prune && !override.used)
      return mlir::emitError(module.getLoc(), "qat-prune: config '")
             << config.source << "': layer pattern '" << override.pattern
             << "' matches no layer (layers: "
             << (allNames.empty() ? std::string("none")
                                  : llvm::join(allNames, ", "))
             << ")";
  return success();
}

namespace {

struct PrunePass : public qat::impl::PruneBase<PrunePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    InstrumentConfig config;
    auto fail = [&](llvm::Error error) {
      mlir::emitError(module.getLoc(), "qat-prune: ")
          << llvm::toString(std::move(error));
      signalPassFailure();
    };
    if (!sparsity.empty() && !pattern.empty())
      return fail(llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "give sparsity or pattern, not both"));
    if (!block.empty() && sparsity.empty())
      return fail(llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "block: give the sparsity of the blocks with sparsity="));
    std::string setting = block.empty() ? sparsity : sparsity + "/" + block;
    llvm::Expected<PruneSpec> defaults = parsePruneSpec(
        pattern.empty() ? (block.empty() ? "sparsity" : "sparsity/block")
                        : "pattern",
        pattern.empty() ? StringRef(setting) : StringRef(pattern));
    if (!defaults)
      return fail(defaults.takeError());
    if (!pattern.empty() && defaults->kind != PruneSpec::Kind::NofM)
      return fail(llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "pattern: expected N:M (such as 2:4), got '" + pattern + "'"));
    if (!sparsity.empty() && defaults->kind == PruneSpec::Kind::NofM)
      return fail(llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "sparsity: expected a number in [0, 1), got '" + sparsity + "'"));
    config.defaults.prune = *defaults;
    if (!configFile.empty())
      if (llvm::Error error = config.loadFile(configFile))
        return fail(std::move(error));
    if (failed(prune(module, config)))
      signalPassFailure();
  }
};

} // namespace
