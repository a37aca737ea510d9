// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-set-batch=size=2

// Each op that would not keep the batch leading and alone is named, and the
// function is left as it was.

func.func @folds(%x: tensor<4x1x3xf32> {qat.role = "input"}) -> tensor<12xf32> {
  // expected-error @below {{'tensor.collapse_shape' op cannot change the batch size: its result 0 does not keep the batch as its leading dimension; import the model again at the batch you want}}
  %c = tensor.collapse_shape %x [[0, 1, 2]] : tensor<4x1x3xf32> into tensor<12xf32>
  return %c : tensor<12xf32>
}

// -----

func.func @folds_in_group(%x: tensor<4x2x3xf32> {qat.role = "input"}) -> tensor<8x3xf32> {
  // expected-error @below {{cannot change the batch size: its result 0 does not keep the batch as its leading dimension}}
  %c = tensor.collapse_shape %x [[0, 1], [2]] : tensor<4x2x3xf32> into tensor<8x3xf32>
  return %c : tensor<8x3xf32>
}

// -----

func.func @reduces(%x: tensor<4x4xf32> {qat.role = "input"}) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %r = linalg.reduce ins(%x : tensor<4x4xf32>) outs(%f : tensor<4xf32>) dimensions = [1]
    (%a: f32, %b: f32) {
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    }
  // expected-error @below {{'linalg.reduce' op cannot change the batch size: it reduces over the batch}}
  %sum = linalg.reduce ins(%x : tensor<4x4xf32>) outs(%f : tensor<4xf32>) dimensions = [0]
    (%a: f32, %b: f32) {
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    }
  return %sum : tensor<4xf32>
}

// -----

func.func @concatenates(%x: tensor<4x3xf32> {qat.role = "input"}) -> tensor<8x3xf32> {
  // expected-error @below {{'tensor.concat' op cannot change the batch size: its result 0 does not keep the batch as its leading dimension}}
  %c = tensor.concat dim(0) %x, %x : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<8x3xf32>
  return %c : tensor<8x3xf32>
}

// -----

func.func @pads(%x: tensor<4x3xf32> {qat.role = "input"}) -> tensor<4x3xf32> {
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{'tensor.pad' op cannot change the batch size: its result 0 does not keep the batch as its leading dimension}}
  %p = tensor.pad %x low[1, 0] high[0, 0] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<4x3xf32> to tensor<5x3xf32>
  %s = tensor.extract_slice %p[1, 0] [4, 3] [1, 1] : tensor<5x3xf32> to tensor<4x3xf32>
  return %s : tensor<4x3xf32>
}

// -----

func.func @constant(%x: tensor<4x3xf32> {qat.role = "input"}) -> tensor<4x3xf32> {
  %c = arith.constant dense<1.0> : tensor<4x3xf32>
  // expected-error @below {{'arith.addf' op cannot change the batch size: operand 1 is indexed by the batch but not computed from the inputs}}
  %y = arith.addf %x, %c : tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @constant_in_generic(%x: tensor<4x3xf32> {qat.role = "input"}) -> tensor<4x3xf32> {
  %c = arith.constant dense<1.0> : tensor<4x3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  // expected-error @below {{'linalg.generic' op cannot change the batch size: operand 1 is indexed by the batch but not computed from the inputs}}
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %c : tensor<4x3xf32>, tensor<4x3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// expected-error @below {{'func.func' op has no argument with qat.role = "input" to take the batch from}}
func.func @no_input(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  return %x : tensor<4x3xf32>
}

// -----

// expected-error @below {{'func.func' op expected inputs (qat.role = "input") with one static batch (first) dimension, found 'tensor<3x3xf32>' for input 1}}
func.func @two_batches(%x: tensor<4x3xf32> {qat.role = "input"}, %y: tensor<3x3xf32> {qat.role = "input"}) -> tensor<4x3xf32> {
  return %x : tensor<4x3xf32>
}
