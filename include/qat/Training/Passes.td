//===- Passes.td - Training passes ---------------------------*- tablegen -*-===//
//
// Part of qat-mlir. Passes that generate compiled training programs from a
// forward function: reverse-mode gradients, losses, optimizers, range
// learning.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRAINING_PASSES_TD
#define QAT_TRAINING_PASSES_TD

include "mlir/Pass/PassBase.td"

def BuildTrainStep : Pass<"qat-build-train-step", "ModuleOp"> {
  let summary = "Generate the training step of a forward function";
  let description = [{
    From `@forward(params..., inputs...) -> (outputs...)`, float or
    instrumented by `qat-instrument`, generates in the same module:

    * `@train_step`: forward, loss, reverse-mode gradients, optimizer update;
      returns the updated parameters (and learned scales) and optimizer
      state, and the loss;
    * `@eval_step`: the loss and the forward's outputs, nothing updated;
    * `@gradients`: the loss and the gradient of every trained tensor;
    * `@apply_update`: the optimizer step alone, from given gradients
      (`grad:<name>`): the second half of `@train_step`. With
      `range-learning=ema`, `@train_gradients` is the first half: the loss,
      the gradients and the observers advanced as `@train_step` advances
      them. Data-parallel training (docs/Distributed.md) reduces the
      gradients between the two;
    * with a sparsity schedule (`prune-end`, docs/Pruning.md), each
      `qat.prune_mask` is state `mask:<layer>` that `@train_step` recomputes
      at the schedule's steps, and `@advance_masks` computes the same masks
      alone, to run before `@gradients` when the step is split;
    * for an instrumented forward, `@calibrate` (the forward in float,
      updating running min/max observers of every activation quantization
      point) and `@qparams` (the forward's scales and zero points from the
      weights and observers: LSQ's initial values, or `qat-freeze`'s input).

    The loss is computed on the forward's first result: softmax
    cross-entropy over integer class labels (`tensor<Nxi32>`, logits
    `tensor<NxCxf32>`), or mean squared error against a target of the
    result's type. The learning rate is an input (`lr`, a 0-D tensor), so a
    schedule can drive it; Adam and `ema` also take the 1-based step number
    (`step`).

    Range learning: `lsq` trains the scales of an instrumented forward with
    LSQ gradients (its zero points stay fixed); `ema` replaces them: weight
    scales are computed from the current weights every step, activation
    scales and zero points from exponential-moving-average min/max observers
    (PyTorch's MovingAverageMinMaxObserver; state `act_min:<name>`,
    `act_max:<name>`, +inf/-inf before the first batch), frozen after
    `freeze-observers-after` steps; `none` passes the scales through.
    LSQ scales a scale's gradient by 1/sqrt(numel * qmax); with
    `batch-shards=N` (data-parallel ranks times accumulated batches) an
    activation's numel counts the global batch, N times the forward's, so
    that the mean gradient of N shards equals that of one batch of all of
    them.

    Arguments and results are named (`qat.name`) `kind:name`: `param:w1`,
    `qparam:conv_0.weight_scale`, `momentum:w1`, `adam_m:w1`, `adam_v:w1`,
    `input:image`, `labels`, `lr`, `step`, `loss`, `output:logits`,
    `grad:w1`; the compiled library's entry-point table carries these names,
    which is how the runtime and Python find the state (docs/Training.md).

    Gradients follow docs/Training.md: every linalg structured op through its
    scalar payload (sums, products, max reductions with the gradient to the
    first arg-max, strided and dilated windows), the tensor shape ops, and
    `qat.fake_quant` (straight-through estimator for the input, LSQ for the
    scale). An op on the path from a trained tensor to the loss without a
    rule is an error naming it.

    Example: for `@mlp(%x: tensor<64x784xf32> {qat.role = "input"},
    %w: tensor<784x10xf32>) -> tensor<64x10xf32>` with the defaults (SGD,
    cross-entropy) the module gains

    ```mlir
    func.func @train_step(%w: tensor<784x10xf32> {qat.name = "param:w"},
        %m: tensor<784x10xf32> {qat.name = "momentum:w"},
        %x: tensor<64x784xf32> {qat.name = "input:x"},
        %labels: tensor<64xi32> {qat.name = "labels"},
        %lr: tensor<f32> {qat.name = "lr"})
        -> (tensor<784x10xf32> {qat.name = "param:w"},
            tensor<784x10xf32> {qat.name = "momentum:w"},
            tensor<f32> {qat.name = "loss"})
    func.func @eval_step(...) -> (tensor<f32> {qat.name = "loss"},
                                  tensor<64x10xf32> {qat.name = "output:result0"})
    func.func @gradients(...) -> (tensor<f32> {qat.name = "loss"},
                                  tensor<784x10xf32> {qat.name = "grad:w"})
    ```
  }];
  let options = [
    Option<"forward", "forward", "std::string", "\"\"",
           "the forward function (default: the only function with layers)">,
    Option<"loss", "loss", "::mlir::qat::Loss",
           "::mlir::qat::Loss::CrossEntropy",
           "cross-entropy (integer labels) or mse">,
    Option<"optimizer", "optimizer", "::mlir::qat::Optimizer",
           "::mlir::qat::Optimizer::SGD",
           "sgd (momentum, weight decay) or adam">,
    Option<"momentum", "momentum", "double", "0.9", "SGD momentum">,
    Option<"weightDecay", "weight-decay", "double", "0.0",
           "L2 weight decay added to the gradients">,
    Option<"beta1", "beta1", "double", "0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", "0.999", "Adam beta2">,
    Option<"epsilon", "epsilon", "double", "1e-8", "Adam epsilon">,
    Option<"rangeLearning", "range-learning", "::mlir::qat::RangeLearning",
           "::mlir::qat::RangeLearning::LSQ",
           "lsq (scales trained by gradient), ema (moving-average min/max "
           "observers) or none (scales are inputs)">,
    Option<"averagingConstant", "averaging-constant", "double", "0.01",
           "ema: weight of the current batch in the moving average">,
    Option<"freezeObserversAfter", "freeze-observers-after", "int64_t", "-1",
           "ema: stop updating activation ranges after this step (-1: never)">,
    Option<"batchShards", "batch-shards", "int64_t", "1",
           "micro-batches per update (data-parallel ranks x accumulation): "
           "LSQ's activation gradient scale counts the global batch">,
    Option<"pruneBegin", "prune-begin", "int64_t", "0",
           "sparsity schedule: the first step masks are recomputed at">,
    Option<"pruneEnd", "prune-end", "int64_t", "-1",
           "sparsity schedule: the last step masks are recomputed at, then "
           "frozen (-1: no schedule; masks follow the weights)">,
    Option<"pruneEvery", "prune-every", "int64_t", "100",
           "sparsity schedule: steps between mask recomputations">,
    Option<"pruneInitialSparsity", "prune-initial-sparsity", "double", "0.0",
           "sparsity schedule: s_i of the polynomial decay to each mask's "
           "target sparsity">,
    Option<"teacher", "teacher", "std::string", "\"\"",
           "distillation: an MLIR file whose one function (the teacher's "
           "frozen forward: the forward's inputs to logits of its result "
           "type) is inlined into the loss">,
    Option<"distillTemperature", "distill-temperature", "double", "4.0",
           "distillation: the softmax temperature T">,
    Option<"distillWeight", "distill-weight", "double", "0.5",
           "distillation: the weight of T^2 KL(teacher || student); the "
           "cross-entropy gets 1 - weight">,
    ListOption<"functions", "functions", "std::string",
               "the generated functions to keep (default: all; calibration "
               "needs calibrate,qparams)">,
    ListOption<"omitFunctions", "omit-functions", "std::string",
               "the generated functions to leave out, where generated (a "
               "single-process trainer: gradients,train_gradients,"
               "apply_update,advance_masks)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::qat::QatDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // QAT_TRAINING_PASSES_TD
