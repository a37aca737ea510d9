// Runs compiled qat.observe and qat.choose_qparams (per tensor and per
// channel, affine and symmetric, signed and unsigned, all-zero and NaN
// inputs) and compares them bit for bit with the reference library (folders).
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
  %x = arith.constant dense<[[0.5, -1.25, 3.0, 0.0], [2.0, 7.5, -0.125, 0.0],
                             [-4.0, 0.25, 1.0, 0.0], [0.0, 0.0, 0x7FC00000, 0.0]]> : tensor<4x4xf32>
  %tmin, %tmax = qat.observe %x : tensor<4x4xf32> -> tensor<f32>
  %rmin, %rmax = qat.observe %x {axis = 0 : i64} : tensor<4x4xf32> -> tensor<4xf32>
  %cmin, %cmax = qat.observe %x {axis = 1 : i64} : tensor<4x4xf32> -> tensor<4xf32>
  %tmin1 = tensor.expand_shape %tmin [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %tmax1 = tensor.expand_shape %tmax [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %obs = tensor.concat dim(0) %tmin1, %tmax1, %rmin, %rmax, %cmin, %cmax
      : (tensor<1xf32>, tensor<1xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<18xf32>
  %obsdyn = tensor.cast %obs : tensor<18xf32> to tensor<?xf32>
  call @printBits(%obsdyn) : (tensor<?xf32>) -> ()
  %obsf = tensor.cast %rmax : tensor<4xf32> to tensor<?xf32>
  call @printFloats(%obsf) : (tensor<?xf32>) -> ()
  // Row maxima, the last row holding a NaN:
  // CHECK: [3, 7.5, 1, nan]

  // Bounds: ordinary, positive-only, negative-only, all zero, tiny, NaN.
  %mins = arith.constant dense<[-1.0, 2.0, -3.5, 0.0, -1.0e-9, 0x7FC00000, -0.3, -100.0]> : tensor<8xf32>
  %maxs = arith.constant dense<[3.0, 4.0, -0.5, 0.0, 1.0e-9, 1.0, 0.7, 0.01]> : tensor<8xf32>
  %s1, %z1 = qat.choose_qparams %mins, %maxs {is_signed = false} : tensor<8xf32> -> tensor<8xi32>
  %s2, %z2 = qat.choose_qparams %mins, %maxs {symmetric = true, narrow_range = true} : tensor<8xf32> -> tensor<8xi32>
  %s3, %z3 = qat.choose_qparams %mins, %maxs {symmetric = true, is_signed = false} : tensor<8xf32> -> tensor<8xf32>
  %s4, %z4 = qat.choose_qparams %mins, %maxs {num_bits = 4 : i64, eps = 1.0e-3 : f32} : tensor<8xf32> -> tensor<8xf32>
  %scales = tensor.concat dim(0) %s1, %s2, %s3, %s4, %z3, %z4
      : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<48xf32>
  %scalesdyn = tensor.cast %scales : tensor<48xf32> to tensor<?xf32>
  call @printBits(%scalesdyn) : (tensor<?xf32>) -> ()
  %zps = tensor.concat dim(0) %z1, %z2 : (tensor<8xi32>, tensor<8xi32>) -> tensor<16xi32>
  %zpsdyn = tensor.cast %zps : tensor<16xi32> to tensor<?xi32>
  call @printInts(%zpsdyn) : (tensor<?xi32>) -> ()
  // Affine uint8 zero points: [-1, 3] -> 64; [2, 4] -> 0; [-3.5, -0.5] -> 255;
  // all zero -> 0; NaN -> qmin. Symmetric signed: always 0.
  // CHECK: [64, 0, 255, 0, {{[0-9]+}}, 0, {{[0-9]+}}, {{[0-9]+}}, 0, 0, 0, 0, 0, 0, 0, 0]
  return
}
