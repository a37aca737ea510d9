// Upstream ops a model brings, compiled by qat-compile and checked against
// numpy in test_runtime.py::test_op_coverage_matches_numpy.

func.func @bmm(%a: tensor<4x8x16xf32>, %b: tensor<4x16x8xf32>) -> tensor<4x8x8xf32> {
  %z = arith.constant dense<0.0> : tensor<4x8x8xf32>
  %c = linalg.batch_matmul ins(%a, %b : tensor<4x8x16xf32>, tensor<4x16x8xf32>) outs(%z : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  return %c : tensor<4x8x8xf32>
}
func.func @dw(%x: tensor<1x10x10x8xf32>, %w: tensor<3x3x8xf32>) -> tensor<1x8x8x8xf32> {
  %z = arith.constant dense<0.0> : tensor<1x8x8x8xf32>
  %c = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : tensor<1x10x10x8xf32>, tensor<3x3x8xf32>) outs(%z : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  return %c : tensor<1x8x8x8xf32>
}
func.func @pool_pad(%x: tensor<1x8x8x4xf32>) -> tensor<1x5x5x4xf32> {
  %cst = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] { ^bb0(%a: index, %b: index, %c: index, %d: index): tensor.yield %cst : f32 } : tensor<1x8x8x4xf32> to tensor<1x10x10x4xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %z = arith.constant dense<0.0> : tensor<1x5x5x4xf32>
  %r = linalg.pooling_nhwc_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%p, %win : tensor<1x10x10x4xf32>, tensor<2x2xf32>) outs(%z : tensor<1x5x5x4xf32>) -> tensor<1x5x5x4xf32>
  return %r : tensor<1x5x5x4xf32>
}
func.func @misc(%x: tensor<4x6xf32>, %y: tensor<6xf32>) -> (tensor<6x4xf32>, tensor<4xf32>, tensor<24xf32>, tensor<8x6xf32>, tensor<4x6xf32>) {
  %e = tensor.empty() : tensor<6x4xf32>
  %t = linalg.transpose ins(%x : tensor<4x6xf32>) outs(%e : tensor<6x4xf32>) permutation = [1, 0]
  %z = arith.constant dense<0.0> : tensor<4xf32>
  %r = linalg.reduce ins(%x : tensor<4x6xf32>) outs(%z : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) { %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32 }
  %f = tensor.collapse_shape %x [[0, 1]] : tensor<4x6xf32> into tensor<24xf32>
  %c = tensor.concat dim(0) %x, %x : (tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<8x6xf32>
  %be = tensor.empty() : tensor<4x6xf32>
  %b = linalg.broadcast ins(%y : tensor<6xf32>) outs(%be : tensor<4x6xf32>) dimensions = [0]
  return %t, %r, %f, %c, %b : tensor<6x4xf32>, tensor<4xf32>, tensor<24xf32>, tensor<8x6xf32>, tensor<4x6xf32>
}
func.func @nchw(%x: tensor<1x3x10x10xf32>, %w: tensor<8x3x3x3xf32>) -> tensor<1x8x8x8xf32> {
  %z = arith.constant dense<0.0> : tensor<1x8x8x8xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : tensor<1x3x10x10xf32>, tensor<8x3x3x3xf32>) outs(%z : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  return %c : tensor<1x8x8x8xf32>
}
func.func @dynmm(%a: tensor<?x16xf32>, %b: tensor<16x8xf32>) -> tensor<4x8xf32> {
  %z = arith.constant dense<0.0> : tensor<4x8xf32>
  %a4 = tensor.extract_slice %a[0, 0] [4, 16] [1, 1] : tensor<?x16xf32> to tensor<4x16xf32>
  %c = linalg.matmul ins(%a4, %b : tensor<4x16xf32>, tensor<16x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %c : tensor<4x8xf32>
}
func.func @softmaxish(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  %e = math.exp %x : tensor<2x10xf32>
  %t = math.tanh %e : tensor<2x10xf32>
  return %t : tensor<2x10xf32>
}
func.func @softmax(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  %e = tensor.empty() : tensor<2x10xf32>
  %s = linalg.softmax dimension(1) ins(%x : tensor<2x10xf32>) outs(%e : tensor<2x10xf32>) -> tensor<2x10xf32>
  return %s : tensor<2x10xf32>
}
func.func @matmul_bt(%a: tensor<4x8xf32>, %b: tensor<6x8xf32>) -> tensor<4x6xf32> {
  %z = arith.constant dense<0.0> : tensor<4x6xf32>
  %c = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : tensor<4x8xf32>, tensor<6x8xf32>) outs(%z : tensor<4x6xf32>) -> tensor<4x6xf32>
  return %c : tensor<4x6xf32>
}
