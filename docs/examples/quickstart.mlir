// A linear layer y = relu(x W + b), run in float and with simulated int8
// quantization: weights per output channel (symmetric, narrow range), the
// input per tensor with a scale and zero point chosen from its observed range.
// scripts/demo.sh compiles and runs it; see README.md.

func.func private @printMemrefF32(memref<*xf32>)
func.func private @printMemrefI32(memref<*xi32>)

func.func @print(%t: tensor<?x?xf32>) {
  %m = bufferization.to_buffer %t read_only : tensor<?x?xf32> to memref<?x?xf32>
  %u = memref.cast %m : memref<?x?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

func.func @linear_relu(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<2x3xf32>
  %acc0 = linalg.fill ins(%zero : f32) outs(%init : tensor<2x3xf32>) -> tensor<2x3xf32>
  %acc = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%acc0 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%acc, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%init : tensor<2x3xf32>) {
  ^bb0(%a: f32, %bias: f32, %out: f32):
    %s = arith.addf %a, %bias : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

func.func @main() {
  %x = arith.constant dense<[[0.31, -1.20, 2.05, 0.77], [-0.42, 0.09, 1.33, -2.61]]> : tensor<2x4xf32>
  %w = arith.constant dense<[[0.52, -0.13, 0.08], [-0.27, 0.91, -0.33], [0.14, 0.05, 0.61], [-0.72, 0.36, 0.02]]> : tensor<4x3xf32>
  %b = arith.constant dense<[0.1, -0.05, 0.2]> : tensor<3xf32>

  // Float reference.
  %y = call @linear_relu(%x, %w, %b) : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>

  // Weights: per output channel (axis 1), int8 symmetric narrow range.
  %wmin, %wmax = qat.observe %w {axis = 1 : i64} : tensor<4x3xf32> -> tensor<3xf32>
  %ws, %wz = qat.choose_qparams %wmin, %wmax {symmetric = true, narrow_range = true} : tensor<3xf32> -> tensor<3xi32>
  %wq = qat.fake_quant %w, %ws, %wz {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  // Input: per tensor, uint8 affine from the observed range.
  %xmin, %xmax = qat.observe %x : tensor<2x4xf32> -> tensor<f32>
  %xs, %xz = qat.choose_qparams %xmin, %xmax {is_signed = false} : tensor<f32> -> tensor<i32>
  %xq = qat.fake_quant %x, %xs, %xz {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %yq = call @linear_relu(%xq, %wq, %b) : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>

  // The input's integer codes, as the deployed program will see them.
  %codes = qat.quantize %x, %xs, %xz {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32> -> tensor<2x4xi8>

  %yd = tensor.cast %y : tensor<2x3xf32> to tensor<?x?xf32>
  call @print(%yd) : (tensor<?x?xf32>) -> ()
  %yqd = tensor.cast %yq : tensor<2x3xf32> to tensor<?x?xf32>
  call @print(%yqd) : (tensor<?x?xf32>) -> ()
  %xqd = tensor.cast %xq : tensor<2x4xf32> to tensor<?x?xf32>
  call @print(%xqd) : (tensor<?x?xf32>) -> ()
  %codes32 = arith.extui %codes : tensor<2x4xi8> to tensor<2x4xi32>
  %cm = bufferization.to_buffer %codes32 read_only : tensor<2x4xi32> to memref<2x4xi32>
  %cu = memref.cast %cm : memref<2x4xi32> to memref<*xi32>
  call @printMemrefI32(%cu) : (memref<*xi32>) -> ()
  return
}
