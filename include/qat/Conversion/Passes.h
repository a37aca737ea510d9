//===- Passes.h - Conversion passes of qat-mlir -----------------*- C++ -*-===//
//
// Part of qat-mlir. convert-qat-to-linalg (QatToLinalg.h), and
// qat-convert-to-integer and qat-faithful (QatToInteger.h).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CONVERSION_PASSES_H
#define QAT_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

#include "qat/Conversion/QatToInteger/QatToInteger.h"
#include "qat/Conversion/QatToLinalg/QatToLinalg.h"
#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qat {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qat/Conversion/Passes.h.inc"

} // namespace mlir::qat

#endif // QAT_CONVERSION_PASSES_H
