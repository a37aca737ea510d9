// Input for ../verify.mlir: a verifier error qat-compile must report.

func.func @bad(%x: tensor<4xf32>, %s: tensor<4xf32>, %z: tensor<i32>) -> tensor<4xf32> {
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<4xf32>, tensor<i32>
  return %0 : tensor<4xf32>
}
