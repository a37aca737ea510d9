//===- MatmulKernels.h - Shared pieces of the matmul kernels ----*- C++ -*-===//
//
// Part of qat-mlir. Used by qat-vectorize-matmul and qat-x86-vnni-matmul.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_TRANSFORMS_MATMULKERNELS_H
#define QAT_LIB_TRANSFORMS_MATMULKERNELS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

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

} // namespace mlir::qat

#endif // QAT_LIB_TRANSFORMS_MATMULKERNELS_H
