#!/usr/bin/env python3
"""Small ONNX models for qat-import's lit tests, one per op family.

    onnx_models.py NAME OUT.onnx

Each model is built with onnx.helper (weights from a fixed seed) and saved
without running the checker, so that the malformed ones reach qat-import.
"""

import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)
F = TensorProto.FLOAT
I64 = TensorProto.INT64
U8 = TensorProto.UINT8


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model(nodes, inputs, outputs, inits=None, opset=13, name="net"):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in
         inputs.items()],
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in
         outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k)
         for k, v in (inits or {}).items()])
    m = helper.make_model(graph,
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=outs[0] + "_node", **attrs)


def x4(c=3, h=8, wd=8):
    return {"x": (F, ["N", c, h, wd])}


def conv_with(**attrs):
    attrs.setdefault("kernel_shape", [3, 3])
    return model([node("Conv", ["x", "w"], ["y"], **attrs)], x4(),
                 {"y": (F, ["N", 4, "h", "w"])}, {"w": w(4, 3, 3, 3)})


MODELS = {
    # Layers
    "conv": lambda: model(
        [node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3],
              pads=[1, 1, 1, 1], strides=[2, 2])],
        x4(), {"y": (F, ["N", 4, 4, 4])}, {"w": w(4, 3, 3, 3), "b": w(4)}),
    "depthwise": lambda: model(
        [node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=3)],
        x4(), {"y": (F, ["N", 3, 6, 6])}, {"w": w(3, 1, 3, 3)}),
    "grouped": lambda: model(
        [node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1], group=2)],
        x4(4), {"y": (F, ["N", 6, 8, 8])}, {"w": w(6, 2, 1, 1)}),
    "conv_weight_input": lambda: model(
        [node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])],
        dict(x4(), w=(F, [4, 3, 3, 3])), {"y": (F, ["N", 4, 6, 6])}),
    "gemm": lambda: model(
        [node("Gemm", ["x", "w", "b"], ["y"], transB=1, alpha=0.5)],
        {"x": (F, ["N", 6])}, {"y": (F, ["N", 5])},
        {"w": w(5, 6), "b": w(5)}),
    "gemm_unnamed": lambda: model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        {"x": (F, ["N", 6])}, {"y": (F, ["N", 5])}, {"w": w(5, 6)}),
    "attention": lambda: model(
        [node("MatMul", ["q", "kt"], ["s"]),
         node("Softmax", ["s"], ["p"], axis=-1),
         node("MatMul", ["p", "v"], ["y"])],
        {"q": (F, [2, 4, 5, 8]), "kt": (F, [2, 4, 8, 5]),
         "v": (F, [2, 4, 5, 8])}, {"y": (F, [2, 4, 5, 8])}),
    "batchnorm": lambda: model(
        [node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"],
              epsilon=1e-3)],
        x4(), {"y": (F, ["N", 3, 8, 8])},
        {"g": w(3), "b": w(3), "m": w(3), "v": np.abs(w(3)) + 0.5}),
    "layernorm": lambda: model(
        [node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1,
              epsilon=1e-5)],
        {"x": (F, [2, 5, 8])}, {"y": (F, [2, 5, 8])},
        {"g": w(8), "b": w(8)}, opset=17),
    "maxpool_ceil": lambda: model(
        [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
              ceil_mode=1)],
        x4(3, 8, 8), {"y": (F, ["N", 3, 4, 4])}),
    "avgpool_border": lambda: model(
        [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
              pads=[1, 1, 1, 1], count_include_pad=0)],
        x4(3, 4, 4), {"y": (F, ["N", 3, 4, 4])}),
    "conv3d_grouped": lambda: model(
        [node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3, 3],
              pads=[1, 1, 1, 1, 1, 1], strides=[1, 2, 2], group=2)],
        {"x": (F, ["N", 4, 4, 6, 6])}, {"y": (F, ["N", 6, 4, 3, 3])},
        {"w": w(6, 2, 3, 3, 3), "b": w(6)}),
    "pool3d": lambda: model(
        [node("MaxPool", ["x"], ["m"], kernel_shape=[2, 2, 2],
              strides=[2, 2, 2], ceil_mode=1),
         node("AveragePool", ["m"], ["y"], kernel_shape=[3, 3, 3],
              pads=[1, 1, 1, 1, 1, 1])],
        {"x": (F, ["N", 2, 5, 4, 4])}, {"y": (F, ["N", 2, 3, 2, 2])}),
    "softmax_axis1": lambda: model(
        [node("Softmax", ["x"], ["y"], axis=1)],
        {"x": (F, [2, 3, 4])}, {"y": (F, [2, 3, 4])}),
    # Elementwise
    "se_gate": lambda: model(
        [node("GlobalAveragePool", ["x"], ["p"]),
         node("Sigmoid", ["p"], ["g"]),
         node("Mul", ["x", "g"], ["y"])],
        x4(), {"y": (F, ["N", 3, 8, 8])}),
    "hardswish_erf": lambda: model(
        [node("HardSwish", ["x"], ["h"]), node("Erf", ["h"], ["y"])],
        {"x": (F, [2, 3])}, {"y": (F, [2, 3])}, opset=14),
    "where_equal": lambda: model(
        [node("Equal", ["a", "b"], ["c"]),
         node("Where", ["c", "a", "zero"], ["y"])],
        {"a": (F, [2, 3]), "b": (F, [2, 3])}, {"y": (F, [2, 3])},
        {"zero": np.array(0, np.float32)}),
    "reduce_all": lambda: model(
        [node("ReduceMean", ["x"], ["y"], keepdims=1)],
        x4(), {"y": (F, [1, 1, 1, 1])}),
    "cast_f16": lambda: model(
        [node("Relu", ["x"], ["r"]),
         node("Cast", ["r"], ["y"], to=TensorProto.FLOAT16)],
        {"x": (F, [2, 3])}, {"y": (TensorProto.FLOAT16, [2, 3])}),
    # Shapes
    "channel_split": lambda: model(
        [node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
         node("Split", ["c", "split"], ["a", "b"], axis=1),
         node("Slice", ["b", "starts", "ends", "axes"], ["s"]),
         node("Concat", ["s", "a"], ["y"], axis=1)],
        x4(), {"y": (F, ["N", 4, 8, 8])},
        {"w": w(6, 3, 1, 1), "split": np.array([2, 4], np.int64),
         "starts": np.array([0], np.int64), "ends": np.array([2], np.int64),
         "axes": np.array([1], np.int64)}),
    "gather_token": lambda: model(
        [node("Gather", ["x", "zero"], ["y"], axis=1)],
        {"x": (F, [2, 5, 8])}, {"y": (F, [2, 8])},
        {"zero": np.array(0, np.int64)}),
    "view": lambda: model(
        [node("Shape", ["x"], ["s"]),
         node("Gather", ["s", "zero"], ["n"], axis=0),
         node("Unsqueeze", ["n", "axes"], ["n1"]),
         node("Concat", ["n1", "minus"], ["shape"], axis=0),
         node("Reshape", ["x", "shape"], ["y"])],
        x4(2, 3, 3), {"y": (F, ["N", 18])},
        {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
         "minus": np.array([-1], np.int64)}),
    # Shape operands computed at run time: the declared result shape.
    "reshape_runtime": lambda: model(
        [node("Reshape", ["x", "s"], ["y"])],
        {"x": (F, [2, 3, 4]), "s": (I64, [2])}, {"y": (F, [4, 6])}),
    "range_runtime": lambda: model(
        [node("Range", ["start", "limit", "delta"], ["y"])],
        {"start": (F, [])}, {"y": (F, [5])},
        {"limit": np.array(5, np.float32),
         "delta": np.array(1, np.float32)}),
    "reduce_runtime_axes": lambda: model(
        [node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)],
        {"x": (F, [2, 3, 4]), "axes": (I64, [1])}, {"y": (F, [2, 1, 4])}),
    "slice_runtime": lambda: model(
        [node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])],
        {"x": (F, [6, 5]), "starts": (I64, [1]), "ends": (I64, [1]),
         "axes": (I64, [1]), "steps": (I64, [1])}, {"y": (F, [6, 2])}),
    "pad_runtime": lambda: model(
        [node("Pad", ["x", "pads", "value"], ["y"], mode="constant")],
        {"x": (F, [2, 3]), "pads": (I64, [4]), "value": (F, [])},
        {"y": (F, [3, 6])}),
    "pad_int": lambda: model(
        [node("Pad", ["x", "pads", "value"], ["y"])],
        {"x": (I64, [2, 3])}, {"y": (I64, [2, 5])},
        {"pads": np.array([0, 1, 0, 1], np.int64),
         "value": np.array(7, np.int64)}),
    "reduce_empty_axes": lambda: model(
        [node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)],
        {"x": (F, [2, 3]), "axes": (I64, [0])}, {"y": (F, [1, 1])}),
    # Element types: unsigned integers and doubles.
    "unsigned": lambda: model(
        [node("Div", ["a", "b"], ["d"]), node("Less", ["a", "b"], ["l"]),
         node("Max", ["a", "b"], ["m"]),
         node("Cast", ["a"], ["f"], to=TensorProto.FLOAT)],
        {"a": (U8, [4]), "b": (U8, [4])},
        {"d": (U8, [4]), "l": (TensorProto.BOOL, [4]), "m": (U8, [4]),
         "f": (F, [4])}),
    "double": lambda: model(
        [node("Mul", ["a", "a"], ["m"]),
         node("Cast", ["m"], ["y"], to=TensorProto.FLOAT)],
        {"a": (TensorProto.DOUBLE, [3])}, {"y": (F, [3])}),
    # Data movement with indices computed at run time.
    "gather_runtime": lambda: model(
        [node("Gather", ["table", "ids"], ["y"])],
        {"ids": (I64, [2, 3])}, {"y": (F, [2, 3, 4])},
        {"table": w(10, 4)}),
    "gather_runtime_u8": lambda: model(
        [node("Gather", ["table", "ids"], ["y"])],
        {"ids": (U8, [3])}, {"y": (F, [3, 4])}, {"table": w(200, 4)}),
    "pad_reflect": lambda: model(
        [node("Pad", ["x", "pads"], ["y"], mode="reflect")],
        {"x": (F, [1, 1, 3, 3])}, {"y": (F, [1, 1, 5, 7])},
        {"pads": np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64)}),
    # Errors
    "reshape_runtime_undeclared": lambda: model(
        [node("Reshape", ["x", "s"], ["y"])],
        {"x": (F, [2, 3, 4]), "s": (I64, [2])}, {"y": (F, ["a", "b"])}),
    "reduce_runtime_ambiguous": lambda: model(
        [node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
        {"x": (F, [3, 2, 2]), "axes": (I64, [1])}, {"y": (F, [3, 2])}),
    "slice_runtime_undeclared": lambda: model(
        [node("Slice", ["x", "starts", "ends"], ["y"])],
        {"x": (F, [6, 5]), "starts": (I64, [1]), "ends": (I64, [1])},
        {"y": (F, ["a", "b"])}),
    "slice_empty": lambda: model(
        [node("Slice", ["x", "starts", "ends"], ["y"])],
        {"x": (F, [6, 5]), "starts": (I64, [1]), "ends": (I64, [1])},
        {"y": (F, [0, 5])}),
    "empty_input": lambda: model(
        [node("Relu", ["x"], ["y"])], {"x": (F, [0, 4])}, {"y": (F, [0, 4])}),
    "unsigned_relu": lambda: model(
        [node("Relu", ["a"], ["y"])], {"a": (U8, [4])}, {"y": (U8, [4])}),
    "unsupported": lambda: model(
        [node("Sin", ["x"], ["y"])], {"x": (F, [1, 4])}, {"y": (F, [1, 4])}),
    "dynamic": lambda: model(
        [node("Relu", ["x"], ["y"])], {"x": (F, [1, "features"])},
        {"y": (F, [1, "features"])}),
    "bad_attribute": lambda: model(
        [node("LeakyRelu", ["x"], ["y"], alpha=[1, 2])],
        {"x": (F, [1, 4])}, {"y": (F, [1, 4])}, opset=18),
    "shapes_mismatch": lambda: model(
        [node("Add", ["a", "b"], ["y"])],
        {"a": (F, [2, 3]), "b": (F, [4, 3])}, {"y": (F, [2, 3])}),
    "opset22": lambda: model(
        [node("Relu", ["x"], ["y"])], {"x": (F, [1, 4])},
        {"y": (F, [1, 4])}, opset=22),
    # Bad attributes and shapes (issue 14): each one line, never a crash.
    "conv_stride0": lambda: conv_with(strides=[0, 0]),
    "conv_dilation_negative": lambda: conv_with(dilations=[-1, -1]),
    "conv_kernel_contradicts": lambda: conv_with(kernel_shape=[5, 5]),
    "conv_pads_negative": lambda: conv_with(pads=[-1, -1, -1, -1]),
    "conv_group_mismatch": lambda: conv_with(group=2),
    "pool_zero_output": lambda: model(
        [node("MaxPool", ["x"], ["y"], kernel_shape=[9, 9])],
        x4(), {"y": (F, ["N", 3, "h", "w"])}),
    "pool_1d_2d_kernel": lambda: model(
        [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3])],
        {"x": (F, [1, 3, 8])}, {"y": (F, [1, 3, "l"])}),
    "softmax_axis_out_of_range": lambda: model(
        [node("Softmax", ["x"], ["y"], axis=5)],
        {"x": (F, [2, 3])}, {"y": (F, [2, 3])}),
    "transpose_not_permutation": lambda: model(
        [node("Transpose", ["x"], ["y"], perm=[0, 0])],
        {"x": (F, [2, 3])}, {"y": (F, [2, 3])}),
    "absurd_shape": lambda: model(
        [node("Relu", ["x"], ["y"])], {"x": (F, [1, 1 << 40, 1 << 30])},
        {"y": (F, [1, 1 << 40, 1 << 30])}),
    "expand_absurd": lambda: model(
        [node("Expand", ["x", "s"], ["y"])], {"x": (F, [1, 1])},
        {"y": (F, ["a", "b"])},
        {"s": np.array([1 << 31, 1 << 31], np.int64)}),
    "undefined_output": lambda: model(
        [node("Relu", ["x"], ["y"])], {"x": (F, [1, 4])},
        {"z": (F, [1, 4])}, opset=10),
    "matmul_0d": lambda: model(
        [node("MatMul", ["a", "b"], ["y"])], {"a": (F, []), "b": (F, [2, 3])},
        {"y": (F, [3])}),
    "odd_names": lambda: model(
        [node("Gemm", ["in put/0", "weight \"q\""], ["out:y"], transB=1)],
        {"in put/0": (F, [1, 2])}, {"out:y": (F, [1, 3])},
        {"weight \"q\"": w(3, 2)}, name="my model-1"),
}


def main():
    name, out = sys.argv[1], sys.argv[2]
    with open(out, "wb") as f:
        f.write(MODELS[name]().SerializeToString())


if __name__ == "__main__":
    main()
