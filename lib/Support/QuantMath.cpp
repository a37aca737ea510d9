//===- QuantMath.cpp - Reference quantization arithmetic -----------------===//
//
// Part of qat-mlir. See include/qat/Support/QuantMath.h for the semantics.
//
//===----------------------------------------------------------------------===//

#include "qat/Support/QuantMath.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace quantmath {

const char *stringifyRoundingMode(RoundingMode mode) {
  switch (mode) {
  case RoundingMode::HalfToEven:
    return "half_to_even";
  case RoundingMode::HalfAwayFromZero:
    return "half_away_from_zero";
  case RoundingMode::HalfUp:
    return "half_up";
  case RoundingMode::TowardZero:
    return "toward_zero";
  }
  return "unknown";
}

float roundToIntegral(float v, RoundingMode mode) {
  if (!std::isfinite(v))
    return v;
  // Every binary32 value is exact in binary64, and so is v - floor(v) for
  // |v| < 2^53; larger binary32 values are integral already.
  double x = v;
  double lo = std::floor(x);
  double frac = x - lo;
  double result;
  switch (mode) {
  case RoundingMode::HalfToEven:
    if (frac != 0.5)
      result = frac < 0.5 ? lo : lo + 1;
    else
      result = std::fmod(lo, 2.0) == 0 ? lo : lo + 1;
    break;
  case RoundingMode::HalfAwayFromZero:
    result = std::round(x);
    break;
  case RoundingMode::HalfUp:
    result = frac >= 0.5 ? lo + 1 : lo;
    break;
  case RoundingMode::TowardZero:
    result = std::trunc(x);
    break;
  }
  // Keeps the sign of zero results from negative inputs, as IEEE rounding
  // functions do.
  return std::copysign(static_cast<float>(result), v);
}

std::optional<QuantRange> getQuantRange(unsigned bits, bool isSigned,
                                        bool narrowRange) {
  if (bits < kMinBits || bits > kMaxBits)
    return std::nullopt;
  QuantRange range;
  if (isSigned) {
    range.qmin = -(int64_t(1) << (bits - 1));
    range.qmax = (int64_t(1) << (bits - 1)) - 1;
  } else {
    range.qmin = 0;
    range.qmax = (int64_t(1) << bits) - 1;
  }
  if (narrowRange)
    ++range.qmin;
  return range;
}

int64_t normalizeZeroPoint(float zeroPoint, QuantRange range) {
  if (std::isnan(zeroPoint))
    return range.qmin;
  float rounded = roundToIntegral(zeroPoint, RoundingMode::HalfToEven);
  if (rounded <= static_cast<float>(range.qmin))
    return range.qmin;
  if (rounded >= static_cast<float>(range.qmax))
    return range.qmax;
  return static_cast<int64_t>(rounded);
}

int64_t normalizeZeroPoint(int64_t zeroPoint, QuantRange range) {
  return range.clamp(zeroPoint);
}

bool isValidScale(float scale) { return std::isfinite(scale) && scale > 0; }

float unclampedCode(float x, float scale, int64_t zeroPoint,
                    RoundingMode mode) {
  return roundToIntegral(x / scale, mode) + static_cast<float>(zeroPoint);
}

int64_t quantize(float x, float scale, int64_t zeroPoint, QuantRange range,
                 RoundingMode mode) {
  float v = unclampedCode(x, scale, zeroPoint, mode);
  // A NaN quotient (NaN x, a NaN scale, 0 / 0, inf / inf) has no code but
  // the zero point's.
  if (std::isnan(v))
    return zeroPoint;
  if (v <= static_cast<float>(range.qmin))
    return range.qmin;
  if (v >= static_cast<float>(range.qmax))
    return range.qmax;
  return static_cast<int64_t>(v);
}

float dequantize(int64_t q, float scale, int64_t zeroPoint) {
  return static_cast<float>(q - zeroPoint) * scale;
}

float fakeQuant(float x, float scale, int64_t zeroPoint, QuantRange range,
                RoundingMode mode) {
  if (std::isnan(x))
    return x;
  return dequantize(quantize(x, scale, zeroPoint, range, mode), scale,
                    zeroPoint);
}

FakeQuantGrad fakeQuantGrad(float x, float dy, float scale, int64_t zeroPoint,
                            QuantRange range, RoundingMode mode,
                            float gradFactor) {
  FakeQuantGrad grad;
  if (std::isnan(x)) {
    grad.dx = grad.dScale = grad.dZeroPoint = x;
    return grad;
  }
  float scaled = x / scale;
  float rounded = roundToIntegral(scaled, mode);
  float v = rounded + static_cast<float>(zeroPoint);
  if (v < static_cast<float>(range.qmin)) {
    grad.dScale = static_cast<float>(range.qmin - zeroPoint) * dy;
    grad.dZeroPoint = -scale * dy;
  } else if (v > static_cast<float>(range.qmax)) {
    grad.dScale = static_cast<float>(range.qmax - zeroPoint) * dy;
    grad.dZeroPoint = -scale * dy;
  } else {
    grad.dx = dy;
    grad.dScale = (rounded - scaled) * dy;
  }
  grad.dScale *= gradFactor;
  grad.dZeroPoint *= gradFactor;
  return grad;
}

float lsqGradScale(int64_t numel, int64_t qmax) {
  assert(numel > 0 && qmax > 0 && "LSQ gradient scale needs positive sizes");
  return static_cast<float>(
      1.0 / std::sqrt(static_cast<double>(numel) * static_cast<double>(qmax)));
}

QParams chooseQParams(float min, float max, QuantRange range, bool symmetric,
                      float eps) {
  QParams params;
  // NaN-propagating min/max, like arith.minimumf / arith.maximumf.
  auto fmin = [](float a, float b) {
    return std::isnan(a) || std::isnan(b) ? std::nanf("") : std::min(a, b);
  };
  auto fmax = [](float a, float b) {
    return std::isnan(a) || std::isnan(b) ? std::nanf("") : std::max(a, b);
  };
  float minNeg = fmin(min, 0.0f);
  float maxPos = fmax(max, 0.0f);
  float levels = static_cast<float>(range.qmax - range.qmin);
  if (symmetric) {
    float absMax = fmax(-minNeg, maxPos);
    params.scale = fmax(absMax / (levels / 2.0f), eps);
    params.zeroPoint = range.qmin < 0 ? 0 : (range.qmin + range.qmax + 1) / 2;
    return params;
  }
  params.scale = fmax((maxPos - minNeg) / levels, eps);
  float zero = static_cast<float>(range.qmin) -
               roundToIntegral(minNeg / params.scale, RoundingMode::HalfToEven);
  params.zeroPoint = normalizeZeroPoint(zero, range);
  return params;
}

double FixedPointMultiplier::toDouble() const {
  return std::ldexp(static_cast<double>(multiplier), -shift);
}

std::optional<FixedPointMultiplier> decomposeMultiplier(double m) {
  if (!std::isfinite(m) || !(m > 0))
    return std::nullopt;
  int exponent = 0;
  double fraction = std::frexp(m, &exponent); // m = fraction * 2^exponent
  int64_t mantissa = std::llround(std::ldexp(fraction, 31));
  if (mantissa == (int64_t(1) << 31)) {
    mantissa >>= 1;
    ++exponent;
  }
  int shift = 31 - exponent;
  if (shift < 0 || shift > 63)
    return std::nullopt;
  FixedPointMultiplier result;
  result.multiplier = static_cast<int32_t>(mantissa);
  result.shift = shift;
  return result;
}

int64_t roundingRightShift(int64_t v, unsigned shift, RoundingMode mode) {
  assert(shift <= 63 && "shift out of range");
  if (shift == 0)
    return v;
  int64_t floorQuotient = v >> shift; // arithmetic: rounds toward -inf
  uint64_t remainder = static_cast<uint64_t>(v) & ((uint64_t(1) << shift) - 1);
  uint64_t half = uint64_t(1) << (shift - 1);
  bool roundUp = false;
  switch (mode) {
  case RoundingMode::HalfToEven:
    roundUp = remainder > half || (remainder == half && (floorQuotient & 1));
    break;
  case RoundingMode::HalfAwayFromZero:
    roundUp = remainder > half || (remainder == half && v >= 0);
    break;
  case RoundingMode::HalfUp:
    roundUp = remainder >= half;
    break;
  case RoundingMode::TowardZero:
    roundUp = v < 0 && remainder != 0;
    break;
  }
  return floorQuotient + (roundUp ? 1 : 0);
}

int64_t requantize(int32_t acc, FixedPointMultiplier m, int32_t inputZeroPoint,
                   int32_t outputZeroPoint, QuantRange clamp,
                   RoundingMode mode) {
  // |acc - zp| < 2^32 and multiplier < 2^31: the product fits in int64.
  int64_t product = (static_cast<int64_t>(acc) - inputZeroPoint) *
                    static_cast<int64_t>(m.multiplier);
  int64_t shifted = roundingRightShift(product, m.shift, mode);
  shifted = std::clamp<int64_t>(shifted, std::numeric_limits<int32_t>::min(),
                                std::numeric_limits<int32_t>::max());
  return clamp.clamp(shifted + outputZeroPoint);
}

ChannelLayout ChannelLayout::perAxis(const int64_t *shape, unsigned rank,
                                     unsigned axis) {
  assert(axis < rank && "axis out of range");
  ChannelLayout layout;
  layout.numChannels = shape[axis];
  for (unsigned d = axis + 1; d < rank; ++d)
    layout.innerSize *= shape[d];
  return layout;
}

void fakeQuantTensor(const float *x, int64_t numElements, ChannelLayout layout,
                     const float *scales, const int64_t *zeroPoints,
                     QuantRange range, RoundingMode mode, float *y) {
  for (int64_t i = 0; i < numElements; ++i) {
    int64_t c = layout.channelOf(i);
    y[i] = fakeQuant(x[i], scales[c], zeroPoints[c], range, mode);
  }
}

void fakeQuantGradTensor(const float *x, const float *dy, int64_t numElements,
                         ChannelLayout layout, const float *scales,
                         const int64_t *zeroPoints, QuantRange range,
                         RoundingMode mode, float gradFactor, float *dx,
                         float *dScale, float *dZeroPoint) {
  std::vector<double> scaleSum(layout.numChannels, 0.0);
  std::vector<double> zeroPointSum(layout.numChannels, 0.0);
  for (int64_t i = 0; i < numElements; ++i) {
    int64_t c = layout.channelOf(i);
    FakeQuantGrad g = fakeQuantGrad(x[i], dy[i], scales[c], zeroPoints[c],
                                    range, mode, gradFactor);
    dx[i] = g.dx;
    scaleSum[c] += g.dScale;
    zeroPointSum[c] += g.dZeroPoint;
  }
  for (int64_t c = 0; c < layout.numChannels; ++c) {
    dScale[c] = static_cast<float>(scaleSum[c]);
    dZeroPoint[c] = static_cast<float>(zeroPointSum[c]);
  }
}

void observeTensor(const float *x, int64_t numElements, ChannelLayout layout,
                   float *minOut, float *maxOut) {
  for (int64_t c = 0; c < layout.numChannels; ++c) {
    minOut[c] = std::numeric_limits<float>::infinity();
    maxOut[c] = -std::numeric_limits<float>::infinity();
  }
  for (int64_t i = 0; i < numElements; ++i) {
    int64_t c = layout.channelOf(i);
    if (std::isnan(x[i]) || std::isnan(minOut[c])) {
      minOut[c] = maxOut[c] = std::nanf("");
      continue;
    }
    minOut[c] = std::min(minOut[c], x[i]);
    maxOut[c] = std::max(maxOut[c], x[i]);
  }
}

uint32_t magnitudeKey(float w) {
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof(bits));
  // Non-negative IEEE floats order like their bit patterns; NaNs lie above
  // +inf.
  return bits & 0x7fffffffu;
}

int64_t numPrunedFor(double sparsity, int64_t numElements) {
  if (!(sparsity > 0)) // also NaN
    return 0;
  sparsity = std::min(sparsity, 1.0);
  return static_cast<int64_t>(
      std::floor(sparsity * static_cast<double>(numElements)));
}

void magnitudePruneMask(const float *w, int64_t numElements, double sparsity,
                        uint8_t *keep) {
  int64_t numPruned = numPrunedFor(sparsity, numElements);
  std::vector<int64_t> order(numElements);
  for (int64_t i = 0; i < numElements; ++i)
    order[i] = i;
  auto less = [&](int64_t a, int64_t b) {
    uint32_t ka = magnitudeKey(w[a]), kb = magnitudeKey(w[b]);
    return ka != kb ? ka < kb : a < b;
  };
  std::nth_element(order.begin(), order.begin() + numPruned, order.end(), less);
  std::fill(keep, keep + numElements, 1);
  for (int64_t i = 0; i < numPruned; ++i)
    keep[order[i]] = 0;
}

void nmPruneMask(const float *w, const int64_t *shape, unsigned rank,
                 unsigned axis, unsigned n, unsigned m, uint8_t *keep) {
  assert(axis < rank && n > 0 && n <= m && shape[axis] % m == 0 &&
         "invalid N:M pruning request");
  int64_t numElements = 1;
  for (unsigned d = 0; d < rank; ++d)
    numElements *= shape[d];
  ChannelLayout layout = ChannelLayout::perAxis(shape, rank, axis);
  int64_t stride = layout.innerSize;
  for (int64_t i = 0; i < numElements; ++i) {
    // Rank element i within its group of m along the axis: the number of
    // group members that come after it in magnitude order.
    int64_t position = layout.channelOf(i);
    int64_t first = i - (position % m) * stride;
    uint32_t key = magnitudeKey(w[i]);
    unsigned larger = 0;
    for (unsigned j = 0; j < m; ++j) {
      int64_t other = first + j * stride;
      uint32_t otherKey = magnitudeKey(w[other]);
      if (otherKey > key || (otherKey == key && other > i))
        ++larger;
    }
    keep[i] = larger < n ? 1 : 0;
  }
}

void blockPruneMask(const float *w, const int64_t *shape, unsigned rank,
                    const int64_t *block, double sparsity, uint8_t *keep) {
  std::vector<int64_t> grid(rank), strides(rank, 1);
  int64_t numElements = 1, numBlocks = 1;
  for (unsigned d = 0; d < rank; ++d) {
    assert(block[d] > 0 && shape[d] % block[d] == 0 && "invalid block");
    grid[d] = shape[d] / block[d];
    numElements *= shape[d];
    numBlocks *= grid[d];
  }
  for (unsigned d = rank; d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  // Element i's block, row-major over the grid.
  auto blockOf = [&](int64_t i) {
    int64_t b = 0;
    for (unsigned d = 0; d < rank; ++d)
      b = b * grid[d] + (i / strides[d] % shape[d]) / block[d];
    return b;
  };
  // Row-major over the elements visits each block's elements in row-major
  // order within the block: the order of the sums.
  std::vector<float> scores(numBlocks, 0.0f);
  for (int64_t i = 0; i < numElements; ++i)
    scores[blockOf(i)] += std::fabs(w[i]);
  std::vector<uint8_t> keepBlock(numBlocks);
  magnitudePruneMask(scores.data(), numBlocks, sparsity, keepBlock.data());
  for (int64_t i = 0; i < numElements; ++i)
    keep[i] = keepBlock[blockOf(i)];
}

int64_t accumulatorBound(int64_t depth, QuantRange activations,
                         int64_t aZeroPoint, QuantRange weights) {
  assert(depth >= 0 && "negative depth");
  unsigned __int128 a = static_cast<unsigned __int128>(
      std::max(std::abs(activations.qmin - aZeroPoint),
               std::abs(activations.qmax - aZeroPoint)));
  unsigned __int128 w = static_cast<unsigned __int128>(
      std::max(std::abs(weights.qmin), std::abs(weights.qmax)));
  unsigned __int128 bound = a * w * static_cast<unsigned __int128>(depth);
  if (bound >
      static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max()))
    return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(bound);
}

bool fitsInt32(int64_t bound, int64_t maxAbsBias) {
  int64_t limit = std::numeric_limits<int32_t>::max();
  return bound <= limit && maxAbsBias <= limit - bound;
}

void packCodes(const int8_t *codes, int64_t count, unsigned bits,
               int8_t *bytes) {
  assert((bits == 2 || bits == 4) && "2- or 4-bit codes");
  int64_t perByte = 8 / bits;
  assert(count % perByte == 0 && "whole bytes");
  unsigned mask = (1u << bits) - 1;
  for (int64_t i = 0; i < count / perByte; ++i) {
    unsigned byte = 0;
    for (int64_t h = 0; h < perByte; ++h)
      byte |= (static_cast<unsigned>(codes[perByte * i + h]) & mask)
              << (h * bits);
    bytes[i] = static_cast<int8_t>(static_cast<uint8_t>(byte));
  }
}

void unpackCodes(const int8_t *bytes, int64_t count, unsigned bits,
                 int8_t *codes) {
  assert((bits == 2 || bits == 4) && "2- or 4-bit codes");
  int64_t perByte = 8 / bits;
  assert(count % perByte == 0 && "whole bytes");
  unsigned mask = (1u << bits) - 1, sign = 1u << (bits - 1);
  // A two's complement field f of w bits is worth (f ^ 2^(w-1)) - 2^(w-1)
  // (no shift of a negative value, which C++17 leaves undefined).
  for (int64_t i = 0; i < count / perByte; ++i) {
    auto byte = static_cast<uint8_t>(bytes[i]);
    for (int64_t h = 0; h < perByte; ++h) {
      unsigned field = (byte >> (h * bits)) & mask;
      codes[perByte * i + h] = static_cast<int8_t>(
          static_cast<int>(field ^ sign) - static_cast<int>(sign));
    }
  }
}

int64_t quantizeBias(float bias, float inputScale, float weightScale,
                     RoundingMode mode) {
  QuantRange int32Range{std::numeric_limits<int32_t>::min(),
                        std::numeric_limits<int32_t>::max()};
  return quantize(bias, inputScale * weightScale, 0, int32Range, mode);
}

} // namespace quantmath
