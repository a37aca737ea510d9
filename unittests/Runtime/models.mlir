// Programs compiled by qat-compile for RuntimeTest.c (see
// unittests/CMakeLists.txt).

// A two-layer float MLP with its weights as arguments.
func.func @mlp(%x: tensor<2x4xf32> {qat.name = "x"}, %w1: tensor<4x8xf32> {qat.name = "w1"},
               %b1: tensor<8xf32> {qat.name = "b1"}, %w2: tensor<8x3xf32> {qat.name = "w2"},
               %b2: tensor<3xf32> {qat.name = "b2"}) -> (tensor<2x3xf32> {qat.name = "y"}) {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x8xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<2x4xf32>, tensor<4x8xf32>) outs(%z1 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %hb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%h, %b1 : tensor<2x8xf32>, tensor<8xf32>) outs(%e1 : tensor<2x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %e2 = tensor.empty() : tensor<2x3xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%hb, %w2 : tensor<2x8xf32>, tensor<8x3xf32>) outs(%z2 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%y, %b2 : tensor<2x3xf32>, tensor<3xf32>) outs(%e2 : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %yb : tensor<2x3xf32>
}

// Column sums of a batch of any size.
func.func @colsum(%x: tensor<?x4xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>],
                       iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<?x4xf32>) outs(%z : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %s : tensor<4xf32>
}

// int8 x int8 -> int32 matmul, requantized by 2^-6 to int8 with zero point 3.
func.func @qmatmul(%a: tensor<4x16xi8>, %b: tensor<16x8xi8>) -> tensor<4x8xi8> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<4x8xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<4x8xi32>) -> tensor<4x8xi32>
  %acc = linalg.matmul ins(%a, %b : tensor<4x16xi8>, tensor<16x8xi8>) outs(%z : tensor<4x8xi32>) -> tensor<4x8xi32>
  %q = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 36>,
                            output_zero_point = 3 : i32} : tensor<4x8xi32> -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// Two results, one of them 0-D.
func.func @scale_and_sum(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<f32>) {
  %two = arith.constant dense<2.0> : tensor<3xf32>
  %d = arith.mulf %x, %two : tensor<3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%x : tensor<3xf32>) outs(%z : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %d, %s : tensor<3xf32>, tensor<f32>
}
