//===- ParallelizeLoops.cpp - qat-parallelize-loops -----------------------===//
//
// Part of qat-mlir. Splits large linalg ops on tensors into per-thread chunks
// of their outermost parallel loop, after splitting large tensor.pads into
// linalg ops.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/TilingInterface.h"

namespace mlir::qat {
#define GEN_PASS_DEF_PARALLELIZELOOPS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// `pad` (a static result, the caller checked; a static source and a value
/// computed outside its body) as a fill of
/// the padded tensor and a copy of its source into the interior, through
/// the extract_slice / insert_slice pair that bufferization writes in place:
/// two linalg ops to split, where bufferizing the pad would give one loop
/// nest of copies on one thread.
void splitPad(RewriterBase &rewriter, tensor::PadOp pad) {
  Value value = pad.getConstantPaddingValue();
  RankedTensorType type = pad.getResultType();
  if (!value || !pad.getSourceType().hasStaticShape())
    return;
  rewriter.setInsertionPoint(pad);
  Location loc = pad.getLoc();
  Value empty = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                        type.getElementType());
  Value filled =
      linalg::FillOp::create(rewriter, loc, value, empty).getResult(0);
  SmallVector<OpFoldResult> offsets = pad.getMixedLowPad();
  SmallVector<OpFoldResult> sizes = getAsIndexOpFoldResult(
      rewriter.getContext(), pad.getSourceType().getShape());
  SmallVector<OpFoldResult> strides(type.getRank(), rewriter.getIndexAttr(1));
  Value interior = tensor::ExtractSliceOp::create(rewriter, loc, filled,
                                                  offsets, sizes, strides);
  Value copied =
      linalg::CopyOp::create(rewriter, loc, pad.getSource(), interior)
          .getResult(0);
  rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(pad, copied, filled,
                                                     offsets, sizes, strides);
}

struct ParallelizeLoopsPass
    : public qat::impl::ParallelizeLoopsBase<ParallelizeLoopsPass> {
  using ParallelizeLoopsBase::ParallelizeLoopsBase;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<tensor::PadOp> pads;
    getOperation().walk([&](tensor::PadOp pad) {
      if (!pad->getParentOfType<scf::ForallOp>() &&
          pad.getResultType().hasStaticShape() &&
          pad.getResultType().getNumElements() >= minIterations)
        pads.push_back(pad);
    });
    for (tensor::PadOp pad : pads)
      splitPad(rewriter, pad);

    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op->getParentOfType<scf::ForallOp>() ||
          !op.hasPureTensorSemantics() || op->getNumResults() == 0)
        return;
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      if (llvm::any_of(ranges, ShapedType::isDynamic))
        return;
      int64_t iterations = 1;
      for (int64_t r : ranges)
        iterations *= r;
      if (iterations < minIterations)
        return;
      candidates.push_back(op);
    });
    for (linalg::LinalgOp op : candidates) {
      // The outermost parallel loop, split into `threads` chunks.
      SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
      auto outer = llvm::find(iterators, utils::IteratorType::parallel);
      if (outer == iterators.end())
        continue;
      unsigned loop = outer - iterators.begin();
      int64_t size = op.getStaticLoopRanges()[loop];
      if (size < threads)
        continue;
      SmallVector<OpFoldResult> tileSizes(iterators.size(),
                                          rewriter.getIndexAttr(0));
      tileSizes[loop] = rewriter.getIndexAttr((size + threads - 1) / threads);
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setTileSizes(tileSizes);
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled))
        continue;
      rewriter.replaceOp(op, tiled->replacements);
    }
  }
};

} // namespace
