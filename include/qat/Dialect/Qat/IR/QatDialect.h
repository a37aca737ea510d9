//===- QatDialect.h - The qat dialect ---------------------------*- C++ -*-===//
//
// Part of qat-mlir. The dialect, with the names and accessors of its
// discardable attributes (the contracts between passes).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_IR_QATDIALECT_H
#define QAT_DIALECT_QAT_IR_QATDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include <optional>

#include "qat/Dialect/Qat/IR/QatEnums.h.inc"
#include "qat/Support/EnumOption.h"

// The dialect's enums as pass options, checked when parsed.
QAT_ENUM_OPTION(::mlir::qat, RoundingMode)

namespace mlir::qat {

/// What a quantization parameter argument guards: its `qat.qparam`.
struct QParamInfo {
  QParamRole role = QParamRole::ActScale;
  /// The layer (weights) or activation group it belongs to.
  std::string layer;
  /// How its initial value is found ("weight_minmax", "calibration").
  std::string init;
  std::optional<int64_t> numBits;
};

} // namespace mlir::qat

#include "qat/Dialect/Qat/IR/QatOpsDialect.h.inc"

#endif // QAT_DIALECT_QAT_IR_QATDIALECT_H
