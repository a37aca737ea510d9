// Runs compiled qat.requantize (per tensor and per channel, every rounding
// mode, exact ties, fused-ReLU clamps and int32 saturation) and compares the
// codes with the reference library's (folders).
//
// RUN: cat %s %S/Inputs/print.mlir > %t.mlir
// RUN: qat-opt %t.mlir --qat-cpu-pipeline | %qat-runner | grep -v base@ > %t.compiled
// RUN: qat-opt %t.mlir --convert-qat-to-linalg | FileCheck %s --check-prefix=LOWERED
// RUN: qat-opt %t.mlir --canonicalize | FileCheck %s --check-prefix=FOLDED
// RUN: qat-opt %t.mlir --canonicalize --qat-cpu-pipeline | %qat-runner | grep -v base@ > %t.reference
// RUN: diff %t.compiled %t.reference
// RUN: FileCheck %s --input-file=%t.compiled

// The compiled run computes at run time: the lowering folds nothing.
// LOWERED: linalg.generic
// LOWERED-NOT: qat.
// LOWERED-NOT: bitcast{{.*}}dense<
// Every qat op folded away, so %t.reference is the reference library's.
// FOLDED-NOT: qat.

func.func @main() {
  // Ties at shift 1 (odd and even quotients, both signs), large and small
  // accumulators, the int32 extremes.
  %acc = arith.constant dense<[5, 7, -5, -7, 6, -6, 0, 1, -1, 3, -3, 1000, -1000,
                               123456789, -123456789, 2147483647, -2147483648, 255, 256, 257]> : tensor<20xi32>
  %even = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>,
                               num_bits = 16 : i64} : tensor<20xi32> -> tensor<20xi32>
  %away = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>, num_bits = 16 : i64,
                               rounding = #qat<rounding half_away_from_zero>} : tensor<20xi32> -> tensor<20xi32>
  %up = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>, num_bits = 16 : i64,
                             rounding = #qat<rounding half_up>} : tensor<20xi32> -> tensor<20xi32>
  %trunc = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>, num_bits = 16 : i64,
                                rounding = #qat<rounding toward_zero>} : tensor<20xi32> -> tensor<20xi32>
  // A typical int8 requantization: M = 0.0016 (multiplier 1759218604, shift 40),
  // zero points in and out, and a fused ReLU (quant_min = output zero point).
  %int8 = qat.requantize %acc {multiplier = array<i32: 1759218604>, shift = array<i32: 40>,
                               input_zero_point = 3 : i32, output_zero_point = -5 : i32}
      : tensor<20xi32> -> tensor<20xi8>
  %relu = qat.requantize %acc {multiplier = array<i32: 1759218604>, shift = array<i32: 40>,
                               output_zero_point = -5 : i32, quant_min = -5 : i64}
      : tensor<20xi32> -> tensor<20xi8>
  // Shift 0 (M = 2^30) saturates at the int32 edges before the zero point.
  %wide = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 0>,
                               output_zero_point = 7 : i32, num_bits = 16 : i64}
      : tensor<20xi32> -> tensor<20xi32>
  %int8w = arith.extsi %int8 : tensor<20xi8> to tensor<20xi32>
  %reluw = arith.extsi %relu : tensor<20xi8> to tensor<20xi32>
  %all = tensor.concat dim(0) %even, %away, %up, %trunc, %int8w, %reluw, %wide
      : (tensor<20xi32>, tensor<20xi32>, tensor<20xi32>, tensor<20xi32>, tensor<20xi32>,
         tensor<20xi32>, tensor<20xi32>) -> tensor<140xi32>
  %dyn = tensor.cast %all : tensor<140xi32> to tensor<?xi32>
  call @printInts(%dyn) : (tensor<?xi32>) -> ()
  // Hand-derived, half to even of acc / 2 (16-bit range):
  // CHECK: [2, 4, -2, -4, 3, -3, 0, 0, 0, 2, -2, 500, -500, 32767, -32768, 32767, -32768, 128, 128, 128,

  // Per channel along axis 1, unsigned 8-bit output.
  %acc2 = arith.constant dense<[[100, -100, 7000], [2000000, 3, -3], [-77777, 12345, 0]]> : tensor<3x3xi32>
  %pc = qat.requantize %acc2 {axis = 1 : i64, multiplier = array<i32: 1073741824, 1500000000, 2147483647>,
                              shift = array<i32: 30, 33, 45>, output_zero_point = 128 : i32, is_signed = false}
      : tensor<3x3xi32> -> tensor<3x3xi8>
  %pcw = arith.extui %pc : tensor<3x3xi8> to tensor<3x3xi32>
  %pcflat = tensor.collapse_shape %pcw [[0, 1]] : tensor<3x3xi32> into tensor<9xi32>
  %pcdyn = tensor.cast %pcflat : tensor<9xi32> to tensor<?xi32>
  call @printInts(%pcdyn) : (tensor<?xi32>) -> ()
  return
}
