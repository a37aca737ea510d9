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
#include "mlir/IR/TypeUtilities.h"

namespace mlir::qat {

/// Whether `type`'s elements are whole bytes: vectors of i1 are packed bits
/// in memory, where a tensor or memref of i1 keeps a byte per element, so
/// no vector code reads or writes one.
inline bool hasWholeByteElements(Type type) {
  Type element = getElementTypeOrSelf(type);
  return element.isIntOrFloat() && element.getIntOrFloatBitWidth() % 8 == 0;
}

/// The scalar elementwise ops of `body` (a linalg.generic's, with only
/// elementwise and constant ops, and whatever `mapping` already maps)
/// applied to vectors of `shape`: `mapping` maps the block arguments the
/// body reads to such vectors, or to scalars that are the same for every
/// lane. Ops on scalars alone (constants, positions) stay scalar; scalar
/// operands of the others are broadcast. Returns the vectors of the values
/// the body yields.
inline SmallVector<Value> vectorizeBodyResults(ImplicitLocOpBuilder &b,
                                               Block &body, IRMapping &mapping,
                                               ArrayRef<int64_t> shape) {
  auto isVector = [&](Value v) {
    return isa<VectorType>(mapping.lookupOrDefault(v).getType());
  };
  auto broadcast = [&](Value mapped) -> Value {
    if (isa<VectorType>(mapped.getType()))
      return mapped;
    return vector::BroadcastOp::create(
        b, VectorType::get(shape, mapped.getType()), mapped);
  };
  for (Operation &scalarOp : body.without_terminator()) {
    if (llvm::all_of(scalarOp.getResults(),
                     [&](Value r) { return mapping.contains(r); }))
      continue;
    if (scalarOp.hasTrait<OpTrait::ConstantLike>() ||
        llvm::none_of(scalarOp.getOperands(), isVector)) {
      b.clone(scalarOp, mapping);
      continue;
    }
    for (Value operand : scalarOp.getOperands())
      mapping.map(operand, broadcast(mapping.lookupOrDefault(operand)));
    Operation *clone = b.clone(scalarOp, mapping);
    for (OpResult result : clone->getResults())
      result.setType(VectorType::get(shape, result.getType()));
  }
  return llvm::map_to_vector(body.getTerminator()->getOperands(), [&](Value v) {
    return broadcast(mapping.lookupOrDefault(v));
  });
}

/// The vector of the value `body` yields first (vectorizeBodyResults).
inline Value vectorizeBody(ImplicitLocOpBuilder &b, Block &body,
                           IRMapping &mapping, ArrayRef<int64_t> shape) {
  return vectorizeBodyResults(b, body, mapping, shape).front();
}

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_VECTORIZEBODY_H
