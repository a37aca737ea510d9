//===- QatEnums.td - Enums of the qat dialect --------------*- tablegen -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_IR_QATENUMS_TD
#define QAT_DIALECT_QAT_IR_QATENUMS_TD

include "qat/Dialect/Qat/IR/QatBase.td"
include "mlir/IR/EnumAttr.td"

// The numeric values equal those of quantmath::RoundingMode in QuantMath.h.
def Qat_RoundingMode : I32EnumAttr<"RoundingMode",
    "how a real value is rounded to an integer", [
      I32EnumAttrCase<"half_to_even", 0>,
      I32EnumAttrCase<"half_away_from_zero", 1>,
      I32EnumAttrCase<"half_up", 2>,
      I32EnumAttrCase<"toward_zero", 3>
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

def Qat_RoundingModeAttr : EnumAttr<Qat_Dialect, Qat_RoundingMode, "rounding"> {
  let summary = "rounding mode: half_to_even (default), half_away_from_zero, "
                "half_up or toward_zero";
}

#endif // QAT_DIALECT_QAT_IR_QATENUMS_TD
