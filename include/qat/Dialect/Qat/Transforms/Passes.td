//===- Passes.td - Graph-level QAT passes -------------------*- tablegen -*-===//
//
// Part of qat-mlir. Graph passes on QAT graphs (func + linalg on tensors +
// qat ops): batch-norm folding, fake-quant instrumentation, freezing learned
// values into constants, exposing layer outputs for the checker.
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

def SinkLayerReshapes : Pass<"qat-sink-layer-reshapes", "func::FuncOp"> {
  let summary = "Move a layer's reshape below its bias and activation";
  let description = [{
    A linear layer on a [N, T, C] activation runs as a 2-D matmul on the
    flattened rows; an exporter then reshapes the result back and adds the
    bias to the 3-D tensor (PyTorch's `Linear` as ONNX `MatMul` then
    `Add`). The reshape sits between the layer and its bias, so the bias
    cannot join the layer's epilogue: `qat-instrument` would quantize the
    product before the bias, and the bias would stay a float island in the
    integer program. This pass moves each `tensor.expand_shape` of a
    layer's result below the all-parallel `linalg.generic` ops that read it
    (the bias add, and an elementwise op after it), collapsing their
    iteration spaces to the layer's shape (upstream's fold-by-collapsing
    patterns). Run by `qat-instrument-pipeline` before batch-norm folding.

    ```mlir
    %y = linalg.matmul ins(%x, %w : tensor<64x256xf32>, tensor<256x1024xf32>) ...
    %e = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 64, 1024] ...
    %b = linalg.generic ... ins(%bias, %e : tensor<1024xf32>, tensor<1x64x1024xf32>) { addf }
    // becomes
    %b = linalg.generic ... ins(%bias, %y : tensor<1024xf32>, tensor<64x1024xf32>) { addf }
    %e = tensor.expand_shape %b [[0, 1], [2]] output_shape [1, 64, 1024] ...
    ```
  }];
  let dependentDialects = [
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

    Example:

    ```mlir
    func.func @fc(%x: tensor<1x4xf32>, %w: tensor<4x3xf32>) -> tensor<1x3xf32> {
      %y = linalg.matmul ins(%x, %w : ...) outs(%zero : tensor<1x3xf32>) -> tensor<1x3xf32>
      return %y : tensor<1x3xf32>
    }
    // becomes
    func.func @fc(%x: tensor<1x4xf32> {qat.role = "input"},
        %w: tensor<4x3xf32> {qat.role = "parameter"},
        %sw: tensor<3xf32> {qat.name = "matmul_0.weight_scale", qat.role = "qparam",
            qat.qparam = {role = "weight_scale", layer = "matmul_0", ...}},
        %sx: tensor<f32> {qat.name = "arg0.act_scale", ...},
        %zx: tensor<i32> {qat.name = "arg0.act_zero_point", ...},
        %sy: tensor<f32> {qat.name = "matmul_0.act_scale", ...},
        %zy: tensor<i32> {qat.name = "matmul_0.act_zero_point", ...}) -> tensor<1x3xf32> {
      %wq = qat.fake_quant %w, %sw, %zero_points {axis = 1 : i64, narrow_range = true} : ...
      %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : ...
      %y = linalg.matmul {qat.layer = "matmul_0"} ins(%xq, %wq : ...) outs(%zero : ...)
      %yq = qat.fake_quant %y, %sy, %zy {is_signed = false} : ...
      return %yq : tensor<1x3xf32>
    }
    func.func @fc_init_qparams(%x: ..., %w: ...) -> (...)
        attributes {qat.init_qparams_for = @fc}   // qat.observe + qat.choose_qparams
    ```
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
    Option<"rounding", "rounding", "::mlir::qat::RoundingMode",
           "::mlir::qat::RoundingMode::half_to_even",
           "rounding mode: half_to_even, half_away_from_zero, half_up, "
           "toward_zero">,
    Option<"skipFirstLast", "skip-first-last", "bool", "false",
           "leave the first and the last layer of each function in float">,
    Option<"lastActBits", "last-act-bits", "unsigned", "0",
           "bit width of the last layer's output, a classifier's logits "
           "(2-16; 0: act-bits)">,
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

def Prune : Pass<"qat-prune", "ModuleOp"> {
  let summary = "Mask the weights of chosen layers by magnitude or N:M";
  let description = [{
    For every layer with a pruning setting, its float weight `w` becomes
    `qat.apply_mask %w, qat.prune_mask(%w)`: the smallest `sparsity` of the
    weights by magnitude (`sparsity=0.5`), or `n` of every `m` consecutive
    weights along the reduction axis kept (`pattern=2:4`; the input
    channels of a convolution, the rows of a matmul's weight), set to
    exactly zero. The mask is recomputed from the current weight wherever
    it is evaluated (each training step), pruned weights get no gradient,
    and once the weights are frozen it folds to constants.

    With `block=KxN` (and `sparsity`), whole blocks of K consecutive weights
    along the reduction axis by N output channels are pruned, the blocks of
    the smallest sums of |w| first (`qat.prune_mask` with a `block`
    attribute): a layout a block-sparse kernel can skip.

    Settings come from the options (every layer) and from the same JSON
    config as qat-instrument (docs/Instrumentation.md): a `prune` key at the
    top level or per layer pattern, `0.5`, `"2:4"`, `"0.75/4x16"` (blocks)
    or `false`; `skip` leaves a layer alone. Layers are named as
    qat-instrument names them.

    It composes with qat-instrument in either order with one meaning: the
    mask applies to the float weight before its fake-quant, so a pruned
    weight's integer code is exactly the zero point. Errors: a sparsity
    outside [0, 1), N >= M, a reduction axis that M does not divide, a
    config pattern with a prune setting that matches no layer, a weight
    pruned twice.

    Example (`pattern=2:4`):

    ```mlir
    %y = linalg.matmul ins(%x, %w : tensor<8x64xf32>, tensor<64x32xf32>) ...
    // becomes
    %keep = qat.prune_mask %w {axis = 0 : i64, m = 4 : i64, n = 2 : i64}
        : tensor<64x32xf32> -> tensor<64x32xi1>
    %wp = qat.apply_mask %w, %keep : tensor<64x32xf32>, tensor<64x32xi1>
    %y = linalg.matmul ins(%x, %wp : tensor<8x64xf32>, tensor<64x32xf32>) ...
    ```
  }];
  let options = [
    Option<"sparsity", "sparsity", "std::string", "\"\"",
           "every layer: the fraction of weights pruned by magnitude, in "
           "[0, 1)">,
    Option<"pattern", "pattern", "std::string", "\"\"",
           "every layer: N:M structured pruning (such as 2:4)">,
    Option<"block", "block", "std::string", "\"\"",
           "with sparsity: prune whole blocks of K weights along the "
           "reduction axis by N output channels (such as 4x16), by their "
           "sums of |w|">,
    Option<"configFile", "config", "std::string", "\"\"",
           "JSON config with per-layer prune settings">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qat::QatDialect"];
}

def Freeze : Pass<"qat-freeze", "ModuleOp"> {
  let summary = "Turn learned quantization parameters (and weights) into constants";
  let description = [{
    Reads a values file and replaces each argument it names by a constant
    of the argument's type: the learned scales and zero points
    (`conv_0.weight_scale`, `image.act_zero_point`) and any parameters given
    (`w1`), ready for conversion to integers. The file is binary: a NumPy
    `.npz` archive (`numpy.savez`; compressed archives are refused), one
    array per argument, of the argument's shape; float32 arrays become
    constants without conversion, other dtypes are converted (integer
    arguments need integral values that fit). Small hand-written files may be
    JSON instead: an object of numbers or nested lists in row-major order.
    Names are arguments' `qat.name`s; the `param:` / `qparam:` prefixes of
    the train-step names are accepted too.

    The function is the one with `qat.role = "qparam"` arguments (or
    `function=`). Every such argument must get a value; a name that matches
    no argument, an array of the wrong shape or type, and a malformed file
    are errors naming the entry, and nothing changes. The frozen function is
    marked `qat.frozen`.

    Example (`values=trained.npz` holding `matmul_0.weight_scale`,
    `arg0.act_scale`, ... and the weight `arg1`):

    ```mlir
    func.func @fc(%x: tensor<1x4xf32> {qat.role = "input"}, %w: tensor<4x3xf32>,
                  %sw: tensor<3xf32> {qat.name = "matmul_0.weight_scale", ...}, ...)
    // becomes
    func.func @fc(%x: tensor<1x4xf32> {qat.role = "input"}) -> tensor<1x3xf32>
        attributes {qat.frozen} {
      %w = arith.constant dense<...> : tensor<4x3xf32>
      %sw = arith.constant dense<1.000000e-02> : tensor<3xf32>
      ...
    ```
  }];
  let options = [
    Option<"valuesFile", "values", "std::string", "\"\"",
           "values file: .npz (numpy.savez) or JSON">,
    Option<"function", "function", "std::string", "\"\"",
           "the function to freeze (default: the one with qparam arguments)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
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

    Example (a converted layer):

    ```mlir
    %r = qat.requantize %acc {qat.layer = "fc", qat.scale = 5.000000e-02 : f32, ...}
        : tensor<1x3xi32> -> tensor<1x3xi8>
    return %out : tensor<1x3xf32>
    // becomes
    %fc = qat.dequantize %r, %scale, %zero_point : ... -> tensor<1x3xf32>
    return %out, %fc : tensor<1x3xf32>, tensor<1x3xf32>
    // with the new result named {qat.name = "layer:fc"}
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qat::QatDialect"];
}

def SetBatch : Pass<"qat-set-batch", "func::FuncOp"> {
  let summary = "Change the static batch size of a model";
  let description = [{
    Gives the inputs (`qat.role = "input"`) of each public function the
    batch size `size` as their first dimension, and every value computed
    from them along it. Which values carry the batch is found by data flow
    from the inputs, never by size alone: a weight with as many rows as the
    batch keeps its shape. The batch must stay the leading dimension, alone:
    a reshape that folds it into another dimension, a pad, slice or
    concatenation along it, a reduction over it or a constant shaped by it
    is an error naming the op (import the model again at the batch you
    want), and the function is left unchanged.

    `python3 -m qat train --batch-size N` and `calibrate --batch-size N`
    run it before compiling their programs; parameters and quantization
    parameters do not depend on the batch.

    ```mlir
    func.func @mlp(%x: tensor<64x784xf32> {qat.role = "input"}, %w: tensor<784x10xf32>)
    // qat-set-batch{size=8}
    func.func @mlp(%x: tensor<8x784xf32> {qat.role = "input"}, %w: tensor<784x10xf32>)
    ```
  }];
  let options = [
    Option<"size", "size", "int64_t", "1", "the new batch size">,
  ];
}

#endif // QAT_DIALECT_QAT_TRANSFORMS_PASSES_TD
