// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-faithful | FileCheck %s

// Scales frozen, weight and bias still arguments: the integer form is built
// at run time beside the float layer. Weight codes by qat.quantize with the
// weight fake-quant's own parameters; column sums; the bias on the int32
// grid with scale s_x * s_w (0.02 * [0.01, 0.02, 0.04]); the accumulator
// initialised with bias - z_x * colsum (z_x = 128 - 128 = 0 here, the
// product still emitted); the requantize of qat-convert-to-integer; the
// output is its value, straight through to the float layer.

// CHECK-LABEL: func.func @layer(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<2x4xf32>, %[[W:[^:]*]]: tensor<4x3xf32>, %[[B:[^:]*]]: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.faithful, qat.frozen}
// CHECK:         %[[XQ:.*]] = qat.quantize %[[X]], {{.*}} -> tensor<2x4xi8>
// CHECK:         %[[WQ:.*]] = qat.quantize %[[W]], {{.*}} {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32> -> tensor<4x3xi8>
// CHECK:         %[[SUMS:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[WQ]] : tensor<4x3xi8>) outs(%{{.*}} : tensor<3xi32>)
// CHECK:         %[[BSCALE:.*]] = arith.constant dense<[2.000000e-04, 4.000000e-04, 8.000000e-04]> : tensor<3xf32>
// CHECK:         %[[BQ:.*]] = qat.quantize %[[B]], %[[BSCALE]], %{{.*}} {axis = 0 : i64, num_bits = 32 : i64} : tensor<3xf32>, tensor<3xf32>, tensor<3xi32> -> tensor<3xi32>
// CHECK:         %[[C:.*]] = linalg.generic {{.*}} ins(%[[BQ]], %[[SUMS]] : tensor<3xi32>, tensor<3xi32>)
// CHECK:         %[[INIT:.*]] = linalg.broadcast ins(%[[C]] : tensor<3xi32>)
// CHECK:         %[[ACC:.*]] = linalg.matmul ins(%[[XQ]], %[[WQ]] : tensor<2x4xi8>, tensor<4x3xi8>) outs(%[[INIT]] : tensor<2x3xi32>)
// CHECK:         %[[CODES:.*]] = qat.requantize %[[ACC]] {axis = 1 : i64, {{.*}}quant_min = -128 : i64{{.*}}} : tensor<2x3xi32> -> tensor<2x3xi8>
// The float layer is still there, for gradients.
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x4xf32>, tensor<4x3xf32>)
// CHECK:         %[[YQ:.*]] = qat.fake_quant
// CHECK:         %[[REAL:.*]] = qat.dequantize %[[CODES]]
// CHECK:         %[[Y:.*]] = qat.straight_through %[[YQ]], %[[REAL]] : tensor<2x3xf32>
// CHECK:         return %[[Y]]
func.func @layer(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %sx = arith.constant dense<0.02> : tensor<f32>
  %zx = arith.constant dense<128> : tensor<i32>
  %sw = arith.constant dense<[0.01, 0.02, 0.04]> : tensor<3xf32>
  %zw = arith.constant dense<0> : tensor<3xi32>
  %sy = arith.constant dense<0.05> : tensor<f32>
  %zy = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %zw {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %r, %sy, %zy {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

// Two trained biases: their codes do not add up to the codes of their sum.
func.func @two_biases(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>, %c: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %s = arith.constant dense<0.02> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %s, %z : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %s, %z {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be simulated faithfully: several biases that are not constants}}
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b, %c : tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %bb: f32, %cc: f32, %o: f32):
    %t = arith.addf %a, %bb : f32
    %u = arith.addf %t, %cc : f32
    linalg.yield %u : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %r, %s, %z : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}
