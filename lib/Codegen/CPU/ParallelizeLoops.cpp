//===- ParallelizeLoops.cpp - qat-parallelize-loops -----------------------===//
//
// Part of qat-mlir. Splits large linalg ops on tensors into per-thread chunks
// of their outermost parallel loop.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Interfaces/TilingInterface.h"

namespace mlir::qat {
#define GEN_PASS_DEF_PARALLELIZELOOPS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

struct ParallelizeLoopsPass
    : public qat::impl::ParallelizeLoopsBase<ParallelizeLoopsPass> {
  using ParallelizeLoopsBase::ParallelizeLoopsBase;

  void runOnOperation() override {
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
    IRRewriter rewriter(&getContext());
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
