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

namespace mlir::qat {

/// The quantization attributes that quantize, dequantize, fake_quant and
/// requantize share (their range, axis and rounding), for the ops' typed
/// builders; the defaults are the ops' own defaults.
struct QuantSpec {
  unsigned numBits = 8;
  bool isSigned = true;
  bool narrowRange = false;
  std::optional<int64_t> quantMin, quantMax;
  /// Per-channel along this dimension; per-tensor when absent.
  std::optional<uint64_t> axis;
  /// Ignored by ops without a rounding mode (dequantize).
  RoundingMode rounding = RoundingMode::half_to_even;
};

/// Adds `spec`'s attributes that differ from their defaults to `state`,
/// under `OpTy`'s attribute names (its axis and rounding mode when it has
/// them).
template <typename OpTy, bool hasRounding = true, bool hasAxis = true>
void addQuantSpecAttrs(Builder &b, OperationState &state,
                       const QuantSpec &spec) {
  OperationName name = state.name;
  if (spec.numBits != 8)
    state.addAttribute(OpTy::getNumBitsAttrName(name),
                       b.getI64IntegerAttr(spec.numBits));
  if (!spec.isSigned)
    state.addAttribute(OpTy::getIsSignedAttrName(name), b.getBoolAttr(false));
  if (spec.narrowRange)
    state.addAttribute(OpTy::getNarrowRangeAttrName(name), b.getBoolAttr(true));
  if (spec.quantMin)
    state.addAttribute(OpTy::getQuantMinAttrName(name),
                       b.getI64IntegerAttr(*spec.quantMin));
  if (spec.quantMax)
    state.addAttribute(OpTy::getQuantMaxAttrName(name),
                       b.getI64IntegerAttr(*spec.quantMax));
  if constexpr (hasAxis) {
    if (spec.axis)
      state.addAttribute(OpTy::getAxisAttrName(name),
                         b.getI64IntegerAttr(*spec.axis));
  }
  if constexpr (hasRounding) {
    if (spec.rounding != RoundingMode::half_to_even)
      state.addAttribute(OpTy::getRoundingAttrName(name),
                         RoundingModeAttr::get(b.getContext(), spec.rounding));
  }
}

} // namespace mlir::qat

#define GET_OP_CLASSES
#include "qat/Dialect/Qat/IR/QatOps.h.inc"

namespace mlir::qat {

/// The range, axis and rounding of a fake_quant, as a spec for another
/// quantizing op (its quantize, say).
QuantSpec getQuantSpec(FakeQuantOp op);

} // namespace mlir::qat

namespace mlir::qat {

/// The reference library's rounding mode for a dialect rounding mode.
::quantmath::RoundingMode toReference(RoundingMode mode);

} // namespace mlir::qat

#endif // QAT_DIALECT_QAT_IR_QATOPS_H
