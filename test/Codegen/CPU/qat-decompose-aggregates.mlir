// RUN: qat-opt %s --qat-decompose-aggregates | FileCheck %s

// CHECK-LABEL: func @softmax
func.func @softmax(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  // max, exp(x - max), sum, divide
  // CHECK: linalg.generic
  // CHECK: arith.maxnumf
  // CHECK: linalg.generic
  // CHECK: math.exp
  // CHECK: linalg.generic
  // CHECK: arith.addf
  // CHECK: linalg.generic
  // CHECK: arith.divf
  // CHECK-NOT: linalg.softmax
  %e = tensor.empty() : tensor<2x10xf32>
  %s = linalg.softmax dimension(1) ins(%x : tensor<2x10xf32>) outs(%e : tensor<2x10xf32>) -> tensor<2x10xf32>
  return %s : tensor<2x10xf32>
}
