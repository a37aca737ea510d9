//===- MatmulKernels.h - Shared pieces of the matmul kernels ----*- C++ -*-===//
//
// Part of qat-mlir. Used by qat-vectorize-matmul and qat-x86-vnni-matmul.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_TRANSFORMS_MATMULKERNELS_H
#define QAT_LIB_TRANSFORMS_MATMULKERNELS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::qat {

/// A linalg.matmul on statically shaped tensors with the default indexing
/// maps (no transposition or broadcast), inputs of element type `input` and
/// the output of element type `output`.
inline bool isStaticMatmul(linalg::MatmulOp op, Type input, Type output) {
  if (!op.hasPureTensorSemantics())
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand.get().getType());
    Type expected = op.isDpsInit(&operand) ? output : input;
    if (!type || !type.hasStaticShape() || type.getElementType() != expected)
      return false;
  }
  return op.getIndexingMapsArray() ==
         op.getDefaultIndexingMaps(op->getContext());
}

/// The matmuls under `root` that `accept` takes, in program order.
inline SmallVector<linalg::MatmulOp>
collectMatmuls(Operation *root, function_ref<bool(linalg::MatmulOp)> accept) {
  SmallVector<linalg::MatmulOp> matmuls;
  root->walk([&](linalg::MatmulOp op) {
    if (accept(op))
      matmuls.push_back(op);
  });
  return matmuls;
}

/// `c` threaded through `for iv = first; iv < last; iv += step`, each
/// iteration returning the updated value from `body`. No loop (and `c`
/// unchanged) when the range is empty.
inline Value updateInLoop(
    ImplicitLocOpBuilder &b, Value c, int64_t first, int64_t last, int64_t step,
    function_ref<Value(ImplicitLocOpBuilder &, Value c, Value iv)> body) {
  if (first >= last)
    return c;
  auto bound = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, v).getResult();
  };
  auto loop = scf::ForOp::create(
      b, bound(first), bound(last), bound(step), ValueRange{c},
      [&](OpBuilder &nested, Location loc, Value iv, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nested);
        scf::YieldOp::create(ib, body(ib, iter[0], iv));
      });
  return loop.getResult(0);
}

} // namespace mlir::qat

#endif // QAT_LIB_TRANSFORMS_MATMULKERNELS_H
