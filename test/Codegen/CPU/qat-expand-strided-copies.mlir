// RUN: qat-opt %s -split-input-file --qat-expand-strided-copies | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-expand-strided-copies=vectorize=false | FileCheck %s --check-prefix=GPU

// Into a padded buffer (bufferized tensor.pad): the last two dimensions are
// contiguous in both (14 x 16 bytes), so each row of 224 bytes is copied as
// three 64-byte vectors and one of 32.
// CHECK-LABEL: func @pad_copy
func.func @pad_copy(%x: memref<2x14x14x16xi8>, %p: memref<2x16x16x16xi8>) {
  // CHECK-DAG: %[[FROM:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] : memref<2x14x14x16xi8> into memref<2x14x224xi8>
  // CHECK-DAG: %[[TO:.*]] = memref.collapse_shape %{{.*}} {{\[\[}}0], [1], [2, 3]] : memref<2x14x14x16xi8, strided<[4096, 256, 16, 1], offset: 272>> into memref<2x14x224xi8, strided<[4096, 256, 1], offset: 272>>
  // CHECK: scf.for
  // CHECK: scf.for
  // CHECK: scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
  // CHECK: %[[V:.*]] = vector.transfer_read %[[FROM]][%{{.*}}, %{{.*}}, %[[C]]], %{{.*}} {in_bounds = [true]} : memref<2x14x224xi8>, vector<64xi8>
  // CHECK: vector.transfer_write %[[V]], %[[TO]][%{{.*}}, %{{.*}}, %[[C]]] {in_bounds = [true]}
  // CHECK: vector.transfer_read %[[FROM]]{{.*}} : memref<2x14x224xi8>, vector<32xi8>
  // CHECK-NOT: memref.copy
  // For the GPU pipeline, a linalg.copy it maps to threads.
  // GPU: linalg.copy ins(%{{.*}} : memref<2x14x14x16xi8>)
  %s = memref.subview %p[0, 1, 1, 0] [2, 14, 14, 16] [1, 1, 1, 1] : memref<2x16x16x16xi8> to memref<2x14x14x16xi8, strided<[4096, 256, 16, 1], offset: 272>>
  memref.copy %x, %s : memref<2x14x14x16xi8> to memref<2x14x14x16xi8, strided<[4096, 256, 16, 1], offset: 272>>
  return
}

// -----

// Rows of 2 bytes: linalg.copy, element by element. Contiguous on both
// sides: left to memcpy.
// CHECK-LABEL: func @short_rows
func.func @short_rows(%a: memref<4x2xi8>, %b: memref<4x2xi8, strided<[8, 1]>>, %c: memref<8xf32>, %d: memref<8xf32>) {
  // CHECK: linalg.copy ins(%{{.*}} : memref<4x2xi8>) outs(%{{.*}} : memref<4x2xi8, strided<[8, 1]>>)
  // CHECK: memref.copy %{{.*}}, %{{.*}} : memref<8xf32> to memref<8xf32>
  memref.copy %a, %b : memref<4x2xi8> to memref<4x2xi8, strided<[8, 1]>>
  memref.copy %c, %d : memref<8xf32> to memref<8xf32>
  return
}
