// RUN: qat-opt %s --qat-batch-matmul-to-matmul | FileCheck %s

// CHECK-LABEL: func @bmm
// CHECK-SAME: (%[[A:.*]]: tensor<3x4x5xi8>, %[[B:.*]]: tensor<3x5x6xi8>, %[[C:.*]]: tensor<3x4x6xi32>)
func.func @bmm(%a: tensor<3x4x5xi8>, %b: tensor<3x5x6xi8>, %c: tensor<3x4x6xi32>) -> tensor<3x4x6xi32> {
  // CHECK: %[[R:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[C]]) -> (tensor<3x4x6xi32>)
  // CHECK: %[[O:.*]] = tensor.extract_slice %[[ACC]][%[[I]], 0, 0] [1, 4, 6] [1, 1, 1] : tensor<3x4x6xi32> to tensor<4x6xi32>
  // CHECK: %[[AI:.*]] = tensor.extract_slice %[[A]][%[[I]], 0, 0] [1, 4, 5] [1, 1, 1] : tensor<3x4x5xi8> to tensor<4x5xi8>
  // CHECK: %[[BI:.*]] = tensor.extract_slice %[[B]][%[[I]], 0, 0] [1, 5, 6] [1, 1, 1] : tensor<3x5x6xi8> to tensor<5x6xi8>
  // CHECK: %[[M:.*]] = linalg.matmul ins(%[[AI]], %[[BI]] : tensor<4x5xi8>, tensor<5x6xi8>) outs(%[[O]] : tensor<4x6xi32>)
  // CHECK: %[[U:.*]] = tensor.insert_slice %[[M]] into %[[ACC]][%[[I]], 0, 0] [1, 4, 6] [1, 1, 1]
  // CHECK: scf.yield %[[U]]
  // CHECK: return %[[R]]
  %0 = linalg.batch_matmul ins(%a, %b : tensor<3x4x5xi8>, tensor<3x5x6xi8>) outs(%c : tensor<3x4x6xi32>) -> tensor<3x4x6xi32>
  return %0 : tensor<3x4x6xi32>
}

// Dynamic batches stay (they take the loop-interchange path).
// CHECK-LABEL: func @dynamic
func.func @dynamic(%a: tensor<?x4x5xf32>, %b: tensor<?x5x6xf32>, %c: tensor<?x4x6xf32>) -> tensor<?x4x6xf32> {
  // CHECK: linalg.batch_matmul
  %0 = linalg.batch_matmul ins(%a, %b : tensor<?x4x5xf32>, tensor<?x5x6xf32>) outs(%c : tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  return %0 : tensor<?x4x6xf32>
}
