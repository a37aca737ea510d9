//===- OutlineParallelLoops.cpp - qat-outline-parallel-loops --------------===//
//
// Part of qat-mlir. Each outermost scf.parallel in a private function of its
// own, so that LLVM's OpenMP lowering extracts each region from a small
// function.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qat {
#define GEN_PASS_DEF_OUTLINEPARALLELLOOPS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;

FailureOr<func::CallOp> mlir::qat::outlineParallelLoop(RewriterBase &rewriter,
                                                       scf::ParallelOp loop,
                                                       StringRef name,
                                                       SymbolTable &symbols) {
  auto parent = loop->getParentOfType<func::FuncOp>();
  if (!parent || loop->getNumResults() != 0)
    return rewriter.notifyMatchFailure(loop, "results, or not in a function");
  // What the loop reads from outside: its bounds and the values its body
  // uses. Constants are cloned in; the rest become arguments.
  llvm::SetVector<Value> outside(loop->operand_begin(), loop->operand_end());
  getUsedValuesDefinedAbove(loop.getRegion(), outside);
  SmallVector<Value> arguments;
  SmallVector<Operation *> constants;
  for (Value value : outside) {
    Operation *def = value.getDefiningOp();
    if (def && def->hasTrait<OpTrait::ConstantLike>())
      constants.push_back(def);
    else
      arguments.push_back(value);
  }

  OpBuilder::InsertionGuard guard(rewriter);
  // Built detached, then placed before its caller under a unique name.
  OpBuilder detached(loop.getContext());
  auto type = rewriter.getFunctionType(ValueRange(arguments).getTypes(), {});
  auto function = func::FuncOp::create(detached, loop.getLoc(), name, type);
  function.setPrivate();
  symbols.insert(function, Block::iterator(parent));
  Block *body = function.addEntryBlock();
  rewriter.setInsertionPointToStart(body);
  IRMapping map;
  map.map(arguments, body->getArguments());
  for (Operation *constant : constants)
    rewriter.clone(*constant, map);
  rewriter.clone(*loop, map);
  func::ReturnOp::create(rewriter, loop.getLoc());

  rewriter.setInsertionPoint(loop);
  auto call =
      func::CallOp::create(rewriter, loop.getLoc(), function, arguments);
  rewriter.eraseOp(loop);
  return call;
}

namespace {

struct OutlineParallelLoopsPass
    : public qat::impl::OutlineParallelLoopsBase<OutlineParallelLoopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    IRRewriter rewriter(&getContext());
    for (auto function :
         llvm::to_vector(module.getBody()->getOps<func::FuncOp>())) {
      SmallVector<scf::ParallelOp> loops;
      function.walk([&](scf::ParallelOp loop) {
        if (!loop->getParentOfType<scf::ParallelOp>())
          loops.push_back(loop);
      });
      for (auto [i, loop] : llvm::enumerate(loops)) {
        std::string name =
            (function.getSymName() + "_parallel_" + Twine(i)).str();
        (void)qat::outlineParallelLoop(rewriter, loop, name, symbols);
      }
    }
  }
};

} // namespace
