// A layer whose activation range collapsed to a point (a scale at its floor,
// from calibration data that never reached it) would deploy as a constant:
// an error naming the layer, unless allow-collapsed-ranges.
// RUN: qat-opt %s --verify-diagnostics --qat-convert-to-integer -o /dev/null
// RUN: qat-opt %s --qat-convert-to-integer=allow-collapsed-ranges=true | FileCheck %s
// RUN: qat-opt %s --qat-deploy-pipeline=allow-collapsed-ranges=true | FileCheck %s

// CHECK-LABEL: func.func @collapsed
// CHECK: qat.requantize
func.func @collapsed(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sx = arith.constant dense<2.0e-02> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<1.0e-02> : tensor<f32>
  %sy = arith.constant dense<1.1920929e-07> : tensor<f32>
  %w = arith.constant dense<5.0e-01> : tensor<4x3xf32>
  %c0 = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %sx, %z0 : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %z0 {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul {qat.layer = "fc1"} ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%z : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{layer 'fc1': its output range collapsed to a point (scale 1.192093e-07, the floor), so it would deploy as a constant; calibrate on data that reaches it, or convert with allow-collapsed-ranges}}
  %yq = qat.fake_quant %y, %sy, %z0 : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}
