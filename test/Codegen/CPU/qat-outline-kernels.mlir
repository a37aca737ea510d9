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

// -----

// C's start and the elementwise epilogue go into the kernel: the caller
// neither fills C nor broadcasts the bias, and never sees the matmul's own
// result. The kernel makes C from the fill value or the bias (arguments),
// and the epilogue writes a tensor of its own, which bufferization makes
// the caller's out-parameter. The epilogue's captured constant is cloned
// in. Two layers of the same shapes, epilogue and start share a kernel;
// a different epilogue body gets its own.
// CHECK-LABEL: func.func @start_and_epilogue
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[BIAS:.*]]: tensor<16xf32>)
// CHECK-NOT: linalg.
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[R1:.*]] = call @[[RELU:qat_matmul_4x8x16_f32_f32_f32_epilogue]](%[[X]], %[[W]], %[[ZERO]])
// CHECK: %[[R2:.*]] = call @[[RELU]](%[[X]], %[[W]], %[[ZERO]])
// CHECK: %[[R3:.*]] = call @[[NEG:qat_matmul_4x8x16_f32_f32_f32_epilogue_0]](%[[X]], %[[W]], %[[ZERO]])
// CHECK: %[[R4:.*]] = call @[[BIASED:qat_matmul_4x8x16_f32_f32_f32]](%[[X]], %[[W]], %[[BIAS]])
// CHECK-NOT: linalg.
// CHECK: return %[[R1]], %[[R2]], %[[R3]], %[[R4]]
// CHECK: func.func private @[[RELU]](%{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<8x16xf32>, %[[V:.*]]: f32) -> tensor<4x16xf32> attributes {no_inline}
// CHECK-NEXT: %[[CUT:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[CE:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK-NEXT: %[[C:.*]] = linalg.fill ins(%[[V]] : f32) outs(%[[CE]] : tensor<4x16xf32>)
// CHECK-NEXT: %[[M:.*]] = linalg.matmul ins({{.*}}) outs(%[[C]] : tensor<4x16xf32>)
// CHECK-NEXT: %[[OE:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK-NEXT: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[M]] : tensor<4x16xf32>) outs(%[[OE]] : tensor<4x16xf32>)
// CHECK: arith.maximumf %{{.*}}, %[[CUT]]
// CHECK: return %[[OUT]]
// CHECK: func.func private @[[NEG]]
// CHECK: arith.negf
// CHECK: func.func private @[[BIASED]](%{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<8x16xf32>, %[[B:.*]]: tensor<16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[BE:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK-NEXT: %[[BC:.*]] = linalg.broadcast ins(%[[B]] : tensor<16xf32>) outs(%[[BE]] : tensor<4x16xf32>) dimensions = [0]
// CHECK-NEXT: linalg.matmul ins({{.*}}) outs(%[[BC]] : tensor<4x16xf32>)
// CHECK-NEXT: return
#id2 = affine_map<(i, j) -> (i, j)>
func.func @start_and_epilogue(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %bias: tensor<16xf32>)
    -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %cut = arith.constant 0.0 : f32
  // Two ReLU layers.
  %e1 = tensor.empty() : tensor<4x16xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m1 = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z1 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %o1 = tensor.empty() : tensor<4x16xf32>
  %r1 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m1 : tensor<4x16xf32>) outs(%o1 : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.maximumf %in, %cut : f32
    linalg.yield %c : f32
  } -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m2 = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z2 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %o2 = tensor.empty() : tensor<4x16xf32>
  %r2 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<4x16xf32>) outs(%o2 : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.maximumf %in, %cut : f32
    linalg.yield %c : f32
  } -> tensor<4x16xf32>
  // The same matmul, negated instead of clamped.
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  %o = tensor.empty() : tensor<4x16xf32>
  %r3 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x16xf32>) outs(%o : tensor<4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<4x16xf32>
  // A bias broadcast along the rows as C, no epilogue.
  %be = tensor.empty() : tensor<4x16xf32>
  %bc = linalg.broadcast ins(%bias : tensor<16xf32>) outs(%be : tensor<4x16xf32>) dimensions = [0]
  %r4 = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%bc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r1, %r2, %r3, %r4 : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

// An epilogue inside a loop that the matmul is outside of stays in the
// loop: moved into the kernel, the matmul would run on every iteration.
// CHECK-LABEL: func.func @epilogue_in_loop
// CHECK: %[[M:.*]] = call @qat_matmul_4x8x16_f32_f32_f32(
// CHECK: scf.for
// CHECK: linalg.generic {{.*}} ins(%[[M]], %{{.*}} : tensor<4x16xf32>, tensor<4x16xf32>)
// CHECK-NOT: _epilogue
#id3 = affine_map<(i, j) -> (i, j)>
func.func @epilogue_in_loop(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %init: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%acc = %init) -> (tensor<4x16xf32>) {
    %o = tensor.empty() : tensor<4x16xf32>
    %n = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel"]}
        ins(%m, %acc : tensor<4x16xf32>, tensor<4x16xf32>) outs(%o : tensor<4x16xf32>) {
    ^bb0(%a: f32, %b: f32, %out: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<4x16xf32>
    scf.yield %n : tensor<4x16xf32>
  }
  return %r : tensor<4x16xf32>
}
