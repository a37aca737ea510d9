// RUN: qat-opt %s -split-input-file --qat-vectorize-rows | FileCheck %s

// im2col of a 1x6x6x16 input, 3x3 window: each (n, oh, ow, kh, kw) copies
// one 16-byte row of channels, read at (n, oh + kh, ow + kw, 0).
// CHECK-DAG: #[[MH:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1 + d3)>
// CHECK-DAG: #[[MW:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d2 + d4)>
// CHECK-LABEL: func @im2col
func.func @im2col(%x: tensor<1x6x6x16xi8>) -> tensor<1x4x4x3x3x16xi8> {
  // CHECK-COUNT-5: scf.for
  // CHECK: %[[H:.*]] = affine.apply #[[MH]](
  // CHECK: %[[W:.*]] = affine.apply #[[MW]](
  // CHECK: %[[ROW:.*]] = vector.transfer_read %{{.*}}[%{{.*}}, %[[H]], %[[W]], %{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<1x6x6x16xi8>, vector<16xi8>
  // CHECK: vector.transfer_write %[[ROW]], %{{.*}} {in_bounds = [true]} : vector<16xi8>, tensor<1x4x4x3x3x16xi8>
  // CHECK-NOT: linalg.generic
  %e = tensor.empty() : tensor<1x4x4x3x3x16xi8>
  %p = linalg.generic {indexing_maps = [affine_map<(n, h, w, kh, kw, c) -> (n, h + kh, w + kw, c)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (n, h, w, kh, kw, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x6x6x16xi8>) outs(%e : tensor<1x4x4x3x3x16xi8>) {
  ^bb0(%in: i8, %out: i8):
    linalg.yield %in : i8
  } -> tensor<1x4x4x3x3x16xi8>
  return %p : tensor<1x4x4x3x3x16xi8>
}

// -----

// The body is applied to the row (here the VNNI kernel's bias, xor 0x80,
// with its scalar constant broadcast).
// CHECK-LABEL: func @biased_rows
func.func @biased_rows(%x: tensor<8x16xi8>) -> tensor<4x2x16xi8> {
  // CHECK: %[[ROW:.*]] = vector.transfer_read {{.*}} : tensor<8x16xi8>, vector<16xi8>
  // CHECK: %[[FLIP:.*]] = vector.broadcast %{{.*}} : i8 to vector<16xi8>
  // CHECK: %[[B:.*]] = arith.xori %[[ROW]], %[[FLIP]] : vector<16xi8>
  // CHECK: vector.transfer_write %[[B]]
  %e = tensor.empty() : tensor<4x2x16xi8>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j, c) -> (2 * i + j, c)>,
                                        affine_map<(i, j, c) -> (i, j, c)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<8x16xi8>) outs(%e : tensor<4x2x16xi8>) {
  ^bb0(%in: i8, %out: i8):
    %flip = arith.constant -128 : i8
    %b = arith.xori %in, %flip : i8
    linalg.yield %b : i8
  } -> tensor<4x2x16xi8>
  return %p : tensor<4x2x16xi8>
}

// -----

// Elementwise: a row operand, a per-row operand (one element per row,
// extracted and broadcast) and the output read by the body. Rows of 40 f32
// go as two vectors of 16 and one of 8.
// CHECK-LABEL: func @elementwise
func.func @elementwise(%x: tensor<3x40xf32>, %s: tensor<3xf32>, %acc: tensor<3x40xf32>) -> tensor<3x40xf32> {
  // CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
  // CHECK: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
  // CHECK: vector.transfer_read %{{.*}} : tensor<3x40xf32>, vector<16xf32>
  // CHECK: %[[S:.*]] = tensor.extract %{{.*}} : tensor<3xf32>
  // CHECK: vector.transfer_read %{{.*}} : tensor<3x40xf32>, vector<16xf32>
  // CHECK: vector.broadcast %[[S]] : f32 to vector<16xf32>
  // CHECK: arith.mulf {{.*}} : vector<16xf32>
  // CHECK: arith.addf {{.*}} : vector<16xf32>
  // CHECK: vector.transfer_write {{.*}} : vector<16xf32>, tensor<3x40xf32>
  // CHECK: arith.addf {{.*}} : vector<8xf32>
  // CHECK: vector.transfer_write {{.*}} : vector<8xf32>, tensor<3x40xf32>
  // CHECK-NOT: linalg.generic
  %y = linalg.generic {indexing_maps = [affine_map<(i, c) -> (i, c)>, affine_map<(i, c) -> (i)>, affine_map<(i, c) -> (i, c)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : tensor<3x40xf32>, tensor<3xf32>) outs(%acc : tensor<3x40xf32>) {
  ^bb0(%in: f32, %scale: f32, %out: f32):
    %m = arith.mulf %in, %scale : f32
    %a = arith.addf %m, %out : f32
    linalg.yield %a : f32
  } -> tensor<3x40xf32>
  return %y : tensor<3x40xf32>
}

// -----

// Left alone: rows of fewer than 4 elements, an input index that moves
// with the innermost loop (a transpose of the rows), a tensor of i1 (its
// vectors would be packed bits), a fill (nothing read a row at a time) and
// a reduction along the rows (the innermost loop).
// CHECK-LABEL: func @not_row_wise
func.func @not_row_wise(%x: tensor<4x16xf32>, %t: tensor<4x3xf32>, %b: tensor<4x16xi1>, %v: f32) -> (tensor<4x3xf32>, tensor<16x4xf32>, tensor<4x16xi1>, tensor<4x16xf32>, tensor<4xf32>) {
  // CHECK-COUNT-5: linalg.generic
  // CHECK-NOT: vector.transfer_read
  %e3 = tensor.empty() : tensor<4x3xf32>
  %short = linalg.generic {indexing_maps = [affine_map<(i, c) -> (3 - i, c)>, affine_map<(i, c) -> (i, c)>],
                           iterator_types = ["parallel", "parallel"]}
      ins(%t : tensor<4x3xf32>) outs(%e3 : tensor<4x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x3xf32>
  %et = tensor.empty() : tensor<16x4xf32>
  %transposed = linalg.generic {indexing_maps = [affine_map<(i, c) -> (c, i)>, affine_map<(i, c) -> (i, c)>],
                                iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%et : tensor<16x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<16x4xf32>
  %eb = tensor.empty() : tensor<4x16xi1>
  %negated = linalg.generic {indexing_maps = [affine_map<(i, c) -> (i, c)>, affine_map<(i, c) -> (i, c)>],
                             iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<4x16xi1>) outs(%eb : tensor<4x16xi1>) {
  ^bb0(%in: i1, %out: i1):
    %true = arith.constant true
    %n = arith.xori %in, %true : i1
    linalg.yield %n : i1
  } -> tensor<4x16xi1>
  %ef = tensor.empty() : tensor<4x16xf32>
  %filled = linalg.generic {indexing_maps = [affine_map<(i, c) -> ()>, affine_map<(i, c) -> (i, c)>],
                            iterator_types = ["parallel", "parallel"]}
      ins(%v : f32) outs(%ef : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x16xf32>
  %er = tensor.empty() : tensor<4xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(i, c) -> (i, c)>, affine_map<(i, c) -> (i)>],
                         iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x16xf32>) outs(%er : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<4xf32>
  return %short, %transposed, %negated, %filled, %sum : tensor<4x3xf32>, tensor<16x4xf32>, tensor<4x16xi1>, tensor<4x16xf32>, tensor<4xf32>
}

// -----

// Max pooling (2x2, stride 2) on int8 NHWC: a reduction over the window
// outside the innermost (channel) loop. Each output row of 16 channels is
// read once, updated by the body in two scf.for loops over the window (in
// their order) and written once.
// CHECK-DAG: #[[PH:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1 * 2 + d3)>
// CHECK-LABEL: func @max_pool
func.func @max_pool(%x: tensor<2x8x8x16xi8>, %init: tensor<2x4x4x16xi8>) -> tensor<2x4x4x16xi8> {
  // CHECK-COUNT-3: scf.for
  // CHECK: %[[ACC:.*]] = vector.transfer_read %{{.*}} : tensor<2x4x4x16xi8>, vector<16xi8>
  // CHECK: scf.for %{{.*}} iter_args(%[[A0:.*]] = %[[ACC]]) -> (vector<16xi8>)
  // CHECK: scf.for %{{.*}} iter_args(%[[A1:.*]] = %[[A0]]) -> (vector<16xi8>)
  // CHECK: affine.apply #[[PH]](
  // CHECK: %[[IN:.*]] = vector.transfer_read %{{.*}} : tensor<2x8x8x16xi8>, vector<16xi8>
  // CHECK: %[[MAX:.*]] = arith.maxsi %[[A1]], %[[IN]] : vector<16xi8>
  // CHECK: scf.yield %[[MAX]] : vector<16xi8>
  // CHECK: vector.transfer_write %{{.*}} : vector<16xi8>, tensor<2x4x4x16xi8>
  // CHECK-NOT: linalg.generic
  %w = tensor.empty() : tensor<2x2xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(n, h, w, kh, kw, c) -> (n, 2 * h + kh, 2 * w + kw, c)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (kh, kw)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (n, h, w, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]}
      ins(%x, %w : tensor<2x8x8x16xi8>, tensor<2x2xf32>) outs(%init : tensor<2x4x4x16xi8>) {
  ^bb0(%in: i8, %win: f32, %out: i8):
    %m = arith.maxsi %out, %in : i8
    linalg.yield %m : i8
  } -> tensor<2x4x4x16xi8>
  return %p : tensor<2x4x4x16xi8>
}

// -----

// A column sum (a bias gradient): the rows are the reduction, the columns
// 40 floats in vectors of 16, 16 and 8, each summed over the 64 rows in
// order in a register.
// CHECK-LABEL: func @column_sum
func.func @column_sum(%g: tensor<64x40xf32>, %init: tensor<40xf32>) -> tensor<40xf32> {
  // CHECK: scf.for %{{.*}} = %c0 to %c32 step %c16
  // CHECK: vector.transfer_read %{{.*}} : tensor<40xf32>, vector<16xf32>
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c64
  // CHECK: arith.addf %{{.*}} : vector<16xf32>
  // CHECK: vector.transfer_read %{{.*}} : tensor<40xf32>, vector<8xf32>
  // CHECK: arith.addf %{{.*}} : vector<8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>],
                       iterator_types = ["reduction", "parallel"]}
      ins(%g : tensor<64x40xf32>) outs(%init : tensor<40xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %out, %in : f32
    linalg.yield %a : f32
  } -> tensor<40xf32>
  return %s : tensor<40xf32>
}

// -----

// An observer's partial minima and maxima (qat-split-reductions' chunks):
// two outputs indexed alike, both rows read once, threaded together
// through the loop over the rows, and written once.
// CHECK-LABEL: func @partial_min_max
func.func @partial_min_max(%x: tensor<2x64x16xf32>, %lo: tensor<2x16xf32>, %hi: tensor<2x16xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>) {
  // CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
  // CHECK: %[[LO:.*]] = vector.transfer_read %{{.*}} : tensor<2x16xf32>, vector<16xf32>
  // CHECK: %[[HI:.*]] = vector.transfer_read %{{.*}} : tensor<2x16xf32>, vector<16xf32>
  // CHECK: %[[R:.*]]:2 = scf.for %{{.*}} = %{{.*}} to %c64 step %{{.*}} iter_args(%[[A:.*]] = %[[LO]], %[[B:.*]] = %[[HI]]) -> (vector<16xf32>, vector<16xf32>)
  // CHECK: arith.minimumf %[[A]], %{{.*}} : vector<16xf32>
  // CHECK: arith.maximumf %[[B]], %{{.*}} : vector<16xf32>
  // CHECK: vector.transfer_write %[[R]]#0
  // CHECK: vector.transfer_write %[[R]]#1
  %r:2 = linalg.generic {indexing_maps = [affine_map<(c, r, l) -> (c, r, l)>, affine_map<(c, r, l) -> (c, l)>, affine_map<(c, r, l) -> (c, l)>],
                         iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x : tensor<2x64x16xf32>) outs(%lo, %hi : tensor<2x16xf32>, tensor<2x16xf32>) {
  ^bb0(%in: f32, %min: f32, %max: f32):
    %m = arith.minimumf %min, %in : f32
    %n = arith.maximumf %max, %in : f32
    linalg.yield %m, %n : f32, f32
  } -> (tensor<2x16xf32>, tensor<2x16xf32>)
  return %r#0, %r#1 : tensor<2x16xf32>, tensor<2x16xf32>
}

// -----

// The first position of a 2x2 window's maximum (max pooling's gradient):
// positions of the outer loops (linalg.index of the window's loops, an
// affine.apply that ignores the innermost index) stay scalars, computed
// once per row, and are broadcast where they meet the row's values.
// CHECK-LABEL: func @window_position
func.func @window_position(%x: tensor<1x4x4x16xf32>, %win: tensor<2x2xf32>, %m: tensor<1x2x2x16xf32>, %init: tensor<1x2x2x16xi32>) -> tensor<1x2x2x16xi32> {
  // CHECK: scf.for %[[KH:[a-z0-9]+]] = {{.*}} -> (vector<16xi32>)
  // CHECK: scf.for %[[KW:[a-z0-9]+]] = {{.*}} -> (vector<16xi32>)
  // CHECK: arith.cmpf oeq, {{.*}} : vector<16xf32>
  // CHECK: %[[KWA:.*]] = affine.apply #{{.*}}(%[[KW]], %{{.*}})
  // CHECK: %[[ROW:.*]] = arith.muli %[[KH]], %{{.*}} : index
  // CHECK: %[[POS:.*]] = arith.addi %[[ROW]], %[[KWA]] : index
  // CHECK: %[[CAST:.*]] = arith.index_cast %[[POS]] : index to i32
  // CHECK: vector.broadcast %[[CAST]] : i32 to vector<16xi32>
  // CHECK: arith.minsi {{.*}} : vector<16xi32>
  // CHECK-NOT: linalg.generic
  %big = arith.constant 2147483647 : i32
  %c2 = arith.constant 2 : index
  %p = linalg.generic {indexing_maps = [affine_map<(n, h, w, kh, kw, c) -> (n, h * 2 + kh, w * 2 + kw, c)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (kh, kw)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (n, h, w, c)>,
                                        affine_map<(n, h, w, kh, kw, c) -> (n, h, w, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]}
      ins(%x, %win, %m : tensor<1x4x4x16xf32>, tensor<2x2xf32>, tensor<1x2x2x16xf32>) outs(%init : tensor<1x2x2x16xi32>) {
  ^bb0(%a: f32, %w: f32, %max: f32, %out: i32):
    %eq = arith.cmpf oeq, %a, %max : f32
    %i3 = linalg.index 3 : index
    %i4 = linalg.index 4 : index
    %i5 = linalg.index 5 : index
    %kw = affine.apply affine_map<(d0, d1) -> (d0)>(%i4, %i5)
    %row = arith.muli %i3, %c2 : index
    %pos = arith.addi %row, %kw : index
    %cast = arith.index_cast %pos : index to i32
    %sel = arith.select %eq, %cast, %big : i32
    %min = arith.minsi %sel, %out : i32
    linalg.yield %min : i32
  } -> tensor<1x2x2x16xi32>
  return %p : tensor<1x2x2x16xi32>
}

// -----

// The innermost index is a position of its own lane: left to scalar loops.
// CHECK-LABEL: func @lane_index
func.func @lane_index(%x: tensor<2x16xf32>) -> tensor<2x16xf32> {
  // CHECK: linalg.generic
  %e = tensor.empty() : tensor<2x16xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x16xf32>) outs(%e : tensor<2x16xf32>) {
  ^bb0(%a: f32, %out: f32):
    %j = linalg.index 1 : index
    %c = arith.index_cast %j : index to i32
    %f = arith.sitofp %c : i32 to f32
    %s = arith.addf %a, %f : f32
    linalg.yield %s : f32
  } -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// Two outputs indexed alike (a fake-quant's straight-through gradient and
// its scale's per-element term): both computed from one read of the row
// and written, threaded through the same loops.
// CHECK-LABEL: func @two_outputs
func.func @two_outputs(%x: tensor<4x32xf32>, %g: tensor<4x32xf32>, %s: tensor<f32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  // CHECK: scf.for {{.*}} -> (tensor<4x32xf32>, tensor<4x32xf32>)
  // CHECK: scf.for {{.*}} -> (tensor<4x32xf32>, tensor<4x32xf32>)
  // CHECK: %[[X:.*]] = vector.transfer_read %{{.*}} : tensor<4x32xf32>, vector<16xf32>
  // CHECK: %[[G:.*]] = vector.transfer_read %{{.*}} : tensor<4x32xf32>, vector<16xf32>
  // CHECK: %[[IN:.*]] = arith.cmpf olt, %[[X]], %{{.*}} : vector<16xf32>
  // CHECK: %[[DX:.*]] = arith.select %[[IN]], %[[G]], %{{.*}} : vector<16xi1>, vector<16xf32>
  // CHECK: %[[DS:.*]] = arith.mulf %[[X]], %[[G]] : vector<16xf32>
  // CHECK: %[[W0:.*]] = vector.transfer_write %[[DX]]
  // CHECK: %[[W1:.*]] = vector.transfer_write %[[DS]]
  // CHECK: scf.yield %[[W0]], %[[W1]]
  // CHECK-NOT: linalg.generic
  %e0 = tensor.empty() : tensor<4x32xf32>
  %e1 = tensor.empty() : tensor<4x32xf32>
  %zero = arith.constant 0.0 : f32
  %r:2 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>,
                                          affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                         iterator_types = ["parallel", "parallel"]}
      ins(%x, %g, %s : tensor<4x32xf32>, tensor<4x32xf32>, tensor<f32>) outs(%e0, %e1 : tensor<4x32xf32>, tensor<4x32xf32>) {
  ^bb0(%a: f32, %b: f32, %scale: f32, %o0: f32, %o1: f32):
    %in = arith.cmpf olt, %a, %scale : f32
    %dx = arith.select %in, %b, %zero : f32
    %ds = arith.mulf %a, %b : f32
    linalg.yield %dx, %ds : f32, f32
  } -> (tensor<4x32xf32>, tensor<4x32xf32>)
  return %r#0, %r#1 : tensor<4x32xf32>, tensor<4x32xf32>
}
