// RUN: qat-opt %s -split-input-file -canonicalize | FileCheck %s
//
// Folders evaluate qat ops on constants with the reference library. The
// expected values below are derived by hand from the formulas in QatOps.td.

// CHECK-LABEL: func @fold_fake_quant
func.func @fold_fake_quant() -> tensor<4xf32> {
  // round(x / 0.5) = [0 (tie to even), 2 (tie to even), 200 -> 127, -3]
  // CHECK: %[[C:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00, 6.350000e+01, -1.500000e+00]> : tensor<4xf32>
  // CHECK-NOT: qat.fake_quant
  // CHECK: return %[[C]]
  %x = arith.constant dense<[0.25, 0.75, 100.0, -1.4]> : tensor<4xf32>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func @fold_fake_quant_per_channel
func.func @fold_fake_quant_per_channel() -> tensor<2x2xf32> {
  // Unsigned 4-bit, [0, 15]. Row 0: s = 1, z = 0 -> codes [1, -2 -> 0]
  // -> [1, 0]; row 1: s = 0.25, z = 2 -> codes [2 + 12, 2 - 12 -> 0]
  // -> [3, -0.5].
  // CHECK: arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [3.000000e+00, -5.000000e-01]]> : tensor<2x2xf32>
  %x = arith.constant dense<[[1.2, -2.4], [3.0, -3.0]]> : tensor<2x2xf32>
  %s = arith.constant dense<[1.0, 0.25]> : tensor<2xf32>
  %z = arith.constant dense<[0.0, 2.0]> : tensor<2xf32>
  %0 = qat.fake_quant %x, %s, %z {axis = 0 : i64, num_bits = 4 : i64, is_signed = false}
      : tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// A zero scale is not folded: its result is left to the compiled code.
// CHECK-LABEL: func @no_fold_zero_scale
func.func @no_fold_zero_scale() -> tensor<2xf32> {
  // CHECK: qat.fake_quant
  %x = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %s = arith.constant dense<0.0> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %0 = qat.fake_quant %x, %s, %z : tensor<2xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<2xf32>
}

// -----

// CHECK-LABEL: func @no_fold_non_constant
func.func @no_fold_non_constant(%x: tensor<2xf32>) -> tensor<2xf32> {
  // CHECK: qat.fake_quant
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %0 = qat.fake_quant %x, %s, %z : tensor<2xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<2xf32>
}

// -----

// CHECK-LABEL: func @fold_quantize_of_dequantize
// CHECK-SAME: (%[[Q:.*]]: tensor<8xi8>)
func.func @fold_quantize_of_dequantize(%q: tensor<8xi8>) -> tensor<8xi8> {
  // CHECK-NOT: qat.
  // CHECK: return %[[Q]]
  %s = arith.constant dense<0.0173> : tensor<f32>
  %z = arith.constant dense<-3> : tensor<i32>
  %x = qat.dequantize %q, %s, %z : tensor<8xi8>, tensor<f32>, tensor<i32> -> tensor<8xf32>
  %r = qat.quantize %x, %s, %z : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// Truncation can turn (q - z) * s / s = q - 1e-7 into q - 1: not an identity.
// CHECK-LABEL: func @no_fold_quantize_of_dequantize_toward_zero
func.func @no_fold_quantize_of_dequantize_toward_zero(%q: tensor<8xi8>) -> tensor<8xi8> {
  // CHECK: qat.dequantize
  // CHECK: qat.quantize
  %s = arith.constant dense<0.0173> : tensor<f32>
  %z = arith.constant dense<-3> : tensor<i32>
  %x = qat.dequantize %q, %s, %z : tensor<8xi8>, tensor<f32>, tensor<i32> -> tensor<8xf32>
  %r = qat.quantize %x, %s, %z {rounding = #qat<rounding toward_zero>} : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// A narrower range clamps codes the dequantize can produce.
// CHECK-LABEL: func @no_fold_quantize_of_dequantize_other_range
func.func @no_fold_quantize_of_dequantize_other_range(%q: tensor<8xi8>) -> tensor<8xi8> {
  // CHECK: qat.quantize
  %s = arith.constant dense<0.0173> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %x = qat.dequantize %q, %s, %z : tensor<8xi8>, tensor<f32>, tensor<i32> -> tensor<8xf32>
  %r = qat.quantize %x, %s, %z {narrow_range = true} : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// A scale that is not a known constant may make (q - z) * s overflow.
// CHECK-LABEL: func @no_fold_quantize_of_dequantize_unknown_scale
func.func @no_fold_quantize_of_dequantize_unknown_scale(%q: tensor<8xi8>, %s: tensor<f32>) -> tensor<8xi8> {
  // CHECK: qat.quantize
  %z = arith.constant dense<0> : tensor<i32>
  %x = qat.dequantize %q, %s, %z : tensor<8xi8>, tensor<f32>, tensor<i32> -> tensor<8xf32>
  %r = qat.quantize %x, %s, %z : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi8>
  return %r : tensor<8xi8>
}

// -----

// CHECK-LABEL: func @fold_quantize_and_dequantize_unsigned
func.func @fold_quantize_and_dequantize_unsigned() -> (tensor<3xi8>, tensor<3xf32>) {
  // Codes 0.1 / 0.1 + 100 = 101, 10 / 0.1 + 100 = 200 (stored as -56 in i8),
  // -20 / 0.1 + 100 = -100 -> 0.
  // CHECK-DAG: arith.constant dense<[101, -56, 0]> : tensor<3xi8>
  // Reading [255, 1, 128] unsigned with z = 100, s = 0.5: [77.5, -49.5, 14].
  // CHECK-DAG: arith.constant dense<[7.750000e+01, -4.950000e+01, 1.400000e+01]> : tensor<3xf32>
  %x = arith.constant dense<[0.1, 10.0, -20.0]> : tensor<3xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %z = arith.constant dense<100> : tensor<i32>
  %q = qat.quantize %x, %s, %z {is_signed = false} : tensor<3xf32>, tensor<f32>, tensor<i32> -> tensor<3xi8>
  %c = arith.constant dense<[-1, 1, -128]> : tensor<3xi8>
  %h = arith.constant dense<0.5> : tensor<f32>
  %d = qat.dequantize %c, %h, %z {is_signed = false} : tensor<3xi8>, tensor<f32>, tensor<i32> -> tensor<3xf32>
  return %q, %d : tensor<3xi8>, tensor<3xf32>
}

// -----

// CHECK-LABEL: func @fold_requantize
func.func @fold_requantize() -> tensor<4xi8> {
  // M = 2^30 * 2^-31 = 1/2, ties to even: [2, 4, -2, 1000 -> 127]; the
  // output zero point 1 is added after rounding.
  // CHECK: arith.constant dense<[3, 5, -1, 127]> : tensor<4xi8>
  %acc = arith.constant dense<[5, 7, -5, 2000]> : tensor<4xi32>
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>,
                            output_zero_point = 1 : i32} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

// CHECK-LABEL: func @fold_observe_and_choose_qparams
func.func @fold_observe_and_choose_qparams() -> (tensor<f32>, tensor<i32>) {
  // min -1, max 3, affine uint8: s = 4 / 255, z = round(255 / 4) = 64.
  // CHECK-DAG: arith.constant dense<0.0156862754> : tensor<f32>
  // CHECK-DAG: arith.constant dense<64> : tensor<i32>
  // CHECK-NOT: qat.
  %x = arith.constant dense<[0.5, -1.0, 3.0, 2.0]> : tensor<4xf32>
  %min, %max = qat.observe %x : tensor<4xf32> -> tensor<f32>
  %s, %z = qat.choose_qparams %min, %max {is_signed = false} : tensor<f32> -> tensor<i32>
  return %s, %z : tensor<f32>, tensor<i32>
}

// -----

// CHECK-LABEL: func @fold_fake_quant_grad
func.func @fold_fake_quant_grad() -> (tensor<3xf32>, tensor<f32>, tensor<f32>) {
  // s = 1, z = 0, int8: 0.25 is inside (dScale += (0 - 0.25) * 1), 200 is
  // above (dScale += 127 * 2, dZeroPoint += -1 * 2), -300 below
  // (dScale += -128 * 1, dZeroPoint += -1).
  // CHECK-DAG: arith.constant dense<[1.000000e+00, 0.000000e+00, 0.000000e+00]> : tensor<3xf32>
  // CHECK-DAG: arith.constant dense<1.257500e+02> : tensor<f32>
  // CHECK-DAG: arith.constant dense<-3.000000e+00> : tensor<f32>
  %x = arith.constant dense<[0.25, 200.0, -300.0]> : tensor<3xf32>
  %dy = arith.constant dense<[1.0, 2.0, 1.0]> : tensor<3xf32>
  %s = arith.constant dense<1.0> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy : tensor<3xf32>, tensor<f32>, tensor<i32>
  return %dx, %ds, %dz : tensor<3xf32>, tensor<f32>, tensor<f32>
}

// -----

// CHECK-LABEL: func @fold_prune_mask
func.func @fold_prune_mask() -> (tensor<2x4xi1>, tensor<2x4xi1>) {
  // A quarter of 8 pruned: the two elements with |w| = 0.1.
  // CHECK-DAG: arith.constant dense<{{\[}}[true, false, true, true], [false, true, true, true]]> : tensor<2x4xi1>
  // 1:2 along axis 1 keeps the larger of each pair.
  // CHECK-DAG: arith.constant dense<{{\[}}[true, false, true, false], [false, true, true, false]]> : tensor<2x4xi1>
  %w = arith.constant dense<[[0.9, 0.1, -0.8, 0.3], [-0.1, 0.5, -0.7, 0.2]]> : tensor<2x4xf32>
  %quarter = arith.constant dense<0.25> : tensor<f32>
  %m = qat.prune_mask %w sparsity(%quarter : tensor<f32>) : tensor<2x4xf32> -> tensor<2x4xi1>
  %nm = qat.prune_mask %w {n = 1 : i64, m = 2 : i64, axis = 1 : i64} : tensor<2x4xf32> -> tensor<2x4xi1>
  return %m, %nm : tensor<2x4xi1>, tensor<2x4xi1>
}

// -----

// Blocks of 1x2 scored by their sums of |w| (1.0, 1.1 / 0.6, 0.9): a
// quarter of the 4 blocks pruned is the one of 0.6, whole.
// CHECK-LABEL: func @fold_block_prune_mask
// CHECK: arith.constant dense<{{\[}}[true, true, true, true], [false, false, true, true]]> : tensor<2x4xi1>
func.func @fold_block_prune_mask() -> tensor<2x4xi1> {
  %w = arith.constant dense<[[0.9, 0.1, -0.8, 0.3], [-0.1, 0.5, -0.7, 0.2]]> : tensor<2x4xf32>
  %quarter = arith.constant dense<0.25> : tensor<f32>
  %m = qat.prune_mask %w sparsity(%quarter : tensor<f32>) {block = array<i64: 1, 2>} : tensor<2x4xf32> -> tensor<2x4xi1>
  return %m : tensor<2x4xi1>
}

// -----

// apply_mask of constants is the pruned constant (+0.0 where the mask is
// false); an all-true mask is the input itself.
// CHECK-LABEL: func @fold_apply_mask
// CHECK-DAG:   %[[P:.*]] = arith.constant dense<{{\[}}[0.899999976, 0.000000e+00, -8.000000e-01, 0.000000e+00], [0.000000e+00, 5.000000e-01, -0.699999988, 0.000000e+00]]> : tensor<2x4xf32>
// CHECK:       return %[[P]], %arg0
func.func @fold_apply_mask(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = arith.constant dense<[[0.9, 0.1, -0.8, 0.3], [-0.1, 0.5, -0.7, 0.2]]> : tensor<2x4xf32>
  %nm = qat.prune_mask %w {n = 1 : i64, m = 2 : i64, axis = 1 : i64} : tensor<2x4xf32> -> tensor<2x4xi1>
  %p = qat.apply_mask %w, %nm : tensor<2x4xf32>, tensor<2x4xi1>
  %all = arith.constant dense<true> : tensor<2x4xi1>
  %same = qat.apply_mask %x, %all : tensor<2x4xf32>, tensor<2x4xi1>
  return %p, %same : tensor<2x4xf32>, tensor<2x4xf32>
}
