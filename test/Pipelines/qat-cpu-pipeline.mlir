// qat-cpu-pipeline takes qat ops, linalg and elementwise arith on tensors all
// the way to the LLVM dialect, with C interfaces kept callable.
// RUN: qat-opt %s --qat-cpu-pipeline | FileCheck %s

// CHECK-NOT: qat.
// CHECK-NOT: linalg.
// CHECK-NOT: tensor.
// CHECK-NOT: memref.
// CHECK-NOT: scf.
// CHECK-LABEL: llvm.func @layer
// CHECK: llvm.fdiv
// CHECK: llvm.intr.roundeven
// CHECK-LABEL: llvm.func @_mlir_ciface_layer
func.func @layer(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %s: tensor<3xf32>, %z: tensor<3xi32>) -> tensor<2x3xf32>
    attributes {llvm.emit_c_interface} {
  %wq = qat.fake_quant %w, %s, %z {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  %zero = arith.constant dense<0.0> : tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%zero : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = arith.maximumf %y, %zero : tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}
