//===- SinkLayerReshapes.cpp - qat-sink-layer-reshapes --------------------===//
//
// Part of qat-mlir. Moves the reshape an exporter puts between a layer and
// its bias add (a linear layer on [N, T, C]) below the bias and the
// activation, so that they join the layer's epilogue.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qat {
#define GEN_PASS_DEF_SINKLAYERRESHAPES
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

bool isAllParallel(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  return generic && generic.getNumParallelLoops() == generic.getNumLoops();
}

/// An expand_shape of a layer's result, or of an all-parallel op reading
/// one (the bias add before the activation), read by an all-parallel op.
bool sinksBelow(OpOperand *fused) {
  auto expand = fused->get().getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || !isAllParallel(fused->getOwner()))
    return false;
  Operation *source = expand.getSrc().getDefiningOp();
  if (source && isLayerOp(source))
    return true;
  return isAllParallel(source) &&
         llvm::any_of(source->getOperands(), [](Value operand) {
           Operation *def = operand.getDefiningOp();
           return def && isLayerOp(def);
         });
}

/// Drops the unit dimensions of the operands `op` reads through unit loops
/// (a bias of shape [1, C] read as (d0, d2) over [1, T, C] loops becomes
/// [C] read as (d2)): the same elements, and the collapsing patterns only
/// merge loop dimensions that every map reads together or not at all.
void dropUnitReads(linalg::GenericOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  OpBuilder b(op);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  bool changed = false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap &map = maps[input->getOperandNumber()];
    auto type = dyn_cast<RankedTensorType>(input->get().getType());
    if (!type || map.isIdentity())
      continue;
    SmallVector<AffineExpr> kept;
    SmallVector<ReassociationIndices> groups;
    ReassociationIndices group;
    for (auto [i, expr] : llvm::enumerate(map.getResults())) {
      auto dim = dyn_cast<AffineDimExpr>(expr);
      group.push_back(i);
      if (dim && ranges[dim.getPosition()] == 1 && type.getDimSize(i) == 1)
        continue; // joins the next kept dimension's group
      kept.push_back(expr);
      groups.push_back(std::move(group));
      group.clear();
    }
    if (kept.size() == map.getNumResults())
      continue;
    if (!group.empty() && !groups.empty())
      groups.back().append(group.begin(), group.end());
    if (llvm::any_of(kept, [](AffineExpr e) { return !isa<AffineDimExpr>(e); }))
      continue;
    SmallVector<int64_t> shape;
    for (AffineExpr expr : kept)
      shape.push_back(ranges[cast<AffineDimExpr>(expr).getPosition()]);
    Value collapsed = tensor::CollapseShapeOp::create(
        b, op.getLoc(), RankedTensorType::get(shape, type.getElementType()),
        input->get(), groups);
    input->set(collapsed);
    map = AffineMap::get(map.getNumDims(), map.getNumSymbols(), kept,
                         op.getContext());
    changed = true;
  }
  if (changed)
    op.setIndexingMapsAttr(b.getAffineMapArrayAttr(maps));
}

} // namespace

LogicalResult mlir::qat::sinkLayerReshapes(func::FuncOp func) {
  func.walk([](linalg::GenericOp op) {
    if (isAllParallel(op) &&
        llvm::any_of(op->getOpOperands(),
                     [](OpOperand &operand) { return sinksBelow(&operand); }))
      dropUnitReads(op);
  });
  RewritePatternSet patterns(func.getContext());
  linalg::populateFoldReshapeOpsByCollapsingPatterns(patterns, sinksBelow);
  return applyPatternsGreedily(func, std::move(patterns));
}

namespace {

struct SinkLayerReshapesPass
    : public qat::impl::SinkLayerReshapesBase<SinkLayerReshapesPass> {
  void runOnOperation() override {
    if (failed(sinkLayerReshapes(getOperation())))
      signalPassFailure();
  }
};

} // namespace
