// RUN: qat-opt %s -split-input-file --convert-qat-to-linalg -verify-diagnostics

func.func @prune_mask_unstructured_dynamic(%w: tensor<?x4xf32>, %s: tensor<f32>) -> tensor<?x4xi1> {
  // expected-error @+1 {{'qat.prune_mask' op cannot be lowered to linalg: unstructured pruning needs a static shape}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<f32>) : tensor<?x4xf32> -> tensor<?x4xi1>
  return %0 : tensor<?x4xi1>
}
