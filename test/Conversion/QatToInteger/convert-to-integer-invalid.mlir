// Every reason qat-convert-to-integer refuses a layer is reported at the op
// that causes it, with what was expected; nothing changes. One case each
// (the matmul layer template: int8 input, per-tensor narrow int8 weights).
// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-convert-to-integer -o /dev/null

func.func @users(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: its output has several users before its fake-quant}}
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  %s = arith.addf %yq, %y : tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}

// -----

func.func @epilogue_exp(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: expected a bias add, ReLU, ReLU6 or clamp after the layer, or its output fake-quant}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @bias_after_clamp(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %bias = arith.constant dense<1.0> : tensor<3xf32>
  // expected-error @+1 {{cannot be converted to integers: expected a per-column bias before any clamp}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y, %bias : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.maximumf %a, %c0 : f32
    %s = arith.addf %r, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @bias_not_per_column(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %bias = arith.constant dense<1.0> : tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: the bias is not per column}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y, %bias : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @bias_argument(%x: tensor<2x4xf32>, %bias: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: the bias is not a constant (freeze it)}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y, %bias : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @epilogue_negative_scale(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %minus2 = arith.constant -2.0 : f32
  // expected-error @+1 {{cannot be converted to integers: expected a positive constant scale before any clamp}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %minus2 : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @init_bias_argument(%x: tensor<2x4xf32>, %bias: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.broadcast ins(%bias : tensor<3xf32>) outs(%e : tensor<2x3xf32>) dimensions = [0]
  // expected-error @+1 {{cannot be converted to integers: the bias is not a constant (freeze it)}}
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @input_not_quantized(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: its input must be fake-quantized (through padding, max pooling, slices, transposes, reshapes or concatenations of tensors on one grid only)}}
  %y = linalg.matmul ins(%x, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @weight_not_quantized(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: its weight must be fake-quantized}}
  %y = linalg.matmul ins(%xq, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @weight_asymmetric(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %zw = arith.constant dense<3> : tensor<i32>
  // expected-error @+1 {{cannot be converted to integers: weights must be signed and symmetric}}
  %wq = qat.fake_quant %w, %sw, %zw : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @weight_per_row(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %sr = arith.constant dense<1.0e-02> : tensor<4xf32>
  %zr = arith.constant dense<0> : tensor<4xi32>
  // expected-error @+1 {{cannot be converted to integers: per-channel weights must use the output channels}}
  %wq = qat.fake_quant %w, %sr, %zr {axis = 0 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<4xf32>, tensor<4xi32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @weight_argument(%x: tensor<2x4xf32>, %wa: tensor<4x3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  // expected-error @+1 {{cannot be converted to integers: the weight is not a constant (freeze it)}}
  %wq = qat.fake_quant %wa, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @rescale(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<1.0e-30> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: the rescale s_in * s_w / s_out}}
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}


// -----

// 1140000 products of 8-bit codes can exceed int32.
func.func @accumulator_overflow(%x: tensor<1x1140000xf32>) -> tensor<1x1xf32> attributes {qat.frozen} {
  %s = arith.constant dense<1.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %w = arith.constant dense<5.0e-01> : tensor<1140000x1xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %s, %z0 : tensor<1x1140000xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %s, %z0 {narrow_range = true} : tensor<1140000x1xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<1x1xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<1x1xf32>) -> tensor<1x1xf32>
  // expected-error @+1 {{cannot be converted to integers: an int32 accumulator could overflow (depth 1140000, bound}}
  %y = linalg.matmul ins(%xq, %wq : tensor<1x1140000xf32>, tensor<1140000x1xf32>) outs(%z : tensor<1x1xf32>) -> tensor<1x1xf32>
  %yq = qat.fake_quant %y, %s, %z0 : tensor<1x1xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<1x1xf32>
}

// -----

// expected-error @+1 {{'func.func' op has no layer to convert to integers}}
func.func @no_layer(%x: tensor<2x4xf32>) -> tensor<2x4xf32> attributes {qat.frozen} {
  %s = arith.constant dense<1.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %s, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  return %xq : tensor<2x4xf32>
}

// -----

// A frozen mask (qat-freeze's qat.mask) is checked against the codes: the
// weight 0.5 (code 50) sits where the mask prunes, in 2 places, the first at
// flat index 1; a code that rounds to 0 there (0.004, below half a step) is
// fine.
func.func @mask_broken(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %w = arith.constant dense<[[0.5, 0.5, 0.004], [0.0, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  // expected-error @+1 {{cannot be converted to integers: 2 weight codes are nonzero where the frozen mask prunes them (the first at flat index 1: code 50)}}
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true, qat.mask = dense<[[true, false, false], [false, true, true], [true, true, true], [true, true, false]]> : tensor<4x3xi1>} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @attention_float_operand(%x: tensor<2x3x4xf32>, %y: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> attributes {qat.frozen} {
  %c0 = arith.constant 0.0 : f32
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %a = qat.fake_quant %x, %s, %z : tensor<2x3x4xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3x5xf32>
  %f = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  // expected-error @+1 {{cannot be converted to integers: expected both operands fake-quantized}}
  %p = linalg.batch_matmul ins(%a, %y : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%f : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %pq = qat.fake_quant %p, %s, %z : tensor<2x3x5xf32>, tensor<f32>, tensor<i32>
  return %pq : tensor<2x3x5xf32>
}

// -----

func.func @attention_nonzero_init(%x: tensor<2x3x4xf32>, %y: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> attributes {qat.frozen} {
  %c1 = arith.constant 1.0 : f32
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %a = qat.fake_quant %x, %s, %z : tensor<2x3x4xf32>, tensor<f32>, tensor<i32>
  %b = qat.fake_quant %y, %s, %z : tensor<2x4x5xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3x5xf32>
  %f = linalg.fill ins(%c1 : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  // expected-error @+1 {{cannot be converted to integers: the accumulator of a matmul of two activations must start from zero}}
  %p = linalg.batch_matmul ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%f : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %pq = qat.fake_quant %p, %s, %z : tensor<2x3x5xf32>, tensor<f32>, tensor<i32>
  return %pq : tensor<2x3x5xf32>
}

// -----

func.func @attention_too_deep(%x: tensor<1x1x140000xf32>, %y: tensor<1x140000x1xf32>) -> tensor<1x1x1xf32> attributes {qat.frozen} {
  %c0 = arith.constant 0.0 : f32
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<128> : tensor<i32>
  %a = qat.fake_quant %x, %s, %z {is_signed = false} : tensor<1x1x140000xf32>, tensor<f32>, tensor<i32>
  %b = qat.fake_quant %y, %s, %z {is_signed = false} : tensor<1x140000x1xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<1x1x1xf32>
  %f = linalg.fill ins(%c0 : f32) outs(%e : tensor<1x1x1xf32>) -> tensor<1x1x1xf32>
  // expected-error @+1 {{cannot be converted to integers: an int32 accumulator could overflow (depth 140000, bound 2293760000)}}
  %p = linalg.batch_matmul ins(%a, %b : tensor<1x1x140000xf32>, tensor<1x140000x1xf32>) outs(%f : tensor<1x1x1xf32>) -> tensor<1x1x1xf32>
  %pq = qat.fake_quant %p, %s, %z {is_signed = false} : tensor<1x1x1xf32>, tensor<f32>, tensor<i32>
  return %pq : tensor<1x1x1xf32>
}
