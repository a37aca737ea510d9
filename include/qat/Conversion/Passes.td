//===- Passes.td - Conversion passes of qat-mlir -----------*- tablegen -*-===//
//
// Part of qat-mlir. Lowerings out of the qat dialect: every qat op to linalg
// (QatToLinalg), and frozen QAT layers to integer linalg or to their faithful
// integer simulation (QatToInteger).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CONVERSION_PASSES_TD
#define QAT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQatToLinalg : Pass<"convert-qat-to-linalg"> {
  let summary = "Lower every qat op to linalg.generic with arith and math";
  let description = [{
    Rewrites each `qat` op into `linalg.generic` ops on tensors whose bodies
    compute, element by element, exactly what the reference library
    (`include/qat/Support/QuantMath.h`) computes, so that any program holding
    qat ops runs through the standard bufferize-to-LLVM route. Per-channel
    parameters are read through indexing maps on the `axis` dimension;
    reductions (the scale and zero-point gradients, observers) become
    reduction iterators.

    Preconditions: ranked tensors (dynamic sizes are allowed); `qat.prune_mask`
    in its unstructured (sparsity) form needs a static shape. An op the pass
    cannot lower is reported with its location and the pass fails.

    Example:

    ```mlir
    %y = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32>
    ```

    becomes

    ```mlir
    %y = linalg.generic {indexing_maps = [#id, #scalar, #scalar, #id], ...}
        ins(%x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32>)
        outs(%init : tensor<4xf32>) {
    ^bb0(%xi: f32, %si: f32, %zi: i32, %out: f32):
      // z = clamp(zi); q = clamp(roundeven(xi / si) + z); (q - z) * si
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
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

    Weights of 4 bits or fewer are stored two codes per byte, four when
    the codes fit in 2 bits (`pack-int4`, on by default; the
    flattened codes, whose count must fill whole bytes), and unpacked to int8 by a
    `linalg.generic` in front of the layer at run time.

    Example (a frozen layer; scales 0.02 for x with zero point 128, 0.01 for
    W, 0.05 for y):

    ```mlir
    %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : ...
    %wq = qat.fake_quant %W, %sw, %zw {axis = 1 : i64, narrow_range = true} : ...
    %y = linalg.matmul {qat.layer = "fc"} ins(%xq, %wq : ...) outs(%zero : ...)
    %yq = qat.fake_quant %y, %sy, %zy {is_signed = false} : ...
    // becomes
    %codes = qat.quantize %x, %sx, %zx_shifted {quant_min = -128 : i64, quant_max = 127 : i64}
        : tensor<1x4xf32>, tensor<f32>, tensor<i32> -> tensor<1x4xi8>
    %acc = linalg.matmul ins(%codes, %W_codes : tensor<1x4xi8>, tensor<4x3xi8>)
        outs(%init : tensor<1x3xi32>) -> tensor<1x3xi32>
    %r = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: ...>,
        shift = array<i32: ...>, output_zero_point = -128 : i32, ...}
        : tensor<1x3xi32> -> tensor<1x3xi8>
    %out = qat.dequantize %r, %sy, %zy_shifted : ... -> tensor<1x3xf32>
    ```
  }];
  let options = [
    Option<"packInt4", "pack-int4", "bool", "true",
           "store weight codes of 4 bits or fewer two per byte (2 bits: four)">,
    Option<"allowCollapsedRanges", "allow-collapsed-ranges", "bool", "false",
           "convert layers whose activation scale sits at its floor (a "
           "collapsed range) instead of failing">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def TabulateCodes : Pass<"qat-tabulate-codes", "func::FuncOp"> {
  let summary = "Elementwise functions of one int8 tensor as 256-entry tables";
  let description = [{
    In an integer program, an int8 tensor that is computed elementwise from
    one other int8 tensor depends on that tensor's code alone, which takes
    256 values. That is what a float island between two quantized tensors
    becomes: GELU (`qat.dequantize`, erf, `qat.quantize`, then the integer
    product with its input and `qat.requantize`), SiLU and sigmoid gates,
    hard swish. Each such chain (per-tensor `qat.quantize`, `dequantize`,
    `requantize`, and all-parallel `linalg.generic` ops on identity maps and
    scalars, at least one of them a generic) whose result has at least
    `min-elements` elements is evaluated once per call on the 256 codes, by
    a copy of the same ops on a `tensor<256xi8>` of -128..127, and its
    result becomes a lookup: `table[code + 128]`. The same operations on the
    same values: the results are equal bit for bit, and the float math runs
    256 times instead of once per element.

    ```mlir
    %x = qat.dequantize %codes, %s, %z : tensor<64x1024xi8>, ... -> tensor<64x1024xf32>
    %g = linalg.generic ... ins(%x ...) { ... math.erf ... }
    %q = qat.quantize %g, %s2, %z2 : ... -> tensor<64x1024xi8>
    // becomes
    %all = arith.constant dense<[-128, ..., 127]> : tensor<256xi8>
    %table = <the same three ops on %all> : tensor<256xi8>
    %q = linalg.generic ins(%codes : tensor<64x1024xi8>) ... {
      %i = index_cast(extsi(%code) + 128)
      %v = tensor.extract %table[%i] : tensor<256xi8>
    }
    ```
  }];
  let options = [
    Option<"minElements", "min-elements", "int64_t", "1024",
           "smallest result to tabulate">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
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

    Example (scales frozen, the weight %W still an argument):

    ```mlir
    %y = linalg.matmul {qat.layer = "fc"} ins(%xq, %wq : ...) outs(%zero : ...)
    %yq = qat.fake_quant %y, %sy, %zy : ...
    // becomes
    %y = linalg.matmul ins(%xq, %wq : ...) outs(%zero : ...)     // float, for gradients
    %yq = qat.fake_quant %y, %sy, %zy : ...
    %xc = qat.quantize %x, ... -> tensor<1x4xi8>
    %wc = qat.quantize %W, %sw, %zw {axis = 1 : i64, narrow_range = true} : ... -> tensor<4x3xi8>
    %acc = linalg.matmul ins(%xc, %wc : ...) outs(%corrected_init : tensor<1x3xi32>)
    %r = qat.requantize %acc {...} : tensor<1x3xi32> -> tensor<1x3xi8>
    %out = qat.straight_through %yq, %dequantized_r : tensor<1x3xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::qat::QatDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // QAT_CONVERSION_PASSES_TD
