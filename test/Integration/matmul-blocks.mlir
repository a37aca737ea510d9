// qat-vectorize-matmul's blocks of the reduction: two f32 matmuls whose B
// exceeds the 512 KiB a block may span (1100 x 256: 3 blocks, the last one
// shorter; 600 x 256 with a bias and ReLU epilogue: 2 blocks, the partial
// sums in the epilogue's output), compiled with blocks and without, give
// the same bits. 37 rows: strips of 8 and single rows.
//
// RUN: cat %s %S/Inputs/print.mlir > %t.mlir
// RUN: qat-opt %t.mlir --qat-cpu-pipeline | %qat-runner | grep -v base@ > %t.blocks
// RUN: qat-opt %t.mlir --qat-vectorize-matmul=reduction-block-bytes=0 --qat-cpu-pipeline | %qat-runner | grep -v base@ > %t.whole
// RUN: diff %t.blocks %t.whole
// RUN: FileCheck %s --input-file=%t.blocks
// RUN: qat-opt %t.mlir --qat-vectorize-matmul | FileCheck %s --check-prefix=BLOCKS

// The first kernel loops over 3 blocks of 367 rows of B (the last ends at
// 1100), the second over 2 of 300; each block's accumulators start from
// the fill or the partial sums, and the epilogue's result is kept only
// after the last block.
// BLOCKS-LABEL: func.func @main
// BLOCKS: scf.for %[[B1:.*]] = %c0{{.*}} to %c3{{.*}} step %c1
// BLOCKS: arith.muli %[[B1]], %c367
// BLOCKS: arith.minsi %{{.*}}, %c1100
// BLOCKS: arith.select
// BLOCKS: scf.for %[[B2:.*]] = %c0{{.*}} to %c2{{.*}} step %c1
// BLOCKS: arith.muli %[[B2]], %c300
// BLOCKS: arith.select
// BLOCKS: arith.maximumf
// BLOCKS: arith.select

// A[i][k] and B[k][j] are ((i * a + j * b) mod 23) / 8 - 1.375: small
// exact values.
func.func @main() {
  %ea = tensor.empty() : tensor<37x1100xf32>
  %a = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%ea : tensor<37x1100xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %ka = arith.constant 3 : index
    %kb = arith.constant 5 : index
    %ia = arith.muli %i, %ka : index
    %jb = arith.muli %j, %kb : index
    %s = arith.addi %ia, %jb : index
    %c23 = arith.constant 23 : index
    %m = arith.remui %s, %c23 : index
    %mi = arith.index_cast %m : index to i64
    %f = arith.sitofp %mi : i64 to f32
    %eighth = arith.constant 0.125 : f32
    %shift = arith.constant 1.375 : f32
    %scaled = arith.mulf %f, %eighth : f32
    %v = arith.subf %scaled, %shift : f32
    linalg.yield %v : f32
  } -> tensor<37x1100xf32>
  %eb = tensor.empty() : tensor<1100x256xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%eb : tensor<1100x256xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %ka = arith.constant 7 : index
    %kb = arith.constant 11 : index
    %ia = arith.muli %i, %ka : index
    %jb = arith.muli %j, %kb : index
    %s = arith.addi %ia, %jb : index
    %c23 = arith.constant 23 : index
    %m = arith.remui %s, %c23 : index
    %mi = arith.index_cast %m : index to i64
    %f = arith.sitofp %mi : i64 to f32
    %eighth = arith.constant 0.125 : f32
    %shift = arith.constant 1.375 : f32
    %scaled = arith.mulf %f, %eighth : f32
    %v = arith.subf %scaled, %shift : f32
    linalg.yield %v : f32
  } -> tensor<1100x256xf32>
  %half = arith.constant 0.5 : f32
  %ec = tensor.empty() : tensor<37x256xf32>
  %c = linalg.fill ins(%half : f32) outs(%ec : tensor<37x256xf32>) -> tensor<37x256xf32>
  %y = linalg.matmul ins(%a, %b : tensor<37x1100xf32>, tensor<1100x256xf32>)
                     outs(%c : tensor<37x256xf32>) -> tensor<37x256xf32>

  // The first 600 columns of A and rows of B, then a bias and ReLU.
  %a2 = tensor.extract_slice %a[0, 0] [37, 600] [1, 1] : tensor<37x1100xf32> to tensor<37x600xf32>
  %b2 = tensor.extract_slice %b[0, 0] [600, 256] [1, 1] : tensor<1100x256xf32> to tensor<600x256xf32>
  %zero = arith.constant 0.0 : f32
  %z = linalg.fill ins(%zero : f32) outs(%ec : tensor<37x256xf32>) -> tensor<37x256xf32>
  %p = linalg.matmul ins(%a2, %b2 : tensor<37x600xf32>, tensor<600x256xf32>)
                     outs(%z : tensor<37x256xf32>) -> tensor<37x256xf32>
  %bias = tensor.extract_slice %a[1, 0] [1, 256] [1, 1] : tensor<37x1100xf32> to tensor<256xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%p, %bias : tensor<37x256xf32>, tensor<256xf32>) outs(%ec : tensor<37x256xf32>) {
  ^bb0(%in: f32, %bi: f32, %out: f32):
    %s = arith.addf %in, %bi : f32
    %relu = arith.maximumf %s, %zero : f32
    linalg.yield %relu : f32
  } -> tensor<37x256xf32>

  %yf = tensor.collapse_shape %y [[0, 1]] : tensor<37x256xf32> into tensor<9472xf32>
  %rf = tensor.collapse_shape %r [[0, 1]] : tensor<37x256xf32> into tensor<9472xf32>
  %yd = tensor.cast %yf : tensor<9472xf32> to tensor<?xf32>
  %rd = tensor.cast %rf : tensor<9472xf32> to tensor<?xf32>
  call @printBits(%yd) : (tensor<?xf32>) -> ()
  call @printBits(%rd) : (tensor<?xf32>) -> ()
  // Two rows of 9472 bit patterns each.
  // CHECK-COUNT-2: {{^\[-?[0-9]+, }}
  return
}
