// Runs compiled qat.fake_quant_grad and compares dx, the LSQ scale gradient
// and the zero-point gradient bit for bit with the reference library
// (folders). Sums are order-independent here: per tensor the inputs are
// dyadic (every partial sum is exact), per channel each channel sums two
// elements (a + b rounds the same way in either order).
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
  // s = 0.25, z = 3, 4-bit signed [-8, 7]: inside for -11 <= x/s <= 4.
  %x = arith.constant dense<[0.3125, -0.4375, 1.0, 1.0625, 1.125, 1.25, -2.75, -2.8125,
                             -3.0, 0.0, 0.1328125, 100.0, -100.0, 0.5, 0x7F800000, 0xFF800000]> : tensor<16xf32>
  %dy = arith.constant dense<[1.0, -2.0, 0.5, 0.25, -1.0, 2.0, 0.125, 4.0,
                              -0.5, 1.0, 8.0, 1.0, 1.0, -1.5, 1.0, 1.0]> : tensor<16xf32>
  %s = arith.constant dense<0.25> : tensor<f32>
  %z = arith.constant dense<3> : tensor<i32>
  %zf = arith.constant dense<3.0> : tensor<f32>
  %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy {num_bits = 4 : i64}
      : tensor<16xf32>, tensor<f32>, tensor<i32>
  %dx2, %ds2, %dz2 = qat.fake_quant_grad %x, %s, %zf, %dy {num_bits = 4 : i64, grad_factor = 0.5 : f32,
                                                          rounding = #qat<rounding toward_zero>}
      : tensor<16xf32>, tensor<f32>, tensor<f32>
  %ds1 = tensor.expand_shape %ds [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %dz1 = tensor.expand_shape %dz [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %ds21 = tensor.expand_shape %ds2 [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %dz21 = tensor.expand_shape %dz2 [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %all = tensor.concat dim(0) %dx, %ds1, %dz1, %dx2, %ds21, %dz21
      : (tensor<16xf32>, tensor<1xf32>, tensor<1xf32>, tensor<16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<36xf32>
  %dyn = tensor.cast %all : tensor<36xf32> to tensor<?xf32>
  call @printBits(%dyn) : (tensor<?xf32>) -> ()
  %dxf = tensor.cast %dx : tensor<16xf32> to tensor<?xf32>
  call @printFloats(%dxf) : (tensor<?xf32>) -> ()
  // The straight-through mask, by hand: x/s + 3 must round into [-8, 7].
  // (1.125 / 0.25 = 4.5 rounds to 4, inside; -3 / 0.25 = -12 is below.)
  // CHECK: [1, -2, 0.5, 0.25, -1, 0, 0.125, 4, 0, 1, 8, 0, 0, -1.5, 0, 0]

  // Per channel (axis 1), arbitrary values, two elements per channel, one
  // channel holding a NaN.
  %w = arith.constant dense<[[0.013, -0.71, 2.9, 0x7FC00000], [-0.0041, 0.33, -7.7, 0.5]]> : tensor<2x4xf32>
  %gw = arith.constant dense<[[0.3, -1.7, 0.01, 1.0], [2.2, -0.9, 1.3, 1.0]]> : tensor<2x4xf32>
  %sc = arith.constant dense<[0.0071, 0.0213, 0.047, 0.1]> : tensor<4xf32>
  %zc = arith.constant dense<[0.0, 1.0, -2.0, 0.0]> : tensor<4xf32>
  %pdx, %pds, %pdz = qat.fake_quant_grad %w, %sc, %zc, %gw {axis = 1 : i64, narrow_range = true,
                                                          grad_factor = 0.0214 : f32}
      : tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>
  %pdxflat = tensor.collapse_shape %pdx [[0, 1]] : tensor<2x4xf32> into tensor<8xf32>
  %pall = tensor.concat dim(0) %pdxflat, %pds, %pdz : (tensor<8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<16xf32>
  %pdyn = tensor.cast %pall : tensor<16xf32> to tensor<?xf32>
  call @printBits(%pdyn) : (tensor<?xf32>) -> ()
  return
}
