// RUN: qat-opt %s --qat-protect-arguments | FileCheck %s

// Every tensor argument of a public function with a body is not writable;
// scalars, private functions and declarations are left alone.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME:    %{{.*}}: tensor<4xf32> {bufferization.writable = false, qat.name = "x"}
// CHECK-SAME:    %{{.*}}: index)
func.func @entry(%x: tensor<4xf32> {qat.name = "x"}, %i: index) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// CHECK: func.func private @helper(%{{[a-z0-9]+}}: tensor<4xf32>) -> tensor<4xf32> {
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// CHECK: func.func private @external(tensor<4xf32>) -> tensor<4xf32>{{$}}
func.func private @external(%x: tensor<4xf32>) -> tensor<4xf32>

// After bufferization, the in-place update becomes a copy into a new buffer.
// RUN: qat-opt %s --qat-protect-arguments --one-shot-bufferize="bufferize-function-boundaries" | FileCheck %s --check-prefix=BUF
// BUF-LABEL: func.func @bump(
// BUF:         %[[NEW:.*]] = memref.alloc() {{.*}}: memref<4xf32>
// BUF:         memref.copy %{{.*}}, %[[NEW]]
// BUF:         linalg.generic {{.*}} outs(%[[NEW]] : memref<4xf32>)
func.func @bump(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]} outs(%x : tensor<4xf32>) {
  ^bb0(%o: f32):
    %c = arith.constant 1.0 : f32
    %s = arith.addf %o, %c : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}
