//===- Passes.td - Graph-level QAT passes -------------------*- tablegen -*-===//
//
// Part of qat-mlir. Passes that turn a float graph (func + linalg on tensors)
// into a QAT graph: batch-norm folding and fake-quant instrumentation.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_TRANSFORMS_PASSES_TD
#define QAT_DIALECT_QAT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FoldBatchNorm : Pass<"qat-fold-batchnorm", "func::FuncOp"> {
  let summary = "Fold inference-form batch norm into the preceding layer";
  let description = [{
    Folds the per-channel affine elementwise ops that follow a layer (a
    matmul or convolution whose weight is a parameter) into the layer's
    weight and a bias. Inference-form batch norm,

    ```
    y = (x - mean) / sqrt(var + eps) * gamma + beta
    ```

    written as one `linalg.generic` or as a chain of them (bias add, subtract,
    multiply, divide, by per-channel parameters or constants), is the common
    case. For a chain computing `a * x + c` per output channel:

    ```
    layer(x, W) -> chain        becomes        layer(x, W * a) + c
    ```

    `a` and `c` are computed in the IR from the chain's own operands by one
    per-channel `linalg.generic` (so gradients still reach gamma, beta and the
    weights when the parameters are function arguments); the weight is scaled
    along its output-channel dimension. No division by `a` is ever formed, so
    channels with gamma = 0 fold to a zero weight and a bias of beta, without
    NaN. A layer whose accumulator is initialised with a bias (as
    `tosa-to-linalg` emits) has that bias scaled too.

    Chains that only add (a plain bias) are left alone, as are chains whose
    intermediate values have other users, and elementwise ops that are not
    affine in the layer's output (ReLU stops the chain).

    ```mlir
    %y = linalg.conv_2d_nhwc_hwcf ins(%x, %w : ...) outs(%zero : ...)
    %bn = linalg.generic {...} ins(%y, %gamma, %beta, %mean, %var : ...) {
      // (y - mean) / sqrt(var + eps) * gamma + beta
    }
    // becomes
    %a, %c = linalg.generic {...} ins(%gamma, %beta, %mean, %var : ...)
    %w2 = linalg.generic {...} ins(%w, %a : ...)       // w * a[f]
    %y2 = linalg.conv_2d_nhwc_hwcf ins(%x, %w2 : ...) outs(%zero : ...)
    %bn = linalg.generic {...} ins(%y2, %c : ...)      // y2 + c[f]
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def Instrument : Pass<"qat-instrument", "ModuleOp"> {
  let summary = "Insert fake-quant ops on weights and activations";
  let description = [{
    Turns each function that contains layers (linalg matmuls, batch matmuls,
    convolutions and depthwise convolutions) into a QAT graph, placing
    `qat.fake_quant` where an integer deployment quantizes
    (docs/Instrumentation.md states the rules with examples):

    * the weight of every layer (default: int8 symmetric, narrow range, per
      output channel);
    * every activation a layer or an integer elementwise op reads, once: the
      graph inputs, and each layer's output after its fused epilogue (bias
      add, per-channel scale, ReLU, ReLU6/clamp), never before it;
    * the output of ops whose result leaves the integer grid (residual add,
      multiply, average/sum pooling, reductions, other elementwise ops), while
      shape ops, max pooling, transposes, broadcasts, slices and zero padding
      keep their input's quantization;
    * the inputs and output of a concatenation share one scale and zero point,
      so the integer program concatenates without requantizing.

    Biases stay float. Each scale (and each zero point of an affine
    activation) becomes a new function argument with `qat.name` and a
    `qat.qparam` dictionary saying what it guards (`role`, `layer`, `init`);
    the original arguments get `qat.role = "input"` or `"parameter"`. For each
    function `@f` the pass adds `@f_init_qparams`, taking `@f`'s original
    arguments and returning the initial value of every new argument: weight
    ranges from the weights' min/max, activation ranges from the float
    forward pass on the given inputs (a one-batch calibration). Layers are
    named by their `qat.layer` attribute, else their location's name, else
    `<kind>_<n>` (`matmul_0`, `conv_1`, ...); the pass writes the name into
    `qat.layer`.

    A JSON `config` file overrides the options globally and per layer (exact
    names or glob patterns); see docs/Instrumentation.md. `dry-run` only
    prints the plan.
  }];
  let options = [
    Option<"weightBits", "weight-bits", "unsigned", "8",
           "bit width of weights (2-16)">,
    Option<"actBits", "act-bits", "unsigned", "8",
           "bit width of activations (2-16)">,
    Option<"perChannel", "per-channel", "bool", "true",
           "quantize weights per output channel (else per tensor)">,
    Option<"symmetricActivations", "symmetric-activations", "bool", "false",
           "signed activations with a zero point of 0 (else unsigned affine)">,
    Option<"rounding", "rounding", "std::string", "\"half_to_even\"",
           "rounding mode: half_to_even, half_away_from_zero, half_up, "
           "toward_zero">,
    Option<"skipFirstLast", "skip-first-last", "bool", "false",
           "leave the first and the last layer of each function in float">,
    Option<"configFile", "config", "std::string", "\"\"",
           "JSON file with global settings and per-layer overrides">,
    Option<"dryRun", "dry-run", "bool", "false",
           "print the plan and leave the IR unchanged">,
    Option<"reportFile", "report", "std::string", "\"\"",
           "write the plan to this file ('-' for stdout; dry-run defaults "
           "to '-')">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

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
  }];
  let options = [
    Option<"forward", "forward", "std::string", "\"\"",
           "the forward function (default: the only function with layers)">,
    Option<"loss", "loss", "std::string", "\"cross-entropy\"",
           "cross-entropy (integer labels) or mse">,
    Option<"optimizer", "optimizer", "std::string", "\"sgd\"",
           "sgd (momentum, weight decay) or adam">,
    Option<"momentum", "momentum", "double", "0.9", "SGD momentum">,
    Option<"weightDecay", "weight-decay", "double", "0.0",
           "L2 weight decay added to the gradients">,
    Option<"beta1", "beta1", "double", "0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", "0.999", "Adam beta2">,
    Option<"epsilon", "epsilon", "double", "1e-8", "Adam epsilon">,
    Option<"rangeLearning", "range-learning", "std::string", "\"lsq\"",
           "lsq (scales trained by gradient), ema (moving-average min/max "
           "observers) or none (scales are inputs)">,
    Option<"averagingConstant", "averaging-constant", "double", "0.01",
           "ema: weight of the current batch in the moving average">,
    Option<"freezeObserversAfter", "freeze-observers-after", "int64_t", "-1",
           "ema: stop updating activation ranges after this step (-1: never)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def Freeze : Pass<"qat-freeze", "ModuleOp"> {
  let summary = "Turn learned quantization parameters (and weights) into constants";
  let description = [{
    Reads a JSON file mapping argument names to values and replaces each
    named argument of the QAT function by a constant of its type: the learned
    scales and zero points (`conv_0.weight_scale`, `image.act_zero_point`),
    and any parameters given (`w1`), ready for conversion to integers. Keys
    are arguments' `qat.name`s; the `param:` / `qparam:` prefixes of the
    train-step names are accepted too. A value is a number or a (nested)
    list of numbers, in row-major order, with as many elements as the
    argument's static shape.

    ```json
    {"conv_0.weight_scale": [0.01, 0.02], "image.act_scale": 0.0078,
     "image.act_zero_point": 128, "w1": [[0.1, -0.2], [0.3, 0.4]]}
    ```

    The function is the one with `qat.role = "qparam"` arguments (or
    `function=`). Every such argument must get a value; a key that names no
    argument, a value of the wrong size or type, and invalid JSON are errors,
    and nothing changes. The frozen function is marked `qat.frozen`.
  }];
  let options = [
    Option<"valuesFile", "values", "std::string", "\"\"",
           "JSON file of argument values">,
    Option<"function", "function", "std::string", "\"\"",
           "the function to freeze (default: the one with qparam arguments)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def ConvertToInteger : Pass<"qat-convert-to-integer", "func::FuncOp"> {
  let summary = "Lower a frozen QAT graph to integer linalg";
  let description = [{
    Rewrites the layers of a frozen QAT function (`qat-freeze`: constant
    weights, scales and zero points) into integer arithmetic:

    ```
    x  -> qat.quantize (at graph inputs only)            int8 codes
    W  -> int8 constant (per output channel)
    acc = layer(x, W) + C      int32, C = bias / (s_x s_w) - z_x * colsum(W)
    y  = qat.requantize(acc)   multiplier s_x s_w / s_y (fixed point, per
                               channel), ReLU / ReLU6 as output clamps
    -> next layer (int8), or qat.dequantize at the graph's outputs
    ```

    Activation codes are stored as signed 8-bit: an unsigned range is shifted
    by -128 (codes and zero point), so every matmul is int8 x int8 -> int32,
    the form the CPU pipeline runs on its VNNI kernels. Before rewriting, the
    pass checks that no accumulator can overflow int32 for the layer's depth
    and code ranges (`quantmath::accumulatorBound`).

    Supported today: `linalg.matmul`, `linalg.conv_2d_nhwc_hwcf`,
    `linalg.conv_2d_nhwc_fhwc` and `linalg.depthwise_conv_2d_nhwc_hwc`
    layers whose accumulator starts from zero or a per-channel bias (weights as constants,
    per-channel or per-tensor symmetric; activations per tensor, 8 bits or
    fewer) with a bias add and ReLU/ReLU6/clamp epilogue, joined by zero
    padding (padded with the zero point's code), max pooling, transposes,
    reshapes and concatenations of tensors on one grid, which are carried
    out on the codes; residual adds (both operands rescaled onto a common
    int32 grid); sum pooling and sum reductions with a constant scale
    (average pooling, global mean). A layer that cannot be converted is
    reported at the op, with the reason, and nothing changes.
    Results follow the fast float simulation up to rounding: the bias and
    the requantization round once each where the simulation rounds in
    binary32 (`qat-faithful` makes the simulation compute exactly this).

    Weights of 4 bits or fewer are stored two codes per byte (`pack-int4`,
    on by default) and unpacked to int8 by a `linalg.generic` in front of
    the layer at run time.
  }];
  let options = [
    Option<"packInt4", "pack-int4", "bool", "true",
           "store weight codes of 4 bits or fewer two per byte">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def Faithful : Pass<"qat-faithful", "func::FuncOp"> {
  let summary = "Simulate each layer with the integer arithmetic deployment uses";
  let description = [{
    The faithful simulation. On a QAT function whose scales and zero points
    are constants (`qat-freeze` with only the quantization parameters; the
    weights and biases may stay arguments and keep training), every layer
    `qat-convert-to-integer` would convert gets its integer form beside the
    float one: input codes, weight codes (`qat.quantize` at run time when the
    weights are arguments), the bias on the int32 grid (`qat.quantize` with
    `num_bits = 32` and scale s_x * s_w), int32 accumulation with the same
    zero-point correction, `qat.requantize` with the same fixed-point
    multipliers and clamps. The layer's output becomes

    ```
    qat.straight_through %fake_quant_output, dequantize(%integer_codes)
    ```

    so the forward computes what the deployed program computes, bit for bit
    (after `qat-convert-to-integer` of the same values, the outputs are
    equal), while `qat-build-train-step` differentiates the float layer
    (straight-through estimator, LSQ) as in the fast simulation. The function
    is marked `qat.faithful`. A layer that cannot be converted is reported
    as `qat-convert-to-integer` reports it.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ExposeLayers : Pass<"qat-expose-layers", "func::FuncOp"> {
  let summary = "Return every layer's quantized output, for comparison";
  let description = [{
    Appends to the function's results each named layer's (`qat.layer`)
    quantized output as a float tensor named `layer:<name>`: in a QAT
    function, the output fake-quant at the end of the layer's epilogue; in a
    function converted by `qat-convert-to-integer`, the layer's requantized
    codes, dequantized. Compiling a QAT function and its integer conversion
    after this pass and calling both on the same inputs compares them layer
    by layer (`python3 -m qat.check`); the first layer whose outputs differ
    is where simulation and deployment diverge.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qat::QatDialect"];
}

#endif // QAT_DIALECT_QAT_TRANSFORMS_PASSES_TD
