// RUN: qat-opt %s -split-input-file --qat-x86-vnni-matmul | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-x86-vnni-matmul --qat-x86-lower-vnni-dot | FileCheck %s --check-prefix=LOWERED
// RUN: qat-opt %s -split-input-file --qat-x86-vnni-matmul=sparse-weights=false | FileCheck %s --check-prefix=DENSE
// RUN: qat-opt %s -split-input-file --qat-x86-vnni-matmul=implicit-gemm=false | FileCheck %s --check-prefix=NOGEMM

// CHECK-LABEL: func @runtime_weights
func.func @runtime_weights(%a: tensor<9x8xi8>, %b: tensor<8x20xi8>, %c: tensor<9x20xi32>) -> tensor<9x20xi32> {
  // B padded to 8x32 and packed to [2][2][64]; -128 * column sums.
  // CHECK: tensor.pad
  // CHECK: linalg.generic
  // CHECK: } -> tensor<2x2x64xi8>
  // CHECK: arith.constant -128 : i32
  // A made unsigned once: each byte xor 0x80.
  // CHECK: arith.constant -128 : i8
  // CHECK: arith.xori
  // CHECK: } -> tensor<9x8xi8>
  // CHECK: scf.for
  // CHECK: arith.extui {{.*}} : vector<16x4xi8> to vector<16x4xi32>
  // CHECK: arith.extsi {{.*}} : vector<16x4xi8> to vector<16x4xi32>
  // CHECK: vector.multi_reduction <add>, {{.*}} [1] : vector<16x4xi32> to vector<16xi32>
  // CHECK-NOT: linalg.matmul
  // LOWERED: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"({{.*}}) : (vector<16xi32>, vector<64xi8>, vector<64xi8>) -> vector<16xi32>
  // LOWERED-NOT: vector.multi_reduction
  %0 = linalg.matmul ins(%a, %b : tensor<9x8xi8>, tensor<8x20xi8>) outs(%c : tensor<9x20xi32>) -> tensor<9x20xi32>
  return %0 : tensor<9x20xi32>
}

// -----

// Constant weights are packed at compile time: B[k][j] = k - 2j for 4x2,
// padded to 16 columns; column sums 6 (j = 0) and -2 (j = 1) times -128.
// CHECK-LABEL: func @constant_weights
func.func @constant_weights(%a: tensor<1x4xi8>, %c: tensor<1x2xi32>) -> tensor<1x2xi32> {
  // CHECK-DAG: arith.constant dense<[-768, 256, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]> : tensor<16xi32>
  // CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 2, 3, -2, -1, 0, 1, 0, 0, {{.*}}]]]> : tensor<1x1x64xi8>
  // CHECK-NOT: tensor.pad
  %b = arith.constant dense<[[0, -2], [1, -1], [2, 0], [3, 1]]> : tensor<4x2xi8>
  %0 = linalg.matmul ins(%a, %b : tensor<1x4xi8>, tensor<4x2xi8>) outs(%c : tensor<1x2xi32>) -> tensor<1x2xi32>
  return %0 : tensor<1x2xi32>
}

// -----

// The same weights packed two per byte (qat-convert-to-integer's pack-int4:
// [[0 | -2 << 4], [1 | -1 << 4], [2 | 0], [3 | 1 << 4]] = [-32, -15, 2, 19]):
// repacked at compile time into the kernel's layout, still two per byte
// ([0, 1] -> 16, [2, 3] -> 50, [-2, -1] -> -2, [0, 1] -> 16), and unpacked
// at run time straight into that layout; the first unpack is gone.
// CHECK-LABEL: func @packed_int4_weights
func.func @packed_int4_weights(%a: tensor<1x4xi8>, %c: tensor<1x2xi32>) -> tensor<1x2xi32> {
  // CHECK: %[[P:.*]] = arith.constant dense<[16, 50, -2, 16, 0, {{.*}}]> : tensor<32xi8>
  // CHECK: linalg.generic {{.*}} ins(%[[P]] : tensor<32xi8>) outs(%{{.*}} : tensor<32x2xi8>) attrs = {qat.unpack_codes}
  // CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<32x2xi8> into tensor<64xi8>
  // CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1, 2]] output_shape [1, 1, 64] : tensor<64xi8> into tensor<1x1x64xi8>
  // CHECK: arith.constant dense<[-768, 256, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]> : tensor<16xi32>
  // CHECK-NOT: tensor<4x1xi8>
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
  %0 = linalg.matmul ins(%a, %b : tensor<1x4xi8>, tensor<4x2xi8>) outs(%c : tensor<1x2xi32>) -> tensor<1x2xi32>
  return %0 : tensor<1x2xi32>
}

// -----

// Unsigned-cast and float matmuls are not for this pass.
// CHECK-LABEL: func @unchanged
func.func @unchanged(%a: tensor<4x8xi8>, %b: tensor<8x16xi8>, %c: tensor<4x16xi32>) -> tensor<4x16xi32> {
  // CHECK: linalg.matmul
  %0 = linalg.matmul {cast = #linalg.type_fn<cast_unsigned>} ins(%a, %b : tensor<4x8xi8>, tensor<8x16xi8>) outs(%c : tensor<4x16xi32>) -> tensor<4x16xi32>
  return %0 : tensor<4x16xi32>
}

// -----

// An int32 bias-add consumer is fused into the VNNI kernel's stores.
// CHECK-LABEL: func @bias_epilogue
func.func @bias_epilogue(%a: tensor<8x8xi8>, %b: tensor<8x16xi8>, %c: tensor<8x16xi32>, %bias: tensor<16xi32>) -> tensor<8x16xi32> {
  // CHECK: vector.transfer_read %{{.*}}[%{{.*}}], %{{.*}} : tensor<16xi32>, vector<16xi32>
  // CHECK: arith.addi %{{.*}} : vector<16xi32>
  // CHECK: vector.transfer_write
  // CHECK-NOT: linalg.generic {{.*}}ins(%{{.*}} : tensor<8x16xi32>, tensor<16xi32>)
  %m = linalg.matmul ins(%a, %b : tensor<8x8xi8>, tensor<8x16xi8>) outs(%c : tensor<8x16xi32>) -> tensor<8x16xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %bias : tensor<8x16xi32>, tensor<16xi32>) outs(%c : tensor<8x16xi32>) {
  ^bb0(%x: i32, %y: i32, %o: i32):
    %s = arith.addi %x, %y : i32
    linalg.yield %s : i32
  } -> tensor<8x16xi32>
  return %r : tensor<8x16xi32>
}

// -----

// An epilogue that changes the element type (requantization to int8) writes
// the kernel's results into its own output; the accumulators start from the
// matmul's output, which is only read.
// CHECK-LABEL: func @narrowing_epilogue
// CHECK-SAME: %[[C:[a-z0-9]+]]: tensor<8x16xi32>, %[[OUT:[a-z0-9]+]]: tensor<8x16xi8>
func.func @narrowing_epilogue(%a: tensor<8x8xi8>, %b: tensor<8x16xi8>, %c: tensor<8x16xi32>, %out: tensor<8x16xi8>) -> tensor<8x16xi8> {
  // CHECK: scf.for %{{.*}} iter_args(%[[D:.*]] = %[[OUT]]) -> (tensor<8x16xi8>)
  // CHECK: vector.transfer_read %[[C]]
  // CHECK: arith.trunci %{{.*}} : vector<16xi32> to vector<16xi8>
  // CHECK: vector.transfer_write %{{.*}}, %{{.*}} : vector<16xi8>, tensor<8x16xi8>
  %m = linalg.matmul ins(%a, %b : tensor<8x8xi8>, tensor<8x16xi8>) outs(%c : tensor<8x16xi32>) -> tensor<8x16xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<8x16xi32>) outs(%out : tensor<8x16xi8>) {
  ^bb0(%x: i32, %o: i8):
    %t = arith.trunci %x : i32 to i8
    linalg.yield %t : i8
  } -> tensor<8x16xi8>
  return %r : tensor<8x16xi8>
}

// -----

// Block-sparse weights: of the 4 tiles of this 8x32 B (4 k x 16 columns
// each), only tile (k 4..7, columns 0..15) is nonzero, so 75% are zero and
// the cost rule keeps the one tile with a CSR index: panel 0 has tiles
// [0, 1), panel 1 none, and the kept tile starts at kq = 1. The reduction
// loop runs over a panel's kept tiles, one 16-column vector wide.
// CHECK-LABEL: func @block_sparse_weights
// DENSE-LABEL: func @block_sparse_weights
func.func @block_sparse_weights(%a: tensor<9x8xi8>, %c: tensor<9x32xi32>) -> tensor<9x32xi32> {
  // CHECK-DAG: %[[TILES:.*]] = arith.constant dense<{{\[\[}}1, 1, 1, 1, 2, 2, 2, 2, {{.*}}]]> : tensor<1x64xi8>
  // CHECK-DAG: %[[OFFSETS:.*]] = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  // CHECK-DAG: %[[ROWS:.*]] = arith.constant dense<1> : tensor<1xi32>
  // CHECK: scf.for
  // CHECK: scf.for %[[JV:[a-z0-9]+]] =
  // CHECK: %[[FIRST:.*]] = tensor.extract %[[OFFSETS]][%[[JV]]] : tensor<3xi32>
  // CHECK: %[[LOWER:.*]] = arith.index_cast %[[FIRST]] : i32 to index
  // CHECK: tensor.extract %[[OFFSETS]]
  // CHECK: %[[UPPER:.*]] = arith.index_cast
  // CHECK: scf.for %[[T:.*]] = %[[LOWER]] to %[[UPPER]]
  // CHECK: %[[KQ:.*]] = tensor.extract %[[ROWS]][%[[T]]] : tensor<1xi32>
  // CHECK: vector.transfer_read %[[TILES]][%[[T]], %{{.*}}]{{.*}} : tensor<1x64xi8>, vector<64xi8>
  // CHECK-NOT: tensor<2x2x64xi8>
  // With sparse-weights=false, the dense layout of all 4 tiles.
  // DENSE: arith.constant {{.*}} : tensor<2x2x64xi8>
  // DENSE-NOT: tensor<1x64xi8>
  // DENSE: return
  %b = arith.constant dense<[[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                             [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<8x32xi8>
  %0 = linalg.matmul ins(%a, %b : tensor<9x8xi8>, tensor<8x32xi8>) outs(%c : tensor<9x32xi32>) -> tensor<9x32xi32>
  return %0 : tensor<9x32xi32>
}

// -----

// 2:4 weights (at most 2 nonzeros in each group of 4 along k, no zero
// tile) are stored as 2 values and 2 2-bit positions per group: here 4
// columns x 1 group, padded to one tile of 16 groups. Column 0 keeps k = 1
// and 3, column 1 k = 0 and 2, column 2 only k = 2 (filler slot at 0),
// column 3 nothing (slots 0 and 1). Positions, 4 bits a group, two groups a
// byte: (1 | 3 << 2) | (0 | 2 << 2) << 4 = 13 | 8 << 4 = -115, then
// (2 | 0 << 2) | (0 | 1 << 2) << 4 = 2 | 64 = 66, then padding (0 | 1 << 2)
// twice = 4 | 4 << 4 = 68. The tile is rebuilt at run time by shuffles and
// selects into the dense layout the kernel reads.
// CHECK-LABEL: func @n_m_weights
func.func @n_m_weights(%a: tensor<1x4xi8>, %c: tensor<1x4xi32>) -> tensor<1x4xi32> {
  // CHECK-DAG: arith.constant dense<[5, 6, 7, 8, 9, 0, 0, 0, {{.*}}]> : tensor<32xi8>
  // CHECK-DAG: arith.constant dense<[-115, 66, 68, 68, 68, 68, 68, 68]> : tensor<8xi8>
  // CHECK: scf.for
  // CHECK: vector.shuffle
  // CHECK: arith.select {{.*}} : vector<64xi1>, vector<64xi8>
  // CHECK: tensor.expand_shape {{.*}} : tensor<1x64xi8> into tensor<1x1x64xi8>
  // CHECK-NOT: tensor<4x4xi8>
  %b = arith.constant dense<[[0, 7, 0, 0], [5, 0, 0, 0], [0, 8, 9, 0], [6, 0, 0, 0]]> : tensor<4x4xi8>
  %0 = linalg.matmul ins(%a, %b : tensor<1x4xi8>, tensor<4x4xi8>) outs(%c : tensor<1x4xi32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

// A computed by a copying gather nothing else reads (im2col, seen through
// a collapse_shape) is read from the gather's input: an implicit GEMM. The
// input is biased once (2x3x16 bytes, not the 2x2x2x16 patches) and
// flattened; row i starts at offset (3 * (i floordiv 2) + i mod 2) * 16,
// read once per strip of rows as 48 * (i0 / 2) + table[i0 % 2 + r] (the
// table runs on for the 8 - 1 rows past the image: 9 entries), the groups
// of 4 columns at [0, 4, 8, 12, 16, ..., 28]. A matmul that
// starts from a fill starts its accumulators from the fill value and writes
// into the fill's destination: C is never read, and the fill is dead.
// CHECK-LABEL: func @implicit_gemm_and_fill
// NOGEMM-LABEL: func @implicit_gemm_and_fill
func.func @implicit_gemm_and_fill(%x: tensor<2x3x16xi8>, %b: tensor<32x16xi8>) -> tensor<4x16xi32> {
  // CHECK: %[[E:.*]] = tensor.empty() : tensor<4x16xi32>
  // CHECK: linalg.generic
  // CHECK: arith.xori
  // CHECK: } -> tensor<2x3x16xi8>
  // CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2]] : tensor<2x3x16xi8> into tensor<96xi8>
  // CHECK: %[[OFFSETS:.*]] = arith.constant dense<[0, 4, 8, 12, 16, 20, 24, 28]> : tensor<8xi32>
  // CHECK: %[[TABLE:.*]] = arith.constant dense<[0, 16, 48, 64, 96, 112, 144, 160, 192]> : tensor<9xi32>
  // The 4 rows are one strip, from row %[[I0]] = 0.
  // CHECK: %[[I0:.*]] = arith.constant 0 : index
  // CHECK: %[[IMAGE:.*]] = arith.divui %[[I0]], %[[TWO:.*]] : index
  // CHECK: %[[Q:.*]] = arith.remui %[[I0]], %[[TWO]] : index
  // CHECK: %[[BASE:.*]] = arith.muli %[[IMAGE]], %{{.*}} : index
  // CHECK: tensor.extract %[[TABLE]][%[[Q]]]
  // CHECK: vector.broadcast %{{.*}} : i32 to vector<16xi32>
  // CHECK: tensor.extract %[[OFFSETS]]
  // CHECK: vector.transfer_read %[[FLAT]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<96xi8>, vector<4xi8>
  // CHECK-NOT: tensor<2x2x2x16xi8>
  // CHECK-NOT: vector.transfer_read {{.*}} : tensor<4x16xi32>
  // CHECK-NOT: linalg.fill
  // With implicit-gemm=false, the patches are written, biased in the gather.
  // NOGEMM: ^bb0(%[[IN:.*]]: i8, %{{.*}}: i8):
  // NOGEMM: %[[FLIP:.*]] = arith.constant -128 : i8
  // NOGEMM: arith.xori %[[IN]], %[[FLIP]] : i8
  // NOGEMM: } -> tensor<2x2x2x16xi8>
  // NOGEMM-NOT: tensor<96xi8>
  %e = tensor.empty() : tensor<2x2x2x16xi8>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j, k, c) -> (i, j + k, c)>,
                                        affine_map<(i, j, k, c) -> (i, j, k, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x3x16xi8>) outs(%e : tensor<2x2x2x16xi8>) {
  ^bb0(%in: i8, %out: i8):
    linalg.yield %in : i8
  } -> tensor<2x2x2x16xi8>
  %a = tensor.collapse_shape %p [[0, 1], [2, 3]] : tensor<2x2x2x16xi8> into tensor<4x32xi8>
  %seven = arith.constant 7 : i32
  %ce = tensor.empty() : tensor<4x16xi32>
  %c = linalg.fill ins(%seven : i32) outs(%ce : tensor<4x16xi32>) -> tensor<4x16xi32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x32xi8>, tensor<32x16xi8>) outs(%c : tensor<4x16xi32>) -> tensor<4x16xi32>
  return %0 : tensor<4x16xi32>
}

// -----

// int4 codes (two per byte, from qat-convert-to-integer's pack-int4) with
// 75% zero tiles: the one kept tile stays two codes per byte (32 bytes,
// unpacked at run time into [1][64]) and the kernel walks it through the
// CSR index. Its first codes, B[4..7][0] = -7, -6, -5, -4 and B[4..7][1] =
// -3, -2, -1, 0, pack to bytes 0x9A -> -87 (low nibble first) and so on.
// CHECK-LABEL: func @block_sparse_int4_weights
func.func @block_sparse_int4_weights(%a: tensor<9x8xi8>, %c: tensor<9x32xi32>) -> tensor<9x32xi32> {
  // CHECK: %[[P:.*]] = arith.constant dense<[-87, -53, -70, -36, -53, -19, -36, -2, {{.*}}]> : tensor<32xi8>
  // CHECK: linalg.generic {{.*}} ins(%[[P]] : tensor<32xi8>) outs(%{{.*}} : tensor<32x2xi8>) attrs = {qat.unpack_codes}
  // CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<32x2xi8> into tensor<64xi8>
  // CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [1, 64] : tensor<64xi8> into tensor<1x64xi8>
  // CHECK: arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  // CHECK-NOT: tensor<8x16xi8>
  %p = arith.constant dense<[[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [-87, -53, -19, 15, 33, 67, 101, -105, 0, 0, 0, 0, 0, 0, 0, 0],
      [-70, -36, -2, 16, 50, 84, 118, -87, 0, 0, 0, 0, 0, 0, 0, 0],
      [-53, -19, 15, 33, 67, 101, -105, -70, 0, 0, 0, 0, 0, 0, 0, 0],
      [-36, -2, 16, 50, 84, 118, -87, -53, 0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<8x16xi8>
  %e = tensor.empty() : tensor<8x16x2xi8>
  %u = linalg.generic {indexing_maps = [affine_map<(i, j, h) -> (i, j)>, affine_map<(i, j, h) -> (i, j, h)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%p : tensor<8x16xi8>) outs(%e : tensor<8x16x2xi8>) attrs = {qat.unpack_codes} {
  ^bb0(%byte: i8, %o: i8):
    %h = linalg.index 2 : index
    %hi = arith.index_cast %h : index to i8
    %four = arith.constant 4 : i8
    %m = arith.muli %hi, %four : i8
    %up = arith.subi %four, %m : i8
    %top = arith.shli %byte, %up : i8
    %v = arith.shrsi %top, %four : i8
    linalg.yield %v : i8
  } -> tensor<8x16x2xi8>
  %b = tensor.collapse_shape %u [[0], [1, 2]] : tensor<8x16x2xi8> into tensor<8x32xi8>
  %0 = linalg.matmul ins(%a, %b : tensor<9x8xi8>, tensor<8x32xi8>) outs(%c : tensor<9x32xi32>) -> tensor<9x32xi32>
  return %0 : tensor<9x32xi32>
}

// -----

// C a bias broadcast along the rows (a converted layer's accumulator start,
// seen as a matrix through a collapse_shape): the accumulators start from
// the bias plus the correction, loaded once per panel, C is never read, the
// kernel writes into the broadcast's destination and the broadcast is dead.
// CHECK-LABEL: func @bias_broadcast_start
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: tensor<16xi32>
func.func @bias_broadcast_start(%a: tensor<8x4xi8>, %b: tensor<4x16xi8>, %bias: tensor<16xi32>) -> tensor<8x16xi32> {
  // CHECK: %[[E:.*]] = tensor.empty() : tensor<2x4x16xi32>
  // CHECK: %[[DEST:.*]] = tensor.collapse_shape %[[E]] {{\[\[}}0, 1], [2]] : tensor<2x4x16xi32> into tensor<8x16xi32>
  // CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[DEST]])
  // CHECK: %[[START:.*]] = vector.transfer_read %[[BIAS]][%{{.*}}], %{{.*}} : tensor<16xi32>, vector<16xi32>
  // CHECK: arith.addi %[[START]], %{{.*}} : vector<16xi32>
  // CHECK-NOT: vector.transfer_read {{.*}} : tensor<8x16xi32>
  // CHECK-NOT: linalg.broadcast
  %e = tensor.empty() : tensor<2x4x16xi32>
  %init = linalg.broadcast ins(%bias : tensor<16xi32>) outs(%e : tensor<2x4x16xi32>) dimensions = [0, 1]
  %c = tensor.collapse_shape %init [[0, 1], [2]] : tensor<2x4x16xi32> into tensor<8x16xi32>
  %0 = linalg.matmul ins(%a, %b : tensor<8x4xi8>, tensor<4x16xi8>) outs(%c : tensor<8x16xi32>) -> tensor<8x16xi32>
  return %0 : tensor<8x16xi32>
}

// -----

// A broadcast along the columns is not a bias: C is read.
// CHECK-LABEL: func @column_broadcast_is_read
func.func @column_broadcast_is_read(%a: tensor<16x4xi8>, %b: tensor<4x16xi8>, %rows: tensor<16xi32>) -> tensor<16x16xi32> {
  // CHECK: linalg.broadcast
  // CHECK: vector.transfer_read {{.*}} : tensor<16x16xi32>, vector<16xi32>
  %e = tensor.empty() : tensor<16x16xi32>
  %c = linalg.broadcast ins(%rows : tensor<16xi32>) outs(%e : tensor<16x16xi32>) dimensions = [1]
  %0 = linalg.matmul ins(%a, %b : tensor<16x4xi8>, tensor<4x16xi8>) outs(%c : tensor<16x16xi32>) -> tensor<16x16xi32>
  return %0 : tensor<16x16xi32>
}

// -----

// One row (batch 1): up to 8 independent accumulators, so that each
// vpdpbusd's latency hides behind the others'. With 7 vectors of 16 columns
// (112), one panel of all 7 and no narrower panel after it.
// CHECK-LABEL: func @one_row
func.func @one_row(%a: tensor<1x64xi8>, %b: tensor<64x112xi8>, %c: tensor<1x112xi32>) -> tensor<1x112xi32> {
  // CHECK: scf.for {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
  // CHECK-NOT: scf.for {{.*}} -> (vector<16xi32>
  // CHECK: return
  %0 = linalg.matmul ins(%a, %b : tensor<1x64xi8>, tensor<64x112xi8>) outs(%c : tensor<1x112xi32>) -> tensor<1x112xi32>
  return %0 : tensor<1x112xi32>
}

// -----

// Batch 1 and 256 columns: two panels of 8 vectors.
// CHECK-LABEL: func @one_row_wide
func.func @one_row_wide(%a: tensor<1x64xi8>, %b: tensor<64x256xi8>, %c: tensor<1x256xi32>) -> tensor<1x256xi32> {
  // CHECK: scf.for {{.*}} -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
  // CHECK-NOT: -> (vector<16xi32>, vector<16xi32>)
  %0 = linalg.matmul ins(%a, %b : tensor<1x64xi8>, tensor<64x256xi8>) outs(%c : tensor<1x256xi32>) -> tensor<1x256xi32>
  return %0 : tensor<1x256xi32>
}
