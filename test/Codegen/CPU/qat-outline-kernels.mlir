// RUN: qat-opt %s -split-input-file --qat-outline-kernels | FileCheck %s

// Two matmuls of one shape share a kernel; another shape gets its own; a
// matmul with a constant weight (packed at compile time by the VNNI pass)
// stays where it is.
// CHECK-LABEL: func.func @layers
// CHECK: %[[A:.*]] = call @qat_matmul_4x8x16_f32_f32_f32(%arg0, %arg1, %{{.*}})
// CHECK: call @qat_matmul_4x8x16_f32_f32_f32(%arg0, %arg1, %[[A]])
// CHECK: call @qat_matmul_4x16x8_f32_f32_f32
// CHECK: linalg.matmul ins(%arg0, %[[W:.*]] :
// CHECK: func.func private @qat_matmul_4x8x16_f32_f32_f32(%{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<8x16xf32>, %{{.*}}: tensor<4x16xf32>) -> tensor<4x16xf32> attributes {no_inline}
// CHECK-NEXT: linalg.matmul
// CHECK-NEXT: return
// CHECK: func.func private @qat_matmul_4x16x8_f32_f32_f32
// CHECK-NOT: func.func private
func.func @layers(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %v: tensor<16x8xf32>) -> (tensor<4x16xf32>, tensor<4x8xf32>, tensor<4x16xf32>) {
  %c0 = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %a = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  %b = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%a : tensor<4x16xf32>) -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %z2 = linalg.fill ins(%c0 : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %c = linalg.matmul ins(%b, %v : tensor<4x16xf32>, tensor<16x8xf32>) outs(%z2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %k = arith.constant dense<1.0> : tensor<8x16xf32>
  %d = linalg.matmul ins(%x, %k : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %b, %c, %d : tensor<4x16xf32>, tensor<4x8xf32>, tensor<4x16xf32>
}

// -----

// 4-bit weights, constant codes unpacked at run time, are constants too:
// the VNNI pass repacks them at compile time, so the matmul stays.
// CHECK-LABEL: func.func @int4_weights
// CHECK: linalg.matmul
// CHECK-NOT: call @qat_matmul
func.func @int4_weights(%x: tensor<1x4xi8>, %c: tensor<1x2xi32>) -> tensor<1x2xi32> {
  %p = arith.constant dense<[[-32], [-15], [2], [19]]> : tensor<4x1xi8>
  %e = tensor.empty() : tensor<4x1x2xi8>
  %u = linalg.generic {indexing_maps = [affine_map<(i, j, h) -> (i, j)>, affine_map<(i, j, h) -> (i, j, h)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%p : tensor<4x1xi8>) outs(%e : tensor<4x1x2xi8>) attrs = {qat.unpack_codes} {
  ^bb0(%byte: i8, %o: i8):
    %h = linalg.index 2 : index
    %hi = arith.index_cast %h : index to i8
    %four = arith.constant 4 : i8
    %m = arith.muli %hi, %four : i8
    %up = arith.subi %four, %m : i8
    %top = arith.shli %byte, %up : i8
    %v = arith.shrsi %top, %four : i8
    linalg.yield %v : i8
  } -> tensor<4x1x2xi8>
  %b = tensor.collapse_shape %u [[0], [1, 2]] : tensor<4x1x2xi8> into tensor<4x2xi8>
  %0 = linalg.matmul ins(%x, %b : tensor<1x4xi8>, tensor<4x2xi8>) outs(%c : tensor<1x2xi32>) -> tensor<1x2xi32>
  return %0 : tensor<1x2xi32>
}

// -----

// A patch matrix's gather goes into the kernel with its matmul: the kernel
// takes the gather's input (2x3x16), not the patches (4x32). The same
// gather and shapes share the kernel.
// CHECK-LABEL: func.func @gathered
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16xf32>, %[[B:.*]]: tensor<32x16xf32>, %[[C:.*]]: tensor<4x16xf32>)
// CHECK-NOT: linalg.generic
// CHECK: %[[R:.*]] = call @qat_matmul_4x32x16_f32_f32_f32_gathered(%[[X]], %[[B]], %[[C]])
// CHECK: call @qat_matmul_4x32x16_f32_f32_f32_gathered(%[[X]], %[[B]], %[[R]])
// CHECK: func.func private @qat_matmul_4x32x16_f32_f32_f32_gathered(%{{.*}}: tensor<2x3x16xf32>, %{{.*}}: tensor<32x16xf32>, %{{.*}}: tensor<4x16xf32>) -> tensor<4x16xf32> attributes {no_inline}
// CHECK-NEXT: tensor.empty() : tensor<2x2x2x16xf32>
// CHECK-NEXT: linalg.generic
// CHECK: tensor.collapse_shape
// CHECK-NEXT: linalg.matmul
// CHECK-NEXT: return
// CHECK-NOT: func.func private
#gather = affine_map<(i, j, k, c) -> (i, j + k, c)>
#id = affine_map<(i, j, k, c) -> (i, j, k, c)>
func.func @gathered(%x: tensor<2x3x16xf32>, %b: tensor<32x16xf32>, %c: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<2x2x2x16xf32>
  %p = linalg.generic {indexing_maps = [#gather, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x3x16xf32>) outs(%e : tensor<2x2x2x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x2x2x16xf32>
  %a = tensor.collapse_shape %p [[0, 1], [2, 3]] : tensor<2x2x2x16xf32> into tensor<4x32xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x32xf32>, tensor<32x16xf32>) outs(%c : tensor<4x16xf32>) -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<2x2x2x16xf32>
  %p2 = linalg.generic {indexing_maps = [#gather, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x3x16xf32>) outs(%e2 : tensor<2x2x2x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x2x2x16xf32>
  %a2 = tensor.collapse_shape %p2 [[0, 1], [2, 3]] : tensor<2x2x2x16xf32> into tensor<4x32xf32>
  %1 = linalg.matmul ins(%a2, %b : tensor<4x32xf32>, tensor<32x16xf32>) outs(%0 : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %1 : tensor<4x16xf32>
}
