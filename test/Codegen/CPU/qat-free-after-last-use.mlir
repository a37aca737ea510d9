// RUN: qat-opt %s -split-input-file --qat-free-after-last-use | FileCheck %s

// Each dealloc moves up to just after the last use of its buffer: %a's
// last use is the copy, %b's is through a view (the collapse_shape) inside
// a loop, %c's dealloc moves with the scf.if of its ownership condition.
// CHECK-LABEL: func.func @moved
// CHECK: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[A]] : memref<8xf32>)
// CHECK: memref.copy %[[A]], %{{.*}}
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK: %[[B:.*]] = memref.alloc() : memref<2x4xf32>
// CHECK: %[[V:.*]] = memref.collapse_shape %[[B]]
// CHECK: scf.for
// CHECK: memref.load %[[V]]
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK: %[[C:.*]] = memref.alloc() : memref<8xf32>
// CHECK: linalg.copy ins(%[[C]] : memref<8xf32>)
// CHECK-NEXT: scf.if %{{.*}} {
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK: %[[D:.*]] = memref.alloc() : memref<1024xf32>
// CHECK: return
func.func @moved(%out: memref<8xf32>, %flag: i1, %s: memref<f32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %a = memref.alloc() : memref<8xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<8xf32>)
  memref.copy %a, %out : memref<8xf32> to memref<8xf32>
  %b = memref.alloc() : memref<2x4xf32>
  linalg.fill ins(%zero : f32) outs(%b : memref<2x4xf32>)
  %v = memref.collapse_shape %b [[0, 1]] : memref<2x4xf32> into memref<8xf32>
  scf.for %i = %c0 to %c8 step %c1 {
    %x = memref.load %v[%i] : memref<8xf32>
    memref.store %x, %s[] : memref<f32>
  }
  %c = memref.alloc() : memref<8xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<8xf32>)
  linalg.copy ins(%c : memref<8xf32>) outs(%out : memref<8xf32>)
  %d = memref.alloc() : memref<1024xf32>
  linalg.fill ins(%zero : f32) outs(%d : memref<1024xf32>)
  memref.dealloc %a : memref<8xf32>
  memref.dealloc %b : memref<2x4xf32>
  scf.if %flag {
    memref.dealloc %c : memref<8xf32>
  }
  memref.dealloc %d : memref<1024xf32>
  return
}

// -----

// A buffer yielded by a loop is used through the loop's result (freed
// after the load of it); a buffer whose address was taken as an integer
// keeps its dealloc where it was, since the address may be used anywhere
// later.
// CHECK-LABEL: func.func @aliases
// CHECK: %[[A:.*]] = memref.alloc() : memref<8xf32>
// CHECK: %[[R:.*]] = scf.for
// CHECK: %[[P:.*]] = memref.alloc() : memref<8xf32>
// CHECK: memref.extract_aligned_pointer_as_index %[[P]]
// CHECK: %[[E:.*]] = memref.alloc() : memref<16xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : memref<16xf32>)
// CHECK-NEXT: memref.dealloc %[[E]]
// CHECK-NEXT: memref.load %[[R]]
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: memref.store
// CHECK-NEXT: memref.dealloc %[[P]]
// CHECK-NEXT: return
func.func @aliases(%s: memref<f32>) -> index {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %a = memref.alloc() : memref<8xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<8xf32>)
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%it = %a) -> (memref<8xf32>) {
    scf.yield %it : memref<8xf32>
  }
  %p = memref.alloc() : memref<8xf32>
  %addr = memref.extract_aligned_pointer_as_index %p : memref<8xf32> -> index
  %e = memref.alloc() : memref<16xf32>
  linalg.fill ins(%zero : f32) outs(%e : memref<16xf32>)
  %x = memref.load %r[%c0] : memref<8xf32>
  memref.store %x, %s[] : memref<f32>
  memref.dealloc %p : memref<8xf32>
  memref.dealloc %a : memref<8xf32>
  memref.dealloc %e : memref<16xf32>
  return %addr : index
}
