//===- TrainingEnums.td - Choices of the training step -----*- tablegen -*-===//
//
// Part of qat-mlir. The loss, optimizer and range-learning choices of
// qat-build-train-step, as enums: spelled by name in pass options and
// checked when the options are parsed.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRAINING_TRAININGENUMS_TD
#define QAT_TRAINING_TRAININGENUMS_TD

include "mlir/IR/EnumAttr.td"

def Qat_Loss : I32EnumAttr<"Loss", "the loss of a training step", [
      I32EnumAttrCase<"CrossEntropy", 0, "cross-entropy">,
      I32EnumAttrCase<"MeanSquaredError", 1, "mse">
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

def Qat_Optimizer : I32EnumAttr<"Optimizer", "the optimizer of a training step", [
      I32EnumAttrCase<"SGD", 0, "sgd">,
      I32EnumAttrCase<"Adam", 1, "adam">
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

def Qat_RangeLearning : I32EnumAttr<"RangeLearning",
    "how a training step learns quantization ranges", [
      I32EnumAttrCase<"LSQ", 0, "lsq">,
      I32EnumAttrCase<"EMA", 1, "ema">,
      I32EnumAttrCase<"None", 2, "none">
    ]> {
  let cppNamespace = "::mlir::qat";
  let genSpecializedAttr = 0;
}

#endif // QAT_TRAINING_TRAININGENUMS_TD
