// RUN: qat-opt %s --split-input-file --qat-expose-layers | FileCheck %s

// A QAT layer: its output fake-quant (after the epilogue) is returned as
// "layer:<name>".
// CHECK-LABEL: func.func @simulation(
// CHECK-SAME:    -> (tensor<2x3xf32>, tensor<2x3xf32> {qat.name = "layer:fc"})
// CHECK:         %[[R:.*]] = linalg.generic
// CHECK:         %[[Q:.*]] = qat.fake_quant %[[R]]
// CHECK:         return %[[Q]], %[[Q]]
func.func @simulation(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul {qat.layer = "fc"} ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %q = qat.fake_quant %r, %s, %z {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %q : tensor<2x3xf32>
}

// -----

// An integer layer (as qat-convert-to-integer leaves it): its codes,
// dequantized with the recorded scale and the stored zero point.
// CHECK-LABEL: func.func @deployment(
// CHECK-SAME:    -> (tensor<2x3xi8>, tensor<2x3xf32> {qat.name = "layer:fc"})
// CHECK-DAG:     %[[S:.*]] = arith.constant dense<2.500000e-01> : tensor<f32>
// CHECK-DAG:     %[[Z:.*]] = arith.constant dense<-128> : tensor<i32>
// CHECK-DAG:     %[[Y:.*]] = qat.requantize
// CHECK:         %[[D:.*]] = qat.dequantize %[[Y]], %[[S]], %[[Z]]
// CHECK:         return %[[Y]], %[[D]]
func.func @deployment(%acc: tensor<2x3xi32>) -> tensor<2x3xi8> {
  %y = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>, output_zero_point = -128 : i32, qat.layer = "fc", qat.scale = 2.500000e-01 : f32} : tensor<2x3xi32> -> tensor<2x3xi8>
  return %y : tensor<2x3xi8>
}
