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

// -----

// A large pad becomes a fill of the padded tensor and a copy of the source
// into its interior (the extract_slice / insert_slice pair bufferization
// writes in place), and both are split like any other op; bufferized
// whole, the pad would be one copy loop on one thread.
// CHECK-LABEL: func.func @pad
// CHECK-SAME: (%[[X:.*]]: tensor<64x32xf32>)
// CHECK: %[[FILL:.*]] = scf.forall {{.*}} -> (tensor<66x34xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<33x34xf32>)
// CHECK: %[[INTERIOR:.*]] = tensor.extract_slice %[[FILL]][1, 1] [64, 32] [1, 1]
// CHECK: %[[COPY:.*]] = scf.forall {{.*}} shared_outs(%{{.*}} = %[[INTERIOR]]) -> (tensor<64x32xf32>)
// CHECK: linalg.copy ins(%{{.*}} : tensor<32x32xf32>)
// CHECK: tensor.insert_slice %[[COPY]] into %[[FILL]][1, 1] [64, 32] [1, 1]
// CHECK-NOT: tensor.pad
func.func @pad(%x: tensor<64x32xf32>) -> tensor<66x34xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[1, 1] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<64x32xf32> to tensor<66x34xf32>
  return %p : tensor<66x34xf32>
}

// -----

// A small pad (fewer elements than min-iterations) stays.
// CHECK-LABEL: func.func @small_pad
// CHECK: tensor.pad
func.func @small_pad(%x: tensor<8x8xf32>) -> tensor<10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[1, 1] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<8x8xf32> to tensor<10x10xf32>
  return %p : tensor<10x10xf32>
}
