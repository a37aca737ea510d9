//===- TrainStep.h - Generated training programs ----------------*- C++ -*-===//
//
// Part of qat-mlir. buildTrainStep generates @train_step, @eval_step,
// @gradients (and, for an instrumented forward, @calibrate and @qparams)
// from a forward function; qat-build-train-step only calls it.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRAINING_TRAINSTEP_H
#define QAT_TRAINING_TRAINSTEP_H

#include "mlir/IR/BuiltinOps.h"
#include "qat/Support/EnumOption.h"

#include <optional>
#include <string>
#include <vector>

#include "qat/Training/TrainingEnums.h.inc"

QAT_ENUM_OPTION(::mlir::qat, Loss)
QAT_ENUM_OPTION(::mlir::qat, Optimizer)
QAT_ENUM_OPTION(::mlir::qat, RangeLearning)

namespace mlir::qat {

/// The settings of a training program (docs/Training.md).
struct TrainStepOptions {
  /// The forward function; empty: the only function with layers.
  std::string forward;
  Loss loss = Loss::CrossEntropy;
  Optimizer optimizer = Optimizer::SGD;
  double momentum = 0.9;
  double weightDecay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  RangeLearning rangeLearning = RangeLearning::LSQ;
  /// ema: the weight of the current batch in the moving average.
  double averagingConstant = 0.01;
  /// ema: stop updating activation ranges after this step (-1: never).
  int64_t freezeObserversAfter = -1;
  /// The number of micro-batches whose mean gradient one update applies
  /// (data-parallel ranks x accumulated batches). LSQ's gradient scale of an
  /// activation then counts the elements of the whole global batch, so that
  /// N shards of batch b train as one batch of N*b.
  int64_t batchShards = 1;
  /// The sparsity schedule of pruned weights (qat.prune_mask, docs/
  /// Pruning.md). With pruneEnd >= 0 each mask is training state
  /// (`mask:<layer>`), recomputed from the weights at the 1-based steps t
  /// with pruneBegin <= t <= pruneEnd and (t - pruneBegin) % pruneEvery == 0
  /// (and at pruneEnd), then frozen; a magnitude mask's sparsity follows
  /// s(t) = s_f + (pruneInitialSparsity - s_f) (1 - p)^3 with
  /// p = clip((t - pruneBegin) / (pruneEnd - pruneBegin), 0, 1). Pruned
  /// weights and their optimizer state are kept at exactly 0. -1: no
  /// schedule (each mask follows the weights at every forward).
  int64_t pruneBegin = 0, pruneEnd = -1, pruneEvery = 100;
  double pruneInitialSparsity = 0.0;
  /// Knowledge distillation (cross-entropy only): the path of an MLIR file
  /// holding one function, the teacher's frozen forward, that takes the
  /// forward's inputs and returns logits of the forward's result type. Its
  /// body is inlined into every generated function that computes the loss,
  /// which becomes (1 - distillWeight) * cross-entropy + distillWeight *
  /// T^2 * KL(softmax(teacher / T) || softmax(logits / T)), T =
  /// distillTemperature. Empty: no teacher.
  std::string teacher;
  double distillTemperature = 4.0;
  double distillWeight = 0.5;
  /// The generated functions to keep (train_step, train_gradients,
  /// apply_update, gradients, eval_step, calibrate, qparams); empty: all.
  /// Calibration compiles just calibrate and qparams.
  std::vector<std::string> functions;
  /// The generated functions to leave out where this model has them (a
  /// trainer on one process needs no split step: gradients,
  /// train_gradients, apply_update, advance_masks). Excludes `functions`.
  std::vector<std::string> omitFunctions;
};

/// Copies every setting between the structures that spell them with the
/// same field names: TrainStepOptions, the pass's generated
/// BuildTrainStepOptions and the pipeline's command line.
template <typename To, typename From>
void assignTrainStepOptions(To &to, const From &from) {
  to.forward = from.forward;
  to.loss = from.loss;
  to.optimizer = from.optimizer;
  to.momentum = from.momentum;
  to.weightDecay = from.weightDecay;
  to.beta1 = from.beta1;
  to.beta2 = from.beta2;
  to.epsilon = from.epsilon;
  to.rangeLearning = from.rangeLearning;
  to.averagingConstant = from.averagingConstant;
  to.freezeObserversAfter = from.freezeObserversAfter;
  to.batchShards = from.batchShards;
  to.pruneBegin = from.pruneBegin;
  to.pruneEnd = from.pruneEnd;
  to.pruneEvery = from.pruneEvery;
  to.pruneInitialSparsity = from.pruneInitialSparsity;
  to.teacher = from.teacher;
  to.distillTemperature = from.distillTemperature;
  to.distillWeight = from.distillWeight;
  // Three list types (std::vector, the pass's SmallVector, the pipeline's
  // ListOption) share clear and push_back.
  to.functions.clear();
  for (const std::string &name : from.functions)
    to.functions.push_back(name);
  to.omitFunctions.clear();
  for (const std::string &name : from.omitFunctions)
    to.omitFunctions.push_back(name);
}

/// Generates the training functions of `module`'s forward function into
/// `module`. On failure a diagnostic names the reason, and the module may
/// hold partly generated functions.
LogicalResult buildTrainStep(ModuleOp module, const TrainStepOptions &options);

} // namespace mlir::qat

#endif // QAT_TRAINING_TRAINSTEP_H
