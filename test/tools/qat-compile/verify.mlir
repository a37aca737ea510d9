// Without -o, qat-compile verifies its input and lists the entry points.
// RUN: qat-compile %s | FileCheck %s
// RUN: not qat-compile %S/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not qat-compile %S/Inputs/invalid.mlir 2>&1 | FileCheck %s --check-prefix=INVALID

// CHECK: entry @mlp(x: f32[1x4], w: f32[4x2], arg2: f32[], arg3: i32[]) -> (y: f32[1x2])
// CHECK-NOT: @helper
// CHECK: verified {{.*}}verify.mlir: 1 entry point

// MISSING: qat-compile: error: {{.*}}does-not-exist.mlir

// INVALID: invalid.mlir:4:8: error: 'qat.fake_quant' op expected 0-D scale for per-tensor quantization (or an axis attribute)

func.func @mlp(%x: tensor<1x4xf32> {qat.name = "x"}, %w: tensor<4x2xf32> {qat.name = "w"}, %s: tensor<f32>, %z: tensor<i32>)
    -> (tensor<1x2xf32> {qat.name = "y"}) {
  %wq = qat.fake_quant %w, %s, %z : tensor<4x2xf32>, tensor<f32>, tensor<i32>
  %init = arith.constant dense<0.0> : tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %wq : tensor<1x4xf32>, tensor<4x2xf32>) outs(%init : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
