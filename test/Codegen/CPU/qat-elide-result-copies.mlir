// RUN: qat-opt %s -split-input-file --qat-elide-result-copies | FileCheck %s

// The result is computed in the out-parameter.
// CHECK-LABEL: func @computed_in_place
// CHECK-SAME: %[[X:.*]]: memref<8xf32>, %[[OUT:.*]]: memref<8xf32>
func.func @computed_in_place(%x: memref<8xf32>, %out: memref<8xf32>) {
  // CHECK-NOT: memref.alloc
  // CHECK: linalg.copy ins(%[[X]] : memref<8xf32>) outs(%[[OUT]] : memref<8xf32>)
  // CHECK-NOT: memref.copy
  %a = memref.alloc() : memref<8xf32>
  linalg.copy ins(%x : memref<8xf32>) outs(%a : memref<8xf32>)
  memref.copy %a, %out : memref<8xf32> to memref<8xf32>
  return
}

// -----

// One value returned twice: the first out-parameter computes it, the second
// is copied from the first.
// CHECK-LABEL: func @returned_twice
// CHECK-SAME: %[[X:.*]]: memref<8xf32>, %[[O1:.*]]: memref<8xf32>, %[[O2:.*]]: memref<8xf32>
func.func @returned_twice(%x: memref<8xf32>, %o1: memref<8xf32>, %o2: memref<8xf32>) {
  // CHECK: linalg.copy ins(%[[X]] : memref<8xf32>) outs(%[[O1]] : memref<8xf32>)
  // CHECK: memref.copy %[[O1]], %[[O2]]
  %a = memref.alloc() : memref<8xf32>
  linalg.copy ins(%x : memref<8xf32>) outs(%a : memref<8xf32>)
  memref.copy %a, %o1 : memref<8xf32> to memref<8xf32>
  memref.copy %a, %o2 : memref<8xf32> to memref<8xf32>
  return
}

// -----

// Kept: the buffer is written after the copy, the copy's source is an
// argument (an input must not become an output), and the out-parameter is
// read before it is written.
// CHECK-LABEL: func @kept
func.func @kept(%x: memref<8xf32>, %o1: memref<8xf32>, %o2: memref<8xf32>, %o3: memref<8xf32>) {
  // CHECK-COUNT-3: memref.copy
  %a = memref.alloc() : memref<8xf32>
  linalg.copy ins(%x : memref<8xf32>) outs(%a : memref<8xf32>)
  memref.copy %a, %o1 : memref<8xf32> to memref<8xf32>
  %c = arith.constant 1.0 : f32
  linalg.fill ins(%c : f32) outs(%a : memref<8xf32>)
  memref.copy %x, %o2 : memref<8xf32> to memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  linalg.copy ins(%o3 : memref<8xf32>) outs(%b : memref<8xf32>)
  memref.copy %b, %o3 : memref<8xf32> to memref<8xf32>
  return
}
