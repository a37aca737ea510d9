//===- QuantMath.h - Reference quantization arithmetic ----------*- C++ -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//
//
// The one definition of qat-mlir's quantization semantics, in plain C++ with
// no MLIR dependency. docs/Semantics.md states each formula in prose; this
// header is normative. Who uses it:
//  * the `qat` dialect's folders (lib/Dialect/Qat/IR/QatOps.cpp) compute
//    with it, and the op verifiers take their ranges (QuantRange) from it;
//  * the integer converter and the faithful simulation
//    (lib/Conversion/QatToInteger) quantize weights and biases, derive
//    fixed-point multipliers and check accumulator bounds with it at compile
//    time;
//  * packed 2- and 4-bit weights (lib/Utils/PackedCodes.cpp) use its packing,
//    and training (lib/Training) its LSQ gradient scale (lsqGradScale);
//  * `convert-qat-to-linalg` does not call it at run time: it emits IR that
//    computes the same values, and test/Integration compares that IR's
//    results bit for bit with these functions (folded programs);
//  * unittests/Support checks it against hand-derived values, 128-bit
//    references and PyTorch's golden vectors.
// The C runtime has no quantization arithmetic: it only calls compiled code.
//
// All float arithmetic is IEEE-754 binary32 unless stated otherwise.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_SUPPORT_QUANTMATH_H
#define QAT_SUPPORT_QUANTMATH_H

#include <cstdint>
#include <optional>

namespace quantmath {

/// How a real value is rounded to an integer. The numeric values are those of
/// the `qat` dialect's `RoundingMode` enum attribute.
enum class RoundingMode : uint32_t {
  /// Ties go to the even neighbour (IEEE default; PyTorch, ONNX, TensorRT).
  HalfToEven = 0,
  /// Ties go away from zero (C `round`).
  HalfAwayFromZero = 1,
  /// Ties go toward +infinity (floor(v + 1/2), computed without error).
  HalfUp = 2,
  /// Truncation.
  TowardZero = 3,
};

/// Returns the mode's name as spelled in the IR (e.g. "half_to_even").
const char *stringifyRoundingMode(RoundingMode mode);

/// Rounds `v` to an integral float with `mode`. NaN and infinities are
/// returned unchanged. Exact: no intermediate rounding.
float roundToIntegral(float v, RoundingMode mode);

/// The closed integer interval a quantized value may take.
struct QuantRange {
  int64_t qmin = 0;
  int64_t qmax = 0;

  bool contains(int64_t q) const { return q >= qmin && q <= qmax; }
  int64_t clamp(int64_t q) const {
    return q < qmin ? qmin : (q > qmax ? qmax : q);
  }
  bool operator==(const QuantRange &other) const {
    return qmin == other.qmin && qmax == other.qmax;
  }
};

/// Smallest and largest supported bit widths (the ops narrow this: only
/// qat.quantize goes beyond 16 bits, to int32 bias codes).
constexpr unsigned kMinBits = 2;
constexpr unsigned kMaxBits = 32;

/// The range of a `bits`-wide integer: signed [-2^(b-1), 2^(b-1) - 1] or
/// unsigned [0, 2^b - 1]; `narrowRange` raises qmin by one (so a signed range
/// is symmetric). Returns std::nullopt when bits is outside [2, 16].
std::optional<QuantRange> getQuantRange(unsigned bits, bool isSigned,
                                        bool narrowRange);

/// The zero point actually used by every op: a float zero point is rounded
/// half-to-even, then either kind is clamped to [qmin, qmax]. A NaN zero point
/// becomes qmin.
int64_t normalizeZeroPoint(float zeroPoint, QuantRange range);
int64_t normalizeZeroPoint(int64_t zeroPoint, QuantRange range);

/// True when `scale` is usable: finite and strictly positive.
bool isValidScale(float scale);

/// The unclamped code v = round(x / scale) + zeroPoint, as a float (exact while
/// |v| < 2^24; beyond that only its side of the range matters). NaN for NaN x.
float unclampedCode(float x, float scale, int64_t zeroPoint, RoundingMode mode);

/// q = clamp(round(x / scale) + zeroPoint, qmin, qmax). The division is a
/// binary32 division (not a multiplication by 1/scale). +-inf saturate
/// (also x / 0 for x != 0); a NaN quotient (NaN x, a NaN scale, 0 / 0,
/// inf / inf) maps to zeroPoint, the code of real 0.
int64_t quantize(float x, float scale, int64_t zeroPoint, QuantRange range,
                 RoundingMode mode);

/// x = (q - zeroPoint) * scale, the subtraction exact, one binary32 multiply.
float dequantize(int64_t q, float scale, int64_t zeroPoint);

/// y = (clamp(round(x / scale) + z, qmin, qmax) - z) * scale, i.e.
/// dequantize(quantize(x)) except that NaN propagates (y = NaN for x = NaN).
float fakeQuant(float x, float scale, int64_t zeroPoint, QuantRange range,
                RoundingMode mode);

/// Per-element gradient contributions of fake_quant for upstream gradient dy.
struct FakeQuantGrad {
  float dx = 0;         ///< dy inside the range, else 0 (straight-through).
  float dScale = 0;     ///< LSQ scale gradient, times gradFactor.
  float dZeroPoint = 0; ///< -scale * dy outside the range, else 0.
};

/// The straight-through / LSQ gradient of fakeQuant at x. With
/// v = round(x/s) + z (before clamping):
///   inside  (qmin <= v <= qmax): dx = dy, dScale = (round(x/s) - x/s) * dy,
///                                dZeroPoint = 0
///   below   (v < qmin):          dx = 0,  dScale = (qmin - z) * dy,
///                                dZeroPoint = -s * dy
///   above   (v > qmax):          dx = 0,  dScale = (qmax - z) * dy,
///                                dZeroPoint = -s * dy
/// dScale and dZeroPoint are then multiplied by gradFactor. A NaN x gives NaN
/// in all three, so a diverged forward pass stays visible in the gradients.
FakeQuantGrad fakeQuantGrad(float x, float dy, float scale, int64_t zeroPoint,
                            QuantRange range, RoundingMode mode,
                            float gradFactor);

/// LSQ's gradient scale g = 1 / sqrt(numel * qmax) (Esser et al., 2020), for
/// `numel` elements sharing one scale. The value to pass as gradFactor.
float lsqGradScale(int64_t numel, int64_t qmax);

/// Scale and zero point derived from an observed [min, max].
struct QParams {
  float scale = 1;
  int64_t zeroPoint = 0;
};

/// Machine epsilon of binary32, the default floor for a derived scale.
constexpr float kDefaultScaleEps = 1.1920928955078125e-07f;

/// Quantization parameters covering [min, max], as PyTorch's MinMaxObserver:
///   min' = min(min, 0), max' = max(max, 0)
///   symmetric: s = max(-min', max') / ((qmax - qmin) / 2),
///              z = 0 if qmin < 0 else (qmin + qmax + 1) / 2
///   affine:    s = (max' - min') / (qmax - qmin),
///              z = clamp(qmin - round_half_even(min' / s), qmin, qmax)
///   s = max(s, eps)
/// NaN bounds give a NaN scale (and z = qmin for affine).
QParams chooseQParams(float min, float max, QuantRange range, bool symmetric,
                      float eps = kDefaultScaleEps);

/// A positive real multiplier M represented as multiplier * 2^-shift with
/// multiplier in [2^30, 2^31) and shift in [0, 63].
struct FixedPointMultiplier {
  int32_t multiplier = 1 << 30;
  int32_t shift = 30;

  double toDouble() const;
};

/// Decomposes M so that |multiplier * 2^-shift - M| <= 2^-31 * M. Fails for M
/// not finite, not positive, or outside [2^-33, 2^31) (no shift in [0, 63]).
std::optional<FixedPointMultiplier> decomposeMultiplier(double m);

/// v / 2^shift rounded with `mode`, for shift in [0, 63]. Exact (no overflow
/// for any int64 v).
int64_t roundingRightShift(int64_t v, unsigned shift, RoundingMode mode);

/// Integer requantization of an int32 accumulator:
///   r = roundingRightShift((acc - inputZeroPoint) * multiplier, shift, mode)
///   q = clamp(saturate_int32(r) + outputZeroPoint, qmin, qmax)
/// computed exactly in 64-bit arithmetic.
int64_t requantize(int32_t acc, FixedPointMultiplier m, int32_t inputZeroPoint,
                   int32_t outputZeroPoint, QuantRange clamp,
                   RoundingMode mode);

/// The largest |sum over depth terms of (a - aZeroPoint) * w| with codes a in
/// `activations` and weight codes w in `weights` (zero point 0): the bound an
/// integer layer's accumulator must hold. Exact (it is reached), saturated to
/// INT64_MAX.
int64_t accumulatorBound(int64_t depth, QuantRange activations,
                         int64_t aZeroPoint, QuantRange weights);

/// Whether an accumulator bounded by `bound`, plus a bias of magnitude at most
/// `maxAbsBias`, fits int32.
bool fitsInt32(int64_t bound, int64_t maxAbsBias = 0);

/// A float bias as an int32 accumulator term of scale
/// inputScale * weightScale (the product in binary32): quantize(bias, scale,
/// 0, [INT32_MIN, INT32_MAX], mode), saturating.
int64_t quantizeBias(float bias, float inputScale, float weightScale,
                     RoundingMode mode);

//===----------------------------------------------------------------------===//
// Whole tensors (row-major, flat), as used by folders and tests.
//===----------------------------------------------------------------------===//

/// Maps a row-major flat index to its quantization channel.
struct ChannelLayout {
  int64_t numChannels = 1; ///< size of the channel axis; 1 for per-tensor
  int64_t innerSize = 1;   ///< product of the dimensions after the axis

  static ChannelLayout perTensor() { return {}; }
  static ChannelLayout perAxis(const int64_t *shape, unsigned rank,
                               unsigned axis);
  int64_t channelOf(int64_t flat) const {
    return (flat / innerSize) % numChannels;
  }
};

/// y[i] = fakeQuant(x[i], scales[c], zeroPoints[c]) with c = channel of i.
void fakeQuantTensor(const float *x, int64_t numElements, ChannelLayout layout,
                     const float *scales, const int64_t *zeroPoints,
                     QuantRange range, RoundingMode mode, float *y);

/// dx per element; dScale and dZeroPoint summed per channel (accumulated in
/// binary64, then rounded once).
void fakeQuantGradTensor(const float *x, const float *dy, int64_t numElements,
                         ChannelLayout layout, const float *scales,
                         const int64_t *zeroPoints, QuantRange range,
                         RoundingMode mode, float gradFactor, float *dx,
                         float *dScale, float *dZeroPoint);

/// Per-channel minimum and maximum. NaN propagates.
void observeTensor(const float *x, int64_t numElements, ChannelLayout layout,
                   float *minOut, float *maxOut);

/// The magnitude order used by pruning: by |w| (NaN above +inf), ties by flat
/// index. Returns a key whose unsigned order is that order within a tensor.
uint32_t magnitudeKey(float w);

/// Codes of `bits` bits (2 or 4; each in [-2^(bits-1), 2^(bits-1) - 1])
/// p = 8 / bits per byte: code p*i + h in bits [h*bits, (h+1)*bits) of
/// byte i, the first code lowest (at 4 bits: code 2i in the low nibble,
/// 2i + 1 in the high one). `count` is a multiple of p.
void packCodes(const int8_t *codes, int64_t count, unsigned bits,
               int8_t *bytes);
/// The inverse, sign-extending each code: `count` codes from
/// count * bits / 8 bytes.
void unpackCodes(const int8_t *bytes, int64_t count, unsigned bits,
                 int8_t *codes);

/// How many of n elements unstructured pruning removes:
/// floor(clamp(sparsity, 0, 1) * n), computed in binary64; NaN prunes none.
int64_t numPrunedFor(double sparsity, int64_t numElements);

/// Unstructured magnitude pruning: keep[i] = 0 for the numPrunedFor(sparsity,
/// n) smallest elements in magnitude order (ties: lower flat index pruned
/// first), 1 otherwise.
void magnitudePruneMask(const float *w, int64_t numElements, double sparsity,
                        uint8_t *keep);

/// N:M pruning: along `axis`, each run of m consecutive elements keeps its n
/// largest in magnitude order (ties: the higher index is kept). Requires
/// shape[axis] % m == 0 and 0 < n <= m.
void nmPruneMask(const float *w, const int64_t *shape, unsigned rank,
                 unsigned axis, unsigned n, unsigned m, uint8_t *keep);

/// Block pruning: the tensor is tiled by `block` (one size per dimension,
/// each dividing it); a block's score is the binary32 sum of |w| over its
/// elements in row-major order, and the numPrunedFor(sparsity, blocks)
/// blocks of the smallest scores (magnitude order, ties: lower block index
/// in row-major block order pruned first) are zero, as whole blocks.
void blockPruneMask(const float *w, const int64_t *shape, unsigned rank,
                    const int64_t *block, double sparsity, uint8_t *keep);

} // namespace quantmath

#endif // QAT_SUPPORT_QUANTMATH_H
