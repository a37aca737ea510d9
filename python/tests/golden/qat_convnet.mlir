// The float network of scripts/gen_train_golden.py: conv 3x3 (NHWC/HWCF) +
// bias + ReLU, flattened, and a linear layer. test_training.py instruments
// it with qat-instrument and compares the compiled gradients with PyTorch's.
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
#id2 = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @convnet(%image: tensor<2x6x6x2xf32> {qat.name = "image"},
    %w1: tensor<3x3x2x4xf32> {qat.name = "w1"}, %b1: tensor<4xf32> {qat.name = "b1"},
    %w2: tensor<64x5xf32> {qat.name = "w2"}, %b2: tensor<5xf32> {qat.name = "b2"})
    -> (tensor<2x5xf32> {qat.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4x4x4xf32>) -> tensor<2x4x4x4xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%image, %w1 : tensor<2x6x6x2xf32>, tensor<3x3x2x4xf32>) outs(%f : tensor<2x4x4x4xf32>) -> tensor<2x4x4x4xf32>
  %h = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %b1 : tensor<2x4x4x4xf32>, tensor<4xf32>) outs(%e : tensor<2x4x4x4xf32>) {
  ^bb0(%v: f32, %b: f32, %o: f32):
    %s = arith.addf %v, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4x4xf32>
  %flat = tensor.collapse_shape %h [[0], [1, 2, 3]] : tensor<2x4x4x4xf32> into tensor<2x64xf32>
  %e2 = tensor.empty() : tensor<2x5xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x5xf32>) -> tensor<2x5xf32>
  %y = linalg.matmul ins(%flat, %w2 : tensor<2x64xf32>, tensor<64x5xf32>) outs(%f2 : tensor<2x5xf32>) -> tensor<2x5xf32>
  %yb = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b2 : tensor<2x5xf32>, tensor<5xf32>) outs(%e2 : tensor<2x5xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x5xf32>
  return %yb : tensor<2x5xf32>
}
