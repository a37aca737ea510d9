// RUN: qat-opt %s --qat-outline-parallel-loops | FileCheck %s

// Each outermost scf.parallel moves into a function of its own, before its
// caller: the buffers and the bound it reads become arguments, the
// constants are cloned in; the nested loop stays inside its parent.
// CHECK-LABEL: func.func private @step_parallel_0
// CHECK-SAME: (%[[X:.*]]: memref<64xf32>, %[[Y:.*]]: memref<64xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: scf.parallel (%[[I:.*]]) = (%[[C0]]) to (%[[C64]]) step (%[[C1]])
// CHECK: memref.load %[[X]][%[[I]]]
// CHECK: memref.store %{{.*}}, %[[Y]][%[[I]]]
// CHECK: return
// CHECK-LABEL: func.func private @step_parallel_1
// CHECK-SAME: (%[[N:.*]]: index, %[[Z:.*]]: memref<8x8xf32>)
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[N]])
// CHECK: scf.parallel
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[A:.*]]: memref<64xf32>, %[[B:.*]]: memref<64xf32>, %[[M:.*]]: index, %[[W:.*]]: memref<8x8xf32>)
// CHECK: call @step_parallel_0(%[[A]], %[[B]]) : (memref<64xf32>, memref<64xf32>) -> ()
// CHECK: call @step_parallel_1(%[[M]], %[[W]]) : (index, memref<8x8xf32>) -> ()
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @step(%x: memref<64xf32>, %y: memref<64xf32>, %n: index, %z: memref<8x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %v = memref.load %x[%i] : memref<64xf32>
    %d = arith.mulf %v, %two : f32
    memref.store %d, %y[%i] : memref<64xf32>
    scf.reduce
  }
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    scf.parallel (%j) = (%c0) to (%c8) step (%c1) {
      memref.store %two, %z[%i, %j] : memref<8x8xf32>
      scf.reduce
    }
    scf.reduce
  }
  return
}
