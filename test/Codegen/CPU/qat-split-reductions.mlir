// RUN: qat-opt %s -split-input-file --qat-split-reductions | FileCheck %s

// A sum of a whole tensor (times a scalar) into a scalar: the 256 elements
// become one chunk of 16 rows of 16 lanes, summed into 16 partial sums
// (chunks parallel, rows a reduction, lanes parallel and innermost), then
// the chunks' partial sums lane by lane, then the lanes into the init.
// CHECK-LABEL: func @scaled_sum
// CHECK-SAME: (%[[X:.*]]: tensor<8x32xf32>, %[[S:.*]]: tensor<f32>, %[[INIT:.*]]: tensor<f32>)
func.func @scaled_sum(%x: tensor<8x32xf32>, %s: tensor<f32>, %init: tensor<f32>) -> tensor<f32> {
  // CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1]] : tensor<8x32xf32> into tensor<256xf32>
  // CHECK: %[[ROWS:.*]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1, 2]] output_shape [1, 16, 16] : tensor<256xf32> into tensor<1x16x16xf32>
  // CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
  // CHECK: %[[ZEROS:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<1x16xf32>)
  // CHECK: %[[LANES:.*]] = linalg.generic {indexing_maps = [#[[ID:.*]], #[[SC:.*]], #[[LANE:.*]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[ROWS]], %[[S]] : tensor<1x16x16xf32>, tensor<f32>) outs(%[[ZEROS]] : tensor<1x16xf32>)
  // CHECK: arith.mulf
  // CHECK: arith.addf
  // CHECK: %[[BYLANE:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[LANES]] : tensor<1x16xf32>) outs(%{{.*}} : tensor<16xf32>)
  // CHECK: %[[TOTAL:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]} ins(%[[BYLANE]] : tensor<16xf32>) outs(%[[INIT]] : tensor<f32>)
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

// An observer's minimum and maximum (two outputs) of an activation of
// 16 x 56 x 56 x 64 elements: 200704 rows of 16 lanes in 16 chunks of
// 12544 rows, each output's partials starting at its neutral element
// (+inf, -inf) and folded, chunks then lanes, into its init with its own
// op.
// CHECK-LABEL: func @min_max
// CHECK-SAME: (%[[X:.*]]: tensor<16x56x56x64xf32>, %[[LO:.*]]: tensor<f32>, %[[HI:.*]]: tensor<f32>)
func.func @min_max(%x: tensor<16x56x56x64xf32>, %lo: tensor<f32>, %hi: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  // CHECK: %[[ROWS:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1, 2]] output_shape [16, 12544, 16] : tensor<3211264xf32> into tensor<16x12544x16xf32>
  // CHECK: %[[INF:.*]] = arith.constant 0x7F800000 : f32
  // CHECK: %[[MINS:.*]] = linalg.fill ins(%[[INF]] : f32) outs(%{{.*}} : tensor<16x16xf32>)
  // CHECK: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
  // CHECK: %[[MAXS:.*]] = linalg.fill ins(%[[NINF]] : f32) outs(%{{.*}} : tensor<16x16xf32>)
  // CHECK: %[[P:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[ROWS]] : tensor<16x12544x16xf32>) outs(%[[MINS]], %[[MAXS]] : tensor<16x16xf32>, tensor<16x16xf32>)
  // CHECK: arith.minimumf
  // CHECK: arith.maximumf
  // CHECK: %[[MINL:.*]] = linalg.generic {{.*}} ins(%[[P]]#0 : tensor<16x16xf32>) outs(%{{.*}} : tensor<16xf32>)
  // CHECK: arith.minimumf
  // CHECK: %[[MIN:.*]] = linalg.generic {{.*}} ins(%[[MINL]] : tensor<16xf32>) outs(%[[LO]] : tensor<f32>)
  // CHECK: arith.minimumf
  // CHECK: %[[MAXL:.*]] = linalg.generic {{.*}} ins(%[[P]]#1 : tensor<16x16xf32>) outs(%{{.*}} : tensor<16xf32>)
  // CHECK: arith.maximumf
  // CHECK: %[[MAX:.*]] = linalg.generic {{.*}} ins(%[[MAXL]] : tensor<16xf32>) outs(%[[HI]] : tensor<f32>)
  // CHECK: arith.maximumf
  // CHECK: return %[[MIN]], %[[MAX]]
  %r:2 = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> ()>, affine_map<(n, h, w, c) -> ()>],
                         iterator_types = ["reduction", "reduction", "reduction", "reduction"]}
      ins(%x : tensor<16x56x56x64xf32>) outs(%lo, %hi : tensor<f32>, tensor<f32>) {
  ^bb0(%a: f32, %min: f32, %max: f32):
    %m = arith.minimumf %min, %a : f32
    %n = arith.maximumf %max, %a : f32
    linalg.yield %m, %n : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  return %r#0, %r#1 : tensor<f32>, tensor<f32>
}

// -----

// Left alone: a difference (not associative), a partial reduction, a
// transposed read, and a count that is not a multiple of 16.
// CHECK-LABEL: func @unchanged
func.func @unchanged(%x: tensor<8x32xf32>, %y: tensor<5x7xf32>, %init: tensor<f32>, %row: tensor<8xf32>) -> (tensor<f32>, tensor<8xf32>, tensor<f32>, tensor<f32>) {
  // CHECK-COUNT-4: linalg.generic
  // CHECK-NOT: linalg.generic
  // CHECK-NOT: tensor.expand_shape
  %m = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>],
                       iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<8x32xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.subf %acc, %a : f32
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
