//===- ElideResultCopies.cpp - qat-elide-result-copies --------------------===//
//
// Part of qat-mlir. A result computed in a buffer of its own and then copied
// into its out-parameter is computed in the out-parameter instead.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::qat {
#define GEN_PASS_DEF_ELIDERESULTCOPIES
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

void mlir::qat::elideResultCopies(func::FuncOp func) {
  if (func.isExternal())
    return;
  Block &entry = func.getBody().front();
  Operation *terminator = entry.getTerminator();
  if (!isa<func::ReturnOp>(terminator))
    return;
  // The copies into out-parameters come last, just before the return
  // (buffer-results-to-out-params puts them there); only those are
  // candidates, so nothing runs after a copy but other copies.
  SmallVector<memref::CopyOp> tail;
  for (Operation *op = terminator->getPrevNode(); op; op = op->getPrevNode()) {
    auto copy = dyn_cast<memref::CopyOp>(op);
    if (!copy)
      break;
    tail.push_back(copy);
  }
  for (memref::CopyOp copy : llvm::reverse(tail)) {
    auto target = dyn_cast<BlockArgument>(copy.getTarget());
    auto alloc = copy.getSource().getDefiningOp<memref::AllocOp>();
    if (!target || target.getOwner() != &entry || !target.hasOneUse() ||
        !alloc || alloc->getBlock() != &entry ||
        alloc.getType() != target.getType())
      continue;
    // The buffer's other users are before the tail of copies, or copies of
    // the tail themselves (which only read it).
    bool earlier = llvm::all_of(alloc->getUsers(), [&](Operation *user) {
      Operation *top = entry.findAncestorOpInBlock(*user);
      return top &&
             (top->isBeforeInBlock(tail.back()) || isa<memref::CopyOp>(top));
    });
    if (!earlier)
      continue;
    Value buffer = copy.getSource();
    copy.erase();
    buffer.replaceAllUsesWith(target);
    alloc.erase();
  }
}

namespace {

struct ElideResultCopiesPass
    : public qat::impl::ElideResultCopiesBase<ElideResultCopiesPass> {
  void runOnOperation() override { elideResultCopies(getOperation()); }
};

} // namespace
