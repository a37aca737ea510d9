// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-instrument

func.func @instrument_duplicate_names(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = linalg.matmul {qat.layer = "fc"} ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-error @+1 {{has the same layer name 'fc' as another layer; names must be unique}}
  %b = linalg.matmul {qat.layer = "fc"} ins(%a, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// -----

// expected-error @+1 {{is already instrumented (it has qat.fake_quant ops)}}
func.func @instrument_twice(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %xq = qat.fake_quant %x, %s, %z : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = linalg.matmul ins(%xq, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %a : tensor<2x4xf32>
}

// -----

// expected-error @+1 {{cannot add '@net_init_qparams': the module already has a symbol of that name}}
func.func @net(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %a : tensor<2x4xf32>
}
func.func private @net_init_qparams()

// -----

// expected-warning @+1 {{qat-instrument: no function has a layer (a linalg matmul or convolution) to instrument}}
module {
  func.func @no_layers(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

func.func @layer_in_loop(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %r = scf.for %i = %c0 to %c2 step %c1 iter_args(%acc = %a) -> tensor<2x4xf32> {
    // expected-warning @+1 {{layer inside a region is not instrumented}}
    %b = linalg.matmul ins(%acc, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
    scf.yield %b : tensor<2x4xf32>
  }
  return %r : tensor<2x4xf32>
}


// -----

// expected-error @+1 {{'func.func' op expected a single-block body to instrument}}
func.func @instrument_two_blocks(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  cf.br ^bb1
^bb1:
  return %y : tensor<2x4xf32>
}

// -----

func.func @instrument_buffers(%x: memref<2x4xf32>, %w: memref<4x4xf32>, %y: memref<2x4xf32>) {
  // expected-error @+1 {{'linalg.matmul' op expected a layer on tensors}}
  linalg.matmul ins(%x, %w : memref<2x4xf32>, memref<4x4xf32>) outs(%y : memref<2x4xf32>)
  return
}
