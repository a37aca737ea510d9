//===- SplitSums.cpp - qat-split-sums -------------------------------------===//
//
// Part of qat-mlir. A sum of a whole tensor into one scalar (a learned
// scale's gradient, a loss) becomes lane-wise partial sums, which
// qat-vectorize-rows keeps in a vector register, and a sum of the lanes.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "VectorWidth.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::qat {
#define GEN_PASS_DEF_SPLITSUMS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

FailureOr<Value> mlir::qat::splitFullSum(RewriterBase &rewriter,
                                         linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumLoops() == 0 || op.getNumReductionLoops() != op.getNumLoops())
    return rewriter.notifyMatchFailure(op, "not a full reduction");
  Value init = op.getDpsInits()[0];
  auto initType = cast<RankedTensorType>(init.getType());
  auto element = dyn_cast<FloatType>(initType.getElementType());
  if (initType.getRank() != 0 || !element)
    return rewriter.notifyMatchFailure(op, "not a float scalar result");
  // The body adds one value, computed from the inputs alone, to the sum.
  Block &body = op.getRegion().front();
  BlockArgument sum = body.getArgument(op.getNumDpsInputs());
  auto add = body.getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || !sum.hasOneUse() || (add.getLhs() != sum && add.getRhs() != sum))
    return rewriter.notifyMatchFailure(op, "not a sum");
  for (Operation &inner : body.without_terminator())
    if (inner.getNumRegions() != 0 || isa<linalg::IndexOp>(inner))
      return rewriter.notifyMatchFailure(op, "body depends on the position");
  // Inputs read whole, in order, or as scalars.
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (ShapedType::isDynamicShape(ranges))
    return rewriter.notifyMatchFailure(op, "dynamic loop ranges");
  int64_t count = 1;
  for (int64_t range : ranges)
    count *= range;
  int64_t lanes = kVectorBits / element.getWidth();
  if (count % lanes != 0 || count / lanes < 2)
    return rewriter.notifyMatchFailure(op, "too few or ragged elements");
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    if (!map.isIdentity() && map.getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "input not read in order");
  }

  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  MLIRContext *ctx = op.getContext();
  AffineMap rows = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap lane = AffineMap::get(2, 0, getAffineDimExpr(1, ctx), ctx);
  AffineMap scalar2 = AffineMap::get(2, 0, ctx);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : op.getDpsInputOperands()) {
    Value value = input->get();
    auto type = cast<RankedTensorType>(value.getType());
    if (op.getMatchingIndexingMap(input).getNumResults() == 0) {
      inputs.push_back(value);
      maps.push_back(scalar2);
      continue;
    }
    ReassociationIndices all;
    for (int64_t d = 0; d < type.getRank(); ++d)
      all.push_back(d);
    Value flat = tensor::CollapseShapeOp::create(
        b, RankedTensorType::get({count}, type.getElementType()), value,
        ArrayRef<ReassociationIndices>{all});
    inputs.push_back(tensor::ExpandShapeOp::create(
        b, RankedTensorType::get({count / lanes, lanes}, type.getElementType()),
        flat, ArrayRef<ReassociationIndices>{{0, 1}}));
    maps.push_back(rows);
  }
  maps.push_back(lane);
  auto lanesType = RankedTensorType::get({lanes}, element);
  Value zero = arith::ConstantOp::create(b, b.getZeroAttr(element));
  Value partialInit =
      linalg::FillOp::create(
          b, zero,
          tensor::EmptyOp::create(b, lanesType.getShape(), element).getResult())
          .getResult(0);
  auto partial = linalg::GenericOp::create(
      b, TypeRange{lanesType}, inputs, ValueRange{partialInit}, maps,
      {utils::IteratorType::reduction, utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        IRMapping mapping;
        mapping.map(body.getArguments(), args);
        for (Operation &inner : body.without_terminator())
          nb.clone(inner, mapping);
        linalg::YieldOp::create(
            nb, loc, mapping.lookup(body.getTerminator()->getOperand(0)));
      });
  auto total = linalg::GenericOp::create(
      b, TypeRange{initType}, ValueRange{partial.getResult(0)},
      ValueRange{init},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx),
                          AffineMap::get(1, 0, ctx)},
      {utils::IteratorType::reduction},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        linalg::YieldOp::create(
            nb, loc,
            arith::AddFOp::create(nb, loc, args[1], args[0]).getResult());
      });
  rewriter.replaceOp(op, total.getResult(0));
  return total.getResult(0);
}

namespace {

struct SplitSumsPass : public qat::impl::SplitSumsBase<SplitSumsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](linalg::GenericOp op) { generics.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : generics)
      (void)splitFullSum(rewriter, op);
  }
};

} // namespace
