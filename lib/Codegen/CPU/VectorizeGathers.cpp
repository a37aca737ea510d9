//===- VectorizeGathers.cpp - qat-vectorize-gathers -----------------------===//
//
// Part of qat-mlir. Elementwise generics that gather whole rows of their
// input (im2col) become loops of vector loads and stores, one row each.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "VectorizeBody.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"

namespace mlir::qat {
#define GEN_PASS_DEF_VECTORIZEGATHERS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The shortest innermost row worth a vector: shorter rows stay scalar
/// loops (LLVM unrolls them as well as a vector would do). The longest, in
/// bytes: wider rows are left to LLVM's loop vectorizer rather than made
/// one very wide vector.
constexpr int64_t kMinRow = 4;
constexpr int64_t kMaxRowBytes = 1024;

/// Whether `op`'s body maps its input element to the output element with
/// scalar elementwise ops only (a copy, or a copy with a bias).
bool hasElementwiseBody(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  if (!body.getArgument(1).use_empty())
    return false;
  for (Operation &inner : body.without_terminator())
    if (inner.getNumRegions() != 0 ||
        !(inner.hasTrait<OpTrait::Elementwise>() ||
          inner.hasTrait<OpTrait::ConstantLike>()) ||
        isa<linalg::IndexOp>(inner) ||
        !llvm::all_of(inner.getResultTypes(),
                      [](Type t) { return t.isIntOrFloat(); }))
      return false;
  return true;
}

} // namespace

bool mlir::qat::isVectorizableGather(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 1 ||
      op.getNumDpsInits() != 1 ||
      op.getNumParallelLoops() != op.getNumLoops() || op.getNumLoops() < 2)
    return false;
  auto outType = dyn_cast<RankedTensorType>(op.getDpsInits()[0].getType());
  auto inType = dyn_cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  if (!outType || !inType || !outType.hasStaticShape() ||
      !inType.hasStaticShape() || outType.getShape().back() < kMinRow)
    return false;
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
    return false;
  int64_t widest = std::max(inType.getElementTypeBitWidth(),
                            outType.getElementTypeBitWidth());
  if (outType.getShape().back() * widest > kMaxRowBytes * 8)
    return false;
  // The innermost loop reads the input's innermost dimension in order, and
  // no other index of the input depends on it: each output row is a row of
  // the input.
  AffineMap in = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  unsigned last = op.getNumLoops() - 1;
  if (in.isIdentity() || in.getNumResults() == 0 ||
      in.getResults().back() != getAffineDimExpr(last, op.getContext()))
    return false;
  for (AffineExpr e : in.getResults().drop_back())
    if (e.isFunctionOfDim(last))
      return false;
  return hasElementwiseBody(op);
}

LogicalResult mlir::qat::vectorizeGather(RewriterBase &rewriter,
                                         linalg::GenericOp op) {
  if (!isVectorizableGather(op))
    return rewriter.notifyMatchFailure(op, "not a row gather");
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(loc, rewriter);
  Value input = op.getDpsInputs()[0];
  Value output = op.getDpsInits()[0];
  auto outType = cast<RankedTensorType>(output.getType());
  auto inType = cast<RankedTensorType>(input.getType());
  AffineMap in = op.getMatchingIndexingMap(op.getDpsInputOperand(0));
  ArrayRef<int64_t> shape = outType.getShape();
  int64_t rank = shape.size();
  auto inRow = VectorType::get({shape.back()}, inType.getElementType());
  auto outRow = VectorType::get({shape.back()}, outType.getElementType());
  Block &body = op.getRegion().front();

  // Nested loops over every dimension but the innermost, threading the
  // output tensor; the innermost body copies one row.
  std::function<Value(ImplicitLocOpBuilder &, SmallVector<Value> &, Value)>
      nest = [&](ImplicitLocOpBuilder &lb, SmallVector<Value> &ivs,
                 Value out) -> Value {
    if (static_cast<int64_t>(ivs.size()) == rank - 1) {
      Value zero = arith::ConstantIndexOp::create(lb, 0);
      SmallVector<Value> dims(ivs);
      dims.push_back(zero);
      SmallVector<Value> inIndices;
      for (AffineExpr e : in.getResults())
        inIndices.push_back(affine::AffineApplyOp::create(
            lb, AffineMap::get(rank, 0, e), dims));
      Value padding = arith::ConstantOp::create(
          lb, lb.getZeroAttr(inType.getElementType()));
      Value row = vector::TransferReadOp::create(
          lb, inRow, input, inIndices, padding, ArrayRef<bool>{true});
      IRMapping mapping;
      mapping.map(body.getArgument(0), row);
      Value result = vectorizeBody(lb, body, mapping, {shape.back()});
      assert(result.getType() == outRow && "a row of the output");
      (void)outRow;
      return vector::TransferWriteOp::create(lb, result, out, dims,
                                             ArrayRef<bool>{true})
          .getResult();
    }
    int64_t d = ivs.size();
    auto loop = scf::ForOp::create(
        lb, arith::ConstantIndexOp::create(lb, 0),
        arith::ConstantIndexOp::create(lb, shape[d]),
        arith::ConstantIndexOp::create(lb, 1), ValueRange{out},
        [&](OpBuilder &nested, Location l, Value iv, ValueRange iter) {
          ImplicitLocOpBuilder ib(l, nested);
          ivs.push_back(iv);
          Value updated = nest(ib, ivs, iter[0]);
          ivs.pop_back();
          scf::YieldOp::create(ib, updated);
        });
    return loop.getResult(0);
  };
  SmallVector<Value> ivs;
  Value result = nest(b, ivs, output);
  rewriter.replaceOp(op, result);
  return success();
}

namespace {

struct VectorizeGathersPass
    : public qat::impl::VectorizeGathersBase<VectorizeGathersPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> gathers;
    getOperation().walk([&](linalg::GenericOp op) {
      if (isVectorizableGather(op))
        gathers.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : gathers)
      (void)vectorizeGather(rewriter, op);
  }
};

} // namespace
