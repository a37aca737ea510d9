//===- FreeAfterLastUse.cpp - qat-free-after-last-use ---------------------===//
//
// Part of qat-mlir. Each memref.dealloc moves up to just after the last use
// of its buffer in its block.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qat {
#define GEN_PASS_DEF_FREEAFTERLASTUSE
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;

namespace {

/// The op that frees `dealloc`'s buffer as a unit: the dealloc, or the
/// scf.if of its ownership condition when that holds nothing else.
Operation *getFreeingOp(memref::DeallocOp dealloc) {
  auto guard = dyn_cast<scf::IfOp>(dealloc->getParentOp());
  if (guard && guard.getElseRegion().empty() && guard.getNumResults() == 0 &&
      llvm::hasSingleElement(guard.thenBlock()->without_terminator()))
    return guard;
  return dealloc;
}

/// The last op of `block` that uses `buffer` or an alias of it (nested uses
/// count as their ancestor in `block`), ignoring `freeing`; null when there
/// is none; failure when an alias leaves what this can follow.
FailureOr<Operation *> findLastUse(Value buffer, Block *block,
                                   Operation *freeing) {
  llvm::SetVector<Value> aliases;
  aliases.insert(buffer);
  auto addMemrefResults = [&](Operation *op) {
    for (Value result : op->getResults())
      if (isa<BaseMemRefType>(result.getType()))
        aliases.insert(result);
  };
  Operation *last = nullptr;
  for (unsigned i = 0; i < aliases.size(); ++i) {
    for (OpOperand &use : aliases[i].getUses()) {
      Operation *user = use.getOwner();
      if (freeing->isAncestor(user))
        continue;
      // An address as an integer can be used anywhere later.
      if (isa<memref::ExtractAlignedPointerAsIndexOp>(user))
        return failure();
      // Every memref an op computes from an alias may alias it (views,
      // casts, selects, loop results); so may the results of the op whose
      // region yields it.
      addMemrefResults(user);
      if (user->hasTrait<OpTrait::IsTerminator>())
        if (Operation *parent = user->getParentOp())
          addMemrefResults(parent);
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (!ancestor)
        return failure();
      if (!last || last->isBeforeInBlock(ancestor))
        last = ancestor;
    }
  }
  return last;
}

} // namespace

void mlir::qat::freeAfterLastUse(func::FuncOp func) {
  SmallVector<memref::DeallocOp> deallocs;
  func.walk([&](memref::DeallocOp op) { deallocs.push_back(op); });
  for (memref::DeallocOp dealloc : deallocs) {
    Operation *freeing = getFreeingOp(dealloc);
    Block *block = freeing->getBlock();
    FailureOr<Operation *> last =
        findLastUse(dealloc.getMemref(), block, freeing);
    if (failed(last))
      continue;
    // After the last use, or where the buffer (and the ownership
    // condition) are defined when nothing uses it.
    Operation *after = *last;
    SmallVector<Value> needed = {dealloc.getMemref()};
    if (auto guard = dyn_cast<scf::IfOp>(freeing))
      needed.push_back(guard.getCondition());
    for (Value value : needed)
      if (Operation *def = value.getDefiningOp())
        if (Operation *inBlock = block->findAncestorOpInBlock(*def))
          if (!after || after->isBeforeInBlock(inBlock))
            after = inBlock;
    if (after && after != freeing && after->isBeforeInBlock(freeing))
      freeing->moveAfter(after);
  }
}

namespace {

struct FreeAfterLastUsePass
    : public qat::impl::FreeAfterLastUseBase<FreeAfterLastUsePass> {
  void runOnOperation() override { qat::freeAfterLastUse(getOperation()); }
};

} // namespace
