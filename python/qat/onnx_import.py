"""ONNX to MLIR text: one `func.func` of linalg on tensors.

    imported = import_onnx("model.onnx", batch=64)
    imported.text      # MLIR: func.func @<name>(input, parameters...) -> outputs
    imported.params    # {name: np.ndarray} in the layout the function takes

Layout. ONNX images are NCHW; the function computes in NHWC, the layout the
code generator, `qat-instrument` and `qat-convert-to-integer` work in. An
image input is transposed once at the top (`linalg.transpose`, which carries
int8 codes unchanged after conversion); convolution weights are given in
HWCF (depthwise: HWC), so `params` holds them transposed from ONNX's OIHW.
Values keep their logical (ONNX) shape in this module and a flag saying
they are stored NHWC; ops that depend on element order (Flatten, Reshape,
Transpose) transpose back to NCHW first, unless the spatial size is 1.

Initializers that are weights (Conv, Gemm, MatMul, BatchNormalization,
tensors added or multiplied elementwise) become function arguments with
`qat.role = "parameter"` and `qat.name` = the initializer's name; scalars
become constants; shapes and clip bounds are read at import. Shape
arithmetic on static shapes (Shape, Gather, Unsqueeze, Concat, ... as
`torch.onnx.export` writes for `x.view(x.size(0), -1)`) is evaluated here.

Every unsupported op, attribute, dynamic dimension or malformed file raises
`OnnxImportError` naming the node, its op type and what is missing.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

OPSETS = range(11, 18)


class OnnxImportError(Exception):
    """A model the importer cannot translate; the message names the node."""


@dataclass
class Imported:
    text: str
    params: Dict[str, np.ndarray]
    function: str
    inputs: List[Tuple[str, Tuple[int, ...]]]  # logical (ONNX) shapes
    outputs: List[Tuple[str, Tuple[int, ...]]]
    ops: Dict[str, int] = field(default_factory=dict)  # op type -> count


@dataclass
class _Value:
    name: str               # SSA name
    shape: Tuple[int, ...]  # logical (ONNX) shape
    nhwc: bool = False      # a 4-D value stored as N, H, W, C

    @property
    def physical(self) -> Tuple[int, ...]:
        if self.nhwc:
            n, c, h, w = self.shape
            return (n, h, w, c)
        return self.shape


def _type(shape: Sequence[int]) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


def _float(value: float) -> str:
    value = float(np.float32(value))
    if np.isinf(value):
        return "0xFF800000" if value < 0 else "0x7F800000"
    return repr(value) if "e" in repr(value) or "." in repr(value) \
        else f"{value}.0"


_NCHW_TO_NHWC = [0, 2, 3, 1]
_NHWC_TO_NCHW = [0, 3, 1, 2]


class _Emitter:
    def __init__(self):
        self.lines: List[str] = []
        self.count = 0
        self.constants: Dict[str, str] = {}

    def fresh(self) -> str:
        self.count += 1
        return f"%v{self.count}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def scalar(self, value: float) -> str:
        text = _float(value)
        if text not in self.constants:
            name = f"%cst{len(self.constants)}"
            self.constants[text] = name
            self.lines.insert(0, f"  {name} = arith.constant {text} : f32")
        return self.constants[text]

    def filled(self, shape, value: float) -> str:
        empty, full = self.fresh(), self.fresh()
        t = _type(shape)
        self.emit(f"{empty} = tensor.empty() : {t}")
        self.emit(f"{full} = linalg.fill ins({self.scalar(value)} : f32) "
                  f"outs({empty} : {t}) -> {t}")
        return full

    def empty(self, shape) -> str:
        name = self.fresh()
        self.emit(f"{name} = tensor.empty() : {_type(shape)}")
        return name

    def transpose(self, source: str, shape, perm) -> Tuple[str, tuple]:
        out_shape = tuple(shape[p] for p in perm)
        init, name = self.empty(out_shape), self.fresh()
        self.emit(f"{name} = linalg.transpose ins({source} : {_type(shape)}) "
                  f"outs({init} : {_type(out_shape)}) permutation = "
                  f"[{', '.join(map(str, perm))}]")
        return name, out_shape

    def generic(self, operands, maps, result_shape, body, iterators=None,
                init=None) -> str:
        """operands: [(ssa, physical shape)], maps: affine results per
        operand and the output; body(args) -> list of lines, the last
        yielding `%r`."""
        iterators = iterators or ["parallel"] * len(result_shape)
        dims = ", ".join(f"d{i}" for i in range(len(iterators)))
        amap = [f"affine_map<({dims}) -> ({', '.join(m)})>" for m in maps]
        out_t = _type(result_shape if init is None else init[1])
        init_name = init[0] if init else self.empty(result_shape)
        name = self.fresh()
        ins = ", ".join(o for o, _ in operands)
        ins_t = ", ".join(_type(s) for _, s in operands)
        args = [f"%a{i}: f32" for i in range(len(operands))] + ["%out: f32"]
        kinds = ", ".join(f'"{kind}"' for kind in iterators)
        self.emit(f"{name} = linalg.generic {{indexing_maps = "
                  f"[{', '.join(amap)}], iterator_types = [{kinds}]}}")
        self.emit(f"    ins({ins} : {ins_t}) outs({init_name} : {out_t}) {{")
        self.emit(f"^bb0({', '.join(args)}):")
        for line in body([f"%a{i}" for i in range(len(operands))]):
            self.emit("  " + line)
        self.emit("  linalg.yield %r : f32")
        self.emit(f"}} -> {out_t}")
        return name


def _attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Importer:
    def __init__(self, model, batch: int, name: str):
        import onnx
        from onnx import numpy_helper
        self.onnx, self.numpy_helper = onnx, numpy_helper
        self.model, self.batch = model, batch
        self.function = name
        self.e = _Emitter()
        self.values: Dict[str, _Value] = {}
        self.consts: Dict[str, np.ndarray] = {}
        self.params: Dict[str, np.ndarray] = {}
        self.param_args: List[Tuple[str, str, tuple]] = []  # ssa, name, shape
        self.param_ssa: Dict[Tuple[str, str], str] = {}
        self.node = None
        self.ops: Dict[str, int] = {}

    # Errors ---------------------------------------------------------------

    def fail(self, why: str):
        n = self.node
        where = (f"node '{n.name or n.output[0]}' ({n.op_type})" if n is not None
                 else "model")
        raise OnnxImportError(f"{where}: {why}")

    # Operands -------------------------------------------------------------

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            self.fail(f"input '{name}' must be a constant (an initializer or "
                      "a Constant node)")
        return self.consts[name]

    def is_const(self, name: str) -> bool:
        return name in self.consts and name not in self.values

    def value(self, name: str) -> _Value:
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            self.fail(f"input '{name}' is a constant where a computed tensor "
                      "is expected (not supported)")
        self.fail(f"input '{name}' is not produced by any node or graph "
                  "input")

    def param(self, name: str, array: np.ndarray, tag: str = "") -> str:
        """A function argument holding `array` (in the layout given)."""
        key = (name, tag)
        if key not in self.param_ssa:
            pname = name if not tag else f"{name}.{tag}"
            if pname in self.params:
                pname = f"{pname}.{len(self.params)}"
            ssa = f"%p{len(self.param_args)}"
            self.params[pname] = np.ascontiguousarray(array, np.float32)
            self.param_args.append((ssa, pname, tuple(array.shape)))
            self.param_ssa[key] = ssa
        return self.param_ssa[key]

    def to_logical(self, v: _Value) -> _Value:
        """`v` in ONNX element order."""
        if not v.nhwc:
            return v
        n, c, h, w = v.shape
        if h * w == 1 or c == 1:
            # Same element order either way: a reshape.
            return _Value(self.reshape(v.name, v.physical, v.shape), v.shape)
        name, _ = self.e.transpose(v.name, v.physical, _NHWC_TO_NCHW)
        return _Value(name, v.shape)

    def to_nhwc(self, v: _Value) -> _Value:
        if v.nhwc:
            return v
        if len(v.shape) != 4:
            self.fail(f"expected a 4-D NCHW tensor, got shape {list(v.shape)}")
        n, c, h, w = v.shape
        if h * w == 1 or c == 1:
            return _Value(self.reshape(v.name, v.shape, (n, h, w, c)),
                          v.shape, True)
        name, _ = self.e.transpose(v.name, v.shape, _NCHW_TO_NHWC)
        return _Value(name, v.shape, True)

    def reshape(self, source: str, shape, target) -> str:
        """A static reshape as collapse_shape/expand_shape."""
        shape, target = tuple(shape), tuple(target)
        if shape == target:
            return source
        groups = _reassociation(shape, target)
        name = self.e.fresh()
        if groups is not None and len(target) < len(shape):
            self.e.emit(f"{name} = tensor.collapse_shape {source} "
                        f"{_groups(groups)} : {_type(shape)} into "
                        f"{_type(target)}")
            return name
        groups = _reassociation(target, shape)
        if groups is not None and len(target) > len(shape):
            self.e.emit(f"{name} = tensor.expand_shape {source} "
                        f"{_groups(groups)} output_shape "
                        f"[{', '.join(map(str, target))}] : {_type(shape)} "
                        f"into {_type(target)}")
            return name
        flat = (int(np.prod(shape)),)
        return self.reshape(self.reshape(source, shape, flat), flat, target)

    # Graph ----------------------------------------------------------------

    def run(self) -> Imported:
        graph = self.model.graph
        for opset in self.model.opset_import:
            if opset.domain in ("", "ai.onnx") and opset.version not in OPSETS:
                self.fail(f"opset {opset.version} is not supported (11-17)")
        for init in graph.initializer:
            self.consts[init.name] = self.numpy_helper.to_array(init).copy()
        inputs, args = [], []
        for i, inp in enumerate(x for x in graph.input
                                if x.name not in self.consts):
            shape = self.input_shape(inp)
            ssa = f"%in{i}"
            args.append(f"{ssa}: {_type(shape)} {{qat.name = "
                        f"\"{inp.name}\", qat.role = \"input\"}}")
            inputs.append((inp.name, shape))
            value = _Value(ssa, shape)
            self.values[inp.name] = (self.to_nhwc(value) if len(shape) == 4
                                     else value)
        self.node = None
        for node in graph.node:
            self.node = node
            self.ops[node.op_type] = self.ops.get(node.op_type, 0) + 1
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None or node.domain not in ("", "ai.onnx"):
                self.fail("unsupported op type; supported: " +
                          ", ".join(sorted(n[3:] for n in dir(self)
                                           if n.startswith("op_"))))
            handler(node, _attrs(node))
        self.node = None
        results, outputs = [], []
        for out in graph.output:
            v = self.to_logical(self.value(out.name))
            results.append((v, out.name))
            outputs.append((out.name, v.shape))
        lines = [f"func.func @{self.function}("]
        params = [f"{ssa}: {_type(shape)} {{qat.name = \"{name}\", "
                  f"qat.role = \"parameter\"}}"
                  for ssa, name, shape in self.param_args]
        lines.append("    " + ",\n    ".join(args + params) + ")")
        lines.append("    -> (" + ", ".join(
            f"{_type(v.shape)} {{qat.name = \"{n}\"}}" for v, n in results)
            + ") {")
        lines += self.e.lines
        lines.append(f"  return {', '.join(v.name for v, _ in results)} : "
                     f"{', '.join(_type(v.shape) for v, _ in results)}")
        lines.append("}")
        return Imported("\n".join(lines) + "\n", self.params, self.function,
                        inputs, outputs, self.ops)

    def input_shape(self, inp) -> Tuple[int, ...]:
        t = inp.type.tensor_type
        if not inp.type.HasField("tensor_type") or not t.HasField("shape"):
            raise OnnxImportError(f"graph input '{inp.name}': no tensor shape")
        if t.elem_type != self.onnx.TensorProto.FLOAT:
            raise OnnxImportError(
                f"graph input '{inp.name}': element type "
                f"{self.onnx.TensorProto.DataType.Name(t.elem_type)}, only "
                "FLOAT inputs are supported")
        shape = []
        for i, d in enumerate(t.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
            elif i == 0:
                shape.append(self.batch)
            else:
                raise OnnxImportError(
                    f"graph input '{inp.name}': dimension {i} is dynamic "
                    f"('{d.dim_param}'); only the batch dimension may be "
                    "(it becomes --batch)")
        return tuple(shape)

    def define(self, name: str, value: _Value) -> None:
        self.values[name] = value

    # Constant folding of shape arithmetic --------------------------------

    def fold(self, node, fn) -> bool:
        if all(i == "" or self.is_const(i) or
               (node.op_type == "Shape" and i in self.values)
               for i in node.input):
            self.consts[node.output[0]] = np.asarray(fn())
            return True
        return False

    def op_Constant(self, node, a):
        if "value" not in a:
            self.fail("only the 'value' attribute is supported")
        self.consts[node.output[0]] = self.numpy_helper.to_array(a["value"])

    def op_Shape(self, node, a):
        self.consts[node.output[0]] = np.asarray(
            self.value(node.input[0]).shape, np.int64)

    def op_Gather(self, node, a):
        if not self.fold(node, lambda: np.take(
                self.const(node.input[0]), self.const(node.input[1]),
                axis=a.get("axis", 0))):
            self.fail("Gather on computed tensors is not supported")

    def op_Unsqueeze(self, node, a):
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.const(node.input[1]).tolist()
        if self.is_const(node.input[0]):
            x = self.const(node.input[0])
            for ax in sorted(axes):
                x = np.expand_dims(x, ax)
            self.consts[node.output[0]] = x
            return
        v = self.to_logical(self.value(node.input[0]))
        shape = list(v.shape)
        for ax in sorted(ax % (len(shape) + len(axes)) for ax in axes):
            shape.insert(ax, 1)
        self.define(node.output[0], self.wrap(
            self.reshape(v.name, v.shape, shape), tuple(shape)))

    def op_Squeeze(self, node, a):
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.const(node.input[1]).tolist()
        v = self.to_logical(self.value(node.input[0]))
        rank = len(v.shape)
        axes = ([i for i, d in enumerate(v.shape) if d == 1] if axes is None
                else [ax % rank for ax in axes])
        shape = tuple(d for i, d in enumerate(v.shape) if i not in axes)
        self.define(node.output[0], self.wrap(
            self.reshape(v.name, v.shape, shape), shape))

    def op_Cast(self, node, a):
        if not self.fold(node, lambda: self.const(node.input[0])):
            self.define(node.output[0], self.value(node.input[0]))

    def op_Identity(self, node, a):
        if not self.fold(node, lambda: self.const(node.input[0])):
            self.define(node.output[0], self.value(node.input[0]))

    def op_Dropout(self, node, a):
        self.define(node.output[0], self.value(node.input[0]))

    def wrap(self, name, shape) -> _Value:
        """A computed logical-layout value; 4-D ones are moved to NHWC."""
        v = _Value(name, tuple(shape))
        return self.to_nhwc(v) if len(shape) == 4 else v

    # Layers ---------------------------------------------------------------

    def op_Conv(self, node, a):
        x = self.to_nhwc(self.value(node.input[0]))
        if len(x.shape) != 4:
            self.fail("only 2-D convolutions (4-D NCHW input) are supported")
        w = self.const(node.input[1]).astype(np.float32)
        n, c, h, wd = x.shape
        f, cg, kh, kw = w.shape
        group = a.get("group", 1)
        strides = a.get("strides", [1, 1])
        dilations = a.get("dilations", [1, 1])
        pads = self.conv_pads(a, (h, wd), (kh, kw), strides, dilations)
        depthwise = group == c and group > 1 and cg == 1 and f == c
        if group < 1 or c % group or f % group or cg * group != c:
            self.fail(f"group={group} does not divide {c} input and {f} "
                      f"output channels (weight shape {list(w.shape)})")
        src = self.pad(x, pads, 0.0)
        hp, wp = h + pads[0] + pads[2], wd + pads[1] + pads[3]
        oh = (hp - dilations[0] * (kh - 1) - 1) // strides[0] + 1
        ow = (wp - dilations[1] * (kw - 1) - 1) // strides[1] + 1
        out = (n, oh, ow, f)
        attrs = (f"{{dilations = dense<[{dilations[0]}, {dilations[1]}]> : "
                 f"tensor<2xi64>, strides = dense<[{strides[0]}, "
                 f"{strides[1]}]> : tensor<2xi64>}}")

        def conv(source, cin, weights, cout, tag=""):
            init = self.e.filled((n, oh, ow, cout), 0.0)
            result = self.e.fresh()
            t_out = _type((n, oh, ow, cout))
            if depthwise:
                weight = self.param(node.input[1], weights[:, 0].transpose(
                    1, 2, 0))
                op, wshape = "linalg.depthwise_conv_2d_nhwc_hwc", (kh, kw, c)
            else:
                weight = self.param(node.input[1],
                                    weights.transpose(2, 3, 1, 0), tag)
                op, wshape = "linalg.conv_2d_nhwc_hwcf", (kh, kw, cin, cout)
            self.e.emit(f"{result} = {op} {attrs}")
            self.e.emit(f"    ins({source}, {weight} : "
                        f"{_type((n, hp, wp, cin))}, {_type(wshape)}) "
                        f"outs({init} : {t_out}) -> {t_out}")
            return result

        if group == 1 or depthwise:
            name = conv(src, c, w, f)
        else:
            # A grouped convolution: one convolution per group on its slice
            # of the input channels, concatenated.
            fg, parts = f // group, []
            for g in range(group):
                part = self.e.fresh()
                self.e.emit(f"{part} = tensor.extract_slice {src}[0, 0, 0, "
                            f"{g * cg}] [{n}, {hp}, {wp}, {cg}] [1, 1, 1, 1] "
                            f": {_type((n, hp, wp, c))} to "
                            f"{_type((n, hp, wp, cg))}")
                parts.append(conv(part, cg, w[g * fg:(g + 1) * fg], fg,
                                  f"group{g}"))
            name = self.e.fresh()
            self.e.emit(f"{name} = tensor.concat dim(3) {', '.join(parts)} : "
                        f"({', '.join([_type((n, oh, ow, fg))] * group)}) -> "
                        f"{_type(out)}")
        y = _Value(name, (n, f, oh, ow), True)
        if len(node.input) > 2 and node.input[2]:
            y = self.channel_add(y, node.input[2], self.const(node.input[2]))
        self.define(node.output[0], y)

    def conv_pads(self, a, spatial, kernel, strides, dilations):
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", "VALID"):
            pads = list(a.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" \
                else [0, 0, 0, 0]
            if len(pads) != 4:
                self.fail(f"pads {pads}: expected 4 values")
            return pads
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            self.fail(f"auto_pad={auto} is not supported")
        pads = [0, 0, 0, 0]
        for i in range(2):
            out = -(-spatial[i] // strides[i])
            total = max(0, (out - 1) * strides[i] +
                        dilations[i] * (kernel[i] - 1) + 1 - spatial[i])
            low = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads[i], pads[i + 2] = low, total - low
        return pads

    def pad(self, x: _Value, pads, value: float) -> str:
        if not any(pads):
            return x.name
        n, h, w, c = x.physical
        t, l, b, r = pads
        out = (n, h + t + b, w + l + r, c)
        name = self.e.fresh()
        self.e.emit(f"{name} = tensor.pad {x.name} low[0, {t}, {l}, 0] "
                    f"high[0, {b}, {r}, 0] {{")
        self.e.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
        self.e.emit(f"  tensor.yield {self.e.scalar(value)} : f32")
        self.e.emit(f"}} : {_type(x.physical)} to {_type(out)}")
        return name

    def channel_add(self, y: _Value, name: str, bias: np.ndarray) -> _Value:
        """y + bias along the channel axis (1 of NCHW/NC), a parameter."""
        channels = y.shape[1] if len(y.shape) > 1 else y.shape[0]
        bias = np.asarray(bias, np.float32).reshape(-1)
        if bias.size != channels:
            self.fail(f"bias '{name}' has {bias.size} values for "
                      f"{channels} channels")
        ssa = self.param(name, bias)
        phys = y.physical
        axis = len(phys) - 1 if y.nhwc or len(phys) == 2 else 1
        rank = len(phys)
        out = self.e.generic(
            [(y.name, phys), (ssa, (channels,))],
            [[f"d{i}" for i in range(rank)], [f"d{axis}"],
             [f"d{i}" for i in range(rank)]], phys,
            lambda v: [f"%r = arith.addf {v[0]}, {v[1]} : f32"])
        return _Value(out, y.shape, y.nhwc)

    def matmul(self, x: _Value, w_ssa: str, k: int, n: int) -> _Value:
        m = x.shape[0]
        init = self.e.filled((m, n), 0.0)
        name = self.e.fresh()
        self.e.emit(f"{name} = linalg.matmul ins({x.name}, {w_ssa} : "
                    f"{_type((m, k))}, {_type((k, n))}) outs({init} : "
                    f"{_type((m, n))}) -> {_type((m, n))}")
        return _Value(name, (m, n))

    def op_Gemm(self, node, a):
        x = self.to_logical(self.value(node.input[0]))
        if a.get("transA", 0):
            self.fail("transA=1 is not supported")
        if len(x.shape) != 2:
            self.fail(f"input A must be 2-D, got shape {list(x.shape)}")
        w = self.const(node.input[1]).astype(np.float32)
        if a.get("transB", 0):
            w = w.T
        w = w * np.float32(a.get("alpha", 1.0))
        k, n = w.shape
        if k != x.shape[1]:
            self.fail(f"A has {x.shape[1]} columns, B {k} rows")
        y = self.matmul(x, self.param(node.input[1], w), k, n)
        if len(node.input) > 2 and node.input[2]:
            c = self.const(node.input[2]) * np.float32(a.get("beta", 1.0))
            y = self.channel_add(y, node.input[2], c)
        self.define(node.output[0], y)

    def op_MatMul(self, node, a):
        x = self.to_logical(self.value(node.input[0]))
        if not self.is_const(node.input[1]):
            self.fail("B must be an initializer (a weight)")
        w = self.const(node.input[1]).astype(np.float32)
        if len(x.shape) != 2 or w.ndim != 2:
            self.fail(f"only 2-D matrix products are supported (shapes "
                      f"{list(x.shape)} and {list(w.shape)})")
        if w.shape[0] != x.shape[1]:
            self.fail(f"A has {x.shape[1]} columns, B {w.shape[0]} rows")
        self.define(node.output[0],
                    self.matmul(x, self.param(node.input[1], w), *w.shape))

    def op_BatchNormalization(self, node, a):
        x = self.value(node.input[0])
        if len(node.output) > 1 and any(node.output[1:]):
            self.fail("training-mode batch normalization (running statistics "
                      "as outputs) is not supported; export in eval mode")
        channels = x.shape[1]
        names = node.input[1:5]
        arrays = [self.const(n).astype(np.float32).reshape(-1) for n in names]
        if any(arr.size != channels for arr in arrays):
            self.fail(f"scale, bias, mean and var must have {channels} values")
        ssas = [self.param(n, arr) for n, arr in zip(names, arrays)]
        eps = self.e.scalar(a.get("epsilon", 1e-5))
        phys = x.physical
        rank = len(phys)
        axis = rank - 1 if x.nhwc else 1
        ident = [f"d{i}" for i in range(rank)]
        body = lambda v: [  # noqa: E731
            f"%d = arith.subf {v[0]}, {v[3]} : f32",
            f"%ve = arith.addf {v[4]}, {eps} : f32",
            "%sd = math.sqrt %ve : f32",
            "%n = arith.divf %d, %sd : f32",
            f"%sc = arith.mulf %n, {v[1]} : f32",
            f"%r = arith.addf %sc, {v[2]} : f32"]
        out = self.e.generic([(x.name, phys)] + [(s, (channels,))
                                                 for s in ssas],
                             [ident] + [[f"d{axis}"]] * 4 + [ident], phys,
                             body)
        self.define(node.output[0], _Value(out, x.shape, x.nhwc))

    # Elementwise ----------------------------------------------------------

    def unary(self, node, body):
        x = self.value(node.input[0])
        phys = x.physical
        ident = [f"d{i}" for i in range(len(phys))]
        out = self.e.generic([(x.name, phys)], [ident, ident], phys, body)
        self.define(node.output[0], _Value(out, x.shape, x.nhwc))

    def op_Relu(self, node, a):
        zero = self.e.scalar(0.0)
        self.unary(node, lambda v: [f"%r = arith.maximumf {v[0]}, {zero} : f32"])

    def op_Clip(self, node, a):
        lo, hi = a.get("min"), a.get("max")
        if len(node.input) > 1 and node.input[1]:
            lo = float(self.const(node.input[1]))
        if len(node.input) > 2 and node.input[2]:
            hi = float(self.const(node.input[2]))
        lines = []
        current = "%a0"
        if lo is not None:
            lines.append(f"%lo = arith.maximumf %a0, {self.e.scalar(lo)} : f32")
            current = "%lo"
        if hi is not None:
            lines.append(f"%r = arith.minimumf {current}, "
                         f"{self.e.scalar(hi)} : f32")
        elif lo is not None:
            lines[-1] = lines[-1].replace("%lo =", "%r =")
        else:
            lines.append("%r = arith.addf %a0, " + self.e.scalar(0.0) + " : f32")
        self.unary(node, lambda v: lines)

    def op_Sigmoid(self, node, a):
        one = self.e.scalar(1.0)
        self.unary(node, lambda v: [
            f"%n = arith.negf {v[0]} : f32", "%x = math.exp %n : f32",
            f"%d = arith.addf %x, {one} : f32",
            f"%r = arith.divf {one}, %d : f32"])

    def op_Tanh(self, node, a):
        self.unary(node, lambda v: [f"%r = math.tanh {v[0]} : f32"])

    def op_Exp(self, node, a):
        self.unary(node, lambda v: [f"%r = math.exp {v[0]} : f32"])

    def op_LeakyRelu(self, node, a):
        alpha = self.e.scalar(a.get("alpha", 0.01))
        zero = self.e.scalar(0.0)
        self.unary(node, lambda v: [
            f"%s = arith.mulf {v[0]}, {alpha} : f32",
            f"%p = arith.cmpf ogt, {v[0]}, {zero} : f32",
            f"%r = arith.select %p, {v[0]}, %s : f32"])

    def hard_sigmoid(self, x, alpha, beta):
        """Lines computing %h = max(0, min(1, alpha * x + beta))."""
        return [f"%ax = arith.mulf {x}, {self.e.scalar(alpha)} : f32",
                f"%axb = arith.addf %ax, {self.e.scalar(beta)} : f32",
                f"%lo = arith.maximumf %axb, {self.e.scalar(0.0)} : f32",
                f"%h = arith.minimumf %lo, {self.e.scalar(1.0)} : f32"]

    def op_HardSigmoid(self, node, a):
        lines = self.hard_sigmoid("%a0", a.get("alpha", 0.2),
                                  a.get("beta", 0.5))
        self.unary(node, lambda v: lines + ["%r = arith.addf %h, "
                                            f"{self.e.scalar(0.0)} : f32"])

    def op_HardSwish(self, node, a):
        lines = self.hard_sigmoid("%a0", 1.0 / 6.0, 0.5)
        self.unary(node,
                   lambda v: lines + [f"%r = arith.mulf {v[0]}, %h : f32"])

    def op_ReduceMean(self, node, a):
        self.reduce(node, a, mean=True)

    def op_ReduceSum(self, node, a):
        self.reduce(node, a, mean=False)

    def reduce(self, node, a, mean):
        v = self.value(node.input[0])
        rank = len(v.shape)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.const(node.input[1]).reshape(-1).tolist()
        if axes is None or len(axes) == 0:
            if a.get("noop_with_empty_axes", 0):
                self.define(node.output[0], v)
                return
            axes = list(range(rank))
        axes = sorted({int(ax) % rank for ax in axes})
        keep = a.get("keepdims", 1)
        kept = [d for d in range(rank) if d not in axes]
        # Reduce in the stored layout when the kept dimensions stay in
        # logical order there (N, C of an NHWC value); else in ONNX order.
        perm = _NCHW_TO_NHWC if v.nhwc else list(range(rank))
        if [d for d in perm if d in kept] != kept:
            v = self.to_logical(v)
            perm = list(range(rank))
        phys = v.physical
        out_phys = tuple(phys[i] for i, d in enumerate(perm) if d in kept)
        dims = [f"d{i}" for i, d in enumerate(perm) if d in kept]
        iterators = ["reduction" if d in axes else "parallel" for d in perm]
        init = self.e.filled(out_phys, 0.0)
        summed = self.e.generic(
            [(v.name, phys)], [[f"d{i}" for i in range(rank)], dims],
            out_phys, lambda x: [f"%r = arith.addf {x[0]}, %out : f32"],
            iterators, (init, out_phys))
        count = int(np.prod([v.shape[d] for d in axes]))
        shape = tuple(v.shape[d] for d in kept)
        out = _Value(summed, shape)
        if mean:
            out = self.scale(out, 1.0 / count)
        if keep:
            # Unit dimensions back in place (a reshape), NHWC again if 4-D.
            shape = tuple(1 if d in axes else v.shape[d] for d in range(rank))
            out = self.wrap(self.reshape(out.name, out.physical, shape), shape)
        self.define(node.output[0], out)

    def op_Add(self, node, a):
        self.binary(node, "arith.addf")

    def op_Sub(self, node, a):
        self.binary(node, "arith.subf")

    def op_Mul(self, node, a):
        self.binary(node, "arith.mulf")

    def op_Div(self, node, a):
        self.binary(node, "arith.divf")

    def binary(self, node, op):
        names = node.input[:2]
        if all(self.is_const(n) for n in names):
            fn = {"arith.addf": np.add, "arith.subf": np.subtract,
                  "arith.mulf": np.multiply, "arith.divf": np.divide}[op]
            self.consts[node.output[0]] = fn(*(self.const(n) for n in names))
            return
        shapes = [self.values[n].shape if n in self.values
                  else self.const(n).shape for n in names]
        try:
            shape = tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            self.fail(f"shapes {[list(s) for s in shapes]} do not broadcast")
        nhwc = len(shape) == 4 and any(
            n in self.values and self.values[n].nhwc for n in names)
        rank = len(shape)
        phys = ((shape[0], shape[2], shape[3], shape[1]) if nhwc else shape)
        perm = _NCHW_TO_NHWC if nhwc else list(range(rank))
        operands, maps, scalars = [], [], {}
        for i, n in enumerate(names):
            if self.is_const(n) and self.const(n).size == 1:
                scalars[i] = self.e.scalar(float(self.const(n).reshape(-1)[0]))
                continue
            if n in self.values:
                v = self.values[n]
                v = self.to_nhwc(v) if nhwc else self.to_logical(v)
                full = (1,) * (rank - len(v.shape)) + v.shape
                src_phys = tuple(full[p] for p in perm)
                ssa = (v.name if len(v.shape) == rank else
                       self.reshape(v.name, v.physical, src_phys))
                if any(s != d for s, d in zip(src_phys, phys)):
                    self.fail("broadcasting a computed tensor "
                              f"{list(v.shape)} to {list(shape)} is not "
                              "supported")
                operands.append((ssa, src_phys))
                maps.append([f"d{j}" for j in range(rank)])
            else:
                # A parameter: stored with the broadcast dimensions dropped.
                arr = self.const(n).astype(np.float32)
                full = arr.reshape((1,) * (rank - arr.ndim) + arr.shape)
                full = full.transpose(perm)
                kept = [j for j in range(rank) if full.shape[j] != 1 or
                        phys[j] == 1]
                stored = full.reshape([full.shape[j] for j in kept])
                operands.append((self.param(n, stored), stored.shape))
                maps.append([f"d{j}" for j in kept])
        args, k = [], 0
        for i in range(2):
            if i in scalars:
                args.append(scalars[i])
            else:
                args.append(f"%a{k}")
                k += 1
        maps.append([f"d{j}" for j in range(rank)])
        out = self.e.generic(
            operands, maps, phys,
            lambda v: [f"%r = {op} {args[0]}, {args[1]} : f32"])
        self.define(node.output[0], _Value(out, shape, nhwc))

    # Pooling --------------------------------------------------------------

    def pool_window(self, a, x: _Value):
        kernel = a.get("kernel_shape")
        if not kernel or len(kernel) != 2:
            self.fail("kernel_shape must have 2 values")
        strides = a.get("strides", [1, 1])
        dilations = a.get("dilations", [1, 1])
        if a.get("storage_order", 0):
            self.fail("storage_order=1 is not supported")
        pads = self.conv_pads(a, x.shape[2:], kernel, strides, dilations)
        if a.get("ceil_mode", 0):
            for i in range(2):
                span = x.shape[2 + i] + pads[i] + pads[i + 2] - \
                    dilations[i] * (kernel[i] - 1) - 1
                if span % strides[i]:
                    self.fail("ceil_mode=1 with a window that does not tile "
                              "the input is not supported")
        return kernel, strides, dilations, pads

    def pool(self, node, x, kernel, strides, dilations, pads, kind, value):
        src = self.pad(x, pads, value)
        n, h, w, c = x.physical
        hp, wp = h + pads[0] + pads[2], w + pads[1] + pads[3]
        oh = (hp - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
        ow = (wp - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
        out = (n, oh, ow, c)
        init = self.e.filled(out, value)
        window = self.e.empty(tuple(kernel))
        name = self.e.fresh()
        self.e.emit(f"{name} = linalg.pooling_nhwc_{kind} {{dilations = "
                    f"dense<[{dilations[0]}, {dilations[1]}]> : tensor<2xi64>, "
                    f"strides = dense<[{strides[0]}, {strides[1]}]> : "
                    "tensor<2xi64>}")
        self.e.emit(f"    ins({src}, {window} : {_type((n, hp, wp, c))}, "
                    f"{_type(tuple(kernel))}) outs({init} : {_type(out)}) -> "
                    f"{_type(out)}")
        return _Value(name, (n, c, oh, ow), True)

    def op_Pad(self, node, a):
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            self.fail(f"mode={mode} is not supported (only constant)")
        pads = ([int(p) for p in self.const(node.input[1]).reshape(-1)]
                if len(node.input) > 1 else list(a.get("pads", [])))
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = float(self.const(node.input[2]).reshape(-1)[0])
        x = self.value(node.input[0])
        if not any(pads):
            self.define(node.output[0], x)
            return
        rank = len(x.shape)
        if rank != 4 or pads[0] or pads[1] or pads[4] or pads[5] or \
                min(pads) < 0:
            self.fail(f"pads {pads}: only non-negative padding of the two "
                      "spatial dimensions of a 4-D tensor is supported")
        x = self.to_nhwc(x)
        spatial = [pads[2], pads[3], pads[6], pads[7]]
        n, c, h, w = x.shape
        self.define(node.output[0], _Value(
            self.pad(x, spatial, value),
            (n, c, h + pads[2] + pads[6], w + pads[3] + pads[7]), True))

    def op_MaxPool(self, node, a):
        if len(node.output) > 1 and node.output[1]:
            self.fail("the Indices output is not supported")
        x = self.to_nhwc(self.value(node.input[0]))
        self.define(node.output[0], self.pool(
            node, x, *self.pool_window(a, x), "max", -np.inf))

    def op_AveragePool(self, node, a):
        x = self.to_nhwc(self.value(node.input[0]))
        kernel, strides, dilations, pads = self.pool_window(a, x)
        if any(pads) and not a.get("count_include_pad", 0):
            self.fail("padding with count_include_pad=0 (a divisor that "
                      "varies at the border) is not supported")
        s = self.pool(node, x, kernel, strides, dilations, pads, "sum", 0.0)
        self.define(node.output[0], self.scale(s, 1.0 / (kernel[0] *
                                                          kernel[1])))

    def scale(self, x: _Value, factor: float) -> _Value:
        c = self.e.scalar(factor)
        phys = x.physical
        ident = [f"d{i}" for i in range(len(phys))]
        out = self.e.generic([(x.name, phys)], [ident, ident], phys,
                             lambda v: [f"%r = arith.mulf {v[0]}, {c} : f32"])
        return _Value(out, x.shape, x.nhwc)

    def op_GlobalAveragePool(self, node, a):
        x = self.to_nhwc(self.value(node.input[0]))
        n, h, w, c = x.physical
        init = self.e.filled((n, c), 0.0)
        s = self.e.generic(
            [(x.name, (n, h, w, c))], [["d0", "d2", "d3", "d1"], ["d0", "d1"]],
            (n, c), lambda v: [f"%r = arith.addf {v[0]}, %out : f32"],
            iterators=["parallel", "parallel", "reduction", "reduction"],
            init=(init, (n, c)))
        mean = self.scale(_Value(s, (n, c)), 1.0 / (h * w))
        self.define(node.output[0], _Value(
            self.reshape(mean.name, (n, c), (n, 1, 1, c)), (n, c, 1, 1), True))

    # Shapes ---------------------------------------------------------------

    def op_Flatten(self, node, a):
        v = self.to_logical(self.value(node.input[0]))
        axis = a.get("axis", 1) % max(len(v.shape), 1)
        shape = (int(np.prod(v.shape[:axis])), int(np.prod(v.shape[axis:])))
        self.define(node.output[0], _Value(
            self.reshape(v.name, v.shape, shape), shape))

    def op_Reshape(self, node, a):
        target = [int(d) for d in self.const(node.input[1]).reshape(-1)]
        if self.is_const(node.input[0]):
            self.consts[node.output[0]] = self.const(node.input[0]).reshape(
                target)
            return
        v = self.to_logical(self.value(node.input[0]))
        for i, d in enumerate(target):
            if d == 0 and not a.get("allowzero", 0):
                target[i] = v.shape[i]
        if target.count(-1) > 1:
            self.fail(f"shape {target} has more than one -1")
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(v.shape)) // max(known, 1)
        if int(np.prod(target)) != int(np.prod(v.shape)):
            self.fail(f"cannot reshape {list(v.shape)} to {target}")
        self.define(node.output[0], self.wrap(
            self.reshape(v.name, v.shape, target), tuple(target)))

    def op_Transpose(self, node, a):
        v = self.to_logical(self.value(node.input[0]))
        perm = a.get("perm", list(reversed(range(len(v.shape)))))
        name, shape = self.e.transpose(v.name, v.shape, perm)
        self.define(node.output[0], self.wrap(name, shape))

    def op_Concat(self, node, a):
        if all(self.is_const(n) for n in node.input):
            self.consts[node.output[0]] = np.concatenate(
                [self.const(n) for n in node.input], axis=a.get("axis", 0))
            return
        vs = [self.value(n) for n in node.input]
        rank = len(vs[0].shape)
        axis = a.get("axis", 0) % rank
        nhwc = rank == 4
        vs = [self.to_nhwc(v) if nhwc else self.to_logical(v) for v in vs]
        dim = _NCHW_TO_NHWC.index(axis) if nhwc else axis
        shape = list(vs[0].shape)
        shape[axis] = sum(v.shape[axis] for v in vs)
        out = _Value(self.e.fresh(), tuple(shape), nhwc)
        self.e.emit(f"{out.name} = tensor.concat dim({dim}) "
                    f"{', '.join(v.name for v in vs)} : "
                    f"({', '.join(_type(v.physical) for v in vs)}) -> "
                    f"{_type(out.physical)}")
        self.define(node.output[0], out)

    def op_Softmax(self, node, a):
        v = self.to_logical(self.value(node.input[0]))
        opset = max(o.version for o in self.model.opset_import
                    if o.domain in ("", "ai.onnx"))
        axis = a.get("axis", -1 if opset >= 13 else 1) % len(v.shape)
        if axis != len(v.shape) - 1:
            self.fail(f"softmax over axis {axis} (only the last axis is "
                      "supported)")
        m, n = int(np.prod(v.shape[:-1])), v.shape[-1]
        x = self.reshape(v.name, v.shape, (m, n))
        row, full = (m,), (m, n)
        rows = [["d0", "d1"], ["d0"]]
        both = [["d0", "d1"], ["d0"], ["d0", "d1"]]
        reduce = ["parallel", "reduction"]
        # max, exp(x - max), sum, exp / sum, each a generic over the rows.
        mx = self.e.generic(
            [(x, full)], rows, row,
            lambda a: [f"%r = arith.maximumf {a[0]}, %out : f32"], reduce,
            (self.e.filled(row, -np.inf), row))
        ex = self.e.generic(
            [(x, full), (mx, row)], both, full,
            lambda a: [f"%s = arith.subf {a[0]}, {a[1]} : f32",
                       "%r = math.exp %s : f32"])
        sm = self.e.generic(
            [(ex, full)], rows, row,
            lambda a: [f"%r = arith.addf {a[0]}, %out : f32"], reduce,
            (self.e.filled(row, 0.0), row))
        out = self.e.generic(
            [(ex, full), (sm, row)], both, full,
            lambda a: [f"%r = arith.divf {a[0]}, {a[1]} : f32"])
        self.define(node.output[0], _Value(
            self.reshape(out, (m, n), v.shape), v.shape))


def _reassociation(big, small) -> Optional[List[List[int]]]:
    """Groups of `big`'s dimensions whose products are `small`'s, in order
    (the reassociation of collapse_shape big -> small); None if none."""
    if not small:
        return None
    groups, i = [], 0
    for t, d in enumerate(small):
        group, product = [], 1
        while i < len(big) and (not group or product < d):
            group.append(i)
            product *= big[i]
            i += 1
        if product != d:
            return None
        # Unit dimensions after the group join it, unless the next target
        # dimension is itself a unit one that needs them.
        next_unit = t + 1 < len(small) and small[t + 1] == 1
        while i < len(big) and big[i] == 1 and not next_unit:
            group.append(i)
            i += 1
        groups.append(group)
    return groups if i == len(big) else None


def _groups(groups) -> str:
    return "[" + ", ".join("[" + ", ".join(map(str, g)) + "]"
                           for g in groups) + "]"


def _function_name(model, path: Optional[str]) -> str:
    name = model.graph.name or (os.path.splitext(os.path.basename(path))[0]
                                if path else "model")
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else "model_" + name


def import_onnx(model_or_path, batch: int = 1,
                name: Optional[str] = None) -> Imported:
    """Translates an ONNX model (a path or a ModelProto) with static shapes
    (a symbolic batch dimension becomes `batch`)."""
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - setup installs it
        raise OnnxImportError("python3-onnx is not installed (run "
                              "scripts/setup.sh)") from err
    path = None
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise OnnxImportError(f"{path}: no such file")
        try:
            model = onnx.load(path)
        except Exception as err:  # noqa: BLE001 - protobuf's errors vary
            raise OnnxImportError(f"{path}: not an ONNX model ({err})") \
                from err
    else:
        model = model_or_path
    try:
        onnx.checker.check_model(model)
    except Exception as err:  # noqa: BLE001
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise OnnxImportError(f"{path or 'model'}: malformed ONNX model: "
                              f"{first}") from err
    if batch < 1:
        raise OnnxImportError(f"batch must be positive, got {batch}")
    return _Importer(model, batch, name or _function_name(model, path)).run()
