// RUN: qat-opt %s -split-input-file --convert-qat-to-linalg | FileCheck %s
//
// The shape of the lowering: maps, iterators and the arithmetic that carries
// the semantics. Values are checked by test/Integration.

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func @fake_quant_per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[S:.*]]: tensor<f32>, %[[Z:.*]]: tensor<i32>)
func.func @fake_quant_per_tensor(%x: tensor<4x8xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4x8xf32> {
  // CHECK: %[[INIT:.*]] = tensor.empty() : tensor<4x8xf32>
  // CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[SCALAR]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
  // CHECK-SAME: ins(%[[X]], %[[S]], %[[Z]] : tensor<4x8xf32>, tensor<f32>, tensor<i32>) outs(%[[INIT]] : tensor<4x8xf32>)
  // CHECK: ^bb0(%[[XI:.*]]: f32, %[[SI:.*]]: f32, %[[ZI:.*]]: i32, %{{.*}}: f32):
  // The zero point is clamped to [-128, 127] as an integer.
  // CHECK: arith.extsi %[[ZI]] : i32 to i64
  // CHECK: arith.maxsi
  // CHECK: arith.minsi
  // CHECK: %[[ZF:.*]] = arith.sitofp
  // Division, not multiplication by the reciprocal; ties to even.
  // CHECK: %[[DIV:.*]] = arith.divf %[[XI]], %[[SI]] : f32
  // CHECK: %[[R:.*]] = math.roundeven %[[DIV]] : f32
  // CHECK: %[[V:.*]] = arith.addf %[[R]], %[[ZF]] : f32
  // CHECK: %[[LO:.*]] = arith.maxnumf %[[V]]
  // CHECK: %[[Q:.*]] = arith.minnumf %[[LO]]
  // A NaN quotient (0 / 0, a NaN scale) has the zero point's code.
  // CHECK: %[[NQ:.*]] = arith.cmpf uno, %[[DIV]], %[[DIV]] : f32
  // CHECK: %[[C:.*]] = arith.select %[[NQ]], %[[ZF]], %[[Q]] : f32
  // CHECK: %[[D:.*]] = arith.subf %[[C]], %[[ZF]] : f32
  // CHECK: %[[Y:.*]] = arith.mulf %[[D]], %[[SI]] : f32
  // NaN propagates.
  // CHECK: %[[NAN:.*]] = arith.cmpf uno, %[[XI]], %[[XI]] : f32
  // CHECK: %[[OUT:.*]] = arith.select %[[NAN]], %[[XI]], %[[Y]] : f32
  // CHECK: linalg.yield %[[OUT]] : f32
  %0 = qat.fake_quant %x, %s, %z : tensor<4x8xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[CH:.*]] = affine_map<(d0, d1, d2) -> (d1)>
// CHECK-LABEL: func @fake_quant_per_channel_dynamic
func.func @fake_quant_per_channel_dynamic(%x: tensor<?x8x?xf32>, %s: tensor<8xf32>, %z: tensor<8xf32>) -> tensor<?x8x?xf32> {
  // CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
  // CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
  // CHECK-DAG: %[[D0:.*]] = tensor.dim %{{.*}}, %[[C0]]
  // CHECK-DAG: %[[D2:.*]] = tensor.dim %{{.*}}, %[[C2]]
  // CHECK: tensor.empty(%[[D0]], %[[D2]]) : tensor<?x8x?xf32>
  // CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[CH]], #[[CH]], #[[ID]]]
  // A float zero point is rounded half to even and clamped as a float.
  // CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: f32, %[[ZI:.*]]: f32, %{{.*}}: f32):
  // CHECK: %[[ZR:.*]] = math.roundeven %[[ZI]]
  // CHECK: arith.maxnumf %[[ZR]]
  // Half away from zero rounds the quotient with math.round.
  // CHECK: arith.divf
  // CHECK-NEXT: math.round %{{.*}} : f32
  %0 = qat.fake_quant %x, %s, %z {axis = 1 : i64, rounding = #qat<rounding half_away_from_zero>}
      : tensor<?x8x?xf32>, tensor<8xf32>, tensor<8xf32>
  return %0 : tensor<?x8x?xf32>
}

// -----

// CHECK-LABEL: func @fake_quant_half_up
func.func @fake_quant_half_up(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // floor(v) + (v - floor(v) >= 1/2), keeping the sign of zero.
  // CHECK: %[[V:.*]] = arith.divf
  // CHECK: %[[F:.*]] = math.floor %[[V]] : f32
  // CHECK: %[[FR:.*]] = arith.subf %[[V]], %[[F]] : f32
  // CHECK: %[[UP:.*]] = arith.cmpf oge, %[[FR]], %{{.*}} : f32
  // CHECK: %[[R:.*]] = arith.select %[[UP]]
  // CHECK: math.copysign %[[R]], %[[V]] : f32
  %0 = qat.fake_quant %x, %s, %z {rounding = #qat<rounding half_up>} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func @quantize_unsigned_toward_zero
func.func @quantize_unsigned_toward_zero(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xi8> {
  // CHECK: math.trunc
  // A NaN quotient (NaN x, 0 / 0, a NaN scale) quantizes to the zero point.
  // CHECK: %[[NQ:.*]] = arith.cmpf uno
  // CHECK: %[[C:.*]] = arith.select %[[NQ]], %{{.*}}, %{{.*}} : f32
  // CHECK: %[[F:.*]] = arith.fptosi %[[C]] : f32 to i64
  // Clamped again in integers (wide ranges round in binary32).
  // CHECK: %[[LO:.*]] = arith.maxsi %[[F]], %{{.*}} : i64
  // CHECK: %[[Q:.*]] = arith.minsi %[[LO]], %{{.*}} : i64
  // CHECK: %[[T:.*]] = arith.trunci %[[Q]] : i64 to i8
  // CHECK: linalg.yield %[[T]] : i8
  %0 = qat.quantize %x, %s, %z {is_signed = false, rounding = #qat<rounding toward_zero>}
      : tensor<4xf32>, tensor<f32>, tensor<i32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

// CHECK-LABEL: func @dequantize_unsigned
func.func @dequantize_unsigned(%q: tensor<4xi8>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // CHECK: ^bb0(%[[QI:.*]]: i8, %[[SI:.*]]: f32, %{{.*}}: i32, %{{.*}}: f32):
  // (q - z) exactly in i64, then one rounding to f32.
  // CHECK: %[[Q64:.*]] = arith.extui %[[QI]] : i8 to i64
  // CHECK: %[[D:.*]] = arith.subi %[[Q64]], %{{.*}} : i64
  // CHECK: %[[DF:.*]] = arith.sitofp %[[D]] : i64 to f32
  // CHECK: arith.mulf %[[DF]], %[[SI]] : f32
  %0 = qat.dequantize %q, %s, %z {is_signed = false} : tensor<4xi8>, tensor<f32>, tensor<i32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[CH:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func @fake_quant_grad_per_channel
func.func @fake_quant_grad_per_channel(%x: tensor<3x5xf32>, %s: tensor<3xf32>, %z: tensor<3xi32>, %dy: tensor<3x5xf32>)
    -> (tensor<3x5xf32>, tensor<3xf32>, tensor<3xf32>) {
  // Per element: dx and the two contributions.
  // CHECK: %[[E:.*]]:3 = linalg.generic {indexing_maps = [#[[ID]], #[[CH]], #[[CH]], #[[ID]], #[[ID]], #[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
  // CHECK: arith.cmpf olt
  // CHECK: arith.cmpf ogt
  // CHECK: arith.negf
  // Then a reduction over all but the channel axis, from zero.
  // CHECK: %[[ZERO:.*]] = linalg.fill
  // CHECK: %[[SUM:.*]]:2 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[CH]], #[[CH]]], iterator_types = ["parallel", "reduction"]}
  // CHECK-SAME: ins(%[[E]]#1, %[[E]]#2 : tensor<3x5xf32>, tensor<3x5xf32>) outs(%[[ZERO]], %[[ZERO]] : tensor<3xf32>, tensor<3xf32>)
  // CHECK: return %[[E]]#0, %[[SUM]]#0, %[[SUM]]#1
  %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy {axis = 0 : i64} : tensor<3x5xf32>, tensor<3xf32>, tensor<3xi32>
  return %dx, %ds, %dz : tensor<3x5xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[CH:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func @requantize_per_channel
func.func @requantize_per_channel(%acc: tensor<4x2xi32>) -> tensor<4x2xi8> {
  // Ties to even with no input zero point: multiplier, shift, rounding bias
  // 2^(shift-1) - 1 and odd-quotient bit per channel (a zero shift: neither),
  // the rounding an addition before the shift:
  // (p + bias + ((p >> s) & odd)) >> s.
  // CHECK-DAG: %[[M:.*]] = arith.constant dense<[1073741824, 2000000000]> : tensor<2xi64>
  // CHECK-DAG: %[[SH:.*]] = arith.constant dense<[31, 0]> : tensor<2xi64>
  // CHECK-DAG: %[[BIAS:.*]] = arith.constant dense<[1073741823, 0]> : tensor<2xi64>
  // CHECK-DAG: %[[ODD:.*]] = arith.constant dense<[1, 0]> : tensor<2xi64>
  // CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[CH]], #[[CH]], #[[CH]], #[[CH]], #[[ID]]]
  // CHECK-SAME: ins(%{{.*}}, %[[M]], %[[SH]], %[[BIAS]], %[[ODD]] :
  // CHECK: ^bb0(%{{.*}}: i32, %{{.*}}: i64, %[[S:.*]]: i64, %[[B:.*]]: i64, %[[O:.*]]: i64, %{{.*}}: i8):
  // CHECK: %[[P:.*]] = arith.muli
  // CHECK: %[[PB:.*]] = arith.addi %[[P]], %[[B]] : i64
  // CHECK: %[[Q:.*]] = arith.shrsi %[[P]], %[[S]] : i64
  // CHECK: %[[BIT:.*]] = arith.andi %[[Q]], %[[O]] : i64
  // CHECK: %[[SUM:.*]] = arith.addi %[[PB]], %[[BIT]] : i64
  // CHECK: arith.shrsi %[[SUM]], %[[S]] : i64
  // No int32 saturation (the 8-bit clamp is within it): add the zero point,
  // clamp to the 8-bit range.
  // CHECK-NOT: arith.constant -2147483648 : i64
  // CHECK: arith.constant -4 : i64
  // CHECK: arith.constant -128 : i64
  // CHECK: arith.constant 127 : i64
  // CHECK: arith.trunci %{{.*}} : i64 to i8
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824, 2000000000>,
                            shift = array<i32: 31, 0>, output_zero_point = -4 : i32}
      : tensor<4x2xi32> -> tensor<4x2xi8>
  return %0 : tensor<4x2xi8>
}

// -----

// Every shift 33 or more (a rescale below 1/2): the high-word form, all in
// int32. Per channel: multiplier, t = shift - 32, the rounding bias
// 2^(t-1), the quotient's parity bit 2^t and the mask of the accumulator
// bits that decide whether the product's low word is 0 (2^30 has 30
// trailing zeros: 2^2 - 1; an odd multiplier: all 32 bits).
// CHECK-LABEL: func @requantize_high_word
func.func @requantize_high_word(%acc: tensor<4x2xi32>) -> tensor<4x2xi8> {
  // CHECK-DAG: arith.constant dense<[1073741824, 1759218605]> : tensor<2xi32>
  // CHECK-DAG: arith.constant dense<[8, 9]> : tensor<2xi32>
  // CHECK-DAG: arith.constant dense<[128, 256]> : tensor<2xi32>
  // CHECK-DAG: arith.constant dense<[256, 512]> : tensor<2xi32>
  // CHECK-DAG: arith.constant dense<[3, -1]> : tensor<2xi32>
  // CHECK: ^bb0(%[[ACC:.*]]: i32, %[[M:.*]]: i32, %[[T:.*]]: i32, %[[B:.*]]: i32, %[[P:.*]]: i32, %[[L:.*]]: i32, %{{.*}}: i8):
  // CHECK: %{{.*}}, %[[HI:.*]] = arith.mulsi_extended %[[ACC]], %[[M]] : i32
  // CHECK: %[[SUM:.*]] = arith.addi %[[HI]], %[[B]] : i32
  // CHECK: arith.andi %[[ACC]], %[[L]] : i32
  // CHECK: arith.andi %[[HI]], %[[P]] : i32
  // CHECK: arith.cmpi eq
  // CHECK: %[[EVEN:.*]] = arith.subi %[[SUM]], %{{.*}} : i32
  // CHECK: arith.shrsi %[[EVEN]], %[[T]] : i32
  // CHECK-NOT: i64
  // CHECK: arith.trunci %{{.*}} : i32 to i8
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824, 1759218605>,
                            shift = array<i32: 40, 41>, output_zero_point = -4 : i32}
      : tensor<4x2xi32> -> tensor<4x2xi8>
  return %0 : tensor<4x2xi8>
}

// -----

// Other modes, or an input zero point, compare the remainder with the tie:
// per channel the remainder mask 2^shift - 1 and threshold 2^(shift-1) (a
// zero shift gets threshold 1, so that nothing rounds); an int32 result
// saturates.
// CHECK-LABEL: func @requantize_away
func.func @requantize_away(%acc: tensor<4x2xi32>) -> tensor<4x2xi32> {
  // CHECK-DAG: arith.constant dense<[2147483647, 0]> : tensor<2xi64>
  // CHECK-DAG: arith.constant dense<[1073741824, 1]> : tensor<2xi64>
  // CHECK: arith.cmpi ugt
  // CHECK: arith.cmpi eq
  // CHECK: arith.cmpi sge
  // CHECK: arith.constant -2147483648 : i64
  // CHECK: arith.constant 2147483647 : i64
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824, 2000000000>,
                            shift = array<i32: 31, 0>, output_zero_point = 5 : i32, num_bits = 32 : i64,
                            rounding = #qat<rounding half_away_from_zero>}
      : tensor<4x2xi32> -> tensor<4x2xi32>
  return %0 : tensor<4x2xi32>
}

// -----

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func @observe_per_tensor
func.func @observe_per_tensor(%x: tensor<4x?xf32>) -> (tensor<f32>, tensor<f32>) {
  // CHECK-DAG: %[[INF:.*]] = arith.constant 0x7F800000 : f32
  // CHECK-DAG: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
  // CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[SCALAR]]], iterator_types = ["reduction", "reduction"]}
  // CHECK: arith.minimumf
  // CHECK: arith.maximumf
  %min, %max = qat.observe %x : tensor<4x?xf32> -> tensor<f32>
  return %min, %max : tensor<f32>, tensor<f32>
}

// -----

// CHECK-LABEL: func @choose_qparams_affine
func.func @choose_qparams_affine(%min: tensor<8xf32>, %max: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xi32>) {
  // CHECK: linalg.generic
  // CHECK: arith.minimumf
  // CHECK: arith.maximumf
  // CHECK: arith.constant 2.550000e+02 : f32
  // CHECK: arith.divf
  // CHECK: arith.maximumf
  // CHECK: math.roundeven
  // CHECK: arith.trunci %{{.*}} : i64 to i32
  %s, %z = qat.choose_qparams %min, %max {is_signed = false} : tensor<8xf32> -> tensor<8xi32>
  return %s, %z : tensor<8xf32>, tensor<8xi32>
}

// -----

// CHECK-LABEL: func @prune_mask_n_m
func.func @prune_mask_n_m(%w: tensor<4x8xf32>) -> tensor<4x8xi1> {
  // Each element counts the larger members of its group of 4 along axis 1.
  // CHECK: linalg.generic
  // CHECK: linalg.index 1
  // CHECK: arith.remui
  // CHECK: scf.for
  // CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<4x8xf32>
  // CHECK: arith.constant 2147483647 : i32
  // CHECK: arith.cmpi slt, %{{.*}}, %{{.*}} : i64
  %0 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xi1>
  return %0 : tensor<4x8xi1>
}

// -----

// Blocks: one score per block (the sum of |w|, the block's dimensions
// innermost), an unstructured mask of the scores, spread back.
// CHECK-LABEL: func @prune_mask_blocks
// CHECK:       tensor.expand_shape %arg0 {{\[}}[0, 1], [2, 3]] output_shape [2, 2, 2, 4]
// CHECK:       linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
// CHECK:         math.absf
// CHECK:         arith.addf
// CHECK:       scf.for
// CHECK:       linalg.generic
// CHECK:       tensor.collapse_shape {{.*}} : tensor<2x2x2x4xi1> into tensor<4x8xi1>
func.func @prune_mask_blocks(%w: tensor<4x8xf32>, %sparsity: tensor<f32>) -> tensor<4x8xi1> {
  %0 = qat.prune_mask %w sparsity(%sparsity : tensor<f32>) {block = array<i64: 2, 4>} : tensor<4x8xf32> -> tensor<4x8xi1>
  return %0 : tensor<4x8xi1>
}

// -----

// CHECK-LABEL: func @prune_mask_unstructured
func.func @prune_mask_unstructured(%w: tensor<4x8xf32>, %sparsity: tensor<f32>) -> tensor<4x8xi1> {
  // 64-bit keys, the number to prune in binary64, a 64-step bitwise search
  // of counting reductions, then one comparison per element.
  // CHECK: %[[KEYS:.*]] = linalg.generic
  // CHECK: arith.shli
  // CHECK: tensor.extract %{{.*}}[] : tensor<f32>
  // CHECK: arith.extf %{{.*}} : f32 to f64
  // CHECK: math.floor %{{.*}} : f64
  // CHECK: %[[T:.*]] = scf.for
  // CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]} ins(%[[KEYS]]
  // CHECK: arith.cmpi sle
  // CHECK: linalg.generic {{.*}} ins(%[[KEYS]]
  // CHECK: arith.cmpi uge, %{{.*}}, %[[T]] : i64
  %0 = qat.prune_mask %w sparsity(%sparsity : tensor<f32>) : tensor<4x8xf32> -> tensor<4x8xi1>
  return %0 : tensor<4x8xi1>
}

// -----

// A result type more or less static than the input's channel dimension is
// reached with a cast.
// CHECK-LABEL: func @observe_result_shapes
func.func @observe_result_shapes(%x: tensor<?x4xf32>, %y: tensor<4x3xf32>) -> (tensor<3xf32>, tensor<?xf32>) {
  // CHECK: %[[A:.*]]:2 = linalg.generic
  // CHECK: } -> (tensor<?xf32>, tensor<?xf32>)
  // CHECK: tensor.cast %[[A]]#0 : tensor<?xf32> to tensor<3xf32>
  // CHECK: %[[B:.*]]:2 = linalg.generic
  // CHECK: } -> (tensor<4xf32>, tensor<4xf32>)
  // CHECK: tensor.cast %[[B]]#1 : tensor<4xf32> to tensor<?xf32>
  %mn, %mx = qat.observe %x {axis = 0 : i64} : tensor<?x4xf32> -> tensor<3xf32>
  %mn2, %mx2 = qat.observe %y {axis = 0 : i64} : tensor<4x3xf32> -> tensor<?xf32>
  return %mn, %mx2 : tensor<3xf32>, tensor<?xf32>
}

// -----

// CHECK-LABEL: func @rank_0_and_int4
func.func @rank_0_and_int4(%x: tensor<f32>, %s: tensor<f32>, %z: tensor<i64>, %v: tensor<4xf32>) -> (tensor<f32>, tensor<4xf32>) {
  // CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}, #{{.*}}], iterator_types = []}
  %0 = qat.fake_quant %x, %s, %z {num_bits = 16 : i64, is_signed = false} : tensor<f32>, tensor<f32>, tensor<i64>
  // CHECK: arith.trunci %{{.*}} : i64 to i4
  // CHECK: arith.extsi %{{.*}} : i4 to i64
  %q = qat.quantize %v, %s, %z {num_bits = 4 : i64} : tensor<4xf32>, tensor<f32>, tensor<i64> -> tensor<4xi4>
  %d = qat.dequantize %q, %s, %z {num_bits = 4 : i64} : tensor<4xi4>, tensor<f32>, tensor<i64> -> tensor<4xf32>
  return %0, %d : tensor<f32>, tensor<4xf32>
}

// -----

// The forward value; the gradient path is only for differentiation.
// CHECK-LABEL: func @straight_through
// CHECK-SAME:    (%{{.*}}: tensor<4xf32>, %[[V:.*]]: tensor<4xf32>)
// CHECK-NEXT:    return %[[V]]
func.func @straight_through(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qat.straight_through %a, %b : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// apply_mask: a select per element, +0.0 where the mask is false.
// CHECK-LABEL: func @apply_mask
// CHECK:         linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<4x8xi1>)
// CHECK:         ^bb0(%[[X:.*]]: f32, %[[KEEP:.*]]: i1, %{{.*}}: f32):
// CHECK:           %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:           %[[S:.*]] = arith.select %[[KEEP]], %[[X]], %[[ZERO]] : f32
// CHECK:           linalg.yield %[[S]]
func.func @apply_mask(%w: tensor<4x8xf32>, %keep: tensor<4x8xi1>) -> tensor<4x8xf32> {
  %0 = qat.apply_mask %w, %keep : tensor<4x8xf32>, tensor<4x8xi1>
  return %0 : tensor<4x8xf32>
}
