//===- SplitReductions.cpp - qat-split-reductions -------------------------===//
//
// Part of qat-mlir. A reduction of a whole tensor into scalars (a learned
// scale's gradient, a loss, an observer's minimum and maximum) becomes
// partial results in independent chunks of vector lanes, which
// qat-parallelize-loops spreads over threads and qat-vectorize-rows keeps in
// vector registers, and a reduction of those partials.
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
#define GEN_PASS_DEF_SPLITREDUCTIONS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// At most this many chunks, each of at least kMinChunkRows rows of lanes:
/// enough for 16 threads, and a fixed count, so that a sum's bits do not
/// depend on the compiling machine.
constexpr int64_t kMaxChunks = 16;
constexpr int64_t kMinChunkRows = 256;

/// The op that folds a new value into output `i`'s running result: an
/// associative, commutative float op of the output and a value computed
/// without it, its result yielded and used nowhere else.
Operation *getCombiner(linalg::GenericOp op, unsigned i) {
  Block &body = op.getRegion().front();
  BlockArgument acc = body.getArgument(op.getNumDpsInputs() + i);
  Operation *combiner = body.getTerminator()->getOperand(i).getDefiningOp();
  if (!combiner || !acc.hasOneUse() || !combiner->hasOneUse() ||
      !isa<arith::AddFOp, arith::MulFOp, arith::MinimumFOp, arith::MaximumFOp,
           arith::MinNumFOp, arith::MaxNumFOp>(combiner) ||
      llvm::find(combiner->getOperands(), acc) == combiner->operand_end())
    return nullptr;
  return combiner;
}

/// The same kind of op as `combiner` (with its attributes: fast-math flags)
/// on `acc` and `value`.
Value combine(OpBuilder &b, Location loc, Operation *combiner, Value acc,
              Value value) {
  OperationState state(loc, combiner->getName().getStringRef(), {acc, value},
                       {acc.getType()}, combiner->getAttrs());
  return b.create(state)->getResult(0);
}

} // namespace

FailureOr<SmallVector<Value>>
mlir::qat::splitFullReduction(RewriterBase &rewriter, linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() == 0 ||
      op.getNumReductionLoops() != op.getNumLoops())
    return rewriter.notifyMatchFailure(op, "not a full reduction");
  FloatType element;
  SmallVector<Operation *> combiners;
  for (unsigned i = 0; i < op.getNumDpsInits(); ++i) {
    auto type = cast<RankedTensorType>(op.getDpsInits()[i].getType());
    auto floatType = dyn_cast<FloatType>(type.getElementType());
    if (type.getRank() != 0 || !floatType || (element && floatType != element))
      return rewriter.notifyMatchFailure(op, "not float scalar results");
    element = floatType;
    combiners.push_back(getCombiner(op, i));
    if (!combiners.back())
      return rewriter.notifyMatchFailure(op, "not a sum, product, min or max");
  }
  Block &body = op.getRegion().front();
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
  int64_t rows = count / lanes;
  int64_t chunks = kMaxChunks;
  while (chunks > 1 && (rows % chunks != 0 || rows / chunks < kMinChunkRows))
    --chunks;

  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  MLIRContext *ctx = op.getContext();
  // (chunk, row, lane): inputs at [chunk][row][lane], partials at
  // [chunk][lane]; scalars everywhere.
  AffineMap read = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap partialMap = AffineMap::get(
      3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(2, ctx)}, ctx);
  AffineMap scalar = AffineMap::get(3, 0, ctx);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : op.getDpsInputOperands()) {
    Value value = input->get();
    auto type = cast<RankedTensorType>(value.getType());
    if (op.getMatchingIndexingMap(input).getNumResults() == 0) {
      inputs.push_back(value);
      maps.push_back(scalar);
      continue;
    }
    ReassociationIndices all;
    for (int64_t d = 0; d < type.getRank(); ++d)
      all.push_back(d);
    Value flat = tensor::CollapseShapeOp::create(
        b, RankedTensorType::get({count}, type.getElementType()), value,
        ArrayRef<ReassociationIndices>{all});
    inputs.push_back(tensor::ExpandShapeOp::create(
        b,
        RankedTensorType::get({chunks, rows / chunks, lanes},
                              type.getElementType()),
        flat, ArrayRef<ReassociationIndices>{{0, 1, 2}}));
    maps.push_back(read);
  }
  // A new tensor of `shape` filled with `value`.
  auto filled = [&](Value value, ArrayRef<int64_t> shape) -> Value {
    return linalg::FillOp::create(
               b, value, tensor::EmptyOp::create(b, shape, element).getResult())
        .getResult(0);
  };
  // Each partial starts at its combiner's neutral element.
  auto partialType = RankedTensorType::get({chunks, lanes}, element);
  SmallVector<Value> partialInits, neutrals;
  for (Operation *combiner : combiners) {
    Value neutral =
        arith::ConstantOp::create(b, *arith::getNeutralElement(combiner));
    neutrals.push_back(neutral);
    partialInits.push_back(filled(neutral, partialType.getShape()));
    maps.push_back(partialMap);
  }
  auto partial = linalg::GenericOp::create(
      b, SmallVector<Type>(combiners.size(), partialType), inputs, partialInits,
      maps,
      {utils::IteratorType::parallel, utils::IteratorType::reduction,
       utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        IRMapping mapping;
        mapping.map(body.getArguments(), args);
        for (Operation &inner : body.without_terminator())
          nb.clone(inner, mapping);
        linalg::YieldOp::create(
            nb, loc,
            llvm::map_to_vector(body.getTerminator()->getOperands(),
                                [&](Value v) { return mapping.lookup(v); }));
      });
  // Each output: its chunks' partials folded lane by lane (a reduction
  // over the chunks, the lanes parallel: vector code, where one loop over
  // chunks and lanes would be scalar), then its lanes folded into its
  // original init.
  SmallVector<Value> totals;
  auto lanesType = RankedTensorType::get({lanes}, element);
  for (auto [combiner, neutral, partialResult, init] :
       llvm::zip(combiners, neutrals, partial.getResults(), op.getDpsInits())) {
    Operation *kind = combiner;
    auto fold = [&](OpBuilder &nb, Location loc, ValueRange args) {
      linalg::YieldOp::create(nb, loc,
                              combine(nb, loc, kind, args[1], args[0]));
    };
    auto byLane = linalg::GenericOp::create(
        b, TypeRange{lanesType}, ValueRange{partialResult},
        ValueRange{filled(neutral, lanesType.getShape())},
        ArrayRef<AffineMap>{
            AffineMap::getMultiDimIdentityMap(2, ctx),
            AffineMap::get(2, 0, getAffineDimExpr(1, ctx), ctx)},
        {utils::IteratorType::reduction, utils::IteratorType::parallel}, fold);
    auto total = linalg::GenericOp::create(
        b, TypeRange{init.getType()}, ValueRange{byLane.getResult(0)},
        ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx),
                            AffineMap::get(1, 0, ctx)},
        {utils::IteratorType::reduction}, fold);
    totals.push_back(total.getResult(0));
  }
  rewriter.replaceOp(op, totals);
  return totals;
}

namespace {

struct SplitReductionsPass
    : public qat::impl::SplitReductionsBase<SplitReductionsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](linalg::GenericOp op) { generics.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : generics)
      (void)splitFullReduction(rewriter, op);
  }
};

} // namespace
