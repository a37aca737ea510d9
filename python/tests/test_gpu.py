"""The GPU backend (qat-compile --target=nvptx, docs/GPU.md).

Everywhere:
  * the GPU pipeline's loop nest, mapped to blocks and threads, runs on the
    CPU (--gpu-emulate) and gives the integer programs' bits exactly, and
    the float programs' values;
  * a library with GPU code opens without a GPU, says why it cannot run, and
    every call fails with QAT_STATUS_UNAVAILABLE (never a crash).
On a machine with a GPU (skipped here, saying so): the same programs run on
the GPU and give the CPU's bits.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from qat import models, pipeline, workflow
from qat.onnx_import import import_onnx
from qat.runtime import Model, QatError

HERE = os.path.dirname(os.path.abspath(__file__))
STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"


def integer_program(kind, tmp_path, batch=16):
    """The integer program of a calibrated W8A8 MLP or CNN (random
    weights, calibrated on random images) and the float forward."""
    import onnx
    path = tmp_path / f"{kind}.onnx"
    onnx.save(models.mlp(hidden=(64,)) if kind == "mlp" else models.cnn(),
              path)
    imported = import_onnx(str(path), batch=batch)
    instrumented = workflow.instrument(imported.text)
    trainer = workflow.Trainer(instrumented, imported.params, str(tmp_path),
                               f"{kind}_calibrate", range_learning="none")
    x = np.random.default_rng(1).random((4 * batch, 1, 28, 28),
                                        dtype=np.float32)
    trainer.calibrate(x, 4)
    frozen = workflow.freeze(instrumented, trainer.values,
                             workflow.forward_function(instrumented))
    return workflow.convert(frozen), imported


def compile_both(text, tmp_path, name, gpu_flags):
    cpu = Model(pipeline.compile_library(text, str(tmp_path / f"lib{name}.so")))
    other = Model(pipeline.compile_library(
        text, str(tmp_path / f"lib{name}_gpu.so"),
        ["--target=nvptx", *gpu_flags]))
    return cpu, other


def inputs_for(entry, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random(a.shape, dtype=np.float32) if a.dtype == np.float32
            else rng.integers(-128, 128, a.shape).astype(a.dtype)
            for a in entry.args]


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    out = {}
    for kind in ("mlp", "cnn"):
        integer, imported = integer_program(kind, tmp)
        out[f"{kind}_int8"] = integer
        out[f"{kind}_float"] = (imported.text, imported.params)
    # Fewer than 16 rows: its matmuls take the dp4a kernel.
    out["mlp4_int8"], _ = integer_program("mlp", tmp, batch=4)
    return out


@pytest.mark.parametrize("kind", ["mlp", "cnn", "mlp4"])
def test_mapped_loop_nest_on_the_cpu_is_bit_identical(programs, tmp_path,
                                                      kind):
    """Every integer layer as the GPU runs it: matmuls and convolutions
    (im2col) on the tensor-core kernel, or dp4a below 16 rows, with the
    requantization fused, both emulated on the CPU; pooling, quantization
    of the input and copies one thread per output element in blocks of 256
    (and of 96, which leaves partial blocks)."""
    text = programs[f"{kind}_int8"]
    for threads in (256, 96):
        cpu, mapped = compile_both(text, tmp_path, f"{kind}_{threads}",
                                   ["--gpu-emulate"])
        assert mapped.device == "cpu"
        function = workflow.forward_function(text)
        args = inputs_for(cpu[function])
        np.testing.assert_array_equal(mapped[function](*args),
                                      cpu[function](*args))


def matmul_program(m, n, k, requantize):
    """An int8 matmul on tensors, its accumulator starting from a bias,
    optionally followed by a requantization to int8."""
    body = (f"  %acc = linalg.matmul ins(%a, %b : tensor<{m}x{k}xi8>, "
            f"tensor<{k}x{n}xi8>) outs(%init : tensor<{m}x{n}xi32>) "
            f"-> tensor<{m}x{n}xi32>\n")
    if requantize:
        body += (f"  %y = qat.requantize %acc {{multiplier = array<i32: "
                 f"1518500250>, shift = array<i32: 40>, output_zero_point = "
                 f"-3 : i32}} : tensor<{m}x{n}xi32> -> tensor<{m}x{n}xi8>\n"
                 f"  return %y : tensor<{m}x{n}xi8>\n")
    else:
        body += f"  return %acc : tensor<{m}x{n}xi32>\n"
    result = f"tensor<{m}x{n}xi8>" if requantize else f"tensor<{m}x{n}xi32>"
    return (f"func.func @mm(%a: tensor<{m}x{k}xi8>, %b: tensor<{k}x{n}xi8>, "
            f"%bias: tensor<{n}xi32>) -> {result} {{\n"
            f"  %e = tensor.empty() : tensor<{m}x{n}xi32>\n"
            f"  %init = linalg.broadcast ins(%bias : tensor<{n}xi32>) "
            f"outs(%e : tensor<{m}x{n}xi32>) dimensions = [0]\n"
            + body + "}\n")


@pytest.mark.parametrize("m,n,k", [(16, 8, 32), (64, 64, 64), (100, 70, 75),
                                   (130, 130, 33), (3, 10, 33), (1, 7, 4)])
@pytest.mark.parametrize("requantize", [False, True])
def test_int8_matmul_kernels_on_the_cpu(tmp_path, m, n, k, requantize):
    """The tensor-core kernel (64x64 tiles, 4 warps, mma.sync fragments)
    and the dp4a kernel (m < 16), emulated on the CPU, against numpy and
    the CPU program: whole tiles, partial tiles in every dimension, and the
    requantization fused as the epilogue."""
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    bias = rng.integers(-5000, 5000, (n,)).astype(np.int32)
    text = matmul_program(m, n, k, requantize)
    cpu, emulated = compile_both(text, tmp_path, "mm", ["--gpu-emulate"])
    got = emulated["mm"](a, b, bias)
    np.testing.assert_array_equal(got, cpu["mm"](a, b, bias))
    if not requantize:
        want = a.astype(np.int32) @ b.astype(np.int32) + bias
        np.testing.assert_array_equal(got, want)


def test_resnet18_through_the_gpu_kernels_on_the_cpu(tmp_path):
    """A real network's integer program (torchvision's ResNet-18 at 64x64,
    batch 2, as bench/gpu_prepare.py builds it for the GPU check): every
    convolution and the classifier on the tensor-core kernel, emulated, give
    the CPU program's bits."""
    pytest.importorskip("torchvision")
    sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
    import gpu_prepare
    text = gpu_prepare.resnet18_int8(str(tmp_path), batch=2, size=64)
    cpu, emulated = compile_both(text, tmp_path, "resnet18",
                                 ["--gpu-emulate"])
    x = np.random.default_rng(5).standard_normal((2, 3, 64, 64)).astype(
        np.float32)
    want = cpu["net"](x)
    assert np.abs(want).max() > 0
    np.testing.assert_array_equal(emulated["net"](x), want)


def test_mapped_float_program_matches(programs, tmp_path):
    text, params = programs["cnn_float"]
    cpu, mapped = compile_both(text, tmp_path, "cnn_float", ["--gpu-emulate"])
    entry = cpu["cnn"]
    x = inputs_for(entry)[0]
    args = [x if a.name == "image" else params[a.name] for a in entry.args]
    np.testing.assert_allclose(mapped["cnn"](*args), entry(*args), rtol=1e-5,
                               atol=1e-5)


def test_gpu_library_without_a_gpu_reports_unavailable(programs, tmp_path):
    text = programs["mlp_int8"]
    library = pipeline.compile_library(text, str(tmp_path / "libmlp_gpu.so"),
                                       ["--target=nvptx"])
    model = Model(library)
    assert model.device == "cuda"
    if model.unavailable is None:
        pytest.skip("a GPU is present: test_on_the_gpu covers this library")
    assert "has GPU code, but there is no CUDA" in model.unavailable
    entry = model[workflow.forward_function(text)]
    # Argument errors still come first, then the missing GPU.
    with pytest.raises(QatError) as bad:
        entry(np.zeros((1,), np.float32))
    assert bad.value.code == 3
    with pytest.raises(QatError) as err:
        entry(*inputs_for(entry))
    assert err.value.code == 14 and "no CUDA" in str(err.value)

    if os.path.exists(STUB):
        # CUDA's stub driver loads but has no device.
        script = ("from qat.runtime import Model; "
                  f"print(Model({library!r}).unavailable)")
        out = subprocess.run([sys.executable, "-c", script], text=True,
                             capture_output=True, check=True,
                             env=dict(os.environ, QAT_CUDA_LIBRARY=STUB,
                                      PYTHONPATH=os.path.join(HERE, "..")))
        assert "no CUDA device" in out.stdout, out


@pytest.mark.parametrize("name", ["mlp_int8", "cnn_int8", "mlp4_int8"])
def test_on_the_gpu(programs, tmp_path, name):
    """On a GPU: the integer programs' bits are the CPU's."""
    text = programs[name]
    cpu, gpu = compile_both(text, tmp_path, name, ["--gpu-arch=sm_90"])
    if gpu.unavailable:
        pytest.skip(f"no GPU to run on: {gpu.unavailable}")
    function = workflow.forward_function(text)
    for seed in range(3):
        args = inputs_for(cpu[function], seed)
        np.testing.assert_array_equal(gpu[function](*args),
                                      cpu[function](*args))


def test_mapped_train_step_is_bit_identical(programs, tmp_path):
    """The generated training step (forward, loss, LSQ gradients, SGD) of
    the instrumented MLP through the GPU mapping: every result's bits."""
    text, _ = programs["mlp_float"]
    program = pipeline.run(workflow.instrument(text), "qat-train-pipeline")
    cpu, mapped = compile_both(program, tmp_path, "mlp_train",
                               ["--gpu-emulate"])
    entry = cpu.train_step
    rng = np.random.default_rng(3)
    args = [rng.integers(0, 10, a.shape).astype(a.dtype)
            if a.dtype != np.float32 else
            np.asarray(rng.random(a.shape) * 0.5 + 0.01, np.float32)
            for a in entry.args]
    for want, got in zip(entry(*args), mapped.train_step(*args)):
        np.testing.assert_array_equal(got, want)
