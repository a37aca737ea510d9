// Runs compiled qat.prune_mask, unstructured (the 64-pass bitwise selection)
// and N:M, on magnitude ties, signed zeros and NaN, and compares the masks
// with the reference library's (folders).
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

func.func @printMask(%m: tensor<4x6xi1>) {
  %w = arith.extui %m : tensor<4x6xi1> to tensor<4x6xi32>
  %flat = tensor.collapse_shape %w [[0, 1]] : tensor<4x6xi32> into tensor<24xi32>
  %dyn = tensor.cast %flat : tensor<24xi32> to tensor<?xi32>
  call @printInts(%dyn) : (tensor<?xi32>) -> ()
  return
}

func.func @main() {
  %w = arith.constant dense<[[0.5, -0.1, 0.1, -3.0, 0.0, -0.0],
                             [2.0, 0.1, 0.7, -0.7, 0.7, 1.5],
                             [0x7FC00000, 0x7F800000, -1.0, 1.0, -1.0, 0.25],
                             [0.01, -0.02, 0.03, -0.04, 0.05, -0.06]]> : tensor<4x6xf32>
  %half = arith.constant dense<0.5> : tensor<f32>
  %none = arith.constant dense<0.0> : tensor<f32>
  %all = arith.constant dense<1.0> : tensor<f32>
  %odd = arith.constant dense<0.3> : tensor<f32>
  %over = arith.constant dense<7.0> : tensor<f32>
  %nan = arith.constant dense<0x7FC00000> : tensor<f32>
  %m0 = qat.prune_mask %w sparsity(%half : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %m1 = qat.prune_mask %w sparsity(%none : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %m2 = qat.prune_mask %w sparsity(%all : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %m3 = qat.prune_mask %w sparsity(%odd : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %m4 = qat.prune_mask %w sparsity(%over : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %m5 = qat.prune_mask %w sparsity(%nan : tensor<f32>) : tensor<4x6xf32> -> tensor<4x6xi1>
  %n0 = qat.prune_mask %w {n = 1 : i64, m = 2 : i64, axis = 1 : i64} : tensor<4x6xf32> -> tensor<4x6xi1>
  %n1 = qat.prune_mask %w {n = 2 : i64, m = 3 : i64, axis = 1 : i64} : tensor<4x6xf32> -> tensor<4x6xi1>
  %n2 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 0 : i64} : tensor<4x6xf32> -> tensor<4x6xi1>
  call @printMask(%m0) : (tensor<4x6xi1>) -> ()
  // Half of 24: the 12 smallest magnitudes, ties pruned by lower index first.
  // CHECK: [1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
  call @printMask(%m1) : (tensor<4x6xi1>) -> ()
  call @printMask(%m2) : (tensor<4x6xi1>) -> ()
  call @printMask(%m3) : (tensor<4x6xi1>) -> ()
  call @printMask(%m4) : (tensor<4x6xi1>) -> ()
  call @printMask(%m5) : (tensor<4x6xi1>) -> ()
  call @printMask(%n0) : (tensor<4x6xi1>) -> ()
  call @printMask(%n1) : (tensor<4x6xi1>) -> ()
  call @printMask(%n2) : (tensor<4x6xi1>) -> ()
  return
}
