//===- QatOps.td - Operations of the qat dialect -----------*- tablegen -*-===//
//
// Part of qat-mlir. The formulas in these descriptions are implemented once,
// in include/qat/Support/QuantMath.h; docs/Semantics.md collects them.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_IR_QATOPS_TD
#define QAT_DIALECT_QAT_IR_QATOPS_TD

include "qat/Dialect/Qat/IR/QatBase.td"
include "qat/Dialect/Qat/IR/QatEnums.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Shared operand and attribute kinds
//===----------------------------------------------------------------------===//

// Integer codes and zero points are computed in 64-bit arithmetic.
def Qat_Int64OrNarrower : Type<
    And<[CPred<"$_self.isSignlessInteger()">,
         CPred<"$_self.getIntOrFloatBitWidth() <= 64">]>,
    "signless integer of at most 64 bits", "::mlir::IntegerType">;

def Qat_FloatTensor : RankedTensorOf<[F32]>;
def Qat_IntTensor : RankedTensorOf<[Qat_Int64OrNarrower]>;
def Qat_I32Tensor : RankedTensorOf<[I32]>;
def Qat_ZeroPointTensor : RankedTensorOf<[Qat_Int64OrNarrower, F32]>;
def Qat_MaskTensor : RankedTensorOf<[I1]>;

def Qat_BitWidthAttr : ConfinedAttr<I64Attr, [IntMinValue<2>, IntMaxValue<16>]>;
// qat.quantize and qat.requantize also produce int32 codes (a bias on the
// accumulator's grid, the operands of an integer residual add).
def Qat_WideBitWidthAttr : ConfinedAttr<I64Attr, [IntMinValue<2>, IntMaxValue<32>]>;

// The integer range [qmin, qmax]: the range of a `num_bits` integer, signed or
// unsigned, with qmin raised by one for `narrow_range`, optionally tightened
// by explicit `quant_min` / `quant_max` (fused ReLU, ReLU6).
defvar QatRangeAttrs = (ins
  DefaultValuedAttr<Qat_BitWidthAttr, "8">:$num_bits,
  DefaultValuedAttr<BoolAttr, "true">:$is_signed,
  DefaultValuedAttr<BoolAttr, "false">:$narrow_range,
  OptionalAttr<I64Attr>:$quant_min,
  OptionalAttr<I64Attr>:$quant_max
);
defvar QatWideRangeAttrs = (ins
  DefaultValuedAttr<Qat_WideBitWidthAttr, "8">:$num_bits,
  DefaultValuedAttr<BoolAttr, "true">:$is_signed,
  DefaultValuedAttr<BoolAttr, "false">:$narrow_range,
  OptionalAttr<I64Attr>:$quant_min,
  OptionalAttr<I64Attr>:$quant_max
);

// Per-channel quantization along `axis` when present, per-tensor otherwise.
defvar QatAxisAttr = (ins OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$axis);

defvar QatRoundingAttr = (ins
  DefaultValuedAttr<Qat_RoundingModeAttr,
                    "::mlir::qat::RoundingMode::half_to_even">:$rounding
);

// An op carrying QatRangeAttrs and QatAxisAttr.
class Qat_QuantOp<string mnemonic, list<Trait> traits = []>
    : Qat_Op<mnemonic, traits # [Pure]> {
  let extraClassDeclaration = [{
    /// The integer range [qmin, qmax] these attributes describe.
    ::quantmath::QuantRange getQuantRange();
  }];
  let extraClassDefinition = [{
    ::quantmath::QuantRange $cppClass::getQuantRange() {
      return computeQuantRange(*this);
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// fake_quant
//===----------------------------------------------------------------------===//

def Qat_FakeQuantOp : Qat_QuantOp<"fake_quant",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "simulated quantize-dequantize";
  let description = [{
    Rounds each element of `input` to the nearest value representable with
    the given scale, zero point and integer range, keeping the float type:

    ```
    z = clamp(round_half_even(zero_point), qmin, qmax)   (a float zero point)
    q = clamp(round(input / scale) + z, qmin, qmax)
    result = (q - z) * scale
    ```

    `round` is the `rounding` mode (default `half_to_even`, as PyTorch, ONNX
    and TensorRT). `input / scale` is one binary32 division (PyTorch instead
    multiplies by the binary32 reciprocal; the two can differ by one step on
    exact ties, see docs/Semantics.md). Values beyond the range saturate;
    +-inf saturate; NaN stays NaN. `scale` must be positive and finite.

    [qmin, qmax] is the range of a `num_bits` (2..16) integer, signed
    (`is_signed`, default) or unsigned; `narrow_range` raises qmin by one;
    `quant_min` / `quant_max` may tighten it further.

    Per-tensor: `scale` and `zero_point` are 0-D tensors. Per-channel: `axis`
    names a dimension of `input`, and `scale` and `zero_point` are 1-D tensors
    of that dimension's size. The zero point is a signed integer tensor (at
    most 64 bits) or a float tensor (a learnable zero point).

    Example:

    ```mlir
    %w_q = qat.fake_quant %w, %s, %z {axis = 0 : i64, narrow_range = true}
        : tensor<16x3x3x8xf32>, tensor<16xf32>, tensor<16xi32>
    ```
  }];
  let arguments = !con(
    (ins Qat_FloatTensor:$input, Qat_FloatTensor:$scale,
         Qat_ZeroPointTensor:$zero_point),
    QatRangeAttrs, QatAxisAttr, QatRoundingAttr);
  let results = (outs Qat_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input,
                   "::mlir::Value":$scale, "::mlir::Value":$zeroPoint,
                   CArg<"const ::mlir::qat::QuantSpec &", "{}">:$spec), [{
      $_state.addOperands({input, scale, zeroPoint});
      $_state.addTypes(resultType);
      addQuantSpecAttrs<FakeQuantOp>($_builder, $_state, spec);
    }]>
  ];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// fake_quant_grad
//===----------------------------------------------------------------------===//

def Qat_FakeQuantGradOp : Qat_QuantOp<"fake_quant_grad", [
    AllTypesMatch<["input", "grad", "input_grad"]>,
    AllTypesMatch<["scale", "scale_grad", "zero_point_grad"]>]> {
  let summary = "straight-through and LSQ gradients of qat.fake_quant";
  let description = [{
    Given the operands and attributes of a `qat.fake_quant` and the gradient
    `grad` (dy) of its result, computes the gradients with respect to the
    input, the scale and the zero point. With `v = round(x / s) + z` before
    clamping:

    | region               | input_grad | scale_grad contribution  | zero_point_grad contribution |
    |----------------------|------------|--------------------------|------------------------------|
    | qmin <= v <= qmax    | dy         | (round(x/s) - x/s) * dy  | 0                            |
    | v < qmin             | 0          | (qmin - z) * dy          | -s * dy                      |
    | v > qmax             | 0          | (qmax - z) * dy          | -s * dy                      |

    `input_grad` is the straight-through estimator masked to the range; the
    scale gradient is LSQ's (Esser et al., 2020) and the zero-point gradient
    that of LSQ+. Contributions are multiplied by `grad_factor` and summed over
    the whole tensor (per-tensor) or over all but `axis` (per-channel), in an
    unspecified order. `grad_factor = 1 / sqrt(numel * qmax)` gives LSQ's
    gradient scaling (see `quantmath::lsqGradScale`). A NaN input element makes all
    three results NaN, so divergence stays visible.

    `zero_point_grad` is a float tensor of the scale's type, also for an
    integer zero point.

    Example:

    ```mlir
    %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy {num_bits = 4 : i64}
        : tensor<8x16xf32>, tensor<f32>, tensor<f32>
    ```
  }];
  let arguments = !con(
    (ins Qat_FloatTensor:$input, Qat_FloatTensor:$scale,
         Qat_ZeroPointTensor:$zero_point, Qat_FloatTensor:$grad),
    QatRangeAttrs, QatAxisAttr, QatRoundingAttr,
    (ins DefaultValuedAttr<F32Attr, "1.0">:$grad_factor));
  let builders = [
    // The gradients of `fake_quant(input, scale, zero_point)` under `spec`
    // for the output gradient `grad`: the input's gradient has its type,
    // the scale's and zero point's have the scale's type.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$scale,
                   "::mlir::Value":$zeroPoint, "::mlir::Value":$grad,
                   "const ::mlir::qat::QuantSpec &":$spec,
                   "float":$gradFactor), [{
      $_state.addOperands({input, scale, zeroPoint, grad});
      $_state.addTypes({input.getType(), scale.getType(), scale.getType()});
      addQuantSpecAttrs<FakeQuantGradOp>($_builder, $_state, spec);
      if (gradFactor != 1.0f)
        $_state.addAttribute(getGradFactorAttrName($_state.name),
                             $_builder.getF32FloatAttr(gradFactor));
    }]>
  ];
  let results = (outs Qat_FloatTensor:$input_grad, Qat_FloatTensor:$scale_grad,
                      Qat_FloatTensor:$zero_point_grad);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point `,` $grad attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// quantize / dequantize
//===----------------------------------------------------------------------===//

def Qat_QuantizeOp : Qat_QuantOp<"quantize", [AllShapesMatch<["input", "result"]>]> {
  let summary = "float tensor to integer codes";
  let description = [{
    `result = clamp(round(input / scale) + z, qmin, qmax)`, with the zero
    point, range, rounding and per-channel rules of `qat.fake_quant`. NaN maps
    to `z` (the code of real 0). The result is a signless integer tensor at
    least `num_bits` wide; an unsigned range is stored as unsigned (for
    example 0..255 in `i8`). Unlike the other ops, `num_bits` may be up to
    32: `num_bits = 32` quantizes a bias onto an int32 accumulator's grid
    (`quantmath::quantizeBias`). (`qat.requantize` also goes to 32 bits.)

    Example:

    ```mlir
    %q = qat.quantize %x, %s, %z {is_signed = false}
        : tensor<4x4xf32>, tensor<f32>, tensor<i32> -> tensor<4x4xi8>
    ```
  }];
  let arguments = !con(
    (ins Qat_FloatTensor:$input, Qat_FloatTensor:$scale,
         Qat_ZeroPointTensor:$zero_point),
    QatWideRangeAttrs, QatAxisAttr, QatRoundingAttr);
  let results = (outs Qat_IntTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point) `->` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input,
                   "::mlir::Value":$scale, "::mlir::Value":$zeroPoint,
                   CArg<"const ::mlir::qat::QuantSpec &", "{}">:$spec), [{
      $_state.addOperands({input, scale, zeroPoint});
      $_state.addTypes(resultType);
      addQuantSpecAttrs<QuantizeOp>($_builder, $_state, spec);
    }]>
  ];
  let hasFolder = 1;
}

def Qat_DequantizeOp : Qat_QuantOp<"dequantize", [AllShapesMatch<["input", "result"]>]> {
  let summary = "integer codes to float tensor";
  let description = [{
    `result = (input - z) * scale`, the subtraction exact and one binary32
    multiply. `input` is read as signed when `is_signed` (the default) and as
    unsigned otherwise; the zero point is rounded and clamped to [qmin, qmax]
    as in `qat.fake_quant`. Per-channel with `axis` as there.

    Example:

    ```mlir
    %x = qat.dequantize %q, %s, %z {is_signed = false}
        : tensor<4x4xi8>, tensor<f32>, tensor<i32> -> tensor<4x4xf32>
    ```
  }];
  let arguments = !con(
    (ins Qat_IntTensor:$input, Qat_FloatTensor:$scale,
         Qat_ZeroPointTensor:$zero_point),
    QatRangeAttrs, QatAxisAttr);
  let results = (outs Qat_FloatTensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input,
                   "::mlir::Value":$scale, "::mlir::Value":$zeroPoint,
                   CArg<"const ::mlir::qat::QuantSpec &", "{}">:$spec), [{
      $_state.addOperands({input, scale, zeroPoint});
      $_state.addTypes(resultType);
      addQuantSpecAttrs<DequantizeOp, /*hasRounding=*/false>($_builder,
                                                             $_state, spec);
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $scale `,` $zero_point attr-dict `:` type($input) `,`
    type($scale) `,` type($zero_point) `->` type($result)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// requantize
//===----------------------------------------------------------------------===//

def Qat_RequantizeOp : Qat_QuantOp<"requantize", [AllShapesMatch<["input", "result"]>]> {
  let summary = "int32 accumulator to narrow integer by fixed-point rescale";
  let description = [{
    Rescales an int32 accumulator by the real multiplier
    `M = multiplier * 2^-shift` with integer arithmetic only:

    ```
    r = round((input - input_zero_point) * multiplier / 2^shift)
    result = clamp(saturate_int32(r) + output_zero_point, qmin, qmax)
    ```

    The product is exact in 64 bits; `round` is the `rounding` mode applied to
    the exact quotient. `multiplier` must be positive and `shift` in
    [0, 63]; `quantmath::decomposeMultiplier` produces the normalized form with
    `multiplier` in [2^30, 2^31). A single `multiplier`/`shift` pair is
    per-tensor; with `axis`, there is one pair per channel of that dimension.
    `quant_min`/`quant_max` express a fused ReLU (`quant_min` = output zero
    point) or ReLU6 clamp. `num_bits` may be up to 32: an int32 result
    rescales an accumulator onto another int32 grid (the operands of an
    integer residual add).

    Example:

    ```mlir
    %y = qat.requantize %acc {multiplier = array<i32: 1374389535>,
                              shift = array<i32: 40>, output_zero_point = -3 : i32}
        : tensor<8x16xi32> -> tensor<8x16xi8>
    ```
  }];
  let arguments = !con(
    (ins Qat_I32Tensor:$input, DenseI32ArrayAttr:$multiplier,
         DenseI32ArrayAttr:$shift,
         DefaultValuedAttr<I32Attr, "0">:$input_zero_point,
         DefaultValuedAttr<I32Attr, "0">:$output_zero_point),
    QatWideRangeAttrs, QatAxisAttr, QatRoundingAttr);
  let results = (outs Qat_IntTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let builders = [
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$input,
                   "::llvm::ArrayRef<int32_t>":$multipliers,
                   "::llvm::ArrayRef<int32_t>":$shifts,
                   "int32_t":$inputZeroPoint, "int32_t":$outputZeroPoint,
                   CArg<"const ::mlir::qat::QuantSpec &", "{}">:$spec), [{
      $_state.addOperands(input);
      $_state.addTypes(resultType);
      $_state.addAttribute(getMultiplierAttrName($_state.name),
                           $_builder.getDenseI32ArrayAttr(multipliers));
      $_state.addAttribute(getShiftAttrName($_state.name),
                           $_builder.getDenseI32ArrayAttr(shifts));
      if (inputZeroPoint != 0)
        $_state.addAttribute(getInputZeroPointAttrName($_state.name),
                             $_builder.getI32IntegerAttr(inputZeroPoint));
      if (outputZeroPoint != 0)
        $_state.addAttribute(getOutputZeroPointAttrName($_state.name),
                             $_builder.getI32IntegerAttr(outputZeroPoint));
      addQuantSpecAttrs<RequantizeOp>($_builder, $_state, spec);
    }]>
  ];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// observe / choose_qparams
//===----------------------------------------------------------------------===//

def Qat_ObserveOp : Qat_Op<"observe", [Pure, AllTypesMatch<["min", "max"]>]> {
  let summary = "minimum and maximum of a tensor, per tensor or per axis";
  let description = [{
    Returns the smallest and largest element of `input`: 0-D results
    per-tensor, or 1-D results of the `axis` dimension's size per-channel. A
    NaN element makes its channel's min and max NaN. Running statistics
    (moving averages across steps) are built from this op by the training
    step.

    Example:

    ```mlir
    %min, %max = qat.observe %x {axis = 1 : i64} : tensor<8x16xf32> -> tensor<16xf32>
    ```
  }];
  let arguments = !con((ins Qat_FloatTensor:$input), QatAxisAttr);
  let builders = [
    // min and max of `input`, per tensor or per channel along `axis`.
    OpBuilder<(ins "::mlir::Type":$rangeType, "::mlir::Value":$input,
                   CArg<"std::optional<uint64_t>", "std::nullopt">:$axis), [{
      $_state.addOperands(input);
      $_state.addTypes({rangeType, rangeType});
      if (axis)
        $_state.addAttribute(getAxisAttrName($_state.name),
                             $_builder.getI64IntegerAttr(*axis));
    }]>
  ];
  let results = (outs Qat_FloatTensor:$min, Qat_FloatTensor:$max);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($min)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Qat_ChooseQParamsOp : Qat_QuantOp<"choose_qparams", [
    AllTypesMatch<["min", "max", "scale"]>]> {
  let summary = "scale and zero point covering an observed range";
  let description = [{
    Elementwise over `min` and `max` (0-D, or 1-D per channel), as PyTorch's
    MinMaxObserver:

    ```
    min' = min(min, 0), max' = max(max, 0)       (the range always holds 0)
    symmetric: scale = max(-min', max') / ((qmax - qmin) / 2)
               zero_point = 0 if qmin < 0 else (qmin + qmax + 1) / 2
    affine:    scale = (max' - min') / (qmax - qmin)
               zero_point = clamp(qmin - round_half_even(min' / scale), qmin, qmax)
    scale = max(scale, eps)
    ```

    All arithmetic is binary32. `eps` (default: binary32 machine epsilon)
    keeps the scale positive for constant tensors. NaN bounds give a NaN
    scale (and zero_point = qmin when affine). The zero point result is an
    integer or float tensor of the scale's shape.

    Example:

    ```mlir
    %s, %z = qat.choose_qparams %min, %max {is_signed = false}
        : tensor<f32> -> tensor<i32>
    ```
  }];
  let arguments = !con(
    (ins Qat_FloatTensor:$min, Qat_FloatTensor:$max), QatRangeAttrs,
    (ins DefaultValuedAttr<BoolAttr, "false">:$symmetric,
         DefaultValuedAttr<F32Attr, "1.1920928955078125e-07">:$eps));
  let builders = [
    // The scale (of min's type) and zero point (`zeroPointType`) of the
    // range [min, max] for `spec`'s integer range (its axis and rounding
    // are not used), symmetric or affine.
    OpBuilder<(ins "::mlir::Value":$min, "::mlir::Value":$max,
                   "::mlir::Type":$zeroPointType,
                   "const ::mlir::qat::QuantSpec &":$spec, "bool":$symmetric), [{
      $_state.addOperands({min, max});
      $_state.addTypes({min.getType(), zeroPointType});
      addQuantSpecAttrs<ChooseQParamsOp, /*hasRounding=*/false,
                        /*hasAxis=*/false>($_builder, $_state, spec);
      if (symmetric)
        $_state.addAttribute(getSymmetricAttrName($_state.name),
                             $_builder.getBoolAttr(true));
    }]>
  ];
  let results = (outs Qat_FloatTensor:$scale, Qat_ZeroPointTensor:$zero_point);
  let assemblyFormat = [{
    $min `,` $max attr-dict `:` type($min) `->` type($zero_point)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// prune_mask
//===----------------------------------------------------------------------===//

def Qat_PruneMaskOp : Qat_Op<"prune_mask", [Pure, AllShapesMatch<["input", "mask"]>]> {
  let summary = "magnitude pruning mask, unstructured or N:M";
  let description = [{
    Returns `true` where an element of `input` is kept. Elements are ordered
    by magnitude |x| (NaN above +inf; -0 equals +0), ties by row-major index.

    * Unstructured (a `sparsity` operand, a 0-D tensor): the
      `floor(clamp(sparsity, 0, 1) * numel)` smallest elements in that order
      are pruned (a NaN sparsity prunes nothing). Lower indices are pruned
      first among equal magnitudes.
    * N:M (attributes `n`, `m`, `axis`): along `axis`, every run of `m`
      consecutive elements keeps its `n` largest; among equal magnitudes the
      higher index is kept. The `axis` dimension must be a multiple of `m`.
    * Block (a `sparsity` operand and a `block` attribute, one size per
      dimension, each dividing it): the tensor is tiled into blocks, each
      scored by the binary32 sum of its |x| in row-major order, and the
      `floor(clamp(sparsity, 0, 1) * blocks)` lowest-scoring blocks (ties:
      lower row-major block index first) are pruned whole.

    Example:

    ```mlir
    %keep = qat.prune_mask %w sparsity(%s : tensor<f32>) : tensor<64x64xf32> -> tensor<64x64xi1>
    %keep24 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 1 : i64}
        : tensor<64x64xf32> -> tensor<64x64xi1>
    %blocks = qat.prune_mask %w sparsity(%s : tensor<f32>) {block = array<i64: 4, 16>}
        : tensor<64x64xf32> -> tensor<64x64xi1>
    ```
  }];
  let arguments = (ins Qat_FloatTensor:$input,
                       Optional<0DTensorOf<[F32]>>:$sparsity,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$n,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$m,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$axis,
                       OptionalAttr<DenseI64ArrayAttr>:$block);
  let results = (outs Qat_MaskTensor:$mask);
  let assemblyFormat = [{
    $input (`sparsity` `(` $sparsity^ `:` type($sparsity) `)`)? attr-dict `:`
    type($input) `->` type($mask)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// apply_mask
//===----------------------------------------------------------------------===//

def Qat_ApplyMaskOp : Qat_Op<"apply_mask", [Pure,
    AllTypesMatch<["input", "result"]>, AllShapesMatch<["input", "mask"]>]> {
  let summary = "keep the elements a mask selects, +0.0 elsewhere";
  let description = [{
    `result[i] = mask[i] ? input[i] : +0.0`. `qat-prune` applies a
    `prune_mask` to a float weight with it, before the weight's
    fake-quant, so a pruned weight is exactly zero, and its integer code
    exactly the zero point (0 for symmetric weights). Its gradient is the
    incoming gradient where the mask is true and exactly 0 where it is
    false: pruned weights receive no gradient. With constant operands it
    folds to a constant (a frozen pruned weight).

    Example:

    ```mlir
    %keep = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 0 : i64}
        : tensor<64x32xf32> -> tensor<64x32xi1>
    %pruned = qat.apply_mask %w, %keep : tensor<64x32xf32>, tensor<64x32xi1>
    ```
  }];
  let arguments = (ins Qat_FloatTensor:$input, Qat_MaskTensor:$mask);
  let results = (outs Qat_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $mask attr-dict `:` type($input) `,` type($mask)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// straight_through
//===----------------------------------------------------------------------===//

def Qat_StraightThroughOp : Qat_Op<"straight_through", [Pure,
    AllTypesMatch<["gradient_path", "value", "result"]>]> {
  let summary = "the value of one operand with the gradient of another";
  let description = [{
    `result = value`. Reverse-mode differentiation (`qat-build-train-step`)
    passes the result's gradient to `gradient_path` unchanged and none to
    `value`: the forward computes `value`, the backward differentiates
    `gradient_path`. `qat-faithful` uses it to give a layer the output that
    deployment computes (exact integer arithmetic) while training keeps the
    straight-through estimator of the float simulation. Lowering forwards
    `value`; nothing folds it away before differentiation.

    Example:

    ```mlir
    %y = qat.straight_through %simulated, %exact : tensor<8x16xf32>
    ```
  }];
  let arguments = (ins Qat_FloatTensor:$gradient_path, Qat_FloatTensor:$value);
  let results = (outs Qat_FloatTensor:$result);
  let assemblyFormat = "$gradient_path `,` $value attr-dict `:` type($result)";
}

#endif // QAT_DIALECT_QAT_IR_QATOPS_TD
