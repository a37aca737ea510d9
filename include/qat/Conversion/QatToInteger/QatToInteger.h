//===- QatToInteger.h - Frozen QAT layers to integer linalg -----*- C++ -*-===//
//
// Part of qat-mlir. The public entry points of the integer conversion; the
// passes qat-convert-to-integer and qat-faithful only call these.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CONVERSION_QATTOINTEGER_QATTOINTEGER_H
#define QAT_CONVERSION_QATTOINTEGER_QATTOINTEGER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::qat {

struct IntegerConversionOptions {
  /// Store weight codes of 4 bits or fewer two per byte, 2 bits four.
  bool packInt4 = true;
  /// Convert layers whose activation range collapsed to a point (a scale at
  /// its floor, from calibration data that never reached them); by default
  /// such a layer is an error, since it would deploy as a constant.
  bool allowCollapsedRanges = false;
};

/// Rewrites the layers of the frozen function `func` (marked `qat.frozen`)
/// into integer arithmetic (docs/Conversion.md). Every layer is matched
/// first: a layer that cannot be converted is reported at its op, and then
/// nothing changes and failure is returned.
LogicalResult convertToInteger(func::FuncOp func,
                               const IntegerConversionOptions &options = {});

/// The faithful simulation: every layer of the frozen function `func` also
/// gets its integer form, and its output becomes that form's value with the
/// float layer's gradient (`qat.straight_through`); `func` is marked
/// `qat.faithful`. Errors are reported as convertToInteger reports them, and
/// leave `func` unchanged.
LogicalResult simulateFaithfully(func::FuncOp func);

} // namespace mlir::qat

#endif // QAT_CONVERSION_QATTOINTEGER_QATTOINTEGER_H
