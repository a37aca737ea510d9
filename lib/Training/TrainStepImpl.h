//===- TrainStepImpl.h - Pieces of the generated training step --*- C++ -*-===//
//
// Part of qat-mlir. Internal to the Training library: the losses, and the
// quantization ranges computed inside a training step, that
// BuildTrainStep.cpp assembles.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_TRAINING_TRAINSTEPIMPL_H
#define QAT_LIB_TRAINING_TRAINSTEPIMPL_H

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::qat::train {

using BodyFn =
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic over the loops of `type` with `numResults` results of
/// that type: inputs of that shape are indexed by the identity, 0-D inputs
/// broadcast; `body` maps the input elements to the result elements.
SmallVector<Value> emitMap(ImplicitLocOpBuilder &b, RankedTensorType type,
                           ValueRange inputs, unsigned numResults, BodyFn body);

/// An f32 constant.
Value cst(OpBuilder &b, Location loc, double value);

struct LossValue {
  Value value;    ///< 0-D
  Value gradient; ///< d loss / d output
};

/// Mean softmax cross-entropy of logits [N, C] against labels [N] (i32).
LossValue emitCrossEntropy(ImplicitLocOpBuilder &b, Value logits, Value labels);

/// Knowledge distillation (Hinton et al.) against a teacher's logits of the
/// same type: (1 - weight) * cross-entropy(labels) + weight * T^2 * mean
/// KL(softmax(teacher / T) || softmax(logits / T)).
LossValue emitDistillation(ImplicitLocOpBuilder &b, Value logits,
                           Value labels, Value teacher, double temperature,
                           double weight);

/// Mean squared error of `output` against `target` (same type).
LossValue emitMeanSquaredError(ImplicitLocOpBuilder &b, Value output,
                               Value target);

/// How activation observers are used.
enum class RangeUse {
  Update,    ///< moving average (train_step)
  Frozen,    ///< read only (eval_step, gradients, qparams)
  Calibrate, ///< running min/max of the float network (calibrate)
};

/// An observer: its min and max (0-D f32 tensors).
struct Observer {
  Value min, max;
};

/// What a placeholder scale or zero point stands for.
struct QParamSlot {
  enum Kind { WeightScale, ActScale, ActZeroPoint } kind;
  /// The observer group of activation parameters.
  std::string group;
};

struct RangeOptions {
  RangeUse use;
  Value step; ///< 1-based step number (Update), or null
  double averagingConstant;
  int64_t freezeAfter; ///< -1: never
};

/// Replaces the scales and zero points of the fake-quants in `block` that
/// read a placeholder of `placeholders` by values computed in the block:
/// weight scales from the weight's min/max, activation parameters from the
/// observers `ranges` (updated as `options.use` says; the final observers
/// are left in `ranges`). Calibrate also removes every fake-quant (a float
/// forward). When `computed` is given, it receives each placeholder's
/// replacement.
void computeRanges(Block &block,
                   const llvm::DenseMap<Value, QParamSlot> &placeholders,
                   llvm::StringMap<Observer> &ranges,
                   const RangeOptions &options,
                   llvm::DenseMap<Value, Value> *computed = nullptr);

} // namespace mlir::qat::train

#endif // QAT_LIB_TRAINING_TRAINSTEPIMPL_H
