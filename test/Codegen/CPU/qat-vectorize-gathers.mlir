// RUN: qat-opt %s -split-input-file --qat-vectorize-gathers | FileCheck %s

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

// Left alone: an identity copy (LLVM vectorizes it), rows of fewer than 4
// elements, an input index that moves with the innermost loop (a transpose
// of the rows), and a body that reads its output.
// CHECK-LABEL: func @not_gathers
func.func @not_gathers(%x: tensor<4x16xf32>, %y: tensor<16x4xf32>, %t: tensor<4x3xf32>) -> (tensor<4x16xf32>, tensor<4x3xf32>, tensor<16x4xf32>, tensor<4x16xf32>) {
  // CHECK-COUNT-4: linalg.generic
  // CHECK-NOT: vector.transfer_read
  %e = tensor.empty() : tensor<4x16xf32>
  %copy = linalg.generic {indexing_maps = [affine_map<(i, c) -> (i, c)>, affine_map<(i, c) -> (i, c)>],
                          iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x16xf32>
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
  %reads = linalg.generic {indexing_maps = [affine_map<(i, c) -> (3 - i, c)>, affine_map<(i, c) -> (i, c)>],
                           iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x16xf32>) outs(%x : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %copy, %short, %transposed, %reads : tensor<4x16xf32>, tensor<4x3xf32>, tensor<16x4xf32>, tensor<4x16xf32>
}
