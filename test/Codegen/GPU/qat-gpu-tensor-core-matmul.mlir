// RUN: qat-opt %s --qat-gpu-tensor-core-matmul --split-input-file | FileCheck %s
// RUN: qat-opt %s --qat-gpu-tensor-core-matmul="emulate-on-host=1" --split-input-file | FileCheck %s --check-prefix=HOST

// A 128x64 by 64x96 int8 matmul: 2x2 blocks of 128 threads with two shared
// tiles of 64 rows of 12 words, 2 steps of 32 along the reduction, each
// staging its tiles between barriers and issuing 8 mma.sync per warp with
// wrapping int32 accumulation. The zero fill and the requantizing generic
// are fused: neither is left, and the kernel stores int8.
// CHECK-LABEL: func.func @requantized
// CHECK-NOT:     linalg.
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %c2{{.*}}, {{.*}} = %c2{{.*}}, {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}, {{.*}} = %c1{{.*}}, {{.*}} = %c1{{.*}}) workgroup({{.*}} : memref<64x12xi32, #gpu.address_space<workgroup>>, {{.*}} : memref<64x12xi32, #gpu.address_space<workgroup>>)
// CHECK:           scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step
// CHECK-COUNT-8:     memref.store {{.*}} : memref<64x12xi32, #gpu.address_space<workgroup>>
// CHECK:             gpu.barrier
// CHECK-COUNT-8:     nvvm.mma.sync {{.*}}intOverflowBehavior = #nvvm.mma_int_overflow<wrapped>{{.*}}multiplicandAPtxType = #nvvm.mma_type<s8>, multiplicandBPtxType = #nvvm.mma_type<s8>, shape = #nvvm.shape<m = 16, n = 8, k = 32>
// CHECK:             gpu.barrier
// CHECK:           arith.shrsi
// CHECK:           arith.trunci
// CHECK:           memref.store {{.*}} : memref<128x96xi8>
// CHECK-NOT:     linalg.
// CHECK:         return
// The same kernel as loops for the CPU: shared tiles, registers and
// fragments are buffers, each warp's product is computed from its lanes'
// fragments.
// HOST-LABEL: func.func @requantized
// HOST-NOT:     gpu.
// HOST-NOT:     nvvm.
// HOST:         memref.alloc() : memref<64x12xi32>
// HOST:         memref.alloc() : memref<64x12xi32>
// HOST:         memref.alloc() : memref<128x32xi32>
// HOST:         memref.alloc() : memref<2x32x4xi32>
// HOST:         memref.alloc() : memref<4x32x2xi32>
// HOST:         scf.for
// HOST:         memref.dealloc
func.func @requantized(%a: memref<128x64xi8>, %b: memref<64x96xi8>, %y: memref<128x96xi8>) {
  %zero = arith.constant 0 : i32
  %shift = arith.constant 4 : i32
  %acc = memref.alloc() : memref<128x96xi32>
  linalg.fill ins(%zero : i32) outs(%acc : memref<128x96xi32>)
  linalg.matmul ins(%a, %b : memref<128x64xi8>, memref<64x96xi8>) outs(%acc : memref<128x96xi32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%acc : memref<128x96xi32>) outs(%y : memref<128x96xi8>) {
  ^bb0(%in: i32, %out: i8):
    %s = arith.shrsi %in, %shift : i32
    %t = arith.trunci %s : i32 to i8
    linalg.yield %t : i8
  }
  return
}

// -----

// Fewer than 16 rows: one thread per output element on dp4a, four bytes of
// the reduction at a time; the bias broadcast is read per column in the
// kernel, and the result, which the function returns, is stored as int32.
// CHECK-LABEL: func.func @gemv
// CHECK-NOT:     linalg.
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK:           scf.for {{.*}} = %c0{{.*}} to %c100{{.*}} step %c4
// CHECK:             nvvm.dot.accumulate.4way {{.*}} <signed>, {{.*}} <signed>
// CHECK:           memref.load %arg2
// CHECK:           memref.store {{.*}}, %arg3{{.*}} : memref<2x10xi32>
// CHECK-NOT:     linalg.
// HOST-LABEL: func.func @gemv
// HOST-NOT:     gpu.
// HOST-NOT:     nvvm.
// HOST:         arith.extsi
// HOST:         arith.muli
func.func @gemv(%a: memref<2x100xi8>, %b: memref<100x10xi8>, %bias: memref<10xi32>, %out: memref<2x10xi32>) {
  linalg.broadcast ins(%bias : memref<10xi32>) outs(%out : memref<2x10xi32>) dimensions = [0]
  linalg.matmul ins(%a, %b : memref<2x100xi8>, memref<100x10xi8>) outs(%out : memref<2x10xi32>)
  return
}

// -----

// The accumulator is read again after the requantization, so the generic is
// not fused: the kernel stores the int32 accumulator and the generic stays.
// The accumulator's initial value is the caller's (no fill to fuse).
// CHECK-LABEL: func.func @accumulator_read_later
// CHECK:         gpu.launch
// CHECK:           nvvm.mma.sync
// CHECK:           memref.load %arg2
// CHECK:           memref.store {{.*}}, %arg2{{.*}} : memref<32x32xi32>
// CHECK:         linalg.generic
// CHECK:         memref.copy %arg2, %arg4
func.func @accumulator_read_later(%a: memref<32x32xi8>, %b: memref<32x32xi8>, %acc: memref<32x32xi32>, %y: memref<32x32xi8>, %keep: memref<32x32xi32>) {
  linalg.matmul ins(%a, %b : memref<32x32xi8>, memref<32x32xi8>) outs(%acc : memref<32x32xi32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%acc : memref<32x32xi32>) outs(%y : memref<32x32xi8>) {
  ^bb0(%in: i32, %out: i8):
    %t = arith.trunci %in : i32 to i8
    linalg.yield %t : i8
  }
  memref.copy %acc, %keep : memref<32x32xi32> to memref<32x32xi32>
  return
}

// -----

// Float matmuls and unsigned int8 matmuls are left to qat-gpu-map-loops.
// CHECK-LABEL: func.func @not_int8
// CHECK-NOT:     gpu.launch
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<32x32xf32>
// CHECK:         linalg.matmul {cast = #linalg.type_fn<cast_unsigned>}
func.func @not_int8(%a: memref<32x32xf32>, %b: memref<32x32xf32>, %c: memref<32x32xf32>,
                    %x: memref<32x32xi8>, %y: memref<32x32xi8>, %z: memref<32x32xi32>) {
  linalg.matmul ins(%a, %b : memref<32x32xf32>, memref<32x32xf32>) outs(%c : memref<32x32xf32>)
  linalg.matmul {cast = #linalg.type_fn<cast_unsigned>} ins(%x, %y : memref<32x32xi8>, memref<32x32xi8>) outs(%z : memref<32x32xi32>)
  return
}

// -----

// The fill sets a larger buffer than the matmul's accumulator (a subview of
// it): it stays, and the kernel starts from what it wrote. The generic also
// reads the accumulator's buffer through another view, which the kernel
// would not write: it is not fused either.
// CHECK-LABEL: func.func @partial_fill_and_second_view
// CHECK:         linalg.fill
// CHECK:         gpu.launch
// CHECK:           memref.load %subview[
// CHECK:           memref.store {{.*}}, %subview[
// CHECK:         linalg.generic
func.func @partial_fill_and_second_view(%a: memref<32x32xi8>, %b: memref<32x32xi8>, %y: memref<32x32xi32>) {
  %zero = arith.constant 0 : i32
  %all = memref.alloc() : memref<64x32xi32>
  linalg.fill ins(%zero : i32) outs(%all : memref<64x32xi32>)
  %acc = memref.subview %all[0, 0] [32, 32] [1, 1] : memref<64x32xi32> to memref<32x32xi32, strided<[32, 1]>>
  %rest = memref.subview %all[32, 0] [32, 32] [1, 1] : memref<64x32xi32> to memref<32x32xi32, strided<[32, 1], offset: 1024>>
  linalg.matmul ins(%a, %b : memref<32x32xi8>, memref<32x32xi8>) outs(%acc : memref<32x32xi32, strided<[32, 1]>>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%acc, %rest : memref<32x32xi32, strided<[32, 1]>>, memref<32x32xi32, strided<[32, 1], offset: 1024>>) outs(%y : memref<32x32xi32>) {
  ^bb0(%in: i32, %other: i32, %out: i32):
    %s = arith.addi %in, %other : i32
    linalg.yield %s : i32
  }
  return
}

// -----

// A constant B (the weights) is stored transposed at compile time, N x K,
// aligned to 64 bytes, and read 16 bytes at a time along the reduction, like
// A, whose rows (32 bytes) are whole aligned 16-byte chunks.
// CHECK:       memref.global "private" constant @weights_transposed : memref<2x32xi8> = dense<{{\[\[}}0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31], [0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16, -17, -18, -19, -20, -21, -22, -23, -24, -25, -26, -27, -28, -29, -30, -31]]> {alignment = 64 : i64}
// CHECK-LABEL: func.func @constant_weights
// CHECK:         %[[T:.*]] = memref.get_global @weights_transposed : memref<2x32xi8>
// CHECK:         gpu.launch
// CHECK:           vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<64x32xi8>, vector<16xi8>
// CHECK:           vector.load %[[T]][{{.*}}] {alignment = 16 : i64} : memref<2x32xi8>, vector<16xi8>
// CHECK:           nvvm.mma.sync
memref.global "private" constant @weights : memref<32x2xi8> = dense<[[0, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [8, -8], [9, -9], [10, -10], [11, -11], [12, -12], [13, -13], [14, -14], [15, -15], [16, -16], [17, -17], [18, -18], [19, -19], [20, -20], [21, -21], [22, -22], [23, -23], [24, -24], [25, -25], [26, -26], [27, -27], [28, -28], [29, -29], [30, -30], [31, -31]]>
func.func @constant_weights(%a: memref<64x32xi8>, %c: memref<64x2xi32>) {
  %b = memref.get_global @weights : memref<32x2xi8>
  linalg.matmul ins(%a, %b : memref<64x32xi8>, memref<32x2xi8>) outs(%c : memref<64x2xi32>)
  return
}

// -----

// A convolution after qat-conv-to-matmul: the im2col copy writes the patch
// matrix, which only the matmul reads. The kernel reads the convolution's
// input in place instead (implicit GEMM): element (row, k) of the patches is
// x[n, oh + kh, ow + kw, c], 16 channels at a time; the patch buffer and
// its copy are gone.
// CHECK-LABEL: func.func @convolution
// CHECK-NOT:     memref.alloc
// CHECK-NOT:     linalg.generic
// CHECK:         gpu.launch
// CHECK:           vector.load %arg0[{{.*}}] {alignment = 16 : i64} : memref<2x10x10x16xi8>, vector<16xi8>
// CHECK:           nvvm.mma.sync
func.func @convolution(%x: memref<2x10x10x16xi8>, %w: memref<144x32xi8>, %y: memref<128x32xi32>) {
  %p = memref.alloc() {alignment = 64 : i64} : memref<2x8x8x3x3x16xi8>
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 + d3, d2 + d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4, d5)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%x : memref<2x10x10x16xi8>) outs(%p : memref<2x8x8x3x3x16xi8>) {
  ^bb0(%in: i8, %out: i8):
    linalg.yield %in : i8
  }
  %a = memref.collapse_shape %p [[0, 1, 2], [3, 4, 5]] : memref<2x8x8x3x3x16xi8> into memref<128x144xi8>
  linalg.matmul ins(%a, %w : memref<128x144xi8>, memref<144x32xi8>) outs(%y : memref<128x32xi32>)
  memref.dealloc %p : memref<2x8x8x3x3x16xi8>
  return
}
