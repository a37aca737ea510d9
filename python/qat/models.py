"""The demo's float networks, written as ONNX graphs (so the demo goes
through the same importer as a user's model), initialised like PyTorch's
nn.Linear / nn.Conv2d: weights and biases uniform in +-1/sqrt(fan_in)."""

import numpy as np


def _uniform(rng, fan_in, shape):
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _model(name, nodes, inits, shape, classes):
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       ["N"] + list(shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       ["N", classes])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        13)])
    model.ir_version = 8
    return model


def mlp(hidden=(256,), shape=(1, 28, 28), classes=10, seed=0):
    """Flatten -> (Gemm -> Relu) per hidden width -> Gemm."""
    from onnx import helper
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1)]
    inits, current, width = {}, "flat", int(np.prod(shape))
    for i, out in enumerate(list(hidden) + [classes]):
        w, b = f"fc{i}.weight", f"fc{i}.bias"
        inits[w] = _uniform(rng, width, (out, width))
        inits[b] = _uniform(rng, width, (out,))
        last = i == len(hidden)
        y = "logits" if last else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [current, w, b], [y], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}"]))
            current = f"relu{i}"
        width = out
    return _model("mlp", nodes, inits, shape, classes)


def cnn(channels=(16, 32), shape=(1, 28, 28), classes=10, seed=0):
    """(Conv 3x3 pad 1 -> Relu -> MaxPool 2) per width -> Flatten -> Gemm."""
    from onnx import helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], {}
    current, cin, size = "image", shape[0], shape[1]
    for i, cout in enumerate(channels):
        w, b = f"conv{i}.weight", f"conv{i}.bias"
        inits[w] = _uniform(rng, cin * 9, (cout, cin, 3, 3))
        inits[b] = _uniform(rng, cin * 9, (cout,))
        nodes += [
            helper.make_node("Conv", [current, w, b], [f"conv{i}"],
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]),
            helper.make_node("MaxPool", [f"relu{i}"], [f"pool{i}"],
                             kernel_shape=[2, 2], strides=[2, 2])]
        current, cin, size = f"pool{i}", cout, size // 2
    width = cin * size * size
    inits["fc.weight"] = _uniform(rng, width, (classes, width))
    inits["fc.bias"] = _uniform(rng, width, (classes,))
    nodes += [helper.make_node("Flatten", [current], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"],
                               ["logits"], transB=1)]
    return _model("cnn", nodes, inits, shape, classes)
