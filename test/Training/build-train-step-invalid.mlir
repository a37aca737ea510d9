// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-build-train-step

// An op on the path from a parameter to the loss without a gradient rule is
// named, with its location.
func.func @no_rule(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %o: f32):
    // expected-error @+1 {{'math.sin' op has no gradient rule (in a linalg payload)}}
    %r = math.sin %a : f32
    linalg.yield %r : f32
  } -> tensor<2x2xf32>
  return %s : tensor<2x2xf32>
}

// -----

func.func @accumulator_product(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  // expected-error @+1 {{has no gradient rule: its payload combines the accumulator other than by a sum or a max}}
  %y = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>, affine_map<(i, j, k) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.mulf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{cross-entropy expects logits tensor<NxCxf32> as result #0, got 'tensor<2x2x1xf32>'}}
func.func @logits_rank(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %r = tensor.expand_shape %y [[0], [1, 2]] output_shape [2, 2, 1] : tensor<2x2xf32> into tensor<2x2x1xf32>
  return %r : tensor<2x2x1xf32>
}

// -----

// expected-error @+1 {{has no parameter to train (every argument is an input)}}
func.func @nothing_to_train(%x: tensor<2x3xf32> {qat.role = "input"}, %w: tensor<3x2xf32> {qat.role = "input"}) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @dynamic_slice(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %wd = tensor.cast %w : tensor<3x2xf32> to tensor<?x2xf32>
  // expected-error @+1 {{has no gradient rule for dynamic shapes}}
  %w2 = tensor.extract_slice %wd[0, 0] [3, 2] [1, 1] : tensor<?x2xf32> to tensor<3x2xf32>
  %y = linalg.matmul ins(%x, %w2 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{argument #1 ('arg1') is trained but has a dynamic shape; parameters need static shapes}}
func.func @dynamic_parameter(%x: tensor<2x3xf32>, %w: tensor<?x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %w2 = tensor.extract_slice %w[0, 0] [3, 2] [1, 1] : tensor<?x2xf32> to tensor<3x2xf32>
  %y = linalg.matmul ins(%x, %w2 : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{'func.func' op has no result to compute a loss on}}
func.func @no_result(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) {
  return
}

// -----

// expected-error @+1 {{'func.func' op result #0 must be a static f32 tensor to compute a loss on, got 'tensor<2x2xf64>'}}
func.func @f64_result(%x: tensor<2x3xf32>, %w: tensor<3x2xf64>) -> tensor<2x2xf64> {
  %c = arith.constant dense<0.0> : tensor<2x2xf64>
  return %c : tensor<2x2xf64>
}

// -----

// expected-error @+1 {{'func.func' op argument #1 ('arg1') is a parameter but not a float tensor; mark inputs with qat.role = "input"}}
func.func @integer_parameter(%x: tensor<2x3xf32>, %n: tensor<3x2xi32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected a single-block body to differentiate}}
func.func @two_blocks(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  cf.br ^bb1
^bb1:
  return %y : tensor<2x2xf32>
}

// -----

func.func @dynamic_slice(%x: tensor<2x3xf32>, %w: tensor<3x4xf32>, %i: index {qat.role = "input"}) -> tensor<2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-error @+1 {{'tensor.extract_slice' op has no gradient rule for dynamic offsets}}
  %s = tensor.extract_slice %y[0, %i] [2, 2] [1, 1] : tensor<2x4xf32> to tensor<2x2xf32>
  return %s : tensor<2x2xf32>
}

// -----

func.func @max_from_input(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>, %init: tensor<2xf32>) -> tensor<2x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  // expected-error @+1 {{has no gradient rule for the initial value of a max reduction}}
  %m = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]}
      ins(%y : tensor<2x2xf32>) outs(%init : tensor<2xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %a, %o : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %r = tensor.expand_shape %m [[0, 1]] output_shape [2, 1] : tensor<2xf32> into tensor<2x1xf32>
  return %r : tensor<2x1xf32>
}

// -----

func.func @loop_read_twice(%x: tensor<2x3xf32>, %w: tensor<3x3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{has no gradient rule for input #1: it reads a loop twice}}
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x3xf32>, tensor<3x3xf32>) outs(%f : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

func.func @window_floordiv(%x: tensor<2x4xf32>, %w: tensor<2x2xf32>) -> tensor<2x4xf32> {
  %e = tensor.empty() : tensor<2x4xf32>
  // expected-error @+1 {{has no gradient rule for input #1: it reads d1 floordiv 2 (expected a loop or a strided window a*p + b*r)}}
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j floordiv 2)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x4xf32>, tensor<2x2xf32>) outs(%e : tensor<2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @two_results(%x: tensor<2x4xf32>, %w: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %e = tensor.empty() : tensor<2x4xf32>
  // expected-error @+1 {{has no gradient rule: expected one result on tensors}}
  %y:2 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x4xf32>, tensor<2x4xf32>) outs(%e, %e : tensor<2x4xf32>, tensor<2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32, %p: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r, %r : f32, f32
  } -> (tensor<2x4xf32>, tensor<2x4xf32>)
  return %y#0 : tensor<2x4xf32>
}

// -----

func.func @scalar_operand(%x: tensor<2x4xf32>, %w: tensor<f32>) -> tensor<2x4xf32> {
  %s = tensor.extract %w[] : tensor<f32>
  %e = tensor.empty() : tensor<2x4xf32>
  // expected-error @+1 {{has no gradient rule for scalar operand #1}}
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : tensor<2x4xf32>, f32) outs(%e : tensor<2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
