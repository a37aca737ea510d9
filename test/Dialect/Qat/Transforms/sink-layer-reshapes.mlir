// RUN: qat-opt %s --qat-sink-layer-reshapes | FileCheck %s

// A linear layer on [1, 64, C] as an exporter writes it: the matmul on the
// 64 flattened rows, the result reshaped back, then the bias ([1, 16], read
// through the unit loop) and an activation on the 3-D tensor. Both move
// onto the matmul's 2-D result (the bias read as [16] per column), and the
// reshape after them, so they join the layer's epilogue.

// CHECK-LABEL: func.func @linear(
// CHECK:         %[[Y:.*]] = linalg.matmul
// CHECK:         %[[BIAS:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<1x16xf32> into tensor<16xf32>
// CHECK:         %[[B:.*]] = linalg.generic {{.*}} ins(%[[BIAS]], %[[Y]] : tensor<16xf32>, tensor<64x16xf32>)
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<64x16xf32>)
// CHECK:           arith.maximumf
// CHECK:         %[[E:.*]] = tensor.expand_shape %[[R]] {{\[\[}}0, 1], [2]] output_shape [1, 64, 16]
// CHECK:         return %[[E]]
func.func @linear(%x: tensor<64x8xf32> {qat.role = "input"}, %w: tensor<8x16xf32>, %b: tensor<1x16xf32>) -> tensor<1x64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<64x16xf32>) -> tensor<64x16xf32>
  %y = linalg.matmul ins(%x, %w : tensor<64x8xf32>, tensor<8x16xf32>) outs(%f : tensor<64x16xf32>) -> tensor<64x16xf32>
  %y3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 64, 16] : tensor<64x16xf32> into tensor<1x64x16xf32>
  %e3 = tensor.empty() : tensor<1x64x16xf32>
  %biased = linalg.generic {indexing_maps = [affine_map<(n, t, c) -> (n, c)>, affine_map<(n, t, c) -> (n, t, c)>, affine_map<(n, t, c) -> (n, t, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%b, %y3 : tensor<1x16xf32>, tensor<1x64x16xf32>) outs(%e3 : tensor<1x64x16xf32>) {
  ^bb0(%bias: f32, %v: f32, %o: f32):
    %s = arith.addf %bias, %v : f32
    linalg.yield %s : f32
  } -> tensor<1x64x16xf32>
  %relu = linalg.generic {indexing_maps = [affine_map<(n, t, c) -> (n, t, c)>, affine_map<(n, t, c) -> (n, t, c)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%biased : tensor<1x64x16xf32>) outs(%e3 : tensor<1x64x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.maximumf %v, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x64x16xf32>
  return %relu : tensor<1x64x16xf32>
}
