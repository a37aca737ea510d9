// qat-faithful refuses what it cannot simulate bit for bit, at the op, and
// leaves the function unchanged.
// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-faithful -o /dev/null

func.func @trained_and_constant_bias(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %bias = arith.constant dense<1.0> : tensor<3xf32>
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %init = linalg.broadcast ins(%b : tensor<3xf32>) outs(%e : tensor<2x3xf32>) dimensions = [0]
  // expected-error @+1 {{cannot be converted to integers: cannot be simulated faithfully: a trained bias and a constant one}}
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y, %bias : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @two_trained_biases(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b1: tensor<3xf32>, %b2: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<5.0e-02> : tensor<f32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be simulated faithfully: several biases that are not constants}}
  %g = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%y, %b1, %b2 : tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %d: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    %t = arith.addf %s, %d : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %g, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}
