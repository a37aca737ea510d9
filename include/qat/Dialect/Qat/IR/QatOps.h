//===- QatOps.h - Operations of the qat dialect -----------------*- C++ -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_IR_QATOPS_H
#define QAT_DIALECT_QAT_IR_QATOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Support/QuantMath.h"

#define GET_ATTRDEF_CLASSES
#include "qat/Dialect/Qat/IR/QatAttrs.h.inc"

#define GET_OP_CLASSES
#include "qat/Dialect/Qat/IR/QatOps.h.inc"

namespace mlir::qat {

/// The reference library's rounding mode for a dialect rounding mode.
::quantmath::RoundingMode toReference(RoundingMode mode);

} // namespace mlir::qat

#endif // QAT_DIALECT_QAT_IR_QATOPS_H
