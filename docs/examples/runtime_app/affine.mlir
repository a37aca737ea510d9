// The model the runtime_app example calls: y = 2 x + 1 on four floats.
// qat-compile affine.mlir -o libaffine.so
func.func @affine(%x: tensor<4xf32> {qat.name = "x"}) -> (tensor<4xf32> {qat.name = "y"}) {
  %two = arith.constant dense<2.0> : tensor<4xf32>
  %one = arith.constant dense<1.0> : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x, %two, %one : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %m, %c : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}
