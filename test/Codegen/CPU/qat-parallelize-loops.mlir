// RUN: qat-opt %s -split-input-file --qat-parallelize-loops="min-iterations=1024" | FileCheck %s

// An elementwise op of 64x32 iterations: its outer loop in two chunks of 32
// rows, each a slice of the same generic.
// CHECK-LABEL: func.func @relu
// CHECK:         %[[R:.*]] = scf.forall (%[[I:.*]]) = (0) to (64) step (32) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<64x32xf32>)
// CHECK:           %[[IN:.*]] = tensor.extract_slice %{{.*}}[%[[I]], 0] [32, 32] [1, 1]
// CHECK:           %[[T:.*]] = linalg.generic {{.*}} ins(%[[IN]] : tensor<32x32xf32>)
// CHECK:           tensor.parallel_insert_slice %[[T]] into %[[OUT]][%[[I]], 0] [32, 32] [1, 1]
// CHECK:         return %[[R]]
func.func @relu(%x: tensor<64x32xf32>) -> tensor<64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x32xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x32xf32>) outs(%e : tensor<64x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<64x32xf32>
  return %r : tensor<64x32xf32>
}

// -----

// Too small (8x8 = 64 iterations), and inside a forall already: unchanged.
// CHECK-LABEL: func.func @small
// CHECK-NOT:     scf.forall
func.func @small(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %e = tensor.empty() : tensor<8x8xf32>
  %t = linalg.transpose ins(%x : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) permutation = [1, 0]
  return %t : tensor<8x8xf32>
}
