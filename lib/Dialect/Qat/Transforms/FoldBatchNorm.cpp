//===- FoldBatchNorm.cpp - qat-fold-batchnorm -----------------------------===//
//
// Part of qat-mlir. Folds per-channel affine elementwise chains (inference
// batch norm, scale layers) that follow a layer into its weight and a bias.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_FOLDBATCHNORM
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// A layer followed by the elementwise ops to fold into it.
struct FoldCandidate {
  const Layer *layer;
  /// The chain's ops and, for each, the DPS input that is the previous link.
  SmallVector<std::pair<linalg::LinalgOp, unsigned>> chain;
};

/// `a * x + c`, as values of the per-channel generic's body.
struct Affine {
  Value a, c;
};

/// The elementwise op that consumes `value`, if it extends an affine chain on
/// the layer's output channels `channelDim`.
linalg::LinalgOp getAffineUser(Value value, int64_t channelDim,
                               const GraphAnalysis &graph) {
  if (!value.hasOneUse())
    return {};
  OpOperand &use = *value.use_begin();
  auto user = dyn_cast<linalg::LinalgOp>(use.getOwner());
  if (!user || !user.hasPureTensorSemantics() || !user.isDpsInput(&use))
    return {};
  unsigned input = use.getOperandNumber();
  if (!isElementwiseOn(user, input))
    return {};
  SmallVector<AffineMap> maps = user.getIndexingMapsArray();
  for (OpOperand *other : user.getDpsInputOperands()) {
    if (other == &use)
      continue;
    if (other->get() == value || graph.isActivation(other->get()) ||
        !isPerChannelMap(maps[other->getOperandNumber()], channelDim))
      return {};
  }
  std::optional<PayloadChain> chain = matchPayloadChain(user, input);
  if (!chain || chain->clamps)
    return {};
  return user;
}

/// Emits the affine form of `op`'s payload as a function of its input
/// `input`, where that input is `x`. Values of the payload that do not depend
/// on the input are cloned with `mapping` (which maps `op`'s other block
/// arguments).
Affine emitAffine(ImplicitLocOpBuilder &b, linalg::LinalgOp op, unsigned input,
                  Affine x, IRMapping &mapping) {
  Block *body = op.getBlock();
  llvm::DenseMap<Value, Affine> forms;
  forms[body->getArgument(input)] = x;
  for (Operation &inner : body->without_terminator()) {
    auto dependent = llvm::find_if(inner.getOperands(),
                                   [&](Value v) { return forms.contains(v); });
    if (dependent == inner.operand_end()) {
      b.clone(inner, mapping);
      continue;
    }
    // matchPayloadChain guarantees one dependent operand and one of these
    // ops; `other` is the independent operand, if any.
    Affine f = forms.lookup(*dependent);
    bool xFirst = dependent == inner.operand_begin();
    Value other;
    if (inner.getNumOperands() == 2)
      other = mapping.lookupOrDefault(inner.getOperand(xFirst ? 1 : 0));
    Affine g = TypeSwitch<Operation *, Affine>(&inner)
                   .Case([&](arith::AddFOp) {
                     return Affine{f.a, arith::AddFOp::create(b, f.c, other)};
                   })
                   .Case([&](arith::SubFOp) {
                     if (xFirst)
                       return Affine{f.a, arith::SubFOp::create(b, f.c, other)};
                     return Affine{arith::NegFOp::create(b, f.a),
                                   arith::SubFOp::create(b, other, f.c)};
                   })
                   .Case([&](arith::MulFOp) {
                     return Affine{arith::MulFOp::create(b, f.a, other),
                                   arith::MulFOp::create(b, f.c, other)};
                   })
                   .Case([&](arith::DivFOp) {
                     return Affine{arith::DivFOp::create(b, f.a, other),
                                   arith::DivFOp::create(b, f.c, other)};
                   })
                   .Case([&](arith::NegFOp) {
                     return Affine{arith::NegFOp::create(b, f.a),
                                   arith::NegFOp::create(b, f.c)};
                   })
                   .Default([](Operation *) -> Affine {
                     llvm_unreachable("step rejected by matchPayloadChain");
                   });
    forms[inner.getResult(0)] = g;
  }
  return forms.lookup(body->getTerminator()->getOperand(0));
}

/// A generic multiplying (or adding) `value` by the 1-D `perChannel` along
/// dimension `dim`.
Value emitChannelwise(ImplicitLocOpBuilder &b, Value value, Value perChannel,
                      int64_t dim, bool multiply) {
  auto type = cast<RankedTensorType>(value.getType());
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(type.getRank(), ctx);
  AffineMap channel =
      AffineMap::get(type.getRank(), 0, getAffineDimExpr(dim, ctx));
  Value init =
      tensor::EmptyOp::create(b, type.getShape(), type.getElementType());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, TypeRange{type}, ValueRange{value, perChannel}, ValueRange{init},
      ArrayRef<AffineMap>{identity, channel, identity}, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        Value r = multiply
                      ? arith::MulFOp::create(nested, loc, args[0], args[1])
                            .getResult()
                      : arith::AddFOp::create(nested, loc, args[0], args[1])
                            .getResult();
        linalg::YieldOp::create(nested, loc, r);
      });
  return generic.getResult(0);
}

/// True when `value` is a linalg.fill of +0.0 (an accumulator that scaling
/// leaves unchanged).
bool isZeroFill(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  auto constant = fill.value().getDefiningOp<arith::ConstantOp>();
  auto attr = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
  return attr && attr.getValue().isPosZero();
}

void fold(const FoldCandidate &candidate) {
  const Layer &layer = *candidate.layer;
  linalg::LinalgOp last = candidate.chain.back().first;
  ImplicitLocOpBuilder b(last.getLoc(), last);
  MLIRContext *ctx = b.getContext();
  int64_t channelDim = *layer.outputChannelDim;
  auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
  int64_t channels = resultType.getDimSize(channelDim);
  Type f32 = resultType.getElementType();

  // One per-channel generic over [channels] computes a and c from every
  // parameter of the chain.
  SmallVector<Value> params;
  SmallVector<AffineMap> paramMaps;
  for (auto [op, chainInput] : candidate.chain) {
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    for (OpOperand *operand : op.getDpsInputOperands()) {
      if (operand->getOperandNumber() == chainInput)
        continue;
      AffineMap map = maps[operand->getOperandNumber()];
      SmallVector<AffineExpr> results;
      for (AffineExpr expr : map.getResults())
        results.push_back(isa<AffineDimExpr>(expr) ? getAffineDimExpr(0, ctx)
                                                   : expr);
      params.push_back(operand->get());
      paramMaps.push_back(AffineMap::get(1, 0, results, ctx));
    }
  }
  auto channelType = RankedTensorType::get({channels}, f32);
  Value empty = tensor::EmptyOp::create(b, channelType.getShape(), f32);
  AffineMap identity1 = AffineMap::getMultiDimIdentityMap(1, ctx);
  paramMaps.append({identity1, identity1});
  auto coefficients = linalg::GenericOp::create(
      b, TypeRange{channelType, channelType}, params, ValueRange{empty, empty},
      paramMaps, {utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        ImplicitLocOpBuilder body(loc, nested);
        Affine form{arith::ConstantOp::create(body, FloatAttr::get(f32, 1.0)),
                    arith::ConstantOp::create(body, FloatAttr::get(f32, 0.0))};
        unsigned next = 0;
        for (auto [op, chainInput] : candidate.chain) {
          IRMapping mapping;
          for (OpOperand *operand : op.getDpsInputOperands())
            if (operand->getOperandNumber() != chainInput)
              mapping.map(op.getMatchingBlockArgument(operand), args[next++]);
          form = emitAffine(body, op, chainInput, form, mapping);
        }
        linalg::YieldOp::create(body, ValueRange{form.a, form.c});
      });
  Value a = coefficients.getResult(0), c = coefficients.getResult(1);

  // layer(x, w * a) with its accumulator scaled too, plus c.
  Value weight = layer.getWeight();
  Value scaledWeight = emitChannelwise(b, weight, a, *layer.weightAxis, true);
  Value init = linalg::LinalgOp(layer.op).getDpsInits()[0];
  Value scaledInit =
      isZeroFill(init) ? init : emitChannelwise(b, init, a, channelDim, true);
  Operation *folded = b.clone(*layer.op);
  auto foldedOp = cast<linalg::LinalgOp>(folded);
  foldedOp->setOperand(*layer.weightInput, scaledWeight);
  foldedOp.getDpsInitsMutable()[0].set(scaledInit);
  Value result = emitChannelwise(b, folded->getResult(0), c, channelDim, false);

  last->getResult(0).replaceAllUsesWith(result);
  for (auto &link : llvm::reverse(candidate.chain))
    link.first->erase();
  layer.op->erase();
}

} // namespace

unsigned mlir::qat::foldBatchNorm(func::FuncOp func) {
  GraphAnalysis graph(func);
  SmallVector<FoldCandidate> candidates;
  for (const Layer &layer : graph.getLayers()) {
    if (!layer.weightInput || !layer.weightAxis ||
        !linalg::LinalgOp(layer.op).hasPureTensorSemantics())
      continue;
    FoldCandidate candidate{&layer, {}};
    bool scales = false;
    Value value = layer.op->getResult(0);
    while (linalg::LinalgOp user =
               getAffineUser(value, *layer.outputChannelDim, graph)) {
      unsigned input = value.use_begin()->getOperandNumber();
      candidate.chain.push_back({user, input});
      scales |= matchPayloadChain(user, input)->scales;
      value = user->getResult(0);
    }
    if (scales)
      candidates.push_back(std::move(candidate));
  }
  for (const FoldCandidate &candidate : candidates)
    fold(candidate);
  return candidates.size();
}

namespace {

struct FoldBatchNormPass
    : public qat::impl::FoldBatchNormBase<FoldBatchNormPass> {
  void runOnOperation() override { (void)foldBatchNorm(getOperation()); }
};

} // namespace
