// RUN: qat-opt %s | qat-opt | FileCheck %s
// RUN: qat-opt %s --mlir-print-op-generic | qat-opt | FileCheck %s

// CHECK-LABEL: func @fake_quant_per_tensor
func.func @fake_quant_per_tensor(%x: tensor<4x8xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4x8xf32> {
  // CHECK: qat.fake_quant %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<f32>, tensor<i32>
  %0 = qat.fake_quant %x, %s, %z : tensor<4x8xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func @fake_quant_every_attribute
func.func @fake_quant_every_attribute(%x: tensor<?x3x3x8xf32>, %s: tensor<8xf32>, %z: tensor<8xf32>) -> tensor<?x3x3x8xf32> {
  // CHECK: qat.fake_quant %{{.*}} {axis = 3 : i64, is_signed = false, narrow_range = true, num_bits = 4 : i64, quant_max = 12 : i64, quant_min = 2 : i64, rounding = #qat<rounding half_away_from_zero>} : tensor<?x3x3x8xf32>, tensor<8xf32>, tensor<8xf32>
  %0 = qat.fake_quant %x, %s, %z {axis = 3 : i64, num_bits = 4 : i64, is_signed = false, narrow_range = true,
                                  quant_min = 2 : i64, quant_max = 12 : i64,
                                  rounding = #qat<rounding half_away_from_zero>}
      : tensor<?x3x3x8xf32>, tensor<8xf32>, tensor<8xf32>
  return %0 : tensor<?x3x3x8xf32>
}

// Default-valued attributes are elided when printing.
// CHECK-LABEL: func @fake_quant_defaults_elided
func.func @fake_quant_defaults_elided(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<4xf32> {
  // CHECK: qat.fake_quant %{{.*}}, %{{.*}}, %{{.*}} : tensor<4xf32>
  %0 = qat.fake_quant %x, %s, %z {num_bits = 8 : i64, is_signed = true, narrow_range = false,
                                  rounding = #qat<rounding half_to_even>} : tensor<4xf32>, tensor<f32>, tensor<i8>
  return %0 : tensor<4xf32>
}

// CHECK-LABEL: func @fake_quant_grad
func.func @fake_quant_grad(%x: tensor<4x8xf32>, %s: tensor<8xf32>, %z: tensor<8xf32>, %dy: tensor<4x8xf32>)
    -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) {
  // CHECK: %{{.*}}, %{{.*}}, %{{.*}} = qat.fake_quant_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, grad_factor = 2.500000e-01 : f32, rounding = #qat<rounding toward_zero>} : tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>
  %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy {axis = 1 : i64, grad_factor = 0.25 : f32,
                                                      rounding = #qat<rounding toward_zero>}
      : tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>
  return %dx, %ds, %dz : tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>
}

// CHECK-LABEL: func @quantize_dequantize
func.func @quantize_dequantize(%x: tensor<2x3xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<2x3xf32> {
  // CHECK: %[[Q:.*]] = qat.quantize %{{.*}} {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32> -> tensor<2x3xi8>
  %q = qat.quantize %x, %s, %z {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32> -> tensor<2x3xi8>
  // CHECK: qat.dequantize %[[Q]], {{.*}} {is_signed = false} : tensor<2x3xi8>, tensor<f32>, tensor<i32> -> tensor<2x3xf32>
  %d = qat.dequantize %q, %s, %z {is_signed = false} : tensor<2x3xi8>, tensor<f32>, tensor<i32> -> tensor<2x3xf32>
  return %d : tensor<2x3xf32>
}

// CHECK-LABEL: func @quantize_int4_storage
func.func @quantize_int4_storage(%x: tensor<8xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<8xi4> {
  // CHECK: qat.quantize {{.*}} {num_bits = 4 : i64} : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi4>
  %q = qat.quantize %x, %s, %z {num_bits = 4 : i64} : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi4>
  return %q : tensor<8xi4>
}

// CHECK-LABEL: func @requantize
func.func @requantize(%acc: tensor<4x3xi32>) -> (tensor<4x3xi8>, tensor<4x3xi8>) {
  // CHECK: qat.requantize %{{.*}} {multiplier = array<i32: 1759218604>, output_zero_point = -3 : i32, quant_min = -3 : i64, shift = array<i32: 40>} : tensor<4x3xi32> -> tensor<4x3xi8>
  %0 = qat.requantize %acc {multiplier = array<i32: 1759218604>, shift = array<i32: 40>,
                            output_zero_point = -3 : i32, quant_min = -3 : i64} : tensor<4x3xi32> -> tensor<4x3xi8>
  // CHECK: qat.requantize %{{.*}} {axis = 1 : i64, input_zero_point = 7 : i32, multiplier = array<i32: 1073741824, 1500000000, 2000000000>, rounding = #qat<rounding half_up>, shift = array<i32: 31, 35, 0>} : tensor<4x3xi32> -> tensor<4x3xi8>
  %1 = qat.requantize %acc {axis = 1 : i64, input_zero_point = 7 : i32,
                            multiplier = array<i32: 1073741824, 1500000000, 2000000000>,
                            shift = array<i32: 31, 35, 0>, rounding = #qat<rounding half_up>}
      : tensor<4x3xi32> -> tensor<4x3xi8>
  return %0, %1 : tensor<4x3xi8>, tensor<4x3xi8>
}

// CHECK-LABEL: func @observe_and_choose_qparams
func.func @observe_and_choose_qparams(%x: tensor<16x?xf32>) -> (tensor<f32>, tensor<i32>, tensor<16xf32>, tensor<16xf32>) {
  // CHECK: %[[MIN:.*]], %[[MAX:.*]] = qat.observe %{{.*}} : tensor<16x?xf32> -> tensor<f32>
  %min, %max = qat.observe %x : tensor<16x?xf32> -> tensor<f32>
  // CHECK: qat.choose_qparams %[[MIN]], %[[MAX]] {is_signed = false} : tensor<f32> -> tensor<i32>
  %s, %z = qat.choose_qparams %min, %max {is_signed = false} : tensor<f32> -> tensor<i32>
  // CHECK: qat.observe %{{.*}} {axis = 0 : i64} : tensor<16x?xf32> -> tensor<16xf32>
  %cmin, %cmax = qat.observe %x {axis = 0 : i64} : tensor<16x?xf32> -> tensor<16xf32>
  // CHECK: qat.choose_qparams {{.*}} {eps = 1.000000e-03 : f32, narrow_range = true, symmetric = true} : tensor<16xf32> -> tensor<16xf32>
  %cs, %cz = qat.choose_qparams %cmin, %cmax {symmetric = true, narrow_range = true, eps = 1.0e-3 : f32}
      : tensor<16xf32> -> tensor<16xf32>
  return %s, %z, %cs, %cz : tensor<f32>, tensor<i32>, tensor<16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func @prune_mask
func.func @prune_mask(%w: tensor<64x64xf32>, %sparsity: tensor<f32>) -> (tensor<64x64xi1>, tensor<64x64xi1>) {
  // CHECK: qat.prune_mask %{{.*}} sparsity(%{{.*}} : tensor<f32>) : tensor<64x64xf32> -> tensor<64x64xi1>
  %0 = qat.prune_mask %w sparsity(%sparsity : tensor<f32>) : tensor<64x64xf32> -> tensor<64x64xi1>
  // CHECK: qat.prune_mask %{{.*}} {axis = 1 : i64, m = 4 : i64, n = 2 : i64} : tensor<64x64xf32> -> tensor<64x64xi1>
  %1 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 1 : i64} : tensor<64x64xf32> -> tensor<64x64xi1>
  return %0, %1 : tensor<64x64xi1>, tensor<64x64xi1>
}

// CHECK-LABEL: func @apply_mask
func.func @apply_mask(%w: tensor<64x64xf32>, %keep: tensor<64x64xi1>) -> tensor<64x64xf32> {
  // CHECK: qat.apply_mask %{{.*}}, %{{.*}} : tensor<64x64xf32>, tensor<64x64xi1>
  %0 = qat.apply_mask %w, %keep : tensor<64x64xf32>, tensor<64x64xi1>
  return %0 : tensor<64x64xf32>
}

// CHECK-LABEL: func @straight_through_and_wide_quantize
func.func @straight_through_and_wide_quantize(%a: tensor<4xf32>, %b: tensor<4xf32>, %s: tensor<4xf32>, %z: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) {
  // CHECK: qat.straight_through %{{.*}}, %{{.*}} : tensor<4xf32>
  %0 = qat.straight_through %a, %b : tensor<4xf32>
  // CHECK: qat.quantize %{{.*}} {axis = 0 : i64, num_bits = 32 : i64} : tensor<4xf32>, tensor<4xf32>, tensor<4xi32> -> tensor<4xi32>
  %1 = qat.quantize %b, %s, %z {axis = 0 : i64, num_bits = 32 : i64} : tensor<4xf32>, tensor<4xf32>, tensor<4xi32> -> tensor<4xi32>
  return %0, %1 : tensor<4xf32>, tensor<4xi32>
}
