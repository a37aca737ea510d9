// Three named layers (fc1, fc2 by attribute, head by location), used by the
// config and error tests.
func.func @mlp3(%x: tensor<2x4xf32>, %w1: tensor<4x4xf32>, %w2: tensor<4x4xf32>, %w3: tensor<4x3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %h1 = linalg.matmul {qat.layer = "fc1"} ins(%x, %w1 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %h2 = linalg.matmul {qat.layer = "fc2"} ins(%h1, %w2 : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %e3 = tensor.empty() : tensor<2x3xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%h2, %w3 : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f3 : tensor<2x3xf32>) -> tensor<2x3xf32> loc("head")
  return %y : tensor<2x3xf32>
}
