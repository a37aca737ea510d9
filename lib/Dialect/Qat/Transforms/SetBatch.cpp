//===- SetBatch.cpp - qat-set-batch ---------------------------------------===//
//
// Part of qat-mlir. Changes the static batch size of a function: the
// leading dimension of its inputs and of every value computed from them
// along that dimension.
//
// Which values carry the batch is found by data flow, never by size alone (a
// weight of 64 rows in a batch-64 program is no batch): the inputs, every
// result whose leading dimension is the batch of an op that reads a batched
// value, and the destinations (tensor.empty, linalg.fill) those results are
// computed into. Each op that moves dimensions is checked to keep the batch
// leading and alone; anything else is an error naming the op, never a
// silently different program.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qat {
#define GEN_PASS_DEF_SETBATCH
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The leading dimension of `value`'s ranked tensor type, if it has one.
std::optional<int64_t> leadingDim(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() == 0)
    return std::nullopt;
  return type.getDimSize(0);
}

/// The loop driving dimension 0 of operand `operand` of a linalg op.
std::optional<unsigned> leadingLoop(linalg::LinalgOp op, OpOperand &operand) {
  AffineMap map = op.getMatchingIndexingMap(&operand);
  if (map.getNumResults() == 0)
    return std::nullopt;
  if (auto dim = dyn_cast<AffineDimExpr>(map.getResult(0)))
    return dim.getPosition();
  return std::nullopt;
}

class BatchRewriter {
public:
  BatchRewriter(func::FuncOp func, int64_t from, int64_t to)
      : func(func), from(from), to(to) {}

  LogicalResult run(ArrayRef<BlockArgument> inputs);

private:
  /// Grows `batched` to a fixed point; false if nothing changed.
  bool propagate();
  LogicalResult check(Operation *op);
  void rewrite(Operation *op);
  Type rebatched(Type type) const;

  func::FuncOp func;
  int64_t from, to;
  llvm::SetVector<Value> batched;
};

bool BatchRewriter::propagate() {
  size_t before = batched.size();
  for (Operation &op : func.getBody().front()) {
    bool reads = llvm::any_of(op.getOperands(),
                              [&](Value v) { return batched.contains(v); });
    if (reads)
      for (Value result : op.getResults())
        if (leadingDim(result) == from)
          batched.insert(result);
    // A batched result is computed into a batched destination.
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      for (OpResult result : op.getResults())
        if (batched.contains(result))
          batched.insert(dps.getTiedOpOperand(result)->get());
  }
  return batched.size() != before;
}

/// The batch must stay dimension 0 and alone through `op`.
LogicalResult BatchRewriter::check(Operation *op) {
  auto refuse = [&](const Twine &why) {
    return op->emitOpError("cannot change the batch size: ")
           << why << "; import the model again at the batch you want";
  };
  bool reads = llvm::any_of(op->getOperands(),
                            [&](Value v) { return batched.contains(v); });
  // A 0-D result (a statistic over the whole tensor, as qat.observe's) has
  // no batch to keep.
  for (OpResult result : op->getResults())
    if (reads && isa<RankedTensorType>(result.getType()) &&
        cast<RankedTensorType>(result.getType()).getRank() > 0 &&
        !batched.contains(result))
      return refuse("its result " + Twine(result.getResultNumber()) +
                    " does not keep the batch as its leading dimension");
  auto batchedResult = llvm::any_of(
      op->getResults(), [&](Value v) { return batched.contains(v); });
  if (!batchedResult)
    return success();
  // An operand that the batch indexes must come from the inputs too (not a
  // constant shaped by the old batch).
  auto unbatched = [&](OpOperand &operand) {
    return refuse("operand " + Twine(operand.getOperandNumber()) +
                  " is indexed by the batch but not computed from the "
                  "inputs");
  };
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    // Every batched operand and result must be indexed by one loop.
    std::optional<unsigned> loop;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!batched.contains(operand.get()))
        continue;
      std::optional<unsigned> l = leadingLoop(linalgOp, operand);
      if (!l || (loop && *loop != *l))
        return refuse("its operands do not share the batch loop");
      loop = l;
      if (linalgOp.getIteratorTypesArray()[*l] !=
          utils::IteratorType::parallel)
        return refuse("it reduces over the batch");
    }
    for (OpOperand &operand : op->getOpOperands())
      if (!batched.contains(operand.get()) &&
          isa<RankedTensorType>(operand.get().getType()) &&
          leadingLoop(linalgOp, operand) == loop)
        return unbatched(operand);
    return success();
  }
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
    if (collapse.getReassociationIndices().front().size() != 1)
      return refuse("it folds the batch into other dimensions");
    return success();
  }
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op)) {
    if (expand.getReassociationIndices().front().size() != 1)
      return refuse("it splits the batch");
    return success();
  }
  if (auto pad = dyn_cast<tensor::PadOp>(op)) {
    if (pad.getStaticLow().front() != 0 || pad.getStaticHigh().front() != 0)
      return refuse("it pads the batch");
    return success();
  }
  // tensor.extract_slice and tensor.insert_slice: the whole batch, in order.
  if (auto slice = dyn_cast<OffsetSizeAndStrideOpInterface>(op)) {
    if (slice.getStaticOffsets().front() != 0 ||
        slice.getStaticSizes().front() != from ||
        slice.getStaticStrides().front() != 1)
      return refuse("it slices the batch");
    return success();
  }
  if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
    if (concat.getDim() == 0)
      return refuse("it concatenates along the batch");
    return success();
  }
  if (isa<tensor::EmptyOp>(op))
    return success();
  if (op->getNumRegions() == 0) {
    // Elementwise on tensors (arith, math, qat ops): operands of the
    // result's rank are indexed like it.
    auto rank = cast<RankedTensorType>(op->getResult(0).getType()).getRank();
    for (OpOperand &operand : op->getOpOperands()) {
      auto type = dyn_cast<RankedTensorType>(operand.get().getType());
      if (type && type.getRank() == rank && !batched.contains(operand.get()))
        return unbatched(operand);
    }
    return success();
  }
  return refuse("it is not an op whose batch dimension qat-set-batch knows");
}

Type BatchRewriter::rebatched(Type type) const {
  auto tensor = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(tensor.getShape());
  shape[0] = to;
  return tensor.clone(shape);
}

void BatchRewriter::rewrite(Operation *op) {
  for (Value result : op->getResults())
    if (batched.contains(result))
      result.setType(rebatched(result.getType()));
  auto withBatch = [&](ArrayRef<int64_t> sizes) {
    SmallVector<int64_t> copy(sizes);
    copy[0] = to;
    return copy;
  };
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op);
      slice && batched.contains(slice.getSource()))
    slice.setStaticSizes(withBatch(slice.getStaticSizes()));
  if (auto insert = dyn_cast<tensor::InsertSliceOp>(op);
      insert && batched.contains(insert.getDest()))
    insert.setStaticSizes(withBatch(insert.getStaticSizes()));
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op);
      expand && batched.contains(expand.getResult()))
    expand.setStaticOutputShape(withBatch(expand.getStaticOutputShape()));
}

LogicalResult BatchRewriter::run(ArrayRef<BlockArgument> inputs) {
  batched.insert(inputs.begin(), inputs.end());
  while (propagate()) {
  }
  for (Operation &op : func.getBody().front())
    if (failed(check(&op)))
      return failure();
  for (BlockArgument arg : inputs)
    arg.setType(rebatched(arg.getType()));
  for (Operation &op : func.getBody().front())
    rewrite(&op);
  func.setType(FunctionType::get(
      func.getContext(), func.getBody().front().getArgumentTypes(),
      func.getBody().front().getTerminator()->getOperandTypes()));
  if (failed(verify(func)))
    return emitError(func.getLoc(), "changing the batch size from ")
           << from << " to " << to << " left an invalid function";
  return success();
}

} // namespace

FailureOr<int64_t> mlir::qat::setBatchSize(func::FuncOp func, int64_t size) {
  if (size < 1)
    return func.emitOpError("batch size must be positive, found ") << size;
  SmallVector<BlockArgument> inputs;
  std::optional<int64_t> from;
  for (BlockArgument arg : func.getArguments()) {
    if (QatDialect::getArgRole(func, arg.getArgNumber()) != ArgRole::Input)
      continue;
    std::optional<int64_t> batch = leadingDim(arg);
    if (!batch || ShapedType::isDynamic(*batch) || (from && *from != *batch))
      return func.emitOpError("expected inputs (qat.role = \"input\") with "
                              "one static batch (first) dimension, found ")
             << arg.getType() << " for input " << arg.getArgNumber();
    from = batch;
    inputs.push_back(arg);
  }
  if (!from)
    return func.emitOpError("has no argument with qat.role = \"input\" to "
                            "take the batch from");
  if (*from == size)
    return *from;
  // Rewrite a clone, so that a refusal leaves the function as it was.
  func::FuncOp copy = func.clone();
  BatchRewriter rewriter(copy, *from, size);
  SmallVector<BlockArgument> copied;
  for (BlockArgument arg : inputs)
    copied.push_back(copy.getArgument(arg.getArgNumber()));
  if (failed(rewriter.run(copied))) {
    copy.erase();
    return failure();
  }
  func.getBody().takeBody(copy.getBody());
  func.setType(copy.getFunctionType());
  copy.erase();
  return *from;
}

namespace {

struct SetBatchPass : public qat::impl::SetBatchBase<SetBatchPass> {
  using SetBatchBase::SetBatchBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || func.isPrivate())
      return;
    if (failed(setBatchSize(func, size)))
      signalPassFailure();
  }
};

} // namespace
