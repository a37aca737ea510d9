// RUN: qat-opt %s -split-input-file --qat-split-sums | FileCheck %s

// A sum of a whole tensor (times a scalar) into a scalar: the 256 elements
// become 16 rows of 16 lanes, summed into 16 partial sums (rows a
// reduction, lanes parallel and innermost), then the lanes into the init.
// CHECK-LABEL: func @scaled_sum
// CHECK-SAME: (%[[X:.*]]: tensor<8x32xf32>, %[[S:.*]]: tensor<f32>, %[[INIT:.*]]: tensor<f32>)
func.func @scaled_sum(%x: tensor<8x32xf32>, %s: tensor<f32>, %init: tensor<f32>) -> tensor<f32> {
  // CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1]] : tensor<8x32xf32> into tensor<256xf32>
  // CHECK: %[[ROWS:.*]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [16, 16] : tensor<256xf32> into tensor<16x16xf32>
  // CHECK: %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<16xf32>)
  // CHECK: %[[LANES:.*]] = linalg.generic {indexing_maps = [#[[ID:.*]], #[[SC:.*]], #[[LANE:.*]]], iterator_types = ["reduction", "parallel"]} ins(%[[ROWS]], %[[S]] : tensor<16x16xf32>, tensor<f32>) outs(%[[ZEROS]] : tensor<16xf32>)
  // CHECK: arith.mulf
  // CHECK: arith.addf
  // CHECK: %[[TOTAL:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%[[LANES]] : tensor<16xf32>) outs(%[[INIT]] : tensor<f32>)
  // CHECK: return %[[TOTAL]]
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>, affine_map<(i, j) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%x, %s : tensor<8x32xf32>, tensor<f32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %t = arith.addf %acc, %p : f32
    linalg.yield %t : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// Left alone: a maximum (not a sum), a partial reduction, a transposed
// read, and a count that is not a multiple of 16.
// CHECK-LABEL: func @unchanged
func.func @unchanged(%x: tensor<8x32xf32>, %y: tensor<5x7xf32>, %init: tensor<f32>, %row: tensor<8xf32>) -> (tensor<f32>, tensor<8xf32>, tensor<f32>, tensor<f32>) {
  // CHECK-COUNT-4: linalg.generic
  // CHECK-NOT: linalg.generic
  // CHECK-NOT: tensor.expand_shape
  %m = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<8x32xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.maximumf %acc, %a : f32
    linalg.yield %t : f32
  } -> tensor<f32>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x32xf32>) outs(%row : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.addf %acc, %a : f32
    linalg.yield %t : f32
  } -> tensor<8xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, affine_map<(i, j) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<8x32xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %o = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%y : tensor<5x7xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %m, %p, %t, %o : tensor<f32>, tensor<8xf32>, tensor<f32>, tensor<f32>
}
