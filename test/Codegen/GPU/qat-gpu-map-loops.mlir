// RUN: qat-opt %s --qat-gpu-map-loops --split-input-file | FileCheck %s
// RUN: qat-opt %s --qat-gpu-map-loops="threads-per-block=64" --split-input-file | FileCheck %s --check-prefix=T64
// RUN: not qat-opt %s --qat-gpu-map-loops="threads-per-block=2048" --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// A matmul: its 64x32 parallel iterations are one flat index over 8 blocks
// of 256 threads; each thread guards the index, recovers (row, column) with
// the column fastest, and runs the whole reduction.
// CHECK-LABEL: func.func @matmul
// CHECK:         %[[C256:.*]] = arith.constant 256 : index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivui %[[TOTAL:.*]], %[[C256]]
// CHECK:         scf.parallel (%[[B:.*]]) = (%{{.*}}) to (%[[BLOCKS]])
// CHECK:           scf.parallel (%[[T:.*]]) = (%{{.*}}) to (%[[C256]])
// CHECK:             %[[BASE:.*]] = arith.muli %[[B]], %[[C256]]
// CHECK:             %[[ID:.*]] = arith.addi %[[BASE]], %[[T]]
// CHECK:             %[[IN:.*]] = arith.cmpi ult, %[[ID]], %[[TOTAL]]
// CHECK:             scf.if %[[IN]] {
// CHECK:               arith.remui %[[ID]]
// CHECK:               arith.divui %[[ID]]
// CHECK:               scf.for
// CHECK:                 arith.muli %{{.*}}, %{{.*}} : i32
// CHECK:           } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK:         } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// T64-LABEL: func.func @matmul
// T64:         arith.constant 64 : index
// BAD: threads per block must be in [1, 1024], got 2048
func.func @matmul(%a: memref<64x128xi8>, %b: memref<128x32xi8>, %c: memref<64x32xi32>) {
  linalg.matmul ins(%a, %b : memref<64x128xi8>, memref<128x32xi8>) outs(%c : memref<64x32xi32>)
  return
}

// -----

// A full reduction has no parallel dimension: it runs as one thread.
// CHECK-LABEL: func.func @sum
// CHECK:         scf.parallel
// CHECK:           scf.parallel
// CHECK:             scf.if
// CHECK:               scf.for
// CHECK:                 arith.addi
func.func @sum(%x: memref<100xi32>, %out: memref<i32>) {
  linalg.reduce ins(%x : memref<100xi32>) outs(%out : memref<i32>) dimensions = [0]
    (%in: i32, %acc: i32) {
      %s = arith.addi %in, %acc : i32
      linalg.yield %s : i32
    }
  return
}
