// Runs compiled fake_quant / quantize / dequantize on tie, saturation,
// narrow-range, per-channel and non-finite cases, and compares every output
// bit for bit with the reference library, which evaluates the same ops
// through the folders (canonicalize).
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
  // Exact ties of x / s (s = 0.5), halfway values, saturation and specials.
  %x = arith.constant dense<[0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 0.2499, 0.7501,
                             63.75, 64.0, -64.0, -64.25, -70.0, 1.0e30, -1.0e30, 0.0,
                             -0.0, 0x7F800000, 0xFF800000, 0x7FC00000]> : tensor<20xf32>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %zf = arith.constant dense<3.0> : tensor<f32>
  %zhalf = arith.constant dense<2.5> : tensor<f32>

  %even = qat.fake_quant %x, %s, %z : tensor<20xf32>, tensor<f32>, tensor<i32>
  %away = qat.fake_quant %x, %s, %z {rounding = #qat<rounding half_away_from_zero>} : tensor<20xf32>, tensor<f32>, tensor<i32>
  %up = qat.fake_quant %x, %s, %z {rounding = #qat<rounding half_up>} : tensor<20xf32>, tensor<f32>, tensor<i32>
  %trunc = qat.fake_quant %x, %s, %z {rounding = #qat<rounding toward_zero>} : tensor<20xf32>, tensor<f32>, tensor<i32>
  %narrow = qat.fake_quant %x, %s, %z {narrow_range = true} : tensor<20xf32>, tensor<f32>, tensor<i32>
  %u4 = qat.fake_quant %x, %s, %zf {num_bits = 4 : i64, is_signed = false} : tensor<20xf32>, tensor<f32>, tensor<f32>
  %relu6 = qat.fake_quant %x, %s, %z {quant_min = 0 : i64, quant_max = 12 : i64} : tensor<20xf32>, tensor<f32>, tensor<i32>
  // A float zero point of 2.5 rounds half-to-even to 2.
  %zhe = qat.fake_quant %x, %s, %zhalf : tensor<20xf32>, tensor<f32>, tensor<f32>

  %c = tensor.cast %even : tensor<20xf32> to tensor<?xf32>
  call @printFloats(%c) : (tensor<?xf32>) -> ()
  // Hand-derived (x / 0.5 rounded half to even, saturating at [-128, 127]):
  // (-0.25 rounds to -0, and -0 + z = +0.)
  // CHECK: [0, 1, 1, 0, -1, -1, 0, 1, 63.5, 63.5, -64, -64, -64, 63.5, -64, 0, 0, 63.5, -64, nan]

  %all = tensor.concat dim(0) %even, %away, %up, %trunc, %narrow, %u4, %relu6, %zhe
      : (tensor<20xf32>, tensor<20xf32>, tensor<20xf32>, tensor<20xf32>, tensor<20xf32>,
         tensor<20xf32>, tensor<20xf32>, tensor<20xf32>) -> tensor<160xf32>
  %dyn = tensor.cast %all : tensor<160xf32> to tensor<?xf32>
  call @printBits(%dyn) : (tensor<?xf32>) -> ()

  // Per-channel along axis 0 and axis 1 of a 3x4 tensor.
  %w = arith.constant dense<[[0.3, -1.0, 100.0, 0.05], [1.1, -2.2, 3.3, -4.4], [0.126, 0.374, -0.625, 9.0]]> : tensor<3x4xf32>
  %s0 = arith.constant dense<[0.5, 0.25, 0.125]> : tensor<3xf32>
  %z0 = arith.constant dense<[0, 2, -3]> : tensor<3xi32>
  %s1 = arith.constant dense<[0.01, 0.1, 1.0, 0.0625]> : tensor<4xf32>
  %z1 = arith.constant dense<[10, 0, 255, 100]> : tensor<4xi32>
  %pc0 = qat.fake_quant %w, %s0, %z0 {axis = 0 : i64, narrow_range = true} : tensor<3x4xf32>, tensor<3xf32>, tensor<3xi32>
  %pc1 = qat.fake_quant %w, %s1, %z1 {axis = 1 : i64, is_signed = false} : tensor<3x4xf32>, tensor<4xf32>, tensor<4xi32>
  %pcs = tensor.concat dim(0) %pc0, %pc1 : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<6x4xf32>
  %pcflat = tensor.collapse_shape %pcs [[0, 1]] : tensor<6x4xf32> into tensor<24xf32>
  %pcdyn = tensor.cast %pcflat : tensor<24xf32> to tensor<?xf32>
  call @printBits(%pcdyn) : (tensor<?xf32>) -> ()

  // quantize (signed, unsigned into i8, 4-bit into i8) and dequantize back.
  %q = qat.quantize %x, %s, %z : tensor<20xf32>, tensor<f32>, tensor<i32> -> tensor<20xi8>
  %qu = qat.quantize %x, %s, %zf {is_signed = false} : tensor<20xf32>, tensor<f32>, tensor<f32> -> tensor<20xi8>
  %q4 = qat.quantize %x, %s, %z {num_bits = 4 : i64, rounding = #qat<rounding half_up>} : tensor<20xf32>, tensor<f32>, tensor<i32> -> tensor<20xi8>
  %q32 = arith.extsi %q : tensor<20xi8> to tensor<20xi32>
  %qu32 = arith.extui %qu : tensor<20xi8> to tensor<20xi32>
  %q432 = arith.extsi %q4 : tensor<20xi8> to tensor<20xi32>
  %qs = tensor.concat dim(0) %q32, %qu32, %q432 : (tensor<20xi32>, tensor<20xi32>, tensor<20xi32>) -> tensor<60xi32>
  %qsdyn = tensor.cast %qs : tensor<60xi32> to tensor<?xi32>
  call @printInts(%qsdyn) : (tensor<?xi32>) -> ()

  %d = qat.dequantize %q, %s, %z : tensor<20xi8>, tensor<f32>, tensor<i32> -> tensor<20xf32>
  %du = qat.dequantize %qu, %s, %zf {is_signed = false} : tensor<20xi8>, tensor<f32>, tensor<f32> -> tensor<20xf32>
  %pq = qat.quantize %w, %s1, %z1 {axis = 1 : i64, is_signed = false} : tensor<3x4xf32>, tensor<4xf32>, tensor<4xi32> -> tensor<3x4xi8>
  %pd = qat.dequantize %pq, %s1, %z1 {axis = 1 : i64, is_signed = false} : tensor<3x4xi8>, tensor<4xf32>, tensor<4xi32> -> tensor<3x4xf32>
  %pdflat = tensor.collapse_shape %pd [[0, 1]] : tensor<3x4xf32> into tensor<12xf32>
  %ds = tensor.concat dim(0) %d, %du, %pdflat : (tensor<20xf32>, tensor<20xf32>, tensor<12xf32>) -> tensor<52xf32>
  %dsdyn = tensor.cast %ds : tensor<52xf32> to tensor<?xf32>
  call @printBits(%dsdyn) : (tensor<?xf32>) -> ()

  // int4 codes in i4 storage and back; a 0-D unsigned 16-bit fake_quant with
  // an i64 zero point.
  %z64 = arith.constant dense<40000> : tensor<i64>
  %q4s = qat.quantize %x, %s, %z {num_bits = 4 : i64} : tensor<20xf32>, tensor<f32>, tensor<i32> -> tensor<20xi4>
  %d4 = qat.dequantize %q4s, %s, %z {num_bits = 4 : i64} : tensor<20xi4>, tensor<f32>, tensor<i32> -> tensor<20xf32>
  %x0 = arith.constant dense<-12345.6> : tensor<f32>
  %s0d = arith.constant dense<0.37> : tensor<f32>
  %r0 = qat.fake_quant %x0, %s0d, %z64 {num_bits = 16 : i64, is_signed = false} : tensor<f32>, tensor<f32>, tensor<i64>
  %r01 = tensor.expand_shape %r0 [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %small = tensor.concat dim(0) %d4, %r01 : (tensor<20xf32>, tensor<1xf32>) -> tensor<21xf32>
  %smalldyn = tensor.cast %small : tensor<21xf32> to tensor<?xf32>
  call @printBits(%smalldyn) : (tensor<?xf32>) -> ()
  return
}
