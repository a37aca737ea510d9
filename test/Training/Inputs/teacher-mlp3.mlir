// A frozen teacher for mlp3: its inputs (x) to logits of mlp3's result type.
func.func @teacher(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [0.0, 2.0, 0.0], [-1.0, 1.0, 0.25]]> : tensor<4x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
