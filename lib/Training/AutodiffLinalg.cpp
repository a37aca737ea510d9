//===- AutodiffLinalg.cpp - Gradients of linalg structured ops ------------===//
//
// Part of qat-mlir. One rule covers every linalg structured op on tensors:
// the gradient with respect to input i is a linalg.generic over the op's own
// loops that evaluates the derivative of the scalar payload and sums it over
// the loops input i does not index. Three payload shapes are understood:
//
//   plain:  y = f(ins)             (elementwise, broadcast, transpose)
//   sum:    y = acc + f(ins)       (matmul, conv, sum pooling, reductions)
//   max:    y = max(acc, f(ins))   (max pooling: to the first arg-max)
//
// An input read through `a * p + b * r` (a strided, dilated window: conv and
// pooling inputs) is handled by re-indexing: the output-side operands are
// dilated by `a` and padded by `b * (R - 1)` so that the window position r
// and the input position e give the output position exactly when it exists.
//
//===----------------------------------------------------------------------===//

#include "AutodiffImpl.h"

#include "qat/Utils/Im2col.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::autodiff;

namespace {

enum class PayloadKind { Plain, Sum, Max };

/// How input i's map reads a window: result `result` of the map is
/// `a * d_p + b * d_r`, p a loop of the output, r a loop it does not index.
struct WindowAccess {
  unsigned result;
  unsigned p, r;
  int64_t a, b;
  int64_t pRange, rRange;
  unsigned outputDim; ///< where d_p appears in the output map
  int64_t padLow;     ///< b * (rRange - 1)
  int64_t dilatedSize;
};

/// Parses `expr` as `a * d_x + b * d_y` with positive a, b.
std::optional<std::array<std::pair<unsigned, int64_t>, 2>>
matchTwoDimSum(AffineExpr expr) {
  auto add = dyn_cast<AffineBinaryOpExpr>(expr);
  if (!add || add.getKind() != AffineExprKind::Add)
    return std::nullopt;
  auto term = [](AffineExpr e) -> std::optional<std::pair<unsigned, int64_t>> {
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      return std::make_pair(dim.getPosition(), int64_t(1));
    auto mul = dyn_cast<AffineBinaryOpExpr>(e);
    if (!mul || mul.getKind() != AffineExprKind::Mul)
      return std::nullopt;
    auto dim = dyn_cast<AffineDimExpr>(mul.getLHS());
    auto cst = dyn_cast<AffineConstantExpr>(mul.getRHS());
    if (!dim || !cst || cst.getValue() <= 0)
      return std::nullopt;
    return std::make_pair(dim.getPosition(), cst.getValue());
  };
  auto lhs = term(add.getLHS()), rhs = term(add.getRHS());
  if (!lhs || !rhs || lhs->first == rhs->first)
    return std::nullopt;
  return std::array<std::pair<unsigned, int64_t>, 2>{*lhs, *rhs};
}

/// The values of the payload that depend on `from`.
llvm::DenseSet<Value> dependents(Block *body, Value from) {
  llvm::DenseSet<Value> set = {from};
  for (Operation &op : body->without_terminator())
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return set.contains(v); }))
      set.insert(op.result_begin(), op.result_end());
  return set;
}

/// Emits d(root)/d(wrt) * seed for the payload `body`, whose ops have been
/// cloned with `primal` (original value -> value in the new body).
FailureOr<Value> payloadDerivative(OpBuilder &b, Location loc, Block *body,
                                   Value root, Value seed, Value wrt,
                                   IRMapping &primal) {
  llvm::DenseSet<Value> active = dependents(body, wrt);
  Type f32 = seed.getType();
  llvm::DenseMap<Value, Value> adj;
  // Adds the contribution `make()` to v's adjoint; emits nothing when v
  // does not depend on `wrt`.
  auto add = [&](Value v, function_ref<Value()> make) {
    if (!active.contains(v))
      return;
    Value g = make();
    Value &slot = adj[v];
    slot = slot ? arith::AddFOp::create(b, loc, slot, g).getResult() : g;
  };
  auto p = [&](Value v) { return primal.lookupOrDefault(v); };
  Value zero = arith::ConstantOp::create(b, loc, FloatAttr::get(f32, 0.0));
  auto select = [&](Value cond, Value t, Value f) {
    return arith::SelectOp::create(b, loc, cond, t, f).getResult();
  };
  auto cmp = [&](arith::CmpFPredicate pred, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, pred, x, y).getResult();
  };
  adj[root] = seed;
  for (Operation &op : llvm::reverse(body->without_terminator())) {
    if (op.getNumResults() != 1)
      continue;
    Value g = adj.lookup(op.getResult(0));
    if (!g || llvm::none_of(op.getOperands(),
                            [&](Value v) { return active.contains(v); }))
      continue;
    Value r = p(op.getResult(0));
    using P = arith::CmpFPredicate;
    LogicalResult ok =
        TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](arith::AddFOp o) {
              add(o.getLhs(), [&] { return Value(g); });
              add(o.getRhs(), [&] { return Value(g); });
              return success();
            })
            .Case([&](arith::SubFOp o) {
              add(o.getLhs(), [&] { return Value(g); });
              add(o.getRhs(),
                  [&] { return Value(arith::NegFOp::create(b, loc, g)); });
              return success();
            })
            .Case([&](arith::MulFOp o) {
              add(o.getLhs(), [&] {
                return Value(arith::MulFOp::create(b, loc, g, p(o.getRhs())));
              });
              add(o.getRhs(), [&] {
                return Value(arith::MulFOp::create(b, loc, g, p(o.getLhs())));
              });
              return success();
            })
            .Case([&](arith::DivFOp o) {
              Value den = p(o.getRhs());
              add(o.getLhs(),
                  [&] { return Value(arith::DivFOp::create(b, loc, g, den)); });
              if (active.contains(o.getRhs())) {
                Value q = arith::DivFOp::create(b, loc, r, den);
                add(o.getRhs(), [&] {
                  return Value(arith::NegFOp::create(
                      b, loc, arith::MulFOp::create(b, loc, g, q)));
                });
              }
              return success();
            })
            .Case([&](arith::NegFOp o) {
              add(o.getOperand(),
                  [&] { return Value(arith::NegFOp::create(b, loc, g)); });
              return success();
            })
            .Case<arith::MaximumFOp, arith::MaxNumFOp, arith::MinimumFOp,
                  arith::MinNumFOp>([&](Operation *o) {
              bool isMax = isa<arith::MaximumFOp, arith::MaxNumFOp>(o);
              Value x = o->getOperand(0), y = o->getOperand(1);
              bool xActive = active.contains(x), yActive = active.contains(y);
              // A lone active operand loses ties (d relu(x)/dx = 0 at 0, as
              // PyTorch); between two active operands the first wins.
              if (xActive && yActive) {
                Value first = cmp(isMax ? P::OGE : P::OLE, p(x), p(y));
                add(x, [&] { return Value(select(first, g, zero)); });
                add(y, [&] { return Value(select(first, zero, g)); });
              } else {
                Value mine = xActive ? x : y, other = xActive ? y : x;
                Value wins = cmp(isMax ? P::OGT : P::OLT, p(mine), p(other));
                add(mine, [&] { return Value(select(wins, g, zero)); });
              }
              return success();
            })
            .Case([&](arith::SelectOp o) {
              Value cond = p(o.getCondition());
              add(o.getTrueValue(),
                  [&] { return Value(select(cond, g, zero)); });
              add(o.getFalseValue(),
                  [&] { return Value(select(cond, zero, g)); });
              return success();
            })
            .Case([&](math::ExpOp o) {
              add(o.getOperand(),
                  [&] { return Value(arith::MulFOp::create(b, loc, g, r)); });
              return success();
            })
            .Case([&](math::LogOp o) {
              add(o.getOperand(), [&] {
                return Value(
                    arith::DivFOp::create(b, loc, g, p(o.getOperand())));
              });
              return success();
            })
            .Case([&](math::TanhOp o) {
              Value one =
                  arith::ConstantOp::create(b, loc, FloatAttr::get(f32, 1.0));
              Value rr = arith::MulFOp::create(b, loc, r, r);
              Value d = arith::SubFOp::create(b, loc, one, rr);
              add(o.getOperand(),
                  [&] { return Value(arith::MulFOp::create(b, loc, g, d)); });
              return success();
            })
            .Case([&](math::SqrtOp o) {
              Value half =
                  arith::ConstantOp::create(b, loc, FloatAttr::get(f32, 0.5));
              Value d = arith::DivFOp::create(b, loc, half, r);
              add(o.getOperand(),
                  [&] { return Value(arith::MulFOp::create(b, loc, g, d)); });
              return success();
            })
            .Case([&](math::RsqrtOp o) {
              Value c =
                  arith::ConstantOp::create(b, loc, FloatAttr::get(f32, -0.5));
              Value r3 = arith::MulFOp::create(
                  b, loc, r, arith::MulFOp::create(b, loc, r, r));
              Value d = arith::MulFOp::create(b, loc, c, r3);
              add(o.getOperand(),
                  [&] { return Value(arith::MulFOp::create(b, loc, g, d)); });
              return success();
            })
            .Case([&](math::ErfOp o) {
              // d erf(x)/dx = 2/sqrt(pi) exp(-x^2) (GELU's Erf).
              Value x = p(o.getOperand());
              Value c = arith::ConstantOp::create(
                  b, loc, FloatAttr::get(f32, 1.1283791670955126));
              Value e = math::ExpOp::create(
                  b, loc,
                  arith::NegFOp::create(b, loc,
                                        arith::MulFOp::create(b, loc, x, x)));
              Value d = arith::MulFOp::create(b, loc, c, e);
              add(o.getOperand(),
                  [&] { return Value(arith::MulFOp::create(b, loc, g, d)); });
              return success();
            })
            .Case([&](math::AbsFOp o) {
              Value one =
                  arith::ConstantOp::create(b, loc, FloatAttr::get(f32, 1.0));
              Value sign =
                  math::CopySignOp::create(b, loc, one, p(o.getOperand()));
              add(o.getOperand(), [&] {
                return Value(arith::MulFOp::create(b, loc, g, sign));
              });
              return success();
            })
            .Default([&](Operation *o) {
              return o->emitOpError(
                  "has no gradient rule (in a linalg payload)");
            });
    if (failed(ok))
      return failure();
  }
  Value d = adj.lookup(wrt);
  return d ? d : zero;
}

/// Reads a payload: its kind and the value combined with the accumulator
/// (the yielded value itself for plain payloads).
FailureOr<std::pair<PayloadKind, Value>> classifyPayload(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  BlockArgument acc = body->getArguments().back();
  Value yielded = body->getTerminator()->getOperand(0);
  if (acc.use_empty())
    return std::make_pair(PayloadKind::Plain, yielded);
  Operation *combine = yielded.getDefiningOp();
  if (combine && acc.hasOneUse() && combine->getNumOperands() == 2 &&
      llvm::is_contained(combine->getOperands(), acc)) {
    Value other = combine->getOperand(0) == acc ? combine->getOperand(1)
                                                : combine->getOperand(0);
    if (isa<arith::AddFOp>(combine))
      return std::make_pair(PayloadKind::Sum, other);
    if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combine))
      return std::make_pair(PayloadKind::Max, other);
  }
  return op.emitOpError("has no gradient rule: its payload combines the "
                        "accumulator other than by a sum or a max");
}

Value elementConstant(OpBuilder &b, Location loc, Type type, double value) {
  if (isa<FloatType>(type))
    return arith::ConstantOp::create(b, loc, FloatAttr::get(type, value));
  return arith::ConstantOp::create(b, loc,
                                   IntegerAttr::get(type, (int64_t)value));
}

/// `value` (shaped like the op's output) dilated and padded for `windows`:
/// element q of dimension outputDim moves to padLow + a * q.
Value dilate(ReverseBuilder &rb, Value value, ArrayRef<WindowAccess> windows) {
  if (windows.empty())
    return value;
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> shape(type.getShape());
  SmallVector<int64_t> offsets(type.getRank(), 0), strides(type.getRank(), 1);
  for (const WindowAccess &w : windows) {
    shape[w.outputDim] = w.dilatedSize;
    offsets[w.outputDim] = w.padLow;
    strides[w.outputDim] = w.a;
  }
  Value into = rb.zeros(RankedTensorType::get(shape, type.getElementType()));
  OpBuilder &b = rb.b;
  auto folds = [&](ArrayRef<int64_t> v) {
    return llvm::map_to_vector(
        v, [&](int64_t x) -> OpFoldResult { return b.getIndexAttr(x); });
  };
  return tensor::InsertSliceOp::create(b, value.getLoc(), value, into,
                                       folds(offsets), folds(type.getShape()),
                                       folds(strides));
}

/// The row-major index of the current position among the loops `loops`.
Value windowIndex(OpBuilder &b, Location loc, ArrayRef<unsigned> loops,
                  ArrayRef<int64_t> ranges) {
  Value index = arith::ConstantIndexOp::create(b, loc, 0);
  for (unsigned loop : loops) {
    Value size = arith::ConstantIndexOp::create(b, loc, ranges[loop]);
    Value i = linalg::IndexOp::create(b, loc, loop);
    index = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, index, size), i);
  }
  return arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
}

/// For max payloads: the row-major index, among the reduction loops, of the
/// first position where f(ins) equals the result y.
Value firstArgMax(ReverseBuilder &rb, linalg::LinalgOp op, Value other,
                  Value y) {
  OpBuilder &b = rb.b;
  Location loc = op.getLoc();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<unsigned> reductionLoops;
  op.getReductionDims(reductionLoops);
  auto yType = cast<RankedTensorType>(y.getType());
  auto idxType = RankedTensorType::get(yType.getShape(), b.getI32Type());
  Value empty =
      tensor::EmptyOp::create(b, loc, idxType.getShape(), b.getI32Type());
  Value big = arith::ConstantOp::create(
      b, loc, b.getI32IntegerAttr(std::numeric_limits<int32_t>::max()));
  Value init = linalg::FillOp::create(b, loc, big, empty).getResult(0);
  SmallVector<Value> inputs(op.getDpsInputs());
  inputs.push_back(y);
  SmallVector<AffineMap> newMaps(maps.begin(), maps.end() - 1);
  newMaps.push_back(maps.back());
  newMaps.push_back(maps.back());
  Block *body = op.getBlock();
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{idxType}, inputs, ValueRange{init}, newMaps,
      op.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        IRMapping mapping;
        for (unsigned i = 0, e = op.getNumDpsInputs(); i < e; ++i)
          mapping.map(body->getArgument(i), args[i]);
        Value yv = args[op.getNumDpsInputs()];
        mapping.map(body->getArguments().back(), yv);
        for (Operation &inner : body->without_terminator())
          nb.clone(inner, mapping);
        Value candidate = mapping.lookupOrDefault(other);
        Value equal = arith::CmpFOp::create(nb, nloc, arith::CmpFPredicate::OEQ,
                                            candidate, yv);
        Value index = windowIndex(nb, nloc, reductionLoops, ranges);
        Value pick = arith::SelectOp::create(nb, nloc, equal, index, big);
        linalg::YieldOp::create(
            nb, nloc,
            ValueRange{arith::MinSIOp::create(nb, nloc, pick, args.back())});
      });
  return generic.getResult(0);
}

/// The generic that computes the gradient of DPS input `input` of `op`:
/// `operands` are the gradient of the result (and for max payloads the
/// first arg-max), then the op's own inputs, read through `operandMaps` in
/// a loop nest of `iterators` whose window position among the op's
/// reduction loops is at `reductionLoops` with `ranges`. With `reduces`,
/// the terms are summed into `init`.
FailureOr<Value> buildAdjoint(OpBuilder &b, linalg::LinalgOp op, unsigned input,
                              PayloadKind kind, Value combined,
                              RankedTensorType type, ArrayRef<Value> operands,
                              ArrayRef<AffineMap> operandMaps, Value init,
                              ArrayRef<utils::IteratorType> iterators,
                              ArrayRef<unsigned> reductionLoops,
                              ArrayRef<int64_t> ranges, bool reduces) {
  Location loc = op.getLoc();
  unsigned firstInput = kind == PayloadKind::Max ? 2 : 1;
  Block *body = op.getBlock();
  bool failedBody = false;
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, operands, ValueRange{init}, operandMaps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        IRMapping primal;
        for (unsigned j = 0, e = op.getNumDpsInputs(); j < e; ++j)
          primal.map(body->getArgument(j), args[firstInput + j]);
        Type accType = body->getArguments().back().getType();
        primal.map(body->getArguments().back(),
                   elementConstant(nb, nloc, accType, 0.0));
        for (Operation &inner : body->without_terminator())
          nb.clone(inner, primal);
        Value seed = args[0];
        if (kind == PayloadKind::Max) {
          Value index = windowIndex(nb, nloc, reductionLoops, ranges);
          Value first = arith::CmpIOp::create(
              nb, nloc, arith::CmpIPredicate::eq, index, args[1]);
          seed = arith::SelectOp::create(
              nb, nloc, first, seed,
              elementConstant(nb, nloc, seed.getType(), 0.0));
        }
        Value root = kind == PayloadKind::Plain
                         ? body->getTerminator()->getOperand(0)
                         : combined;
        FailureOr<Value> d = payloadDerivative(
            nb, nloc, body, root, seed, body->getArgument(input), primal);
        Value acc = args.back();
        if (failed(d)) {
          failedBody = true;
          linalg::YieldOp::create(nb, nloc, acc);
          return;
        }
        Value result =
            reduces ? arith::AddFOp::create(nb, nloc, acc, *d).getResult() : *d;
        linalg::YieldOp::create(nb, nloc, result);
      });
  if (failedBody) {
    generic->erase();
    return failure();
  }
  return generic.getResult(0);
}

/// The gradient of DPS input `input` when its windows tile it exactly
/// (stride = window, no dilation, no remainder: pooling with the stride of
/// its window) and it reads every loop of `op`: each element of the input
/// is in exactly one window, so its gradient is a single term. It is
/// computed over the input split into (window, position in the window)
/// dimensions, all parallel: nothing dilated, padded or summed. Null when
/// the windows do not tile the input.
FailureOr<Value> tiledInputAdjoint(ReverseBuilder &rb, linalg::LinalgOp op,
                                   unsigned input, Value gradient,
                                   PayloadKind kind, Value combined,
                                   ArrayRef<WindowAccess> windows) {
  OpBuilder &b = rb.b;
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  Value x = op.getDpsInputs()[input];
  auto xType = cast<RankedTensorType>(x.getType());
  unsigned numLoops = op.getNumLoops();
  // The split input's dimensions, each an op loop.
  SmallVector<unsigned> loops;
  SmallVector<int64_t> sizes;
  SmallVector<ReassociationIndices> groups;
  for (auto [k, expr] : llvm::enumerate(maps[input].getResults())) {
    ReassociationIndices group = {static_cast<int64_t>(loops.size())};
    unsigned result = k;
    const WindowAccess *w = llvm::find_if(
        windows, [&](const WindowAccess &w) { return w.result == result; });
    if (w == windows.end()) {
      loops.push_back(cast<AffineDimExpr>(expr).getPosition());
      sizes.push_back(xType.getDimSize(k));
    } else {
      if (w->b != 1 || w->a != w->rRange ||
          xType.getDimSize(k) != w->a * w->pRange)
        return Value();
      loops.append({w->p, w->r});
      sizes.append({w->pRange, w->rRange});
      group.push_back(group.front() + 1);
    }
    groups.push_back(group);
  }
  if (loops.size() != numLoops)
    return Value();
  SmallVector<AffineExpr> renamed(numLoops);
  SmallVector<int64_t> newRanges(numLoops);
  for (auto [position, loop] : llvm::enumerate(loops)) {
    renamed[loop] = getAffineDimExpr(position, ctx);
    newRanges[position] = ranges[loop];
  }
  auto rename = [&](AffineMap map) {
    return map.replaceDimsAndSymbols(renamed, {}, numLoops, 0);
  };
  SmallVector<unsigned> reductionLoops;
  op.getReductionDims(reductionLoops);
  for (unsigned &loop : reductionLoops)
    loop = cast<AffineDimExpr>(renamed[loop]).getPosition();

  auto splitType = RankedTensorType::get(sizes, xType.getElementType());
  AffineMap identity = AffineMap::getMultiDimIdentityMap(numLoops, ctx);
  SmallVector<Value> operands = {gradient};
  SmallVector<AffineMap> operandMaps = {rename(maps.back())};
  if (kind == PayloadKind::Max) {
    operands.push_back(firstArgMax(rb, op, combined, op->getResult(0)));
    operandMaps.push_back(rename(maps.back()));
  }
  for (auto [j, value] : llvm::enumerate(op.getDpsInputs())) {
    bool split = j == input;
    operands.push_back(
        split ? tensor::ExpandShapeOp::create(b, loc, splitType, value, groups)
                    .getResult()
              : value);
    operandMaps.push_back(split ? identity : rename(maps[j]));
  }
  operandMaps.push_back(identity);
  Value init = tensor::EmptyOp::create(b, loc, sizes, xType.getElementType());
  FailureOr<Value> split = buildAdjoint(
      b, op, input, kind, combined, splitType, operands, operandMaps, init,
      SmallVector<utils::IteratorType>(numLoops, utils::IteratorType::parallel),
      reductionLoops, newRanges, /*reduces=*/false);
  if (failed(split))
    return failure();
  return tensor::CollapseShapeOp::create(b, loc, xType, *split, groups)
      .getResult();
}

/// The gradient with respect to DPS input `input`.
FailureOr<Value> inputAdjoint(ReverseBuilder &rb, linalg::LinalgOp op,
                              unsigned input, Value gradient, PayloadKind kind,
                              Value combined) {
  OpBuilder &b = rb.b;
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return op.emitOpError("has no gradient rule for dynamic shapes");
  AffineMap inMap = maps[input], outMap = maps.back();
  unsigned numLoops = op.getNumLoops();
  Value x = op.getDpsInputs()[input];
  auto xType = cast<RankedTensorType>(x.getType());

  // Window accesses of the input.
  SmallVector<WindowAccess> windows;
  SmallVector<AffineExpr> newInResults;
  for (auto [k, expr] : llvm::enumerate(inMap.getResults())) {
    if (isa<AffineDimExpr>(expr)) {
      newInResults.push_back(expr);
      continue;
    }
    auto terms = matchTwoDimSum(expr);
    std::optional<unsigned> outputDim;
    WindowAccess w;
    if (terms) {
      for (auto [first, second] : {std::make_pair((*terms)[0], (*terms)[1]),
                                   std::make_pair((*terms)[1], (*terms)[0])}) {
        auto pos = outMap.getResultPosition(getAffineDimExpr(first.first, ctx));
        if (!pos || outMap.isFunctionOfDim(second.first))
          continue;
        outputDim = *pos;
        w = {static_cast<unsigned>(k),
             first.first,
             second.first,
             first.second,
             second.second,
             0,
             0,
             *pos,
             0,
             0};
      }
    }
    if (!outputDim) {
      std::string text;
      llvm::raw_string_ostream os(text);
      expr.print(os);
      return op.emitOpError("has no gradient rule for input #")
             << input << ": it reads " << text
             << " (expected a loop or a strided window a*p + b*r)";
    }
    w.pRange = ranges[w.p];
    w.rRange = ranges[w.r];
    w.padLow = w.b * (w.rRange - 1);
    int64_t extent = xType.getDimSize(k);
    int64_t padHigh = std::max<int64_t>(0, extent - 1 - (w.pRange - 1) * w.a);
    w.dilatedSize = w.padLow + (w.pRange - 1) * w.a + 1 + padHigh;
    windows.push_back(w);
    newInResults.push_back(getAffineDimExpr(w.p, ctx));
  }
  // A window loop p now runs over the input's positions; no other input may
  // use it.
  for (const WindowAccess &w : windows)
    for (auto [j, map] : llvm::enumerate(ArrayRef(maps).drop_back()))
      if (j != input && map.isFunctionOfDim(w.p))
        return op.emitOpError("has no gradient rule for input #")
               << input << ": another input shares its window loop";
  AffineMap newInMap = AffineMap::get(numLoops, 0, newInResults, ctx);
  if (!newInMap.isProjectedPermutation())
    return op.emitOpError("has no gradient rule for input #")
           << input << ": it reads a loop twice";
  if (kind != PayloadKind::Plain && !windows.empty()) {
    FailureOr<Value> tiled =
        tiledInputAdjoint(rb, op, input, gradient, kind, combined, windows);
    if (failed(tiled) || *tiled)
      return tiled;
  }

  // Output-side operands, re-indexed through the windows.
  SmallVector<AffineExpr> outResults(outMap.getResults());
  for (const WindowAccess &w : windows)
    outResults[w.outputDim] = getAffineDimExpr(w.p, ctx) -
                              getAffineDimExpr(w.r, ctx) * w.b + w.padLow;
  AffineMap newOutMap = AffineMap::get(numLoops, 0, outResults, ctx);

  SmallVector<Value> operands = {dilate(rb, gradient, windows)};
  SmallVector<AffineMap> operandMaps = {newOutMap};
  Value argMax;
  if (kind == PayloadKind::Max) {
    Value y = op->getResult(0);
    argMax = firstArgMax(rb, op, combined, y);
    operands.push_back(dilate(rb, argMax, windows));
    operandMaps.push_back(newOutMap);
  }
  for (auto [j, value] : llvm::enumerate(op.getDpsInputs())) {
    operands.push_back(value);
    operandMaps.push_back(j == input ? newInMap : maps[j]);
  }
  operandMaps.push_back(newInMap);
  SmallVector<utils::IteratorType> iterators;
  for (unsigned loop = 0; loop < numLoops; ++loop)
    iterators.push_back(newInMap.isFunctionOfDim(loop)
                            ? utils::IteratorType::parallel
                            : utils::IteratorType::reduction);
  SmallVector<unsigned> reductionLoops;
  op.getReductionDims(reductionLoops);

  // Without reduction loops each element is written once: the body must
  // not read the init (elementwise fusion would turn such a read into an
  // accumulation across the consumer's loops).
  bool reduces = llvm::is_contained(iterators, utils::IteratorType::reduction);
  Value init = reduces ? rb.zeros(xType)
                       : tensor::EmptyOp::create(b, loc, xType.getShape(),
                                                 xType.getElementType())
                             .getResult();
  FailureOr<Value> adjoint =
      buildAdjoint(b, op, input, kind, combined, xType, operands, operandMaps,
                   init, iterators, reductionLoops, ranges, reduces);
  if (failed(adjoint))
    return failure();
  return *adjoint;
}

/// dA = dC B^T, dB = A^T dC for a plain f32 linalg.matmul, as matmuls so
/// that they run on the matmul kernels.
LogicalResult matmulAdjoint(ReverseBuilder &rb, linalg::MatmulOp op,
                            Value gradient) {
  OpBuilder &b = rb.b;
  Location loc = op.getLoc();
  auto transpose = [&](Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    Value init = tensor::EmptyOp::create(
        b, loc, {type.getDimSize(1), type.getDimSize(0)},
        type.getElementType());
    return linalg::TransposeOp::create(b, loc, v, init, ArrayRef<int64_t>{1, 0})
        .getResult()[0];
  };
  auto matmul = [&](Value lhs, Value rhs, RankedTensorType type) {
    return linalg::MatmulOp::create(b, loc, TypeRange{type},
                                    ValueRange{lhs, rhs},
                                    ValueRange{rb.zeros(type)})
        .getResult(0);
  };
  Value a = op.getDpsInputs()[0], bv = op.getDpsInputs()[1];
  if (rb.isActive(a))
    rb.accumulate(a, matmul(gradient, transpose(bv),
                            cast<RankedTensorType>(a.getType())));
  if (rb.isActive(bv))
    rb.accumulate(bv, matmul(transpose(a), gradient,
                             cast<RankedTensorType>(bv.getType())));
  rb.accumulate(op.getDpsInits()[0], gradient);
  return success();
}

/// Gradients of an f32 NHWC/HWCF convolution as ops the CPU pipeline runs
/// on its matmul kernels:
///   dx = conv(dilate(dy), flip(w)^T)   (stride 1, the forward's dilation)
///   dw = im2col(x)^T . dy              (a matmul)
/// A tensor.pad of static sizes by a constant of the height and width of
/// an NHWC tensor only.
bool isSpatialPadding(tensor::PadOp pad) {
  ArrayRef<int64_t> low = pad.getStaticLow(), high = pad.getStaticHigh();
  return pad.getSourceType().hasStaticShape() &&
         pad.getConstantPaddingValue() && low.size() == 4 &&
         !ShapedType::isDynamicShape(low) &&
         !ShapedType::isDynamicShape(high) && low[0] == 0 && high[0] == 0 &&
         low[3] == 0 && high[3] == 0;
}

LogicalResult convAdjoint(ReverseBuilder &rb, linalg::Conv2DNhwcHwcfOp op,
                          Value gradient) {
  OpBuilder &b = rb.b;
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1];
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  auto yType = cast<RankedTensorType>(gradient.getType());
  Type f32 = xType.getElementType();
  SmallVector<int64_t> strides(op.getStrides().getValues<int64_t>());
  SmallVector<int64_t> dilations(op.getDilations().getValues<int64_t>());
  int64_t n = xType.getDimSize(0), c = xType.getDimSize(3);
  int64_t kh = wType.getDimSize(0), kw = wType.getDimSize(1);
  int64_t f = wType.getDimSize(3);
  int64_t oh = yType.getDimSize(1), ow = yType.getDimSize(2);
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };

  if (rb.isActive(x)) {
    // The gradient goes where x comes from: to the source of the zero
    // padding (of the spatial dimensions) that x is, when only this
    // convolution reads x, so that only the source's positions are
    // computed (the pad's own rule would compute all of x's and slice).
    Value target = x;
    SmallVector<int64_t> low(4, 0);
    if (auto pad = x.getDefiningOp<tensor::PadOp>();
        pad && x.hasOneUse() && isSpatialPadding(pad) &&
        rb.isActive(pad.getSource()) &&
        !rb.isActive(pad.getConstantPaddingValue())) {
      target = pad.getSource();
      low.assign(pad.getStaticLow().begin(), pad.getStaticLow().end());
    }
    auto targetType = cast<RankedTensorType>(target.getType());
    SmallVector<WindowAccess> windows;
    for (unsigned i = 0; i < 2; ++i) {
      int64_t k = wType.getDimSize(i), p = yType.getDimSize(1 + i);
      int64_t e = targetType.getDimSize(1 + i);
      // Target position e reads the dilated gradient at e .. e + reach.
      int64_t reach = dilations[i] * (k - 1);
      WindowAccess window;
      window.outputDim = 1 + i;
      window.a = strides[i];
      window.padLow = reach - low[1 + i];
      window.pRange = p;
      window.dilatedSize = e + reach;
      windows.push_back(window);
    }
    // Gradient rows past the source's reach only feed the padding.
    if (target != x && llvm::any_of(windows, [](const WindowAccess &w) {
          return w.padLow < 0 ||
                 w.padLow + (w.pRange - 1) * w.a + 1 > w.dilatedSize;
        })) {
      // Not worth a special case: the whole padded gradient, sliced.
      target = x;
      targetType = xType;
      for (WindowAccess &w : windows) {
        int64_t reach = w.padLow + low[w.outputDim];
        w.padLow = reach;
        w.dilatedSize = xType.getDimSize(w.outputDim) + reach;
      }
    }
    Value dilated = dilate(rb, gradient, windows);
    // flipped[i][j][f][c] = w[kh - 1 - i][kw - 1 - j][c][f]
    auto flippedType = RankedTensorType::get({kh, kw, f, c}, f32);
    AffineMap read = AffineMap::get(
        4, 0, {d(0) * -1 + (kh - 1), d(1) * -1 + (kw - 1), d(3), d(2)}, ctx);
    Value flipped =
        linalg::GenericOp::create(
            b, loc, TypeRange{flippedType}, ValueRange{w},
            ValueRange{
                tensor::EmptyOp::create(b, loc, flippedType.getShape(), f32)},
            ArrayRef<AffineMap>{read,
                                AffineMap::getMultiDimIdentityMap(4, ctx)},
            SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
            [](OpBuilder &nb, Location nloc, ValueRange args) {
              linalg::YieldOp::create(nb, nloc, args[0]);
            })
            .getResult(0);
    auto dx = linalg::Conv2DNhwcHwcfOp::create(
        b, loc, TypeRange{targetType}, ValueRange{dilated, flipped},
        ValueRange{rb.zeros(targetType)},
        {b.getNamedAttr("strides", b.getI64TensorAttr({1, 1})),
         b.getNamedAttr("dilations", b.getI64TensorAttr(dilations))});
    rb.accumulate(target, dx.getResult(0));
  }

  if (rb.isActive(w)) {
    Value patches =
        buildIm2col(rb.b, x, {n, oh, ow}, {kh, kw}, strides, dilations);
    int64_t rows = n * oh * ow, cols = kh * kw * c;
    auto colsType = RankedTensorType::get({rows, cols}, f32);
    Value flat = tensor::CollapseShapeOp::create(
        b, loc, colsType, patches,
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}});
    auto transposedType = RankedTensorType::get({cols, rows}, f32);
    Value transposed =
        linalg::TransposeOp::create(
            b, loc, flat,
            tensor::EmptyOp::create(b, loc, transposedType.getShape(), f32),
            ArrayRef<int64_t>{1, 0})
            .getResult()[0];
    Value dyFlat = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({rows, f}, f32), gradient,
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
    auto dwFlatType = RankedTensorType::get({cols, f}, f32);
    Value dwFlat = linalg::MatmulOp::create(b, loc, TypeRange{dwFlatType},
                                            ValueRange{transposed, dyFlat},
                                            ValueRange{rb.zeros(dwFlatType)})
                       .getResult(0);
    rb.accumulate(w, tensor::ExpandShapeOp::create(
                         b, loc, wType, dwFlat,
                         SmallVector<ReassociationIndices>{{0, 1, 2}, {3}}));
  }
  rb.accumulate(op.getDpsInits()[0], gradient);
  return success();
}

bool isPlainF32Conv(linalg::LinalgOp op) {
  if (!isa<linalg::Conv2DNhwcHwcfOp>(op.getOperation()))
    return false;
  return llvm::all_of(op->getOperandTypes(), [](Type t) {
    auto type = dyn_cast<RankedTensorType>(t);
    return type && type.getElementType().isF32() && type.hasStaticShape();
  });
}

bool isPlainF32Matmul(linalg::LinalgOp op) {
  auto matmul = dyn_cast<linalg::MatmulOp>(op.getOperation());
  if (!matmul || matmul.hasUserDefinedMaps())
    return false;
  return llvm::all_of(op->getOperandTypes(), [](Type t) {
    auto type = dyn_cast<RankedTensorType>(t);
    return type && type.getElementType().isF32() && type.hasStaticShape();
  });
}

} // namespace

LogicalResult mlir::qat::autodiff::differentiateLinalg(ReverseBuilder &rb,
                                                       linalg::LinalgOp op,
                                                       Value gradient) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1)
    return op.emitOpError("has no gradient rule: expected one result on "
                          "tensors");
  if (isPlainF32Matmul(op))
    return matmulAdjoint(rb, cast<linalg::MatmulOp>(op.getOperation()),
                         gradient);
  if (isPlainF32Conv(op))
    return convAdjoint(rb, cast<linalg::Conv2DNhwcHwcfOp>(op.getOperation()),
                       gradient);
  FailureOr<std::pair<PayloadKind, Value>> payload = classifyPayload(op);
  if (failed(payload))
    return failure();
  auto [kind, combined] = *payload;
  Value init = op.getDpsInits()[0];
  // A plain payload overwrites its init: no gradient flows to it.
  if (rb.isActive(init) && kind != PayloadKind::Plain) {
    if (kind == PayloadKind::Max)
      return op.emitOpError("has no gradient rule for the initial value of "
                            "a max reduction");
    rb.accumulate(init, gradient);
  }
  Block *body = op.getBlock();
  for (OpOperand *operand : op.getDpsInputOperands()) {
    Value value = operand->get();
    unsigned index = operand->getOperandNumber();
    if (!rb.isActive(value) || body->getArgument(index).use_empty())
      continue;
    if (!isa<RankedTensorType>(value.getType()))
      return op.emitOpError("has no gradient rule for scalar operand #")
             << index;
    FailureOr<Value> adjoint =
        inputAdjoint(rb, op, index, gradient, kind, combined);
    if (failed(adjoint))
      return failure();
    rb.accumulate(value, *adjoint);
  }
  return success();
}
