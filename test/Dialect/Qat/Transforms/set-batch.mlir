// RUN: qat-opt %s --split-input-file --qat-set-batch=size=2 | FileCheck %s

// The batch follows the data from the input: a weight with as many rows as
// the old batch (4) keeps its shape, and so do the 0-D statistics of
// qat.observe; destinations (tensor.empty, linalg.fill) follow the results
// computed into them.
// CHECK-LABEL: func.func @mlp(
// CHECK-SAME: %[[X:.+]]: tensor<2x4xf32> {qat.role = "input"}, %[[W:.+]]: tensor<4x3xf32> {qat.role = "parameter"})
// CHECK-SAME: -> (tensor<2x3xf32>, tensor<f32>)
// CHECK: tensor.empty() : tensor<2x3xf32>
// CHECK: linalg.fill {{.*}} -> tensor<2x3xf32>
// CHECK: linalg.matmul ins(%[[X]], %[[W]] : tensor<2x4xf32>, tensor<4x3xf32>) {{.*}} -> tensor<2x3xf32>
// CHECK: qat.observe %{{.+}} : tensor<2x3xf32> -> tensor<f32>
func.func @mlp(%x: tensor<4x4xf32> {qat.role = "input"},
               %w: tensor<4x3xf32> {qat.role = "parameter"})
    -> (tensor<4x3xf32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x4xf32>, tensor<4x3xf32>)
                     outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  %min, %max = qat.observe %y : tensor<4x3xf32> -> tensor<f32>
  return %y, %max : tensor<4x3xf32>, tensor<f32>
}

// -----

// Reshapes that keep the batch alone, padding and slicing of other
// dimensions: their static sizes follow.
// CHECK-LABEL: func.func @shapes(
// CHECK-SAME: tensor<2x1x4x4xf32>
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2, 3]] : tensor<2x1x4x4xf32> into tensor<2x16xf32>
// CHECK: tensor.expand_shape %{{.+}} {{\[}}[0], [1, 2]] output_shape [2, 8, 2] : tensor<2x16xf32> into tensor<2x8x2xf32>
// CHECK: tensor.pad %{{.+}} low[0, 1, 0] high[0, 1, 0]
// CHECK: tensor<2x8x2xf32> to tensor<2x10x2xf32>
// CHECK: tensor.extract_slice %{{.+}}[0, 0, 0] [2, 10, 1] [1, 1, 1] : tensor<2x10x2xf32> to tensor<2x10x1xf32>
func.func @shapes(%x: tensor<3x1x4x4xf32> {qat.role = "input"}) -> tensor<3x10x1xf32> {
  %zero = arith.constant 0.0 : f32
  %c = tensor.collapse_shape %x [[0], [1, 2, 3]] : tensor<3x1x4x4xf32> into tensor<3x16xf32>
  %e = tensor.expand_shape %c [[0], [1, 2]] output_shape [3, 8, 2] : tensor<3x16xf32> into tensor<3x8x2xf32>
  %p = tensor.pad %e low[0, 1, 0] high[0, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index):
    tensor.yield %zero : f32
  } : tensor<3x8x2xf32> to tensor<3x10x2xf32>
  %s = tensor.extract_slice %p[0, 0, 0] [3, 10, 1] [1, 1, 1] : tensor<3x10x2xf32> to tensor<3x10x1xf32>
  return %s : tensor<3x10x1xf32>
}

// -----

// The batch already: nothing changes.
// CHECK-LABEL: func.func @same(
// CHECK-SAME: tensor<2x5xf32>
func.func @same(%x: tensor<2x5xf32> {qat.role = "input"}) -> tensor<2x5xf32> {
  return %x : tensor<2x5xf32>
}
