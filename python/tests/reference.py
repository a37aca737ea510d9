"""numpy reference semantics of the qat ops the tests need, written from
docs/Semantics.md (independent of the compiler's own implementation)."""

import numpy as np

F32 = np.float32
EPS = F32(1.1920928955078125e-07)


def quant_range(bits, signed, narrow=False):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (
        0, (1 << bits) - 1)
    return lo + int(narrow), hi


def fake_quant(x, scale, zero_point, bits, signed, narrow=False, axis=None):
    """qat.fake_quant with half-to-even rounding: one binary32 division."""
    lo, hi = quant_range(bits, signed, narrow)
    x = np.asarray(x, dtype=F32)
    scale = np.asarray(scale, dtype=F32)
    zero = np.clip(np.rint(np.asarray(zero_point).astype(F32)), lo, hi)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero = zero.reshape(shape)
    q = np.clip(np.rint(x / scale) + zero, lo, hi).astype(F32)
    return ((q - zero) * scale).astype(F32)


def choose_qparams(lo, hi, bits, signed, narrow=False, symmetric=False):
    """qat.choose_qparams (PyTorch MinMaxObserver)."""
    qmin, qmax = quant_range(bits, signed, narrow)
    lo = np.minimum(np.asarray(lo, dtype=F32), F32(0))
    hi = np.maximum(np.asarray(hi, dtype=F32), F32(0))
    if symmetric:
        scale = np.maximum(-lo, hi) / F32((qmax - qmin) / 2)
        scale = np.maximum(scale, EPS).astype(F32)
        zero = np.full(scale.shape, 0 if qmin < 0 else (qmin + qmax + 1) // 2)
    else:
        scale = np.maximum((hi - lo) / F32(qmax - qmin), EPS).astype(F32)
        zero = np.clip(qmin - np.rint(lo / scale), qmin, qmax)
    return scale, zero.astype(np.int32)


def conv_nhwc_hwcf(x, w, stride=1):
    """Valid convolution, NHWC input, HWCF filter."""
    kh, kw, _, f = w.shape
    n, h, wd, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, oh, ow, f), dtype=F32)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
            out += np.einsum("nhwc,cf->nhwf", patch, w[i, j]).astype(F32)
    return out


def depthwise_nhwc_hwc(x, w):
    kh, kw, _ = w.shape
    n, h, wd, c = x.shape
    oh, ow = h - kh + 1, wd - kw + 1
    out = np.zeros((n, oh, ow, c), dtype=F32)
    for i in range(kh):
        for j in range(kw):
            out += x[:, i:i + oh, j:j + ow, :] * w[i, j]
    return out


def max_pool_2x2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def pad_hw(x, p=1):
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
