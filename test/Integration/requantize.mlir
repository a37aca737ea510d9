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

  // Shifts of 33 and more take the high-word form (the product's top 32
  // bits, in int32 lanes): ties to even at multiplier 2^30, shift 40 (acc =
  // 512 mod 1024) and at 3 * 2^29 (acc = 1024 times an odd number, the low
  // word 0), none at an odd multiplier, ties up, and shifts 33, 47 and 63
  // per channel.
  %acc3 = arith.constant dense<[512, 1536, -512, -1536, 2560, 511, 513, -511, -513, 1023, 1024, -1024,
                                3072, -3072, 5120, 0, 1, -1, 2147483647, -2147483648, 123456789,
                                -123456789, 1048576, 7, -7, 1049088, -1049088, 1073741824]> : tensor<28xi32>
  %hw_even = qat.requantize %acc3 {multiplier = array<i32: 1073741824>, shift = array<i32: 40>,
                                   num_bits = 24 : i64} : tensor<28xi32> -> tensor<28xi32>
  %hw_three = qat.requantize %acc3 {multiplier = array<i32: 1610612736>, shift = array<i32: 40>,
                                    num_bits = 24 : i64} : tensor<28xi32> -> tensor<28xi32>
  %hw_odd = qat.requantize %acc3 {multiplier = array<i32: 1759218605>, shift = array<i32: 41>,
                                  output_zero_point = -5 : i32, quant_min = -5 : i64}
      : tensor<28xi32> -> tensor<28xi8>
  %hw_up = qat.requantize %acc3 {multiplier = array<i32: 1073741824>, shift = array<i32: 40>,
                                 num_bits = 24 : i64, rounding = #qat<rounding half_up>}
      : tensor<28xi32> -> tensor<28xi32>
  %hw_oddw = arith.extsi %hw_odd : tensor<28xi8> to tensor<28xi32>
  %hw = tensor.concat dim(0) %hw_even, %hw_three, %hw_oddw, %hw_up
      : (tensor<28xi32>, tensor<28xi32>, tensor<28xi32>, tensor<28xi32>) -> tensor<112xi32>
  %hwdyn = tensor.cast %hw : tensor<112xi32> to tensor<?xi32>
  call @printInts(%hwdyn) : (tensor<?xi32>) -> ()
  %acc43 = arith.constant dense<[[512, 1536, -512], [-1536, 2560, 511], [513, -511, -513], [1023, 1024, -1024], [3072, -3072, 5120],
                                 [0, 1, -1], [2147483647, -2147483648, 123456789], [-123456789, 1048576, 7], [-7, 1049088, -1049088], [1073741824, 4096, 8192],
                                 [-8192, 16384, 2], [-2, 3, 65536], [-65536, 999999, -999999], [536870912, 131072, -131072]]> : tensor<14x3xi32>
  %hw_pc = qat.requantize %acc43 {axis = 1 : i64, multiplier = array<i32: 2147483647, 1073741824, 1342177280>,
                                  shift = array<i32: 33, 47, 63>, output_zero_point = 100 : i32,
                                  num_bits = 32 : i64} : tensor<14x3xi32> -> tensor<14x3xi32>
  %hw_pcflat = tensor.collapse_shape %hw_pc [[0, 1]] : tensor<14x3xi32> into tensor<42xi32>
  %hw_pcdyn = tensor.cast %hw_pcflat : tensor<42xi32> to tensor<?xi32>
  call @printInts(%hw_pcdyn) : (tensor<?xi32>) -> ()
  return
}
