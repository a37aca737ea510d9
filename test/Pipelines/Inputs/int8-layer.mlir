// An integer layer as qat-convert-to-integer writes it: int8 codes, int32
// accumulation, requantization to int8, a constant weight.
func.func @layer(%x: tensor<4x16xi8>) -> tensor<4x8xi8> {
  %w = arith.constant dense<3> : tensor<16x8xi8>
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<4x8xi32>
  %acc0 = linalg.fill ins(%zero : i32) outs(%e : tensor<4x8xi32>) -> tensor<4x8xi32>
  %acc = linalg.matmul ins(%x, %w : tensor<4x16xi8>, tensor<16x8xi8>) outs(%acc0 : tensor<4x8xi32>) -> tensor<4x8xi32>
  %y = qat.requantize %acc {multiplier = array<i32: 1518500250>,
                            shift = array<i32: 36>, output_zero_point = 3 : i32}
      : tensor<4x8xi32> -> tensor<4x8xi8>
  return %y : tensor<4x8xi8>
}
