//===- Autodiff.cpp - Reverse-mode driver, tensor and qat op rules --------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "AutodiffImpl.h"

#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::autodiff;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Value ReverseBuilder::zeros(RankedTensorType type) {
  Value empty =
      tensor::EmptyOp::create(b, type.getShape(), type.getElementType());
  Value zero =
      arith::ConstantOp::create(b, b.getZeroAttr(type.getElementType()));
  return linalg::FillOp::create(b, zero, empty).getResult(0);
}

Value ReverseBuilder::elementwise(
    ValueRange inputs,
    function_ref<Value(OpBuilder &, Location, ValueRange)> fn) {
  auto type = cast<RankedTensorType>(inputs.front().getType());
  AffineMap identity =
      AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  SmallVector<AffineMap> maps(inputs.size() + 1, identity);
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  Value init =
      tensor::EmptyOp::create(b, type.getShape(), type.getElementType());
  auto generic = linalg::GenericOp::create(
      b, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        linalg::YieldOp::create(nested, loc, fn(nested, loc, args.drop_back()));
      });
  return generic.getResult(0);
}

void ReverseBuilder::accumulate(Value value, Value gradient) {
  if (!active.contains(value))
    return;
  Value &adjoint = adjoints[value];
  if (!adjoint) {
    adjoint = gradient;
    return;
  }
  adjoint = elementwise({adjoint, gradient}, [](OpBuilder &nested, Location loc,
                                                ValueRange args) {
    return arith::AddFOp::create(nested, loc, args[0], args[1]).getResult();
  });
}

void ReverseBuilder::computeActivity(Block &block, ArrayRef<Value> wrt) {
  active.insert(wrt.begin(), wrt.end());
  for (Operation &op : block) {
    bool reads = false;
    op.walk([&](Operation *inner) {
      for (Value operand : inner->getOperands())
        reads |= active.contains(operand);
    });
    if (!reads)
      continue;
    for (Value result : op.getResults())
      if (isa<FloatType>(getElementTypeOrSelf(result.getType())))
        active.insert(result);
  }
}

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

static SmallVector<OpFoldResult> asFoldResults(OpBuilder &b,
                                               ArrayRef<int64_t> values) {
  return llvm::map_to_vector(
      values, [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); });
}

/// Static offsets, sizes and strides of a slice op, or failure.
template <typename SliceOp> static LogicalResult checkStaticSlice(SliceOp op) {
  if (!op.getSourceType().hasStaticShape() ||
      !op.getResultType().hasStaticShape())
    return op.emitOpError("has no gradient rule for dynamic shapes");
  if (!op.hasZeroOffset() && ShapedType::isDynamicShape(op.getStaticOffsets()))
    return op.emitOpError("has no gradient rule for dynamic offsets");
  if (ShapedType::isDynamicShape(op.getStaticSizes()) ||
      ShapedType::isDynamicShape(op.getStaticStrides()))
    return op.emitOpError("has no gradient rule for dynamic sizes or strides");
  return success();
}

static LogicalResult visitTensorOp(ReverseBuilder &rb, Operation *op,
                                   Value gradient) {
  OpBuilder &b = rb.b;
  Location loc = op->getLoc();
  return TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](tensor::CollapseShapeOp collapse) {
        rb.accumulate(collapse.getSrc(),
                      tensor::ExpandShapeOp::create(
                          b, loc, collapse.getSrcType(), gradient,
                          collapse.getReassociationIndices()));
        return success();
      })
      .Case([&](tensor::ExpandShapeOp expand) {
        rb.accumulate(expand.getSrc(),
                      tensor::CollapseShapeOp::create(
                          b, loc, expand.getSrcType(), gradient,
                          expand.getReassociationIndices()));
        return success();
      })
      .Case([&](tensor::CastOp cast) {
        rb.accumulate(cast.getSource(),
                      tensor::CastOp::create(b, loc, cast.getSource().getType(),
                                             gradient));
        return success();
      })
      .Case([&](tensor::ExtractSliceOp slice) -> LogicalResult {
        if (failed(checkStaticSlice(slice)))
          return failure();
        Value full = rb.zeros(slice.getSourceType());
        rb.accumulate(slice.getSource(),
                      tensor::InsertSliceOp::create(
                          b, loc, gradient, full, slice.getMixedOffsets(),
                          slice.getMixedSizes(), slice.getMixedStrides()));
        return success();
      })
      .Case([&](tensor::InsertSliceOp insert) -> LogicalResult {
        if (failed(checkStaticSlice(insert)))
          return failure();
        if (rb.isActive(insert.getSource()))
          rb.accumulate(insert.getSource(),
                        tensor::ExtractSliceOp::create(
                            b, loc, insert.getSourceType(), gradient,
                            insert.getMixedOffsets(), insert.getMixedSizes(),
                            insert.getMixedStrides()));
        if (rb.isActive(insert.getDest()))
          rb.accumulate(insert.getDest(),
                        tensor::InsertSliceOp::create(
                            b, loc, rb.zeros(insert.getSourceType()), gradient,
                            insert.getMixedOffsets(), insert.getMixedSizes(),
                            insert.getMixedStrides()));
        return success();
      })
      .Case([&](tensor::PadOp pad) -> LogicalResult {
        if (ShapedType::isDynamicShape(pad.getStaticLow()) ||
            !pad.getSourceType().hasStaticShape())
          return pad.emitOpError("has no gradient rule for dynamic padding");
        auto type = pad.getSourceType();
        SmallVector<int64_t> ones(type.getRank(), 1);
        rb.accumulate(pad.getSource(), tensor::ExtractSliceOp::create(
                                           b, loc, type, gradient,
                                           asFoldResults(b, pad.getStaticLow()),
                                           asFoldResults(b, type.getShape()),
                                           asFoldResults(b, ones)));
        return success();
      })
      .Case([&](tensor::ConcatOp concat) -> LogicalResult {
        int64_t dim = concat.getDim();
        int64_t offset = 0;
        for (Value input : concat.getInputs()) {
          auto type = cast<RankedTensorType>(input.getType());
          if (!type.hasStaticShape())
            return concat.emitOpError(
                "has no gradient rule for dynamic shapes");
          SmallVector<int64_t> offsets(type.getRank(), 0),
              ones(type.getRank(), 1);
          offsets[dim] = offset;
          offset += type.getDimSize(dim);
          if (rb.isActive(input))
            rb.accumulate(input,
                          tensor::ExtractSliceOp::create(
                              b, loc, type, gradient, asFoldResults(b, offsets),
                              asFoldResults(b, type.getShape()),
                              asFoldResults(b, ones)));
        }
        return success();
      })
      .Default([](Operation *other) {
        return other->emitOpError("has no gradient rule");
      });
}

//===----------------------------------------------------------------------===//
// qat ops
//===----------------------------------------------------------------------===//

static LogicalResult visitFakeQuant(ReverseBuilder &rb, FakeQuantOp op,
                                    Value gradient) {
  OpBuilder &b = rb.b;
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  auto scaleType = cast<RankedTensorType>(op.getScale().getType());
  if (!inputType.hasStaticShape())
    return op.emitOpError("has no gradient rule for dynamic shapes");
  float factor = 1.0f;
  if (rb.options.lsqGradScale) {
    int64_t channels = scaleType.getRank() == 0 ? 1 : scaleType.getDimSize(0);
    int64_t shards = rb.options.shardedActivations.contains(op)
                         ? rb.options.batchShards
                         : 1;
    factor = quantmath::lsqGradScale(
        inputType.getNumElements() / channels * shards,
        op.getQuantRange().qmax);
  }
  auto grad = FakeQuantGradOp::create(b, op.getLoc(), op.getInput(),
                                      op.getScale(), op.getZeroPoint(),
                                      gradient, getQuantSpec(op), factor);
  rb.accumulate(op.getInput(), grad.getInputGrad());
  rb.accumulate(op.getScale(), grad.getScaleGrad());
  if (isa<FloatType>(getElementTypeOrSelf(op.getZeroPoint().getType())))
    rb.accumulate(op.getZeroPoint(), grad.getZeroPointGrad());
  return success();
}

//===----------------------------------------------------------------------===//
// The sweep
//===----------------------------------------------------------------------===//

LogicalResult ReverseBuilder::visit(Operation *op) {
  // Only ops with an adjoint on a result and an active operand matter.
  Value gradient;
  for (Value result : op->getResults())
    if (Value adjoint = adjoints.lookup(result)) {
      if (gradient)
        return op->emitOpError(
            "has no gradient rule for several differentiated results");
      gradient = adjoint;
    }
  if (!gradient || llvm::none_of(op->getOperands(), [&](Value operand) {
        return active.contains(operand);
      }))
    return success();
  b.setLoc(op->getLoc());

  if (auto fq = dyn_cast<FakeQuantOp>(op))
    return visitFakeQuant(*this, fq, gradient);
  // The forward value came from `value`; the gradient goes to the path
  // that models it.
  if (auto straight = dyn_cast<StraightThroughOp>(op)) {
    accumulate(straight.getGradientPath(), gradient);
    return success();
  }
  // Observers and qparam choice are not differentiated (PyTorch detaches
  // them too); masks are boolean.
  if (isa<ObserveOp, ChooseQParamsOp, PruneMaskOp>(op))
    return success();
  // A pruned element gets exactly no gradient.
  if (auto masked = dyn_cast<ApplyMaskOp>(op)) {
    accumulate(masked.getInput(),
               ApplyMaskOp::create(b, gradient.getType(), gradient,
                                   masked.getMask()));
    return success();
  }
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return differentiateLinalg(*this, linalgOp, gradient);
  if (op->getDialect() && op->getDialect()->getNamespace() == "tensor")
    return visitTensorOp(*this, op, gradient);
  return op->emitOpError("has no gradient rule");
}

FailureOr<SmallVector<Value>>
mlir::qat::buildGradients(OpBuilder &builder, Block &block,
                          ArrayRef<std::pair<Value, Value>> seeds,
                          ArrayRef<Value> wrt, const AutodiffOptions &options) {
  ReverseBuilder rb(builder, options);
  rb.computeActivity(block, wrt);
  for (auto [value, gradient] : seeds)
    rb.accumulate(value, gradient);
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops)) {
    // Ops the builder emitted into this block (the loss, the adjoints) come
    // after the seeds and have no adjoints; the terminator has no results.
    if (failed(rb.visit(op)))
      return failure();
  }
  SmallVector<Value> gradients;
  for (Value value : wrt) {
    Value adjoint = rb.getAdjoint(value);
    if (!adjoint)
      adjoint = rb.zeros(cast<RankedTensorType>(value.getType()));
    gradients.push_back(adjoint);
  }
  return gradients;
}
