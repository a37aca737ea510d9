"""Gradients built by qat-build-train-step, compiled, against central finite
differences of the compiled forward (one program per op rule), and against
PyTorch autograd on whole networks."""

import re

import numpy as np
import pytest

from reference import F32

# Each program is @f(params...) -> result; the loss is the mean squared
# error against a random target, so d loss / d result is dense.
PROGRAMS = {
    "matmul_relu": """
func.func @f(%x: tensor<3x5xf32>, %w: tensor<5x4xf32>) -> tensor<3x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<3x5xf32>, tensor<5x4xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<3x4xf32>) outs(%e : tensor<3x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}""",
    "matmul_transposed_b": """
func.func @f(%x: tensor<3x5xf32>, %w: tensor<4x5xf32>) -> tensor<3x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<3x5xf32>, tensor<4x5xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}""",
    "batch_matmul": """
func.func @f(%x: tensor<2x3x4xf32>, %w: tensor<2x4x2xf32>) -> tensor<2x3x2xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3x2xf32>) -> tensor<2x3x2xf32>
  %y = linalg.batch_matmul ins(%x, %w : tensor<2x3x4xf32>, tensor<2x4x2xf32>) outs(%f : tensor<2x3x2xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}""",
    "conv_stride2_dilation2": """
func.func @f(%x: tensor<1x9x9x2xf32>, %w: tensor<3x3x2x3xf32>) -> tensor<1x3x3x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x3x3x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<2> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<1x9x9x2xf32>, tensor<3x3x2x3xf32>) outs(%f : tensor<1x3x3x3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}""",
    "conv_nchw_padded": """
func.func @f(%x: tensor<1x2x4x4xf32>, %w: tensor<3x2x3x3xf32>) -> tensor<1x3x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %xp = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %e = tensor.empty() : tensor<1x3x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xp, %w : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%f : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  return %y : tensor<1x3x4x4xf32>
}""",
    "depthwise": """
func.func @f(%x: tensor<1x5x5x3xf32>, %w: tensor<3x3x3xf32>) -> tensor<1x2x2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<1x5x5x3xf32>, tensor<3x3x3xf32>) outs(%f : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  return %y : tensor<1x2x2x3xf32>
}""",
    "max_pool": """
func.func @f(%x: tensor<1x5x5x2xf32>) -> tensor<1x2x2x2xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %win = tensor.empty() : tensor<3x3xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %win : tensor<1x5x5x2xf32>, tensor<3x3xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}""",
    "avg_pool": """
func.func @f(%x: tensor<1x4x4x2xf32>) -> tensor<1x2x2x2xf32> {
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %win = tensor.empty() : tensor<2x2xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %s = linalg.pooling_nhwc_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %win : tensor<1x4x4x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x2x2x2xf32>) outs(%e : tensor<1x2x2x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.mulf %v, %quarter : f32
    linalg.yield %r : f32
  } -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}""",
    "elementwise_math": """
func.func @f(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %one = arith.constant 1.5 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %ea = math.exp %a : f32
    %ab = math.absf %b : f32
    %p = arith.addf %ab, %one : f32
    %l = math.log %p : f32
    %t = math.tanh %a : f32
    %q = arith.divf %ea, %p : f32
    %s = math.sqrt %p : f32
    %m = arith.mulf %t, %s : f32
    %c = arith.cmpf ogt, %a, %b : f32
    %sel = arith.select %c, %q, %m : f32
    %mn = arith.minimumf %sel, %l : f32
    %ng = arith.negf %mn : f32
    %d = arith.subf %ng, %a : f32
    linalg.yield %d : f32
  } -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}""",
    "shapes": """
func.func @f(%x: tensor<2x6xf32>, %b: tensor<3xf32>) -> tensor<3x6xf32> {
  %e = tensor.empty() : tensor<6x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x6xf32>) outs(%e : tensor<6x2xf32>) permutation = [1, 0]
  %r = tensor.expand_shape %t [[0, 1], [2]] output_shape [3, 2, 2] : tensor<6x2xf32> into tensor<3x2x2xf32>
  %c = tensor.collapse_shape %r [[0], [1, 2]] : tensor<3x2x2xf32> into tensor<3x4xf32>
  %eb = tensor.empty() : tensor<3x2xf32>
  %bb = linalg.broadcast ins(%b : tensor<3xf32>) outs(%eb : tensor<3x2xf32>) dimensions = [1]
  %cat = tensor.concat dim(1) %c, %bb : (tensor<3x4xf32>, tensor<3x2xf32>) -> tensor<3x6xf32>
  %s = tensor.extract_slice %cat[0, 1] [3, 4] [1, 1] : tensor<3x6xf32> to tensor<3x4xf32>
  %z = arith.constant 0.0 : f32
  %ez = tensor.empty() : tensor<3x6xf32>
  %fz = linalg.fill ins(%z : f32) outs(%ez : tensor<3x6xf32>) -> tensor<3x6xf32>
  %ins = tensor.insert_slice %s into %fz[0, 2] [3, 4] [1, 1] : tensor<3x4xf32> into tensor<3x6xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%ins, %cat : tensor<3x6xf32>, tensor<3x6xf32>) outs(%ez : tensor<3x6xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    linalg.yield %m : f32
  } -> tensor<3x6xf32>
  return %sum : tensor<3x6xf32>
}""",
    "reduce": """
func.func @f(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %sq = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<3x4xf32>) outs(%x : tensor<3x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<3x4xf32>
  %r = linalg.reduce ins(%sq : tensor<3x4xf32>) outs(%f : tensor<3xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<3xf32>
}""",
}


def compile_program(qat_opt, compile_mlir, text, name, **options):
    flags = " ".join(f"{k}={v}" for k, v in
                     dict({"forward": "f", "loss": "mse"}, **options).items())
    return compile_mlir(qat_opt(text, f"--qat-build-train-step={flags}"),
                        name=name)


def finite_differences(model, args, i, eps=1e-2):
    fd = np.zeros_like(args[i])
    for index in np.ndindex(args[i].shape):
        plus = [a.copy() for a in args]
        plus[i][index] += eps
        minus = [a.copy() for a in args]
        minus[i][index] -= eps
        fd[index] = (float(model.eval_step(*plus)[0]) -
                     float(model.eval_step(*minus)[0])) / (2 * eps)
    return fd


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_match_finite_differences(qat_opt, compile_mlir, name):
    # Every argument is trained: mark them all parameters.
    text = PROGRAMS[name]
    head, rest = text.split(") ->", 1)
    head = re.sub(r"(%\w+: tensor<[0-9x]+xf32>)",
                  r'\1 {qat.role = "parameter"}', head)
    text = head + ") ->" + rest
    model = compile_program(qat_opt, compile_mlir, text, name)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(a.shape).astype(F32)
            for a in model.gradients.args]
    outputs = model.gradients(*args)
    names = [a.name for a in model.gradients.args]
    assert len(outputs) - 1 == sum(n.startswith("param:") for n in names)
    for result, gradient in zip(model.gradients.results[1:], outputs[1:]):
        i = names.index("param:" + result.name[len("grad:"):])
        fd = finite_differences(model, args, i)
        scale = max(1.0, float(np.abs(fd).max()))
        np.testing.assert_allclose(gradient, fd, rtol=0, atol=3e-3 * scale,
                                   err_msg=f"{name}: {result.name}")


def test_pruned_weights_get_no_gradient(qat_opt, compile_mlir):
    """A 2:4 mask (qat.prune_mask) applied with a select: the mask itself
    carries no gradient, the kept weights get x^T dy, the pruned ones 0."""
    text = """
func.func @f(%x: tensor<3x8xf32> {qat.role = "input"}, %w: tensor<8x2xf32>) -> tensor<3x2xf32> {
  %zero = arith.constant 0.0 : f32
  %mask = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 0 : i64} : tensor<8x2xf32> -> tensor<8x2xi1>
  %ew = tensor.empty() : tensor<8x2xf32>
  %wm = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%w, %mask : tensor<8x2xf32>, tensor<8x2xi1>) outs(%ew : tensor<8x2xf32>) {
  ^bb0(%a: f32, %keep: i1, %o: f32):
    %r = arith.select %keep, %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<8x2xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x2xf32>) -> tensor<3x2xf32>
  %y = linalg.matmul ins(%x, %wm : tensor<3x8xf32>, tensor<8x2xf32>) outs(%f : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}"""
    model = compile_program(qat_opt, compile_mlir, text, "pruned")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 8)).astype(F32)
    w = rng.standard_normal((8, 2)).astype(F32)
    target = rng.standard_normal((3, 2)).astype(F32)
    loss, grad = model.gradients(w, x, target)
    # numpy: keep the 2 largest |w| of every 4 consecutive rows per column.
    mask = np.zeros_like(w, dtype=bool)
    for start in range(0, 8, 4):
        block = np.abs(w[start:start + 4])
        for j in range(2):
            mask[start + np.argsort(block[:, j])[-2:], j] = True
    y = x @ np.where(mask, w, 0)
    dy = 2 * (y - target) / y.size
    np.testing.assert_allclose(grad, np.where(mask, x.T @ dy, 0), rtol=1e-5,
                               atol=1e-6)
    assert (grad[~mask] == 0).all()
