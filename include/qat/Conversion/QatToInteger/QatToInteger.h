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

/// Replaces each int8 tensor of `func` that is computed elementwise from one
/// other int8 tensor through a float island (a dequantize, float ops, a
/// quantize, and integer ops after it: GELU, SiLU, sigmoid and hard-swish
/// gates with their products), and has at least `minElements` elements, by
/// a lookup in a 256-entry table: the same ops evaluated once per call on
/// the 256 codes. The results are the same bit for bit. Returns how many
/// tensors became lookups.
int64_t tabulateCodes(func::FuncOp func, int64_t minElements = 1024);

} // namespace mlir::qat

#endif // QAT_CONVERSION_QATTOINTEGER_QATTOINTEGER_H
