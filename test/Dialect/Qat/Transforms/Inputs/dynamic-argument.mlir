func.func @f(%w: tensor<?xf32> {qat.name = "w"},
             %s: tensor<f32> {qat.name = "s", qat.role = "qparam", qat.qparam = {role = "act_scale", layer = "x"}}) -> tensor<?xf32> {
  return %w : tensor<?xf32>
}
