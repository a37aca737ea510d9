"""qat-compile + the runtime from Python, against numpy references."""

import os

import numpy as np
import pytest

from qat.runtime import Model, QatError

MLP = """
func.func @mlp(%x: tensor<?x16xf32> {qat.name = "x"}, %w1: tensor<16x32xf32>,
               %b1: tensor<32xf32>, %w2: tensor<32x10xf32>) -> tensor<8x10xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %x8 = tensor.extract_slice %x[0, 0] [8, 16] [1, 1] : tensor<?x16xf32> to tensor<8x16xf32>
  %e1 = tensor.empty() : tensor<8x32xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = linalg.matmul ins(%x8, %w1 : tensor<8x16xf32>, tensor<16x32xf32>) outs(%z1 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %hr = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%h, %b1 : tensor<8x32xf32>, tensor<32xf32>) outs(%e1 : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<8x32xf32>
  %e2 = tensor.empty() : tensor<8x10xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x10xf32>) -> tensor<8x10xf32>
  %y = linalg.matmul ins(%hr, %w2 : tensor<8x32xf32>, tensor<32x10xf32>) outs(%z2 : tensor<8x10xf32>) -> tensor<8x10xf32>
  return %y : tensor<8x10xf32>
}
"""

CONV = """
func.func @conv_pool(%x: tensor<2x8x8x1xf32>, %w: tensor<3x3x1x4xf32>) -> tensor<2x3x3x4xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<2x6x6x4xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<2x8x8x1xf32>, tensor<3x3x1x4xf32>) outs(%z : tensor<2x6x6x4xf32>) -> tensor<2x6x6x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c : tensor<2x6x6x4xf32>) outs(%e : tensor<2x6x6x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x6x6x4xf32>
  %window = tensor.empty() : tensor<2x2xf32>
  %pe = tensor.empty() : tensor<2x3x3x4xf32>
  %pi = linalg.fill ins(%ninf : f32) outs(%pe : tensor<2x3x3x4xf32>) -> tensor<2x3x3x4xf32>
  %p = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%r, %window : tensor<2x6x6x4xf32>, tensor<2x2xf32>) outs(%pi : tensor<2x3x3x4xf32>) -> tensor<2x3x3x4xf32>
  return %p : tensor<2x3x3x4xf32>
}
"""

FAKE_QUANT = """
func.func @fq(%w: tensor<16x6xf32>, %s: tensor<6xf32>, %z: tensor<6xi32>) -> tensor<16x6xf32> {
  %y = qat.fake_quant %w, %s, %z {axis = 1 : i64, num_bits = 4 : i64} : tensor<16x6xf32>, tensor<6xf32>, tensor<6xi32>
  return %y : tensor<16x6xf32>
}
"""

QMATMUL = """
func.func @qmatmul(%a: tensor<8x32xi8>, %b: tensor<32x16xi8>) -> tensor<8x16xi8> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<8x16xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<8x16xi32>) -> tensor<8x16xi32>
  %acc = linalg.matmul ins(%a, %b : tensor<8x32xi8>, tensor<32x16xi8>) outs(%z : tensor<8x16xi32>) -> tensor<8x16xi32>
  %q = qat.requantize %acc {multiplier = array<i32: 1374389535>, shift = array<i32: 39>,
                            output_zero_point = -7 : i32, quant_min = -7 : i64} : tensor<8x16xi32> -> tensor<8x16xi8>
  return %q : tensor<8x16xi8>
}
"""


def _matmul_mlir(m, k, n, dtype="i8", constant_b=None):
    """C = A x B as one linalg.matmul: f32, or i8 x i8 -> i32."""
    inp, acc, zero = ("f32", "f32", "0.0") if dtype == "f32" else ("i8", "i32",
                                                                    "0")
    if constant_b is None:
        b_arg, b_def = f", %b: tensor<{k}x{n}x{inp}>", ""
    else:
        data = "0x" + constant_b.tobytes().hex().upper()
        b_arg = ""
        b_def = f'%b = arith.constant dense<"{data}"> : tensor<{k}x{n}x{inp}>'
    return f"""
func.func @mm(%a: tensor<{m}x{k}x{inp}>{b_arg}) -> tensor<{m}x{n}x{acc}> {{
  {b_def}
  %zero = arith.constant {zero} : {acc}
  %e = tensor.empty() : tensor<{m}x{n}x{acc}>
  %z = linalg.fill ins(%zero : {acc}) outs(%e : tensor<{m}x{n}x{acc}>) -> tensor<{m}x{n}x{acc}>
  %c = linalg.matmul ins(%a, %b : tensor<{m}x{k}x{inp}>, tensor<{k}x{n}x{inp}>)
                     outs(%z : tensor<{m}x{n}x{acc}>) -> tensor<{m}x{n}x{acc}>
  return %c : tensor<{m}x{n}x{acc}>
}}
"""


def test_float_mlp_matches_numpy(compile_mlir):
    model = compile_mlir(MLP)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16), dtype=np.float32)
    w1 = rng.standard_normal((16, 32), dtype=np.float32)
    b1 = rng.standard_normal(32, dtype=np.float32)
    w2 = rng.standard_normal((32, 10), dtype=np.float32)
    expected = np.maximum(x @ w1 + b1, 0) @ w2
    np.testing.assert_allclose(model.mlp(x, w1, b1, w2), expected,
                               rtol=1e-5, atol=1e-5)
    # The dynamic batch dimension accepts more rows.
    x12 = np.concatenate([x, x[:4]])
    np.testing.assert_allclose(model.mlp(x12, w1, b1, w2), expected,
                               rtol=1e-5, atol=1e-5)


def test_conv_and_pooling_match_numpy(compile_mlir):
    model = compile_mlir(CONV)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 1), dtype=np.float32)
    w = rng.standard_normal((3, 3, 1, 4), dtype=np.float32)
    conv = np.zeros((2, 6, 6, 4), dtype=np.float32)
    for i in range(3):
        for j in range(3):
            conv += np.einsum("nhwc,cf->nhwf", x[:, i:i + 6, j:j + 6, :],
                              w[i, j])
    relu = np.maximum(conv, 0)
    pooled = relu.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4))
    np.testing.assert_allclose(model.conv_pool(x, w), pooled, rtol=1e-5,
                               atol=1e-5)


def test_fake_quant_matches_numpy_bit_for_bit(compile_mlir):
    model = compile_mlir(FAKE_QUANT)
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((16, 6)) * 2).astype(np.float32)
    w[0, :] = [0.25, -0.75, 1.25, 0.0, 100.0, -100.0]  # ties, saturation
    s = np.array([0.5, 0.5, 0.5, 0.013, 0.3, 0.3], dtype=np.float32)
    z = np.array([0, 1, -2, 3, 0, 0], dtype=np.int32)
    # numpy: binary32 division, rint rounds half to even, int4 [-8, 7].
    q = np.clip(np.rint(w / s) + z.astype(np.float32), -8, 7)
    expected = ((q - z) * s).astype(np.float32)
    np.testing.assert_array_equal(model.fq(w, s, z), expected)


def test_int8_matmul_and_requantize_match_numpy(compile_mlir):
    model = compile_mlir(QMATMUL)
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (8, 32), dtype=np.int8)
    b = rng.integers(-128, 128, (32, 16), dtype=np.int8)
    acc = a.astype(np.int64) @ b.astype(np.int64)
    # round(acc * 1374389535 / 2^39), ties to even, exactly in int64/object.
    num = acc.astype(object) * 1374389535
    den = 2 ** 39
    floor = np.vectorize(lambda v: v // den)(num)
    rem = num - floor * den
    up = (2 * rem > den) | ((2 * rem == den) & (floor % 2 == 1))
    rounded = (floor + up).astype(np.int64)
    expected = np.clip(rounded - 7, -7, 127).astype(np.int8)
    np.testing.assert_array_equal(model.qmatmul(a, b), expected)
    # uint8 data is accepted for signless i8 (same bits).
    np.testing.assert_array_equal(model.qmatmul(a.view(np.uint8), b), expected)


# (multiplier, shift) per channel for test_requantize_rounds_exactly: shifts
# 33 to 63 (the high-word form, which needs every shift >= 33), odd
# multipliers and ones with many trailing zeros (exact ties in int32); with
# shifts 31 and 32 added, the whole op takes the 64-bit form.
HIGH_WORD_CHANNELS = [
    (1073741824, 33), (1610612736, 40), (1759218605, 41), (2147483647, 63),
    (1342177280, 47), (1073741825, 34), (1, 33), (1879048192, 50),
    (1200000000, 38), (1476395008, 45), (2000000000, 62), (1090519040, 36),
    (1431655765, 39), (1073741824, 63)]
WIDE_CHANNELS = HIGH_WORD_CHANNELS + [(1073741824, 31), (1717986918, 32)]


@pytest.mark.parametrize("channels", [HIGH_WORD_CHANNELS, WIDE_CHANNELS],
                         ids=["high_word", "wide"])
def test_requantize_rounds_exactly(compile_mlir, qat_opt, channels):
    """qat.requantize per channel in both additive rounding modes against
    exact integer arithmetic, on random accumulators (full int32 range and
    small), the int32 extremes, and every channel's exact ties and their
    neighbours, in each of its two lowered forms."""
    multipliers = ", ".join(str(m) for m, _ in channels)
    shifts = ", ".join(str(s) for _, s in channels)
    c = len(channels)
    rng = np.random.default_rng(11)
    rows = [rng.integers(-2**31, 2**31, (2048, c)),
            rng.integers(-5000, 5000, (2048, c)),
            np.array([[-2**31] * c, [2**31 - 1] * c, [0] * c])]
    # Ties: acc * m = 2^(s-1) * odd, i.e. acc = 2^(s-1-z) * (odd multiples
    # of m's odd part) / m's odd part, z = m's trailing zeros.
    ties = np.zeros((3 * 16, c), np.int64)
    for j, (m, s) in enumerate(channels):
        z = (m & -m).bit_length() - 1
        step = 2 ** (s - 1 - z) if s - 1 - z >= 0 else 0
        for i in range(16):
            tie = step * (2 * i - 15) if step < 2**27 else 0
            ties[3 * i:3 * i + 3, j] = [tie - 1, tie, tie + 1]
    rows.append(ties)
    acc = np.clip(np.concatenate(rows), -2**31, 2**31 - 1).astype(np.int32)
    n = acc.shape[0]
    functions = "".join(f"""
func.func @{mode}(%acc: tensor<{n}x{c}xi32>) -> tensor<{n}x{c}xi32> {{
  %q = qat.requantize %acc {{axis = 1 : i64, multiplier = array<i32: {multipliers}>,
                            shift = array<i32: {shifts}>, num_bits = 32 : i64,
                            rounding = #qat<rounding {mode}>}}
      : tensor<{n}x{c}xi32> -> tensor<{n}x{c}xi32>
  return %q : tensor<{n}x{c}xi32>
}}
""" for mode in ("half_to_even", "half_up"))
    lowered = qat_opt(functions, "--convert-qat-to-linalg")
    assert ("arith.mulsi_extended" in lowered) == (channels is HIGH_WORD_CHANNELS)
    model = compile_mlir(functions)

    def exact(v, m, s, even):
        q, r = divmod(v * m, 2 ** s)
        half = 2 ** (s - 1)
        q += r > half or (r == half and (q % 2 == 1 if even else True))
        return max(-2**31, min(2**31 - 1, q))

    for mode in ("half_to_even", "half_up"):
        even = mode == "half_to_even"
        expected = np.array(
            [[exact(int(v), m, s, even)
              for v, (m, s) in zip(row, channels)] for row in acc],
            dtype=np.int32)
        np.testing.assert_array_equal(getattr(model, mode)(acc), expected)


def test_bare_file_name_is_a_file_in_the_current_directory(
        compile_mlir, tmp_path, monkeypatch):
    compile_mlir(MLP, name="local")
    monkeypatch.chdir(tmp_path)
    with Model("liblocal.so") as model:
        assert "mlp" in model.entries


def test_signature_listing(compile_mlir):
    model = compile_mlir(MLP)
    entry = model.entries["mlp"]
    assert entry.args[0].name == "x"
    assert entry.args[0].shape == (None, 16)
    assert entry.args[0].dtype == np.float32
    assert entry.results[0].shape == (8, 10)
    assert "mlp(x: float32[?x16]" in repr(entry)


def test_bad_calls_raise_with_the_runtime_message(compile_mlir):
    model = compile_mlir(MLP)
    x = np.zeros((8, 16), np.float32)
    w1 = np.zeros((16, 32), np.float32)
    b1 = np.zeros(32, np.float32)
    w2 = np.zeros((32, 10), np.float32)
    with pytest.raises(QatError, match="'mlp' takes 4 arguments, got 3") as e:
        model.mlp(x, w1, b1)
    assert e.value.code == 3
    with pytest.raises(QatError, match="expected dtype f32, got f64"):
        model.mlp(x.astype(np.float64), w1, b1, w2)
    with pytest.raises(QatError, match=r"expected shape \[16x32\], got \[32x16\]"):
        model.mlp(x, w1.T, b1, w2)
    with pytest.raises(TypeError, match="complex64 has no runtime equivalent"):
        model.mlp(x.astype(np.complex64), w1, b1, w2)
    with pytest.raises(AttributeError, match="no entry point 'nope'"):
        model.nope
    with pytest.raises(QatError, match="cannot load") as e:
        Model("/nonexistent/libmodel.so")
    assert e.value.code == 5
    # A NUL would end the C string early and open another file.
    with pytest.raises(QatError, match="a path with a NUL character") as e:
        Model(model.path + "\0.ignored")
    assert e.value.code == 3
    model.close()
    with pytest.raises(QatError, match="closed"):
        model.entries["mlp"](x, w1, b1, w2)


def test_fast_and_checked_paths_agree(compile_mlir):
    """Exact C-ordered arrays take qat_entry_invoke_static (raw buffers);
    views, Fortran order and read-only arrays take the checked path: the
    same numbers either way, against numpy."""
    model = compile_mlir(MLP)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w1 = rng.standard_normal((16, 32)).astype(np.float32)
    b1 = rng.standard_normal(32).astype(np.float32)
    w2 = rng.standard_normal((32, 10)).astype(np.float32)
    want = np.maximum(x @ w1 + b1, 0) @ w2
    fast = model.mlp(x, w1, b1, w2)
    np.testing.assert_allclose(fast, want, rtol=1e-5, atol=1e-5)
    fortran = np.asfortranarray(w1)
    wide = np.zeros((16, 64), np.float32)
    wide[:, ::2] = w1  # a strided view of the same values
    frozen = x.copy()
    frozen.setflags(write=False)
    for args in ((x, fortran, b1, w2), (x, wide[:, ::2], b1, w2),
                 (frozen, w1, b1, w2)):
        np.testing.assert_array_equal(model.mlp(*args), fast)
    # A wrong argument still gets the checked path's precise message.
    with pytest.raises(QatError, match=r"expected shape \[16x32\], got "
                                       r"\[16x31\]"):
        model.mlp(x, w1[:, :31], b1, w2)


@pytest.mark.parametrize("m,k,n", [(13, 29, 37), (1, 784, 10), (8, 3, 32),
                                   (17, 1, 5), (11, 40, 16), (9, 20, 6),
                                   (21, 150, 1), (13, 64, 3), (10, 100, 7)])
def test_vectorized_matmul_edges_match_numpy(compile_mlir, m, k, n):
    # Shapes that leave partial row blocks and masked column blocks; narrow
    # panels (16 and 8 lanes); dot products for fewer than 8 columns (k a
    # multiple of 16 or not, groups of rows that do not divide a strip).
    text = _matmul_mlir(m, k, n, dtype="f32")
    model = compile_mlir(text, name=f"mm{m}_{k}_{n}")
    rng = np.random.default_rng(m * 1000 + n)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(model.mm(a, b), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m,k,n", [(13, 30, 37), (1, 784, 10), (8, 64, 32),
                                   (5, 3, 17), (16, 256, 48)])
def test_int8_matmul_matches_numpy_exactly(compile_mlir, m, k, n):
    # On CPUs with AVX-512 VNNI this runs the vpdpbusd kernels (A biased by
    # 128 and corrected with B's column sums); the result must be exact.
    rng = np.random.default_rng(m + 7 * k + 31 * n)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    a[0, :] = -128  # the extremes, where the bias matters most
    b[:, 0] = -128
    expected = a.astype(np.int32) @ b.astype(np.int32)
    model = compile_mlir(_matmul_mlir(m, k, n), name=f"q{m}_{k}_{n}")
    np.testing.assert_array_equal(model.mm(a, b), expected)
    # The same with B as a constant (packed at compile time).
    frozen = compile_mlir(_matmul_mlir(m, k, n, constant_b=b),
                          name=f"qc{m}_{k}_{n}")
    np.testing.assert_array_equal(frozen.mm(a), expected)


def _has_vnni():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512_vnni" in f.read()
    except OSError:
        return False


def _pruned_int8(rng, k, n, pattern):
    """Random int8 B[k][n] pruned in the layout the VNNI kernel packs:
    "blocks" zeroes 75% of the 4x16 tiles (4 consecutive k of 16 columns),
    "2:4"/"1:4" keep 2/1 of every 4 consecutive k per column, "unstructured"
    zeroes 75% of the weights anywhere (no whole tile: stays dense), "zero"
    all of them."""
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    b[b == 0] = 1
    if pattern == "blocks":
        tiles = rng.random(((k + 3) // 4, (n + 15) // 16)) < 0.75
        for (i, j) in zip(*np.nonzero(tiles)):
            b[4 * i:4 * i + 4, 16 * j:16 * j + 16] = 0
    elif pattern in ("2:4", "1:4"):
        keep = int(pattern[0])
        for g in range(0, k, 4):
            for j in range(n):
                size = min(4, k - g)
                drop = rng.permutation(size)[:max(size - keep, 0)]
                b[g + drop, j] = 0
    elif pattern == "zero":
        b[:] = 0
    else:
        b[rng.random((k, n)) < 0.75] = 0
    return b


@pytest.mark.parametrize("pattern", ["blocks", "2:4", "1:4", "unstructured",
                                     "zero"])
@pytest.mark.parametrize("m,k,n", [(13, 72, 40), (9, 512, 256)])
def test_sparse_int8_weights_match_dense_and_numpy(compile_mlir, pattern, m,
                                                   k, n):
    # Pruned constant weights are stored compressed and, when enough 4x16
    # tiles are zero, multiplied by the block-sparse kernel: the results must
    # equal numpy's and the dense kernel's bit for bit, and compression must
    # shrink the library by the bytes it saves.
    rng = np.random.default_rng(k + n)
    b = _pruned_int8(rng, k, n, pattern)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    a[0, :] = -128
    expected = a.astype(np.int32) @ b.astype(np.int32)
    text = _matmul_mlir(m, k, n, constant_b=b)
    name = f"sp{pattern[0]}{m}_{k}_{n}"
    sparse = compile_mlir(text, name=name)
    dense = compile_mlir(text, name=name + "d", flags=["--sparse-weights=false"])
    np.testing.assert_array_equal(sparse.mm(a), expected)
    np.testing.assert_array_equal(dense.mm(a), expected)
    if k * n < 65536 or not _has_vnni():
        return
    saved = os.path.getsize(dense.path) - os.path.getsize(sparse.path)
    # Blocks keep 25% of the tiles, 2:4 62.5% and 1:4 31% of the bytes.
    expect = {"blocks": 0.6, "2:4": 0.3, "1:4": 0.6, "unstructured": None,
              "zero": 0.9}
    if expect[pattern] is None:
        assert abs(saved) < 0.05 * k * n, saved
    else:
        assert saved > expect[pattern] * k * n, (saved, k * n)


def _packed_matmul_mlir(m, k, n, codes, bits=4):
    """C = A x B with B's `bits`-bit codes stored 8 / bits per byte (the
    first code in the lowest bits) and unpacked at run time, as
    qat-convert-to-integer's pack-int4 writes them."""
    per = 8 // bits
    packed = np.zeros((k, n // per), np.uint8)
    for h in range(per):
        packed |= ((codes[:, h::per].astype(np.uint8) & ((1 << bits) - 1))
                   << (h * bits)).astype(np.uint8)
    data = "0x" + packed.tobytes().hex().upper()
    h = n // per
    return f"""
func.func @mm(%a: tensor<{m}x{k}xi8>) -> tensor<{m}x{n}xi32> {{
  %p = arith.constant dense<"{data}"> : tensor<{k}x{h}xi8>
  %e = tensor.empty() : tensor<{k}x{h}x{per}xi8>
  %u = linalg.generic {{indexing_maps = [affine_map<(i, j, s) -> (i, j)>,
                                        affine_map<(i, j, s) -> (i, j, s)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}}
      ins(%p : tensor<{k}x{h}xi8>) outs(%e : tensor<{k}x{h}x{per}xi8>)
      attrs = {{qat.unpack_codes}} {{
  ^bb0(%byte: i8, %o: i8):
    %s = linalg.index 2 : index
    %si = arith.index_cast %s : index to i8
    %w = arith.constant {bits} : i8
    %rest = arith.constant {8 - bits} : i8
    %sf = arith.muli %si, %w : i8
    %up = arith.subi %rest, %sf : i8
    %top = arith.shli %byte, %up : i8
    %v = arith.shrsi %top, %rest : i8
    linalg.yield %v : i8
  }} -> tensor<{k}x{h}x{per}xi8>
  %b = tensor.collapse_shape %u [[0], [1, 2]] : tensor<{k}x{h}x{per}xi8> into tensor<{k}x{n}xi8>
  %zero = arith.constant 0 : i32
  %ce = tensor.empty() : tensor<{m}x{n}xi32>
  %z = linalg.fill ins(%zero : i32) outs(%ce : tensor<{m}x{n}xi32>) -> tensor<{m}x{n}xi32>
  %c = linalg.matmul ins(%a, %b : tensor<{m}x{k}xi8>, tensor<{k}x{n}xi8>)
                     outs(%z : tensor<{m}x{n}xi32>) -> tensor<{m}x{n}xi32>
  return %c : tensor<{m}x{n}xi32>
}}
"""


@pytest.mark.parametrize("bits", [4, 2])
def test_block_sparse_packed_weights_match_numpy(compile_mlir, bits):
    # 4- and 2-bit codes with 75% zero 4x16 tiles: the kept tiles stay
    # packed (two or four codes per byte) and the block-sparse kernel walks
    # them; the dense kernel unpacks every tile; exact either way.
    m, k, n = 11, 96, 64
    rng = np.random.default_rng(4)
    b = _pruned_int8(rng, k, n, "blocks")
    half = 1 << (bits - 1)
    b = np.clip(b, -half, half - 1).astype(np.int8)
    assert len(np.unique(b)) == 2 * half  # every code occurs
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    expected = a.astype(np.int32) @ b.astype(np.int32)
    text = _packed_matmul_mlir(m, k, n, b, bits)
    sparse = compile_mlir(text, name=f"int{bits}_blocks")
    dense = compile_mlir(text, name=f"int{bits}_dense",
                         flags=["--sparse-weights=false"])
    np.testing.assert_array_equal(sparse.mm(a), expected)
    np.testing.assert_array_equal(dense.mm(a), expected)


def _conv_reference(x, w, stride, dilation, dtype=np.int64):
    """NHWC x HWCF convolution in int64 (exact for integers) or `dtype`."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh = (h - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, oh, ow, f), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dilation:i * dilation + stride * (oh - 1) + 1:stride,
                      j * dilation:j * dilation + stride * (ow - 1) + 1:stride, :]
            out += np.einsum("nhwc,cf->nhwf", patch.astype(dtype),
                             w[i, j].astype(dtype))
    return out


def _float_conv_program(input_shape, cout, stride, dilation, output_shape,
                        weights=None):
    """@conv: a 3x3 f32 linalg.conv_2d_nhwc_hwcf of an `input_shape` NHWC
    input with `cout` output channels, from zero; its HWCF weights an
    argument %w, or `weights` as a constant."""
    cin = input_shape[3]
    xt = "tensor<{}xf32>".format("x".join(map(str, input_shape)))
    wt = f"tensor<3x3x{cin}x{cout}xf32>"
    out = "tensor<{}xf32>".format("x".join(map(str, output_shape)))
    head = f", %w: {wt}" if weights is None else ""
    constant = "" if weights is None else (
        f'  %w = arith.constant dense<"0x{weights.astype("<f4").tobytes().hex()}"'
        f"> : {wt}\n")
    return f"""
func.func @conv(%x: {xt}{head}) -> {out} {{
{constant}  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : {out}
  %z = linalg.fill ins(%zero : f32) outs(%e : {out}) -> {out}
  %c = linalg.conv_2d_nhwc_hwcf {{dilations = dense<{dilation}> : tensor<2xi64>,
                                  strides = dense<{stride}> : tensor<2xi64>}}
      ins(%x, %w : {xt}, {wt}) outs(%z : {out}) -> {out}
  return %c : {out}
}}
"""


@pytest.mark.parametrize("cin,cout,stride,dilation", [
    (1, 16, 1, 1), (16, 1, 1, 1), (16, 3, 2, 1), (3, 40, 1, 2), (32, 16, 1, 1)])
def test_float_conv_matches_numpy(compile_mlir, cin, cout, stride, dilation):
    # Runtime weights (as in training): the matmul and its im2col go into
    # one kernel, which reads the input in place (implicit GEMM): row
    # kernels with 32-, 16- or 8-lane panels, and dot products over groups
    # of 16 channels for fewer than 8 output channels.
    rng = np.random.default_rng(cin * 100 + cout)
    x = rng.standard_normal((3, 9, 11, cin), dtype=np.float32)
    w = rng.standard_normal((3, 3, cin, cout), dtype=np.float32)
    expected = _conv_reference(x.astype(np.float64), w.astype(np.float64),
                               stride, dilation, np.float64)
    text = _float_conv_program(x.shape, cout, stride, dilation,
                               expected.shape)
    model = compile_mlir(text, name=f"fconv{cin}_{cout}_{stride}{dilation}")
    np.testing.assert_allclose(model.conv(x, w), expected, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("cin,cout,stride,dilation", [
    (16, 40, 1, 1), (3, 40, 1, 2), (32, 16, 2, 1), (8, 96, 1, 1)])
def test_float_conv_constant_weights_are_packed(compile_mlir, cin, cout,
                                                stride, dilation):
    # Frozen weights (deployment): qat-vectorize-matmul stores B panel by
    # panel at compile time (40 columns: a 32-lane panel and a zero-padded
    # one). The same reductions in the same order as with the weights read
    # in place: equal bit for bit to the program taking them as an
    # argument, and to numpy within rounding.
    rng = np.random.default_rng(cin * 7 + cout)
    x = rng.standard_normal((2, 9, 11, cin), dtype=np.float32)
    w = rng.standard_normal((3, 3, cin, cout), dtype=np.float32)
    expected = _conv_reference(x.astype(np.float64), w.astype(np.float64),
                               stride, dilation, np.float64)
    name = f"pconv{cin}_{cout}_{stride}{dilation}"
    frozen = compile_mlir(_float_conv_program(
        x.shape, cout, stride, dilation, expected.shape, w), name=name).conv(x)
    runtime = compile_mlir(_float_conv_program(
        x.shape, cout, stride, dilation, expected.shape),
        name=name + "_arg").conv(x, w)
    np.testing.assert_array_equal(frozen, runtime)
    np.testing.assert_allclose(frozen, expected, rtol=1e-4, atol=1e-4)


def _depthwise_reference(x, w, bias, stride, dilation):
    """NHWC x HWC depthwise convolution from `bias`, the taps added in the
    named op's order (kh, then kw) in the inputs' own arithmetic: int32
    for int8 (exact), float32 rounding each product and sum for f32."""
    n, h, wd, c = x.shape
    kh, kw, _ = w.shape
    oh = (h - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd - dilation * (kw - 1) - 1) // stride + 1
    acc = x.dtype if x.dtype == np.float32 else np.int32
    out = np.broadcast_to(bias.astype(acc), (n, oh, ow, c)).copy()
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dilation:i * dilation + stride * (oh - 1) + 1:stride,
                      j * dilation:j * dilation + stride * (ow - 1) + 1:stride, :]
            out = out + patch.astype(acc) * w[i, j].astype(acc)
    return out


@pytest.mark.parametrize("dtype,channels,stride,dilation,batch,epilogue", [
    ("i8", 32, 1, 1, 1, True), ("i8", 40, 2, 1, 2, True),
    ("i8", 24, 1, 2, 1, False), ("i8", 48, 1, 1, 4, True),
    ("f32", 32, 1, 1, 1, True), ("f32", 21, 2, 2, 2, False),
    ("f32", 48, 1, 1, 4, True)])
def test_depthwise_conv_matches_numpy(compile_mlir, dtype, channels, stride,
                                      dilation, batch, epilogue):
    # qat-vectorize-depthwise: 16 channels a vector (a masked last block for
    # 40, 24 and 21), 4 pixels a block and the rest one at a time, the bias
    # broadcast as the accumulators' start, the elementwise consumer fused
    # (int8: a per-channel multiply, shift, clamp and truncation, as a
    # requantization; f32: a per-channel scale and ReLU); batch 4 is large
    # enough (> 2^20 multiply-adds) for the parallel rows. The same bits as
    # the taps added in order.
    rng = np.random.default_rng(channels * 10 + stride)
    size = 34 if batch == 4 else 13
    if dtype == "i8":
        x = rng.integers(-128, 128, (batch, size, size, channels), dtype=np.int8)
        w = rng.integers(-128, 128, (3, 3, channels), dtype=np.int8)
        bias = rng.integers(-5000, 5000, channels, dtype=np.int32)
        scale = rng.integers(1, 64, channels, dtype=np.int32)
        acc, zero = "i32", "0"
    else:
        x = rng.standard_normal((batch, size, size, channels), dtype=np.float32)
        w = rng.standard_normal((3, 3, channels), dtype=np.float32)
        bias = rng.standard_normal(channels, dtype=np.float32)
        scale = rng.standard_normal(channels, dtype=np.float32)
        acc, zero = "f32", "0.0"
    y = _depthwise_reference(x, w, bias, stride, dilation)
    oh, ow = y.shape[1:3]
    shape = f"{batch}x{oh}x{ow}x{channels}"
    conv_out = f"tensor<{shape}x{acc}>"
    if not epilogue:
        expected, out, tail = y, conv_out, "return %y : " + conv_out
    elif dtype == "i8":
        expected = np.clip((y * scale) >> 8, -128, 127).astype(np.int8)
        out = f"tensor<{shape}xi8>"
        body = """%p = arith.muli %a, %s : i32
    %c8 = arith.constant 8 : i32
    %r = arith.shrsi %p, %c8 : i32
    %lo = arith.constant -128 : i32
    %hi = arith.constant 127 : i32
    %c = arith.maxsi %r, %lo : i32
    %d = arith.minsi %c, %hi : i32
    %t = arith.trunci %d : i32 to i8
    linalg.yield %t : i8"""
    else:
        expected = np.maximum(y * scale, np.float32(0))
        out = f"tensor<{shape}xf32>"
        body = """%p = arith.mulf %a, %s : f32
    %z = arith.constant 0.0 : f32
    %t = arith.maximumf %p, %z : f32
    linalg.yield %t : f32"""
    if epilogue:
        element = out.split("x")[-1].rstrip(">")
        tail = f"""%o = tensor.empty() : {out}
  %q = linalg.generic {{indexing_maps = [#id, #ch, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%y, %scale : {conv_out}, tensor<{channels}x{acc}>) outs(%o : {out}) {{
  ^bb0(%a: {acc}, %s: {acc}, %out: {element}):
    {body}
  }} -> {out}
  return %q : {out}"""
    text = f"""
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
func.func @dw(%x: tensor<{batch}x{size}x{size}x{channels}x{dtype}>, %w: tensor<3x3x{channels}x{dtype}>,
              %bias: tensor<{channels}x{acc}>, %scale: tensor<{channels}x{acc}>) -> {out} {{
  %e = tensor.empty() : {conv_out}
  %b = linalg.broadcast ins(%bias : tensor<{channels}x{acc}>) outs(%e : {conv_out}) dimensions = [0, 1, 2]
  %y = linalg.depthwise_conv_2d_nhwc_hwc {{dilations = dense<{dilation}> : tensor<2xi64>,
                                          strides = dense<{stride}> : tensor<2xi64>}}
      ins(%x, %w : tensor<{batch}x{size}x{size}x{channels}x{dtype}>, tensor<3x3x{channels}x{dtype}>)
      outs(%b : {conv_out}) -> {conv_out}
  {tail}
}}
"""
    model = compile_mlir(text, name=f"dw{dtype}{channels}{stride}{dilation}{batch}",
                         flags=["--parallel"])
    np.testing.assert_array_equal(model.dw(x, w, bias, scale), expected)


@pytest.mark.parametrize("stride,dilation,constant", [(1, 1, True),
                                                      (2, 1, False),
                                                      (1, 2, True)])
def test_int8_conv_matches_numpy_exactly(compile_mlir, stride, dilation,
                                         constant):
    # Runs as im2col + the int8 matmul kernel (VNNI where the CPU has it).
    rng = np.random.default_rng(stride * 10 + dilation)
    x = rng.integers(-128, 128, (2, 9, 11, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 3, 5, 7), dtype=np.int8)
    expected = _conv_reference(x, w, stride, dilation)
    oh, ow = expected.shape[1:3]
    if constant:
        data = "0x" + w.tobytes().hex().upper()
        w_arg, w_def = "", f'%w = arith.constant dense<"{data}"> : tensor<3x3x5x7xi8>'
    else:
        w_arg, w_def = ", %w: tensor<3x3x5x7xi8>", ""
    out = f"tensor<2x{oh}x{ow}x7xi32>"
    text = f"""
func.func @conv(%x: tensor<2x9x11x5xi8>{w_arg}) -> {out} {{
  {w_def}
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : {out}
  %z = linalg.fill ins(%zero : i32) outs(%e : {out}) -> {out}
  %c = linalg.conv_2d_nhwc_hwcf {{dilations = dense<{dilation}> : tensor<2xi64>,
                                  strides = dense<{stride}> : tensor<2xi64>}}
      ins(%x, %w : tensor<2x9x11x5xi8>, tensor<3x3x5x7xi8>) outs(%z : {out}) -> {out}
  return %c : {out}
}}
"""
    model = compile_mlir(text, name=f"conv{stride}{dilation}{int(constant)}")
    result = model.conv(x) if constant else model.conv(x, w)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", ["f32", "i8"])
def test_parallel_matmuls_match_numpy(compile_mlir, dtype):
    # Large enough to run on OpenMP threads (qat-compile's default), with a
    # partial last strip of rows and masked columns.
    m, k, n = 261, 300, 250
    rng = np.random.default_rng(11)
    if dtype == "f32":
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        text = _matmul_mlir(m, k, n, dtype="f32")
        model = compile_mlir(text, name="pmm_f32")
        np.testing.assert_allclose(model.mm(a, b), a @ b, rtol=1e-4,
                                   atol=1e-3)
    else:
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        model = compile_mlir(_matmul_mlir(m, k, n), name="pmm_i8")
        np.testing.assert_array_equal(
            model.mm(a, b), a.astype(np.int32) @ b.astype(np.int32))


def test_op_coverage_matches_numpy(compile_mlir):
    """batch_matmul, depthwise and NCHW convolutions, pad + sum pooling,
    transpose, reduce, reshape, concat, broadcast, dynamic slices, math,
    softmax, a matmul with transposed B."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "op_coverage.mlir")) as f:
        model = compile_mlir(f.read(), name="ops")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 8, 16), dtype=np.float32)
    b = rng.standard_normal((4, 16, 8), dtype=np.float32)
    np.testing.assert_allclose(model.bmm(a, b), a @ b, rtol=1e-5, atol=1e-5)

    x = rng.standard_normal((1, 10, 10, 8), dtype=np.float32)
    w = rng.standard_normal((3, 3, 8), dtype=np.float32)
    ref = sum(x[:, i:i + 8, j:j + 8, :] * w[i, j]
              for i in range(3) for j in range(3))
    np.testing.assert_allclose(model.dw(x, w), ref, rtol=1e-5, atol=1e-5)

    x = rng.standard_normal((1, 8, 8, 4), dtype=np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(model.pool_pad(x),
                               padded.reshape(1, 5, 2, 5, 2, 4).sum((2, 4)),
                               rtol=1e-5, atol=1e-5)

    x = rng.standard_normal((4, 6), dtype=np.float32)
    y = rng.standard_normal(6, dtype=np.float32)
    t, r, flat, cat, bcast = model.misc(x, y)
    np.testing.assert_array_equal(t, x.T)
    np.testing.assert_allclose(r, x.sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(flat, x.ravel())
    np.testing.assert_array_equal(cat, np.concatenate([x, x]))
    np.testing.assert_array_equal(bcast, np.broadcast_to(y, (4, 6)))

    x = rng.standard_normal((1, 3, 10, 10), dtype=np.float32)
    w = rng.standard_normal((8, 3, 3, 3), dtype=np.float32)
    ref = np.zeros((1, 8, 8, 8), np.float32)
    for i in range(3):
        for j in range(3):
            ref += np.einsum("nchw,fc->nfhw", x[:, :, i:i + 8, j:j + 8],
                             w[:, :, i, j])
    np.testing.assert_allclose(model.nchw(x, w), ref, rtol=1e-4, atol=1e-4)

    a = rng.standard_normal((7, 16), dtype=np.float32)
    b = rng.standard_normal((16, 8), dtype=np.float32)
    np.testing.assert_allclose(model.dynmm(a, b), a[:4] @ b, rtol=1e-5,
                               atol=1e-5)

    x = rng.standard_normal((2, 10), dtype=np.float32)
    np.testing.assert_allclose(model.softmaxish(x), np.tanh(np.exp(x)),
                               rtol=1e-6, atol=1e-6)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(model.softmax(x), e / e.sum(1, keepdims=True),
                               rtol=1e-6, atol=1e-7)

    a = rng.standard_normal((4, 8), dtype=np.float32)
    b = rng.standard_normal((6, 8), dtype=np.float32)
    np.testing.assert_allclose(model.matmul_bt(a, b), a @ b.T, rtol=1e-5,
                               atol=1e-5)


def test_fused_epilogues_match_numpy(compile_mlir):
    # Bias + residual + scale after an f32 matmul, bias + ReLU after an int8
    # one: both are finished in the matmul kernels' registers.
    rng = np.random.default_rng(5)
    text = """
func.func @f32(%x: tensor<13x20xf32>, %w: tensor<20x37xf32>, %bias: tensor<37xf32>,
               %res: tensor<13x37xf32>, %scale: tensor<f32>) -> tensor<13x37xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<13x37xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<13x37xf32>) -> tensor<13x37xf32>
  %m = linalg.matmul ins(%x, %w : tensor<13x20xf32>, tensor<20x37xf32>) outs(%z : tensor<13x37xf32>) -> tensor<13x37xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> ()>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %bias, %res, %scale : tensor<13x37xf32>, tensor<37xf32>, tensor<13x37xf32>, tensor<f32>)
      outs(%e : tensor<13x37xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %s: f32, %o: f32):
    %t = arith.addf %a, %b : f32
    %u = arith.addf %t, %c : f32
    %v = arith.mulf %u, %s : f32
    linalg.yield %v : f32
  } -> tensor<13x37xf32>
  return %r : tensor<13x37xf32>
}

func.func @i8(%a: tensor<9x32xi8>, %b: tensor<32x20xi8>, %bias: tensor<20xi32>) -> tensor<9x20xi32> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<9x20xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<9x20xi32>) -> tensor<9x20xi32>
  %m = linalg.matmul ins(%a, %b : tensor<9x32xi8>, tensor<32x20xi8>) outs(%z : tensor<9x20xi32>) -> tensor<9x20xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %bias : tensor<9x20xi32>, tensor<20xi32>) outs(%e : tensor<9x20xi32>) {
  ^bb0(%x: i32, %y: i32, %o: i32):
    %s = arith.addi %x, %y : i32
    %r = arith.maxsi %s, %zero : i32
    linalg.yield %r : i32
  } -> tensor<9x20xi32>
  return %r : tensor<9x20xi32>
}
"""
    model = compile_mlir(text, name="epilogues")
    x = rng.standard_normal((13, 20), dtype=np.float32)
    w = rng.standard_normal((20, 37), dtype=np.float32)
    bias = rng.standard_normal(37, dtype=np.float32)
    res = rng.standard_normal((13, 37), dtype=np.float32)
    scale = np.array(0.5, dtype=np.float32)
    np.testing.assert_allclose(model.f32(x, w, bias, res, scale),
                               (x @ w + bias + res) * 0.5, rtol=1e-5,
                               atol=1e-5)
    a = rng.integers(-128, 128, (9, 32), dtype=np.int8)
    b = rng.integers(-128, 128, (32, 20), dtype=np.int8)
    ibias = rng.integers(-5000, 5000, 20, dtype=np.int32)
    expected = np.maximum(a.astype(np.int32) @ b.astype(np.int32) + ibias, 0)
    np.testing.assert_array_equal(model.i8(a, b, ibias), expected)


def test_int8_batch_matmul_matches_numpy_exactly(compile_mlir):
    text = """
func.func @bmm(%a: tensor<3x9x20xi8>, %b: tensor<3x20x17xi8>) -> tensor<3x9x17xi32> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<3x9x17xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<3x9x17xi32>) -> tensor<3x9x17xi32>
  %c = linalg.batch_matmul ins(%a, %b : tensor<3x9x20xi8>, tensor<3x20x17xi8>)
                           outs(%z : tensor<3x9x17xi32>) -> tensor<3x9x17xi32>
  return %c : tensor<3x9x17xi32>
}
"""
    model = compile_mlir(text, name="bmm8")
    rng = np.random.default_rng(9)
    a = rng.integers(-128, 128, (3, 9, 20), dtype=np.int8)
    b = rng.integers(-128, 128, (3, 20, 17), dtype=np.int8)
    np.testing.assert_array_equal(model.bmm(a, b),
                                  a.astype(np.int32) @ b.astype(np.int32))


def test_conv_in_batch_chunks_matches_numpy(qat_opt, compile_mlir):
    """A convolution whose im2col matrix exceeds max-im2col-bytes runs as a
    loop over batch chunks, with the same result."""
    from reference import conv_nhwc_hwcf
    text = """
func.func @conv(%x: tensor<6x9x9x3xf32>, %w: tensor<3x3x3x5xf32>) -> tensor<6x4x4x5xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<6x4x4x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<6x4x4x5xf32>) -> tensor<6x4x4x5xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<6x9x9x3xf32>, tensor<3x3x3x5xf32>) outs(%f : tensor<6x4x4x5xf32>) -> tensor<6x4x4x5xf32>
  return %y : tensor<6x4x4x5xf32>
}"""
    # One image's im2col is 16 x 27 x 4 = 1728 bytes: chunks of 2 images.
    chunked = qat_opt(text, "--qat-conv-to-matmul=max-im2col-bytes=4000")
    assert "scf.for" in chunked and "linalg.conv_2d" not in chunked
    model = compile_mlir(chunked, name="conv_chunks")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 9, 9, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(model.conv(x, w), conv_nhwc_hwcf(x, w, 2),
                               rtol=1e-5, atol=1e-5)


BUMP = """
func.func @bump(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      outs(%x : tensor<4xf32>) {
  ^bb0(%o: f32):
    %c = arith.constant 1.0 : f32
    %s = arith.addf %o, %c : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}
"""


def test_entries_never_write_through_their_arguments(compile_mlir, tmp_path):
    """A program that updates an argument in place (outs(%arg)) gets a copy
    at compile time: the caller's array is unchanged, memory mapped
    read-only works, and concurrent calls sharing an input agree."""
    import threading
    model = compile_mlir(BUMP, name="bump")
    x = np.arange(4, dtype=np.float32)
    y = model.bump(x)
    np.testing.assert_array_equal(x, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(y, x + 1)
    # Read-only pages: a write through the argument would be a SIGSEGV, so
    # this runs in a child process.
    script = f"""
import mmap, sys
import numpy as np
sys.path.insert(0, {os.path.join(os.path.dirname(__file__), '..')!r})
from qat.runtime import Model
read_only = mmap.mmap(-1, 16, prot=mmap.PROT_READ)  # zeros
ro = np.frombuffer(read_only, np.float32)
y = Model({model.path!r}).bump(ro)
assert (y == 1).all() and (ro == 0).all(), (y, ro)
print("ok")
"""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "ok" in result.stdout, result
    shared = np.full(4, 5, np.float32)
    outputs = [None] * 8

    def call(i):
        outputs[i] = model.bump(shared)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(o, np.full(4, 6, np.float32)) for o in outputs)
    np.testing.assert_array_equal(shared, np.full(4, 5, np.float32))


BROKEN_SCALES = """
func.func @codes(%x: tensor<30xf32>, %s: tensor<30xf32>) -> tensor<30xi8> {
  %z = arith.constant dense<100> : tensor<30xi32>
  %q = qat.quantize %x, %s, %z {axis = 0 : i64, is_signed = false}
      : tensor<30xf32>, tensor<30xf32>, tensor<30xi32> -> tensor<30xi8>
  return %q : tensor<30xi8>
}
func.func @fq(%x: tensor<30xf32>, %s: tensor<30xf32>) -> tensor<30xf32> {
  %z = arith.constant dense<100> : tensor<30xi32>
  %y = qat.fake_quant %x, %s, %z {axis = 0 : i64, is_signed = false}
      : tensor<30xf32>, tensor<30xf32>, tensor<30xi32>
  return %y : tensor<30xf32>
}
"""


def test_broken_scales_give_the_defined_codes(compile_mlir):
    """Run-time scales of 0, -0, +-inf, NaN and -1 against inputs 0, +-1,
    +-inf and NaN: compiled code gives docs/Semantics.md's definition
    (written here in numpy: a NaN quotient has the zero point's code)."""
    model = compile_mlir(BROKEN_SCALES, name="broken_scales")
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    xs = np.array([0, 1, -1, inf, -inf, nan], np.float32)
    ss = np.array([0, -0.0, inf, -inf, nan], np.float32)
    x, s = (a.ravel() for a in np.meshgrid(xs, ss))
    x, s = x.astype(np.float32), s.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = x / s
        expected = np.where(np.isnan(quotient), 100,
                            np.clip(np.rint(quotient) + 100, 0, 255))
        expected_fq = np.where(np.isnan(x), x,
                               ((expected - 100) * s).astype(np.float32))
    codes = model.codes(x, s).view(np.uint8)
    np.testing.assert_array_equal(codes, expected.astype(np.uint8))
    np.testing.assert_array_equal(model.fq(x, s), expected_fq)
