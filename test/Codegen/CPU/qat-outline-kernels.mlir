// RUN: qat-opt %s --qat-outline-kernels | FileCheck %s

// Two matmuls of one shape share a kernel; another shape gets its own; a
// matmul with a constant weight (packed at compile time by the VNNI pass)
// stays where it is.
// CHECK-LABEL: func.func @layers
// CHECK: %[[A:.*]] = call @qat_matmul_4x8x16_f32_f32_f32(%arg0, %arg1, %{{.*}})
// CHECK: call @qat_matmul_4x8x16_f32_f32_f32(%arg0, %arg1, %[[A]])
// CHECK: call @qat_matmul_4x16x8_f32_f32_f32
// CHECK: linalg.matmul ins(%arg0, %[[W:.*]] :
// CHECK: func.func private @qat_matmul_4x8x16_f32_f32_f32(%{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<8x16xf32>, %{{.*}}: tensor<4x16xf32>) -> tensor<4x16xf32> attributes {no_inline}
// CHECK-NEXT: linalg.matmul
// CHECK-NEXT: return
// CHECK: func.func private @qat_matmul_4x16x8_f32_f32_f32
// CHECK-NOT: func.func private
func.func @layers(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %v: tensor<16x8xf32>) -> (tensor<4x16xf32>, tensor<4x8xf32>, tensor<4x16xf32>) {
  %c0 = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %a = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  %b = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%a : tensor<4x16xf32>) -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %z2 = linalg.fill ins(%c0 : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = linalg.matmul ins(%b, %v : tensor<4x16xf32>, tensor<16x8xf32>) outs(%z2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %k = arith.constant dense<1.0> : tensor<8x16xf32>
  %d = linalg.matmul ins(%x, %k : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %b, %c, %d : tensor<4x16xf32>, tensor<4x8xf32>, tensor<4x16xf32>
}
