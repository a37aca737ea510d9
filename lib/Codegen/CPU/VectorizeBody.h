//===- VectorizeBody.h - A scalar body applied to vectors -------*- C++ -*-===//
//
// Part of qat-mlir. Used by the matmul kernels' epilogues and by
// qat-vectorize-rows.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CODEGEN_CPU_VECTORIZEBODY_H
#define QAT_LIB_CODEGEN_CPU_VECTORIZEBODY_H

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::qat {

/// The scalar elementwise ops of `body` (a linalg.generic's, with only
/// elementwise and constant ops) applied to vectors of `shape`: `mapping`
/// maps the block arguments the body reads to such vectors; constants are
/// cloned as they are and scalar operands broadcast. Returns the vector of
/// the value the body yields first.
inline Value vectorizeBody(ImplicitLocOpBuilder &b, Block &body,
                           IRMapping &mapping, ArrayRef<int64_t> shape) {
  for (Operation &scalarOp : body.without_terminator()) {
    if (scalarOp.hasTrait<OpTrait::ConstantLike>()) {
      b.clone(scalarOp, mapping);
      continue;
    }
    for (Value operand : scalarOp.getOperands()) {
      Value mapped = mapping.lookupOrDefault(operand);
      if (!isa<VectorType>(mapped.getType()))
        mapping.map(operand,
                    vector::BroadcastOp::create(
                        b, VectorType::get(shape, mapped.getType()), mapped)
                        .getResult());
    }
    Operation *clone = b.clone(scalarOp, mapping);
    for (OpResult result : clone->getResults())
      result.setType(VectorType::get(shape, result.getType()));
  }
  return mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
}

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_VECTORIZEBODY_H
