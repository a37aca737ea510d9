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

// What a function argument is, in its `qat.role` attribute (spelled as the
// case's string).
def Qat_ArgRole : I32EnumAttr<"ArgRole",
    "the role of a function argument", [
      I32EnumAttrCase<"Input", 0, "input">,
      I32EnumAttrCase<"Parameter", 1, "parameter">,
      I32EnumAttrCase<"QParam", 2, "qparam">
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

// What a quantization parameter argument guards, in the `role` entry of its
// `qat.qparam` dictionary.
def Qat_QParamRole : I32EnumAttr<"QParamRole",
    "what a quantization parameter is", [
      I32EnumAttrCase<"WeightScale", 0, "weight_scale">,
      I32EnumAttrCase<"ActScale", 1, "act_scale">,
      I32EnumAttrCase<"ActZeroPoint", 2, "act_zero_point">
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

#endif // QAT_DIALECT_QAT_IR_QATENUMS_TD
