//===- InterchangeLoops.cpp - qat-interchange-loops
//------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_INTERCHANGELOOPS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

std::optional<SmallVector<unsigned>>
mlir::qat::getVectorizableInterchange(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  AffineMap outputMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (outputMap.getNumResults() == 0)
    return std::nullopt;
  auto innermost = dyn_cast<AffineDimExpr>(outputMap.getResults().back());
  if (!innermost)
    return std::nullopt;
  unsigned d = innermost.getPosition();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators[d] != utils::IteratorType::parallel)
    return std::nullopt;
  // Every operand that uses d must use it as its contiguous dimension.
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (auto [i, expr] : llvm::enumerate(map.getResults()))
      if (expr.isFunctionOfDim(d) &&
          (i + 1 != map.getNumResults() || !isa<AffineDimExpr>(expr)))
        return std::nullopt;
  }
  SmallVector<unsigned> order;
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (i != d && iterators[i] == utils::IteratorType::parallel)
      order.push_back(i);
  for (unsigned i = 0, e = iterators.size(); i < e; ++i)
    if (iterators[i] == utils::IteratorType::reduction)
      order.push_back(i);
  order.push_back(d);
  if (order.size() != iterators.size() || llvm::is_sorted(order))
    return std::nullopt; // other iterator kinds, or already in this order
  return order;
}

namespace {

struct InterchangeLoopsPass
    : mlir::qat::impl::InterchangeLoopsBase<InterchangeLoopsPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (getVectorizableInterchange(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : candidates) {
      SmallVector<unsigned> order = *getVectorizableInterchange(op);
      rewriter.setInsertionPoint(op);
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        FailureOr<linalg::GenericOp> generalized =
            linalg::generalizeNamedOp(rewriter, op);
        if (failed(generalized))
          continue; // no region builder: leave it named and scalar
        generic = *generalized;
      }
      if (failed(linalg::interchangeGenericOp(rewriter, generic, order)))
        return signalPassFailure(); // a permutation by construction
    }
  }
};

} // namespace
