// RUN: qat-opt %s -split-input-file --qat-vectorize-matmul="tile-m=4 tile-n=16" | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-vectorize-matmul="tile-m=4 tile-n=16 parallel=true parallel-min-macs=0" | FileCheck %s --check-prefix=PAR
// RUN: not qat-opt %s -split-input-file --qat-vectorize-matmul="tile-m=0" 2>&1 | FileCheck %s --check-prefix=BADTILE
// RUN: qat-opt %s -split-input-file --qat-vectorize-matmul="implicit-gemm=false" | FileCheck %s --check-prefix=NOGEMM
// RUN: qat-opt %s -split-input-file --qat-vectorize-matmul="tile-m=4 tile-n=16 pack-constants=false" | FileCheck %s --check-prefix=NOPACK
// BADTILE: error: qat-vectorize-matmul: tile-m and tile-n must be positive

// CHECK-LABEL: func @matmul
// CHECK-SAME: (%[[A:.*]]: tensor<10x5xf32>, %[[B:.*]]: tensor<5x40xf32>, %[[C:.*]]: tensor<10x40xf32>)
func.func @matmul(%a: tensor<10x5xf32>, %b: tensor<5x40xf32>, %c: tensor<10x40xf32>) -> tensor<10x40xf32> {
  // Strips of 4 rows (rows 0-7), each over column panels of 16; 40 is not a
  // multiple of 16, so column blocks are masked (not in bounds).
  // CHECK: %[[MAIN:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[CI:.*]] = %[[C]])
  // CHECK: scf.for %[[J:.*]] = {{.*}} iter_args(%[[CJ:.*]] = %[[CI]])
  // CHECK: %[[ACC0:.*]] = vector.transfer_read %[[CJ]][%[[I]], %[[J]]], %{{.*}} : tensor<10x40xf32>, vector<16xf32>
  // CHECK-NOT: in_bounds = [true]
  // CHECK: %[[R:.*]]:4 = scf.for %[[K:.*]] = {{.*}} iter_args(%[[A0:.*]] = %[[ACC0]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
  // CHECK: %[[BROW:.*]] = vector.transfer_read %[[B]][%[[K]], %[[J]]]
  // CHECK: %[[AIK:.*]] = tensor.extract %[[A]][%[[I]], %[[K]]]
  // CHECK: %[[SPLAT:.*]] = vector.broadcast %[[AIK]] : f32 to vector<16xf32>
  // CHECK: vector.fma %[[SPLAT]], %[[BROW]], %[[A0]] : vector<16xf32>
  // CHECK: scf.yield
  // CHECK: vector.transfer_write %[[R]]#0, %[[CJ]][%[[I]], %[[J]]]
  // Rows 8 and 9 as one strip of two: two accumulators per panel.
  // CHECK: %[[C8:.*]] = arith.constant 8 : index
  // CHECK: scf.for %[[J2:.*]] = {{.*}} iter_args(%[[CR:.*]] = %[[MAIN]])
  // CHECK: vector.transfer_read %[[CR]][%[[C8]], %[[J2]]]
  // CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>) {
  // CHECK-NOT: linalg.matmul

  // In parallel, each strip is an iteration of an scf.forall on its own rows.
  // PAR: %[[ALL:.*]] = scf.forall (%[[T:.*]]) in (2) shared_outs(%[[S:.*]] = %{{.*}}) -> (tensor<10x40xf32>)
  // PAR: %[[I0:.*]] = arith.muli %[[T]], %{{.*}} : index
  // PAR: %[[STRIP:.*]] = tensor.extract_slice %[[S]][%[[I0]], 0] [4, 40] [1, 1] : tensor<10x40xf32> to tensor<4x40xf32>
  // A is read at the strip's rows, the strip at its own.
  // PAR: tensor.extract %{{.*}}[%[[I0]], %{{.*}}] : tensor<10x5xf32>
  // PAR: scf.forall.in_parallel
  // PAR: tensor.parallel_insert_slice %{{.*}} into %[[S]][%[[I0]], 0] [4, 40] [1, 1] : tensor<4x40xf32> into tensor<10x40xf32>
  // PAR: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[ALL]])
  %0 = linalg.matmul ins(%a, %b : tensor<10x5xf32>, tensor<5x40xf32>) outs(%c : tensor<10x40xf32>) -> tensor<10x40xf32>
  return %0 : tensor<10x40xf32>
}

// -----

// Integer, dynamic and transposed matmuls are left to other passes.
// CHECK-LABEL: func @unchanged
func.func @unchanged(%a: tensor<4x8xi8>, %b: tensor<8x16xi8>, %c: tensor<4x16xi32>,
                     %d: tensor<?x8xf32>, %e: tensor<8x16xf32>, %f: tensor<?x16xf32>) -> (tensor<4x16xi32>, tensor<?x16xf32>) {
  // CHECK: linalg.matmul
  // CHECK: linalg.matmul
  %0 = linalg.matmul ins(%a, %b : tensor<4x8xi8>, tensor<8x16xi8>) outs(%c : tensor<4x16xi32>) -> tensor<4x16xi32>
  %1 = linalg.matmul ins(%d, %e : tensor<?x8xf32>, tensor<8x16xf32>) outs(%f : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0, %1 : tensor<4x16xi32>, tensor<?x16xf32>
}

// -----

// A bias + ReLU consumer is finished on the accumulators before the store.
// CHECK-LABEL: func @bias_relu_epilogue
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: tensor<40xf32>
func.func @bias_relu_epilogue(%x: tensor<8x16xf32>, %w: tensor<16x40xf32>, %bias: tensor<40xf32>) -> tensor<8x40xf32> {
  // CHECK: %[[ACC:.*]]:4 = scf.for
  // CHECK: %[[B0:.*]] = vector.transfer_read %[[BIAS]][%[[J:.*]]], %{{.*}} : tensor<40xf32>, vector<16xf32>
  // CHECK: %[[S0:.*]] = arith.addf %[[ACC]]#0, %[[B0]] : vector<16xf32>
  // CHECK: %[[R0:.*]] = arith.maximumf %[[S0]], %{{.*}} : vector<16xf32>
  // CHECK: vector.transfer_write %[[R0]]
  // CHECK-NOT: linalg.generic
  // CHECK-NOT: linalg.matmul
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x40xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<8x40xf32>) -> tensor<8x40xf32>
  %m = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x40xf32>) outs(%z : tensor<8x40xf32>) -> tensor<8x40xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %bias : tensor<8x40xf32>, tensor<40xf32>) outs(%e : tensor<8x40xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %c = arith.maximumf %s, %zero : f32
    linalg.yield %c : f32
  } -> tensor<8x40xf32>
  return %r : tensor<8x40xf32>
}

// -----

// A consumer that reads an i1 tensor (a pruning mask) stays a separate
// loop: vectors of i1 are packed bits in memory, where the tensor keeps a
// byte per element (fused, the gradient was masked with the wrong bits).
// CHECK-LABEL: func @i1_consumer_not_fused
func.func @i1_consumer_not_fused(%x: tensor<8x16xf32>, %w: tensor<16x40xf32>, %z: tensor<8x40xf32>, %mask: tensor<8x40xi1>) -> tensor<8x40xf32> {
  // CHECK: scf.for
  // CHECK-NOT: vector<16xi1>
  // CHECK: linalg.generic
  // CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<8x40xf32>, tensor<8x40xi1>)
  %m = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x40xf32>) outs(%z : tensor<8x40xf32>) -> tensor<8x40xf32>
  %e = tensor.empty() : tensor<8x40xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %mask : tensor<8x40xf32>, tensor<8x40xi1>) outs(%e : tensor<8x40xf32>) {
  ^bb0(%a: f32, %k: i1, %o: f32):
    %zero = arith.constant 0.0 : f32
    %s = arith.select %k, %a, %zero : f32
    linalg.yield %s : f32
  } -> tensor<8x40xf32>
  return %r : tensor<8x40xf32>
}

// -----

// The matmul result is used twice: its consumer stays a separate loop.
// CHECK-LABEL: func @shared_result_not_fused
func.func @shared_result_not_fused(%x: tensor<8x16xf32>, %w: tensor<16x40xf32>, %z: tensor<8x40xf32>) -> (tensor<8x40xf32>, tensor<8x40xf32>) {
  // CHECK: scf.for
  // CHECK: linalg.generic
  %m = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x40xf32>) outs(%z : tensor<8x40xf32>) -> tensor<8x40xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<8x40xf32>) outs(%z : tensor<8x40xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<8x40xf32>
  return %m, %r : tensor<8x40xf32>, tensor<8x40xf32>
}

// -----

// C a fill or a bias broadcast: the accumulators start from the fill value
// or the bias (one vector per panel), C is never read, and the kernel
// writes into the fill's or broadcast's destination.
// CHECK-LABEL: func @fill_start
func.func @fill_start(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>) -> tensor<8x32xf32> {
  // CHECK: %[[E:.*]] = tensor.empty() : tensor<8x32xf32>
  // CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[E]])
  // CHECK: vector.broadcast %{{.*}} : f32 to vector<16xf32>
  // CHECK-NOT: vector.transfer_read {{.*}} : tensor<8x32xf32>
  // CHECK-NOT: linalg.fill
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %z = linalg.fill ins(%one : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %m = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%z : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %m : tensor<8x32xf32>
}

// -----

// CHECK-LABEL: func @bias_broadcast_start
// CHECK-SAME: %[[BIAS:[a-z0-9]+]]: tensor<32xf32>
func.func @bias_broadcast_start(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>, %bias: tensor<32xf32>) -> tensor<8x32xf32> {
  // CHECK: %[[E:.*]] = tensor.empty() : tensor<8x32xf32>
  // CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[E]])
  // CHECK: vector.transfer_read %[[BIAS]][%{{.*}}], %{{.*}} : tensor<32xf32>, vector<16xf32>
  // CHECK-NOT: vector.transfer_read {{.*}} : tensor<8x32xf32>
  // CHECK-NOT: linalg.broadcast
  %e = tensor.empty() : tensor<8x32xf32>
  %c = linalg.broadcast ins(%bias : tensor<32xf32>) outs(%e : tensor<8x32xf32>) dimensions = [0]
  %m = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x32xf32>) outs(%c : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %m : tensor<8x32xf32>
}

// -----

// A C narrower than tile-n (16) gets the narrowest panel that covers it:
// 8 lanes for 6 columns (fewer than 8, but only 4 reduction steps: too few
// for dot products).
// CHECK-LABEL: func @narrow_panel
func.func @narrow_panel(%a: tensor<8x4xf32>, %b: tensor<4x6xf32>, %c: tensor<8x6xf32>) -> tensor<8x6xf32> {
  // CHECK: vector.transfer_read %{{.*}} : tensor<4x6xf32>, vector<8xf32>
  // CHECK: vector.fma {{.*}} : vector<8xf32>
  // CHECK-NOT: vector<16xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<8x4xf32>, tensor<4x6xf32>) outs(%c : tensor<8x6xf32>) -> tensor<8x6xf32>
  return %0 : tensor<8x6xf32>
}

// -----

// Fewer than 8 columns and at least 64 reduction steps: dot products. B's
// one column is viewed as a row (no copy); each step multiplies 16
// elements of a row of A by 16 of B; k = 72 is 4 whole steps and a masked
// one (elements past 72 read as 0); the 4 rows of a strip share B's
// segment; each sum is reduced across lanes and added to C.
// CHECK-LABEL: func @matrix_vector
// CHECK-SAME: (%[[A:.*]]: tensor<4x72xf32>, %[[B:.*]]: tensor<72x1xf32>, %[[C:.*]]: tensor<4x1xf32>)
func.func @matrix_vector(%a: tensor<4x72xf32>, %b: tensor<72x1xf32>, %c: tensor<4x1xf32>) -> tensor<4x1xf32> {
  // CHECK: %[[COL:.*]] = tensor.collapse_shape %[[B]] {{\[\[}}0, 1]] : tensor<72x1xf32> into tensor<72xf32>
  // CHECK: %[[BT:.*]] = tensor.expand_shape %[[COL]] {{\[\[}}0, 1]] output_shape [1, 72] : tensor<72xf32> into tensor<1x72xf32>
  // CHECK: %[[ACC:.*]]:4 = scf.for %[[S:[a-z0-9]+]] = %{{.*}} to %[[FOUR:.*]] step
  // CHECK: %[[K0:.*]] = arith.muli %[[S]], %{{.*}} : index
  // CHECK: %[[BSEG:.*]] = vector.transfer_read %[[BT]][%{{.*}}, %[[K0]]], %{{.*}} {in_bounds = [true]} : tensor<1x72xf32>, vector<16xf32>
  // CHECK: %[[ASEG:.*]] = vector.transfer_read %[[A]][%{{.*}}, %[[K0]]], %{{.*}} {in_bounds = [true]} : tensor<4x72xf32>, vector<16xf32>
  // CHECK: vector.fma %[[ASEG]], %[[BSEG]], %{{.*}} : vector<16xf32>
  // CHECK: scf.yield
  // CHECK: vector.transfer_read %[[BT]][%{{.*}}, %{{.*}}], %{{.*}} : tensor<1x72xf32>, vector<16xf32>
  // CHECK: %[[SUM:.*]] = vector.reduction <add>, %{{.*}} : vector<16xf32> into f32
  // CHECK: %[[ROW:.*]] = vector.from_elements %[[SUM]] : vector<1xf32>
  // CHECK: %[[OLD:.*]] = vector.transfer_read %{{.*}} : tensor<4x1xf32>, vector<1xf32>
  // CHECK: %[[NEW:.*]] = arith.addf %[[OLD]], %[[ROW]] : vector<1xf32>
  // CHECK: vector.transfer_write %[[NEW]]
  // CHECK-NOT: linalg.matmul
  %0 = linalg.matmul ins(%a, %b : tensor<4x72xf32>, tensor<72x1xf32>) outs(%c : tensor<4x1xf32>) -> tensor<4x1xf32>
  return %0 : tensor<4x1xf32>
}

// -----

// With 5 columns, B is transposed once; 5 columns x 3 rows are 15
// accumulators (at most 16 in registers), so a strip of 4 rows is a group
// of 3 and a group of 1.
// CHECK-LABEL: func @five_columns
func.func @five_columns(%a: tensor<8x64xf32>, %b: tensor<64x5xf32>, %c: tensor<8x5xf32>) -> tensor<8x5xf32> {
  // CHECK: linalg.transpose ins(%{{.*}} : tensor<64x5xf32>) outs(%{{.*}} : tensor<5x64xf32>) permutation = [1, 0]
  // CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
  // CHECK: vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<5xf32>
  // CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
  %0 = linalg.matmul ins(%a, %b : tensor<8x64xf32>, tensor<64x5xf32>) outs(%c : tensor<8x5xf32>) -> tensor<8x5xf32>
  return %0 : tensor<8x5xf32>
}

// -----

// An A that a gather copies (im2col of a 1-D convolution over 2 images of
// 3 positions, window 2, 16 channels) is read from the gather's input:
// row i starts at (3 * (i floordiv 2) + i mod 2) * 16 (a table of 2 + 3
// entries: 2 rows per image, plus the 3 a strip of 4 runs past it), and
// column k at offsets[k] = k (kernel position * 16 + channel). The patches
// are never written: no gather is left.
// CHECK-LABEL: func @implicit_gemm
// NOGEMM-LABEL: func @implicit_gemm
func.func @implicit_gemm(%x: tensor<2x3x16xf32>, %b: tensor<32x16xf32>, %c: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2]] : tensor<2x3x16xf32> into tensor<96xf32>
  // CHECK: %[[OFFSETS:.*]] = arith.constant dense<[0, 1, 2, {{.*}}, 30, 31]> : tensor<32xi32>
  // CHECK: %[[TABLE:.*]] = arith.constant dense<[0, 16, 48, 64, 96]> : tensor<5xi32>
  // CHECK: tensor.extract %[[TABLE]]
  // CHECK: scf.for %[[K:[a-z0-9]+]] = {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
  // CHECK: tensor.extract %[[OFFSETS]][%[[K]]] : tensor<32xi32>
  // CHECK: tensor.extract %[[FLAT]][%{{.*}}] : tensor<96xf32>
  // CHECK-NOT: linalg.generic
  // CHECK-NOT: tensor<2x2x2x16xf32>
  // NOGEMM: linalg.generic
  // NOGEMM: } -> tensor<2x2x2x16xf32>
  // NOGEMM-NOT: tensor<96xf32>
  %e = tensor.empty() : tensor<2x2x2x16xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j, k, c) -> (i, j + k, c)>,
                                        affine_map<(i, j, k, c) -> (i, j, k, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x3x16xf32>) outs(%e : tensor<2x2x2x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x2x2x16xf32>
  %a = tensor.collapse_shape %p [[0, 1], [2, 3]] : tensor<2x2x2x16xf32> into tensor<4x32xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x32xf32>, tensor<32x16xf32>) outs(%c : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// The dot-product kernel reads 16 contiguous elements of the gather's
// input per step: offsets per group of 16 columns (window of 4 positions
// over 5: [0, 16, 32, 48]).
// CHECK-LABEL: func @implicit_gemm_dot
func.func @implicit_gemm_dot(%x: tensor<2x5x16xf32>, %b: tensor<64x1xf32>, %c: tensor<4x1xf32>) -> tensor<4x1xf32> {
  // CHECK: %[[FLAT:.*]] = tensor.collapse_shape %{{.*}} : tensor<2x5x16xf32> into tensor<160xf32>
  // CHECK: arith.constant dense<[0, 16, 32, 48]> : tensor<4xi32>
  // CHECK: vector.transfer_read %[[FLAT]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<160xf32>, vector<16xf32>
  // CHECK-NOT: linalg.generic
  %e = tensor.empty() : tensor<2x2x4x16xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j, k, c) -> (i, j + k, c)>,
                                        affine_map<(i, j, k, c) -> (i, j, k, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x5x16xf32>) outs(%e : tensor<2x2x4x16xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x2x4x16xf32>
  %a = tensor.collapse_shape %p [[0, 1], [2, 3]] : tensor<2x2x4x16xf32> into tensor<4x64xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x64xf32>, tensor<64x1xf32>) outs(%c : tensor<4x1xf32>) -> tensor<4x1xf32>
  return %0 : tensor<4x1xf32>
}

// -----

// A constant B (a frozen weight, here through the collapse_shape of a
// filter) is stored panel by panel at compile time: [2][3][16] for 3 rows
// of 20 columns in panels of 16: the second panel holds columns 16-19 of
// each row (element (r, c) = 20 r + c) and zeros. Each reduction step reads
// one contiguous, in-bounds segment of its panel; C stays masked.
// CHECK-LABEL: func @constant_panels
// CHECK-DAG: %[[P:.*]] = arith.constant dense<{{\[\[\[}}0.000000e+00, 1.000000e+00, {{.*}}1.500000e+01], [2.000000e+01, {{.*}}{{\]\]}}, {{\[\[}}1.600000e+01, 1.700000e+01, 1.800000e+01, 1.900000e+01, 0.000000e+00, {{.*}}], [3.600000e+01, 3.700000e+01, 3.800000e+01, 3.900000e+01, 0.000000e+00, {{.*}}], [5.600000e+01, {{.*}} : tensor<2x3x16xf32>
// CHECK: %[[PANEL:.*]] = arith.divui %{{.*}}, %c16
// CHECK: scf.for %[[K:[^ ]*]] = {{.*}} iter_args
// CHECK: vector.transfer_read %[[P]][%[[PANEL]], %[[K]], %{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<2x3x16xf32>, vector<16xf32>
// CHECK: vector.fma
// NOPACK-LABEL: func @constant_panels
// NOPACK-NOT: tensor<2x3x16xf32>
// NOPACK: vector.transfer_read %{{.*}} : tensor<3x20xf32>, vector<16xf32>
func.func @constant_panels(%a: tensor<4x3xf32>, %c: tensor<4x20xf32>) -> tensor<4x20xf32> {
  %w = arith.constant dense<[[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0],
                              [20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0],
                              [40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0]]]> : tensor<1x3x20xf32>
  %b = tensor.collapse_shape %w [[0, 1], [2]] : tensor<1x3x20xf32> into tensor<3x20xf32>
  %0 = linalg.matmul ins(%a, %b : tensor<4x3xf32>, tensor<3x20xf32>) outs(%c : tensor<4x20xf32>) -> tensor<4x20xf32>
  return %0 : tensor<4x20xf32>
}
