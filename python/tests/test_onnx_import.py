"""The ONNX importer, op by op against numpy (onnx 1.12 has no reference
evaluator), PyTorch-exported models against PyTorch, and its errors."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from qat.onnx_import import OnnxImportError, import_onnx  # noqa: E402

F32 = np.float32


def make_model(nodes, inputs, outputs, inits=None, opset=13):
    """inputs/outputs: {name: shape} (an output's rank alone is enough);
    inits: {name: array}."""
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
         for n, s in inputs.items()],
        [helper.make_tensor_value_info(
            n, TensorProto.FLOAT,
            [f"{n}{i}" for i in range(s)] if isinstance(s, int) else s)
         for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k)
         for k, v in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        opset)])
    model.ir_version = 8
    return model


def run(compile_mlir, model, feeds, batch=None, tag="net"):
    """Imports, compiles and runs `model` on `feeds` (ONNX layout)."""
    first = next(iter(feeds.values()))
    imported = import_onnx(model, batch=batch or first.shape[0])
    entry = compile_mlir(imported.text, name=tag)[imported.function]
    args = [feeds[a.name] if a.name in feeds else imported.params[a.name]
            for a in entry.args]
    out = entry(*args)
    return out, imported


def conv2d(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1),
           group=1):
    """NCHW / OIHW reference; pads = (top, left, bottom, right)."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    oh = (h - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow), np.float64)
    per = f // group
    for o in range(f):
        g = o // per
        for i in range(kh):
            for j in range(kw):
                patch = x[:, g * cg:(g + 1) * cg,
                          i * dil[0]:i * dil[0] + stride[0] * oh:stride[0],
                          j * dil[1]:j * dil[1] + stride[1] * ow:stride[1]]
                out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def pool(x, k, stride, pads, value, reduce):
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
               constant_values=value)
    n, c, h, w = x.shape
    oh, ow = (h - k[0]) // stride[0] + 1, (w - k[1]) // stride[1] + 1
    windows = np.stack([x[:, :, i:i + stride[0] * oh:stride[0],
                          j:j + stride[1] * ow:stride[1]]
                        for i in range(k[0]) for j in range(k[1])])
    return reduce(windows, axis=0)


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def test_gemm_relu_matmul(compile_mlir):
    rng = np.random.default_rng(0)
    x, w1, b1, w2 = rand(rng, 3, 6), rand(rng, 5, 6), rand(rng, 5), \
        rand(rng, 5, 4)
    model = make_model(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1,
                          alpha=0.5, beta=2.0),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        {"x": ["N", 6]}, {"y": ["N", 4]}, {"w1": w1, "b1": b1, "w2": w2})
    got, imported = run(compile_mlir, model, {"x": x}, tag="gemm")
    expected = np.maximum(0.5 * x @ w1.T + 2.0 * b1, 0) @ w2
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert sorted(imported.params) == ["b1", "w1", "w2"]
    assert imported.params["w1"].shape == (6, 5)  # stored K x N


@pytest.mark.parametrize("kw", [
    dict(),
    dict(pads=[1, 2, 0, 1], strides=[2, 1]),
    dict(dilations=[2, 2], pads=[2, 2, 2, 2]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
])
def test_conv(compile_mlir, kw):
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, 2, 3, 9, 8), rand(rng, 4, 3, 3, 3), rand(rng, 4)
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["y"],
                                         kernel_shape=[3, 3], **kw)],
                       {"x": [2, 3, 9, 8]}, {"y": 4}, {"w": w, "b": b})
    got, _ = run(compile_mlir, model, {"x": x},
                 tag="conv" + str(abs(hash(str(kw))) % 1000))
    stride = kw.get("strides", [1, 1])
    pads = kw.get("pads", [0, 0, 0, 0])
    if kw.get("auto_pad") == "SAME_UPPER":
        # 9 rows -> 5 (2 padded: 1 above, 1 below), 8 columns -> 4 (1, right).
        pads = [1, 0, 1, 1]
    pads = (pads[0], pads[1], pads[2], pads[3])
    expected = conv2d(x, w, b, stride, pads, kw.get("dilations", (1, 1)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_normalized_inputs(compile_mlir):
    """normalize=(mean, std): the program computes the network on
    (x - mean[c]) / std[c]; the convolution's zero padding is padding of the
    normalized image (folding the transform into the weights would get the
    borders wrong)."""
    rng = np.random.default_rng(4)
    x, w = rng.uniform(0, 1, (2, 3, 6, 6)).astype(F32), rand(rng, 4, 3, 3, 3)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"],
                                         kernel_shape=[3, 3],
                                         pads=[1, 1, 1, 1])],
                       {"x": [2, 3, 6, 6]}, {"y": 4}, {"w": w})
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    imported = import_onnx(model, batch=2, normalize=(mean, std))
    np.testing.assert_allclose(imported.normalize, (mean, std), rtol=1e-7)
    entry = compile_mlir(imported.text, name="normalized")[imported.function]
    got = entry(x, imported.params["w"])
    normalized = ((x - np.array(mean, F32)[:, None, None])
                  / np.array(std, F32)[:, None, None])
    expected = conv2d(normalized, w, pads=(1, 1, 1, 1))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # One value for every channel.
    one = import_onnx(model, batch=2, normalize=([0.5], [0.25]))
    got = compile_mlir(one.text, name="normalized1")[one.function](
        x, one.params["w"])
    np.testing.assert_allclose(got, conv2d((x - 0.5) / 0.25, w,
                                           pads=(1, 1, 1, 1)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(OnnxImportError, match="has 3 channels"):
        import_onnx(model, batch=2, normalize=([0.1, 0.2], [1.0, 1.0]))


def test_grouped_conv(compile_mlir):
    """group=2: one convolution per group on its channel slice, concatenated
    (a depthwise multiplier of 2 takes the same path)."""
    rng = np.random.default_rng(8)
    x, w, b = rand(rng, 2, 4, 7, 7), rand(rng, 6, 2, 3, 3), rand(rng, 6)
    wd = rand(rng, 8, 1, 3, 3)
    model = make_model(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=2,
                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Conv", ["x", "wd"], ["z"], group=4,
                          kernel_shape=[3, 3], strides=[2, 2])],
        {"x": [2, 4, 7, 7]}, {"y": 4, "z": 4}, {"w": w, "b": b, "wd": wd})
    (y, z), imported = run(compile_mlir, model, {"x": x}, tag="grouped")
    np.testing.assert_allclose(y, conv2d(x, w, b, pads=(1, 1, 1, 1),
                                         group=2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z, conv2d(x, wd, None, stride=(2, 2),
                                         group=4), rtol=1e-4, atol=1e-4)
    assert "w.group1" in imported.params


def test_depthwise_conv_batchnorm_clip(compile_mlir):
    rng = np.random.default_rng(2)
    x, w = rand(rng, 1, 4, 6, 6), rand(rng, 4, 1, 3, 3)
    gamma, beta, mean = rand(rng, 4), rand(rng, 4), rand(rng, 4)
    var = (rng.random(4) + 0.5).astype(F32)
    model = make_model(
        [helper.make_node("Conv", ["x", "w"], ["c"], group=4,
                          kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"],
                          ["bn"], epsilon=1e-3),
         helper.make_node("Clip", ["bn", "lo", "hi"], ["y"])],
        {"x": [1, 4, 6, 6]}, {"y": 4},
        {"w": w, "g": gamma, "b": beta, "m": mean, "v": var,
         "lo": np.array(0, F32), "hi": np.array(6, F32)})
    got, _ = run(compile_mlir, model, {"x": x}, tag="dwbn")
    c = conv2d(x, w, None, pads=(1, 1, 1, 1), group=4)
    ch = (slice(None), None, None)
    bn = (c - mean[ch]) / np.sqrt(var[ch] + 1e-3) * gamma[ch] + beta[ch]
    np.testing.assert_allclose(got, np.clip(bn, 0, 6), rtol=1e-4, atol=1e-4)


def test_pools_flatten_softmax(compile_mlir):
    rng = np.random.default_rng(3)
    x = rand(rng, 2, 3, 8, 8)
    model = make_model(
        [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3],
                          strides=[2, 2], pads=[1, 1, 1, 1]),
         helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[2, 2],
                          strides=[1, 1]),
         helper.make_node("Flatten", ["a"], ["f"], axis=1),
         helper.make_node("Softmax", ["f"], ["y"], axis=-1),
         helper.make_node("GlobalAveragePool", ["x"], ["g"]),
         helper.make_node("Flatten", ["g"], ["gy"])],
        {"x": [2, 3, 8, 8]}, {"y": 2, "gy": 2})
    (got, gap), _ = run(compile_mlir, model, {"x": x}, tag="pools")
    m = pool(x, (3, 3), (2, 2), (1, 1, 1, 1), -np.inf, np.max)
    a = pool(m, (2, 2), (1, 1), (0, 0, 0, 0), 0, np.mean)
    f = a.reshape(2, -1)  # NCHW order: the importer transposes back
    e = np.exp(f - f.max(1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(gap, x.mean((2, 3)), rtol=1e-5, atol=1e-6)


def test_elementwise_broadcast_concat_reshape_transpose(compile_mlir):
    rng = np.random.default_rng(4)
    x, y = rand(rng, 2, 3, 4, 5), rand(rng, 2, 3, 4, 5)
    bias, scale = rand(rng, 3, 1, 1), rand(rng, 1, 3, 1, 1)
    model = make_model(
        [helper.make_node("Add", ["x", "bias"], ["a"]),
         helper.make_node("Mul", ["a", "scale"], ["m"]),
         helper.make_node("Sub", ["m", "y"], ["s"]),
         helper.make_node("Mul", ["s", "half"], ["h"]),
         helper.make_node("Concat", ["h", "x"], ["c"], axis=1),
         helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
         helper.make_node("Reshape", ["t", "shape"], ["r"]),
         helper.make_node("Dropout", ["r"], ["d"]),
         helper.make_node("Identity", ["d"], ["out"])],
        {"x": [2, 3, 4, 5], "y": [2, 3, 4, 5]}, {"out": 3},
        {"bias": bias, "scale": scale, "half": np.array(0.5, F32),
         "shape": np.array([0, -1, 6], np.int64)})
    got, imported = run(compile_mlir, model, {"x": x, "y": y}, tag="elem")
    h = ((x + bias) * scale - y) * 0.5
    c = np.concatenate([h, x], axis=1)
    expected = c.transpose(0, 2, 3, 1).reshape(2, -1, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert imported.params["bias"].shape == (3,)  # broadcast dims dropped


def test_shape_arithmetic_of_view(compile_mlir):
    """x.view(x.size(0), -1) as exported: Shape, Gather, Unsqueeze, Concat,
    Reshape, evaluated at import."""
    rng = np.random.default_rng(5)
    x = rand(rng, 2, 2, 3, 3)
    model = make_model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
         helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
         helper.make_node("Concat", ["n1", "minus"], ["shape"], axis=0),
         helper.make_node("Reshape", ["x", "shape"], ["y"])],
        {"x": ["N", 2, 3, 3]}, {"y": 2},
        {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
         "minus": np.array([-1], np.int64)})
    got, _ = run(compile_mlir, model, {"x": x}, tag="view")
    np.testing.assert_array_equal(got, x.reshape(2, -1))


# PyTorch exports ---------------------------------------------------------------

def export(torch, net, x, path):
    net.eval()
    torch.onnx.export(net, torch.tensor(x), str(path), input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}}, opset_version=13)
    with torch.no_grad():
        return net(torch.tensor(x)).numpy()


def randomize_batchnorm(torch, net, seed):
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=g)
                                     - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g)
                                    + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)


def test_pytorch_small_cnn(compile_mlir, tmp_path):
    """A torchvision-style CNN: conv-bn-relu blocks, max pool, adaptive
    average pool, flatten, dropout, linear."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.BatchNorm2d(16), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))
    randomize_batchnorm(torch, net, 1)
    x = np.random.default_rng(6).random((3, 1, 28, 28), dtype=F32)
    expected = export(torch, net, x, tmp_path / "cnn.onnx")
    imported = import_onnx(str(tmp_path / "cnn.onnx"), batch=3)
    entry = compile_mlir(imported.text, name="torch_cnn")[imported.function]
    got = entry(*[x if a.name == "image" else imported.params[a.name]
                  for a in entry.args])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)




def test_pytorch_resnet_block(compile_mlir, tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(8), nn.ReLU())
            self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            x = self.stem(x)
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)) + x)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(
                y, 1), 1))

    torch.manual_seed(1)
    net = Block()
    randomize_batchnorm(torch, net, 2)
    x = np.random.default_rng(7).standard_normal((2, 3, 10, 10)).astype(F32)
    expected = export(torch, net, x, tmp_path / "block.onnx")
    imported = import_onnx(str(tmp_path / "block.onnx"), batch=2)
    assert imported.ops.get("Add") == 1
    entry = compile_mlir(imported.text, name="torch_block")[imported.function]
    got = entry(*[x if a.name == "image" else imported.params[a.name]
                  for a in entry.args])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# Errors ----------------------------------------------------------------------

def error_of(model, **kw):
    with pytest.raises(OnnxImportError) as info:
        import_onnx(model, **kw)
    return str(info.value)


def test_unsupported_op_is_named():
    model = make_model([helper.make_node("Sin", ["x"], ["y"], name="wave")],
                       {"x": [1, 4]}, {"y": [1, 4]})
    message = error_of(model)
    assert message.startswith("node 'wave' (Sin): unsupported op type")
    assert "Conv" in message  # lists what is supported


def test_dynamic_dimension_and_grouped_conv_are_named():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])],
                       {"x": [1, "features"]}, {"y": 2})
    assert "dimension 1 is dynamic ('features')" in error_of(model)
    w = np.zeros((4, 2, 3, 3), F32)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=3,
                                         kernel_shape=[3, 3], name="g3")],
                       {"x": [1, 6, 6, 6]}, {"y": 4}, {"w": w})
    assert error_of(model).startswith("node 'g3' (Conv): group=3 does not "
                                      "divide 6 input and 4 output channels")


def test_malformed_and_old_opset(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07garbage that is not protobuf\xff\xff")
    assert "junk.onnx" in error_of(str(path))
    assert "no such file" in error_of(str(tmp_path / "missing.onnx"))
    model = make_model([helper.make_node("Relu", ["x"], ["y"])],
                       {"x": [1, 4]}, {"y": 2}, opset=22)
    assert "opset 22 is not supported (1-21)" in error_of(model)
    model = make_model([helper.make_node("Relu", ["nothing"], ["y"])],
                       {"x": [1, 4]}, {"y": 2})
    assert "malformed" in error_of(model) or "nothing" in error_of(model)


def test_old_opset_is_converted(compile_mlir):
    """Opsets 7-10 go through onnx::version_conversion: opset 9's Upsample-
    free subset runs as it would at 13 (here BatchNormalization and
    Unsqueeze, whose axes became an input at 13)."""
    rng = np.random.default_rng(11)
    x = rand(rng, 2, 3, 4)
    model = make_model(
        [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
         helper.make_node("Relu", ["u"], ["y"])],
        {"x": [2, 3, 4]}, {"y": 4}, opset=9)
    got, imported = run(compile_mlir, model, {"x": x}, tag="opset9")
    np.testing.assert_array_equal(got, np.maximum(x, 0)[None])


def test_reductions_and_activations(compile_mlir):
    """ReduceMean over H, W with keepdims (a global pool as PyTorch's
    x.mean((2, 3), keepdim=True) exports it), ReduceSum over the channels
    without, and LeakyRelu, Tanh, HardSigmoid, HardSwish, Exp."""
    rng = np.random.default_rng(9)
    x = rand(rng, 2, 3, 4, 5)
    model = make_model(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3],
                          keepdims=1),
         helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
         helper.make_node("LeakyRelu", ["x"], ["l"], alpha=0.1),
         helper.make_node("Tanh", ["l"], ["t"]),
         helper.make_node("HardSigmoid", ["t"], ["hs"], alpha=0.3, beta=0.4),
         helper.make_node("HardSwish", ["x"], ["hw"]),
         helper.make_node("Exp", ["hs"], ["e"])],
        {"x": [2, 3, 4, 5]}, {"m": 4, "s": 3, "e": 4, "hw": 4},
        {"axes": np.array([1], np.int64)}, opset=14)  # HardSwish: opset 14
    (m, s, e, hw), _ = run(compile_mlir, model, {"x": x}, tag="reduce")
    np.testing.assert_allclose(m, x.mean((2, 3), keepdims=True), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(s, x.sum(1), rtol=1e-5, atol=1e-6)
    lr = np.where(x > 0, x, 0.1 * x)
    hs = np.clip(0.3 * np.tanh(lr) + 0.4, 0, 1)
    np.testing.assert_allclose(e, np.exp(hs), rtol=1e-5)
    np.testing.assert_allclose(hw, x * np.clip(x / 6 + 0.5, 0, 1),
                               rtol=1e-5, atol=1e-6)


# Blocks of torchvision-class networks and transformers (qat-import) -----------

def run_torch(compile_mlir, torch, net, x, tmp_path, tag, opset=13):
    """Exports `net`, imports, compiles and runs it; returns (ours, torch's)."""
    path = tmp_path / f"{tag}.onnx"
    expected = export(torch, net, x, path) if opset == 13 else None
    if expected is None:
        net.eval()
        torch.onnx.export(net, torch.tensor(x), str(path),
                          input_names=["image"], output_names=["logits"],
                          opset_version=opset)
        with torch.no_grad():
            expected = net(torch.tensor(x)).numpy()
    imported = import_onnx(str(path), batch=x.shape[0])
    entry = compile_mlir(imported.text, name=tag)[imported.function]
    got = entry(*[x if a.name == "image" else imported.params[a.name]
                  for a in entry.args])
    return got, expected, imported


def test_squeeze_excitation_hardswish_silu(compile_mlir, tmp_path):
    """MobileNetV3 / EfficientNet blocks: a [N, C, 1, 1] sigmoid gate times
    [N, C, H, W] (Mul of two computed tensors), HardSwish, SiLU."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)

        def forward(self, x):
            x = nn.functional.hardswish(self.conv(x))
            s = nn.functional.adaptive_avg_pool2d(x, 1)
            s = torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(s))))
            return x * s

    torch.manual_seed(3)
    x = np.random.default_rng(12).standard_normal((2, 3, 6, 6)).astype(F32)
    got, expected, imported = run_torch(compile_mlir, torch, SE(), x,
                                        tmp_path, "se")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert imported.ops["Sigmoid"] >= 2 and imported.ops["Mul"] >= 2


def test_channel_split_shuffle_and_ceil_pool(compile_mlir, tmp_path):
    """ShuffleNet's split and channel shuffle, GoogLeNet's ceil-mode max
    pooling, and an average pool whose padding is not counted."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 1)

        def forward(self, x):
            a, b = self.conv(x).chunk(2, dim=1)
            y = torch.cat((a, torch.relu(b)), dim=1)
            n, c, h, w = y.shape
            y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
            y = nn.functional.max_pool2d(y, 3, 2, ceil_mode=True)
            return nn.functional.avg_pool2d(y, 3, 1, padding=1,
                                            count_include_pad=False)

    torch.manual_seed(4)
    x = np.random.default_rng(13).standard_normal((2, 4, 8, 8)).astype(F32)
    got, expected, imported = run_torch(compile_mlir, torch, Shuffle(), x,
                                        tmp_path, "shuffle")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert "Split" in imported.ops or "Slice" in imported.ops


def test_volumetric_conv_and_pools(compile_mlir, tmp_path):
    """3-D (video, medical) layers: a grouped, dilated, padded Conv3d with
    bias, ceil-mode MaxPool3d and an AvgPool3d whose padding is not counted
    (border windows divide by fewer elements)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Volume(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1),
                                  padding=(1, 0, 2), dilation=(1, 1, 2),
                                  groups=2)
            self.depthwise = nn.Conv3d(6, 6, 3, padding=1, groups=6)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            y = nn.functional.max_pool3d(y, 2, 2, ceil_mode=True)
            y = self.depthwise(y)
            return nn.functional.avg_pool3d(y, 3, 1, padding=1,
                                            count_include_pad=False)

    torch.manual_seed(5)
    x = np.random.default_rng(14).standard_normal((2, 4, 5, 11, 6)).astype(F32)
    got, expected, imported = run_torch(compile_mlir, torch, Volume(), x,
                                        tmp_path, "volume")
    assert got.shape == expected.shape == (2, 6, 3, 3, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert imported.ops["Conv"] == 2 and imported.ops["MaxPool"] == 1


def test_slice_and_pad_positions_at_run_time(compile_mlir):
    """Slice's starts, axes and steps and Pad's pads and constant value given
    as inputs: the declared result shapes fix the sizes, the positions are
    read when the program runs (numpy's slicing and padding as reference),
    and an empty axes list of shape [0] is passed as an empty array."""
    rng = np.random.default_rng(15)
    x = rand(rng, 6, 5, 4)
    i64 = TensorProto.INT64
    graph = helper.make_graph(
        [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"],
                          ["sliced"]),
         helper.make_node("Pad", ["x", "pads", "value"], ["padded"],
                          mode="constant"),
         helper.make_node("Pad", ["x", "pads"], ["reflected"],
                          mode="reflect"),
         helper.make_node("ReduceSum", ["x", "none"], ["total"],
                          keepdims=0)],
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 5, 4]),
         helper.make_tensor_value_info("starts", i64, [2]),
         helper.make_tensor_value_info("ends", i64, [2]),
         helper.make_tensor_value_info("axes", i64, [2]),
         helper.make_tensor_value_info("steps", i64, [2]),
         helper.make_tensor_value_info("pads", i64, [6]),
         helper.make_tensor_value_info("value", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("none", i64, [0])],
        [helper.make_tensor_value_info("sliced", TensorProto.FLOAT,
                                       [6, 3, 2]),
         helper.make_tensor_value_info("padded", TensorProto.FLOAT,
                                       [8, 6, 7]),
         helper.make_tensor_value_info("reflected", TensorProto.FLOAT,
                                       [8, 6, 7]),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13)])
    model.ir_version = 8
    imported = import_onnx(model)
    entry = compile_mlir(imported.text, name="positions")[imported.function]
    for starts, ends, axes, steps, pads in [
            ([-1, 4], [-10, 1], [2, 1], [-2, -1], [1, 0, 2, 1, 1, 1]),
            ([0, 1], [4, 4], [-1, 1], [2, 1], [0, 1, 1, 2, 0, 2])]:
        feeds = {"x": x, "value": np.array(2.5, F32),
                 "none": np.zeros(0, np.int64)}
        for name, v in [("starts", starts), ("ends", ends), ("axes", axes),
                        ("steps", steps), ("pads", pads)]:
            feeds[name] = np.array(v, np.int64)
        sliced, padded, reflected, total = entry(
            *[feeds[a.name] for a in entry.args])
        index = [slice(None)] * 3
        for s, e, a, st in zip(starts, ends, axes, steps):
            index[a] = slice(s, e, st)
        np.testing.assert_array_equal(sliced, x[tuple(index)])
        widths = list(zip(pads[:3], pads[3:]))
        np.testing.assert_array_equal(
            padded, np.pad(x, widths, constant_values=2.5))
        np.testing.assert_array_equal(reflected,
                                      np.pad(x, widths, mode="reflect"))
        np.testing.assert_allclose(total, x.sum(), rtol=1e-5)


@pytest.mark.parametrize("opset", [13, 17])
def test_transformer_encoder_layer(compile_mlir, qat_opt, tmp_path, opset):
    """A transformer encoder layer (attention: matmuls of two computed
    tensors, softmax; layer norm decomposed at opset 13 and one op at 17;
    GELU through Erf) and a class token gathered from the sequence."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(
                16, 4, dim_feedforward=32, dropout=0.0, activation="gelu",
                batch_first=True)
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            return self.head(self.layer(x)[:, 0])

    torch.manual_seed(5)
    x = np.random.default_rng(14).standard_normal((2, 5, 16)).astype(F32)
    got, expected, imported = run_torch(compile_mlir, torch, Encoder(), x,
                                        tmp_path, f"encoder{opset}", opset)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert "Softmax" in imported.ops and "Erf" in imported.ops
    if opset == 17:
        assert "LayerNormalization" in imported.ops
    # qat-sink-layer-reshapes (qat-instrument-pipeline's first pass) moves
    # the projections' bias adds before their reshapes: the same arithmetic.
    sunk = qat_opt(imported.text, "--qat-sink-layer-reshapes")
    assert sunk != qat_opt(imported.text)  # something moved
    entry = compile_mlir(sunk, name=f"encoder{opset}_sunk")[imported.function]
    again = entry(*[x if a.name == "image" else imported.params[a.name]
                    for a in entry.args])
    np.testing.assert_array_equal(again, got)
