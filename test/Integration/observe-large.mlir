// Reductions of whole tensors large enough for qat-split-reductions' chunks
// (64 x 1024 elements: 16 chunks of 256 rows of 16 lanes), compiled and
// run: an observer's minimum and maximum (one generic, two outputs), the
// same with a NaN in a middle chunk, and a sum whose every partial sum is
// exact, so that any order of the additions gives the same number.
//
// RUN: cat %s %S/Inputs/print.mlir > %t.mlir
// RUN: qat-opt %t.mlir --qat-cpu-pipeline | %qat-runner | FileCheck %s
// RUN: qat-opt %t.mlir --convert-qat-to-linalg --qat-split-reductions | FileCheck %s --check-prefix=SPLIT

// SPLIT-COUNT-3: iterator_types = ["parallel", "reduction", "parallel"]
// SPLIT-NOT: iterator_types = ["reduction", "reduction", "reduction"]

// x[k] = ((k + 12345) * 7919 mod 65536) - 32768.5 for the flat index k: a
// permutation of the half-integers in [-32768.5, 32766.5], its minimum at
// k = 53191 (chunk 12, lane 7) and its maximum elsewhere.
func.func @values() -> tensor<64x1024xf32> {
  %e = tensor.empty() : tensor<64x1024xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%e : tensor<64x1024xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c1024 = arith.constant 1024 : index
    %row = arith.muli %i, %c1024 : index
    %flat = arith.addi %row, %j : index
    %k = arith.index_cast %flat : index to i64
    %offset = arith.constant 12345 : i64
    %mult = arith.constant 7919 : i64
    %mask = arith.constant 65535 : i64
    %s = arith.addi %k, %offset : i64
    %p = arith.muli %s, %mult : i64
    %m = arith.andi %p, %mask : i64
    %f = arith.sitofp %m : i64 to f32
    %half = arith.constant 32768.5 : f32
    %v = arith.subf %f, %half : f32
    linalg.yield %v : f32
  } -> tensor<64x1024xf32>
  return %x : tensor<64x1024xf32>
}

func.func @main() {
  %x = call @values() : () -> tensor<64x1024xf32>
  %min, %max = qat.observe %x : tensor<64x1024xf32> -> tensor<f32>
  %min1 = tensor.expand_shape %min [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %max1 = tensor.expand_shape %max [] output_shape [1] : tensor<f32> into tensor<1xf32>

  // A NaN at row 39, column 64 (chunk 9): both bounds NaN.
  %nan = arith.constant 0x7FC00000 : f32
  %c39 = arith.constant 39 : index
  %c64 = arith.constant 64 : index
  %y = tensor.insert %nan into %x[%c39, %c64] : tensor<64x1024xf32>
  %nmin, %nmax = qat.observe %y : tensor<64x1024xf32> -> tensor<f32>
  %nmin1 = tensor.expand_shape %nmin [] output_shape [1] : tensor<f32> into tensor<1xf32>
  %nmax1 = tensor.expand_shape %nmax [] output_shape [1] : tensor<f32> into tensor<1xf32>

  // The sum of (k mod 7) - 3 over the 65536 indices: 9362 whole periods
  // (sum 0), then 0 - 3 and 1 - 3.
  %e = tensor.empty() : tensor<64x1024xf32>
  %z = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%e : tensor<64x1024xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c1024 = arith.constant 1024 : index
    %row = arith.muli %i, %c1024 : index
    %flat = arith.addi %row, %j : index
    %c7 = arith.constant 7 : index
    %r = arith.remui %flat, %c7 : index
    %ri = arith.index_cast %r : index to i64
    %f = arith.sitofp %ri : i64 to f32
    %three = arith.constant 3.0 : f32
    %v = arith.subf %f, %three : f32
    linalg.yield %v : f32
  } -> tensor<64x1024xf32>
  %zero = arith.constant 0.0 : f32
  %s0 = tensor.empty() : tensor<f32>
  %init = linalg.fill ins(%zero : f32) outs(%s0 : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>],
                         iterator_types = ["reduction", "reduction"]}
      ins(%z : tensor<64x1024xf32>) outs(%init : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %t = arith.addf %acc, %in : f32
    linalg.yield %t : f32
  } -> tensor<f32>
  %sum1 = tensor.expand_shape %sum [] output_shape [1] : tensor<f32> into tensor<1xf32>

  %all = tensor.concat dim(0) %min1, %max1, %nmin1, %nmax1, %sum1
      : (tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<5xf32>
  %dyn = tensor.cast %all : tensor<5xf32> to tensor<?xf32>
  call @printFloats(%dyn) : (tensor<?xf32>) -> ()
  // CHECK: [-32768.5, 32766.5, nan, nan, -5]
  return
}
