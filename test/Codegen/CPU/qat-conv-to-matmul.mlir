// RUN: qat-opt %s -split-input-file --qat-conv-to-matmul | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-conv-to-matmul=max-im2col-bytes=1000 | FileCheck %s --check-prefix=LIMIT
// RUN: qat-opt %s -split-input-file --qat-conv-to-matmul=max-im2col-bytes=1024 | FileCheck %s --check-prefix=CHUNK
// RUN: qat-opt %s -split-input-file --qat-conv-to-matmul="max-im2col-bytes=1024 implicit-gemm=true" | FileCheck %s --check-prefix=INPLACE

// Stride 2, dilation 3: patches (n, oh, ow, kh, kw, c), collapsed to rows
// (n, oh, ow) and columns (kh, kw, c).
// CHECK-DAG: #[[GATHER:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 * 2 + d3 * 3, d2 * 2 + d4 * 3, d5)>
// CHECK-LABEL: func @conv
func.func @conv(%x: tensor<2x10x12x3xi8>, %w: tensor<2x2x3x5xi8>, %o: tensor<2x3x4x5xi32>) -> tensor<2x3x4x5xi32> {
  // CHECK: %[[PATCHES:.*]] = linalg.generic {indexing_maps = [#[[GATHER]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}
  // CHECK-SAME: outs(%{{.*}} : tensor<2x3x4x2x2x3xi8>)
  // CHECK: %[[COLS:.*]] = tensor.collapse_shape %[[PATCHES]] {{\[\[}}0, 1, 2], [3, 4, 5]] : tensor<2x3x4x2x2x3xi8> into tensor<24x12xi8>
  // CHECK: %[[W:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2], [3]] : tensor<2x2x3x5xi8> into tensor<12x5xi8>
  // CHECK: %[[O:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1, 2], [3]] : tensor<2x3x4x5xi32> into tensor<24x5xi32>
  // CHECK: %[[MM:.*]] = linalg.matmul ins(%[[COLS]], %[[W]] : tensor<24x12xi8>, tensor<12x5xi8>) outs(%[[O]] : tensor<24x5xi32>)
  // CHECK: tensor.expand_shape %[[MM]] {{\[\[}}0, 1, 2], [3]] output_shape [2, 3, 4, 5]
  // The im2col matrix is 288 bytes: over a 1000-byte limit it is still done.
  // LIMIT: linalg.matmul
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<3> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<2x10x12x3xi8>, tensor<2x2x3x5xi8>) outs(%o : tensor<2x3x4x5xi32>) -> tensor<2x3x4x5xi32>
  return %0 : tensor<2x3x4x5xi32>
}

// -----

// 64 x 27 x 4 bytes = 6912 bytes of im2col: over the limit, left alone.
// LIMIT-LABEL: func @large
func.func @large(%x: tensor<1x10x10x3xf32>, %w: tensor<3x3x3x8xf32>, %o: tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32> {
  // LIMIT: linalg.conv_2d_nhwc_hwcf
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x10x10x3xf32>, tensor<3x3x3x8xf32>) outs(%o : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  return %0 : tensor<1x8x8x8xf32>
}

// -----

// Too large for one im2col matrix (4x4x4 rows x 9 columns x 4 bytes = 2304
// bytes > 1024): the largest batch chunk that fits (1 image: 576 bytes; 2
// would be 1152) is converted in an scf.for over the batch.
// CHUNK-LABEL: func.func @batch_chunks
// CHUNK:         %[[R:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<4x4x4x2xf32>)
// CHUNK:           %[[X:.*]] = tensor.extract_slice %{{.*}}[%[[I]], 0, 0, 0] [1, 6, 6, 1] [1, 1, 1, 1]
// CHUNK:           %[[M:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x9xf32>, tensor<9x2xf32>)
// CHUNK:           tensor.insert_slice %{{.*}} into %[[ACC]][%[[I]], 0, 0, 0] [1, 4, 4, 2]
// CHUNK-NOT:     linalg.conv_2d_nhwc_hwcf
func.func @batch_chunks(%x: tensor<4x6x6x1xf32>, %w: tensor<3x3x1x2xf32>, %init: tensor<4x4x4x2xf32>) -> tensor<4x4x4x2xf32> {
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<4x6x6x1xf32>, tensor<3x3x1x2xf32>) outs(%init : tensor<4x4x4x2xf32>) -> tensor<4x4x4x2xf32>
  return %y : tensor<4x4x4x2xf32>
}

// -----

// With implicit-gemm, the kernels read an f32 patch matrix of 8 filters or
// more in place, so it is converted whole at any size (64 x 9 x 4 = 2304
// bytes > 1024); one of 2 filters (@batch_chunks above) and an int8 one
// still go a batch chunk at a time.
// INPLACE-LABEL: func.func @read_in_place
// INPLACE-NOT:   scf.for
// INPLACE:       linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<64x9xf32>, tensor<9x8xf32>)
// INPLACE-NOT:   scf.for
// INPLACE-LABEL: func.func @int8_chunks
// INPLACE:       scf.for
// INPLACE:       linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<16x36xi8>, tensor<36x8xi8>)
func.func @read_in_place(%x: tensor<4x6x6x1xf32>, %w: tensor<3x3x1x8xf32>, %init: tensor<4x4x4x8xf32>) -> tensor<4x4x4x8xf32> {
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<4x6x6x1xf32>, tensor<3x3x1x8xf32>) outs(%init : tensor<4x4x4x8xf32>) -> tensor<4x4x4x8xf32>
  return %y : tensor<4x4x4x8xf32>
}
func.func @int8_chunks(%x: tensor<4x6x6x4xi8>, %w: tensor<3x3x4x8xi8>, %init: tensor<4x4x4x8xi32>) -> tensor<4x4x4x8xi32> {
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<4x6x6x4xi8>, tensor<3x3x4x8xi8>) outs(%init : tensor<4x4x4x8xi32>) -> tensor<4x4x4x8xi32>
  return %y : tensor<4x4x4x8xi32>
}

// -----

// The convolution's elementwise consumer (here a per-channel bias add) is
// collapsed to the matmul's shape, so the matmul kernels can fuse it: the
// expand_shape back to NHWC moves after it.
// CHECK-LABEL: func @epilogue
func.func @epilogue(%x: tensor<1x4x4x8xi8>, %w: tensor<1x1x8x16xi8>, %o: tensor<1x4x4x16xi32>, %bias: tensor<16xi32>) -> tensor<1x4x4x16xi32> {
  // CHECK: %[[MM:.*]] = linalg.matmul {{.*}} -> tensor<16x16xi32>
  // CHECK: %[[BIASED:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%[[MM]], %{{.*}} : tensor<16x16xi32>, tensor<16xi32>)
  // CHECK: tensor.expand_shape %[[BIASED]] {{\[\[}}0, 1, 2], [3]] output_shape [1, 4, 4, 16]
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x4x4x8xi8>, tensor<1x1x8x16xi8>) outs(%o : tensor<1x4x4x16xi32>) -> tensor<1x4x4x16xi32>
  %e = tensor.empty() : tensor<1x4x4x16xi32>
  %1 = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%0, %bias : tensor<1x4x4x16xi32>, tensor<16xi32>) outs(%e : tensor<1x4x4x16xi32>) {
  ^bb0(%a: i32, %b: i32, %out: i32):
    %s = arith.addi %a, %b : i32
    linalg.yield %s : i32
  } -> tensor<1x4x4x16xi32>
  return %1 : tensor<1x4x4x16xi32>
}
