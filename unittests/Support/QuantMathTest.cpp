//===- QuantMathTest.cpp - Tests of the reference quantization math ------===//
//
// Part of qat-mlir. Expected values are derived by hand from the formulas in
// docs/Semantics.md, or from independent arithmetic (binary64, brute force).
//
//===----------------------------------------------------------------------===//

#include "qat/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace quantmath;

namespace {

constexpr RoundingMode kAllModes[] = {
    RoundingMode::HalfToEven, RoundingMode::HalfAwayFromZero,
    RoundingMode::HalfUp, RoundingMode::TowardZero};

QuantRange int8() { return *getQuantRange(8, /*isSigned=*/true, false); }
QuantRange uint8() { return *getQuantRange(8, /*isSigned=*/false, false); }

bool isNegativeZero(float v) { return v == 0 && std::signbit(v); }

TEST(Rounding, TiesInEveryMode) {
  struct Case {
    float v;
    float expected[4]; // HalfToEven, HalfAwayFromZero, HalfUp, TowardZero
  };
  const Case cases[] = {
      {0.5f, {0, 1, 1, 0}},
      {1.5f, {2, 2, 2, 1}},
      {2.5f, {2, 3, 3, 2}},
      {-0.5f, {0, -1, 0, 0}},
      {-1.5f, {-2, -2, -1, -1}},
      {-2.5f, {-2, -3, -2, -2}},
      {0.49999997f, {0, 0, 0, 0}},
      {-0.49999997f, {0, 0, 0, 0}},
      {2.75f, {3, 3, 3, 2}},
      {-2.75f, {-3, -3, -3, -2}},
      {8388607.5f, {8388608, 8388608, 8388608, 8388607}},
  };
  for (const Case &c : cases)
    for (int m = 0; m < 4; ++m)
      EXPECT_EQ(roundToIntegral(c.v, kAllModes[m]), c.expected[m])
          << c.v << " in mode " << stringifyRoundingMode(kAllModes[m]);
}

TEST(Rounding, AgreesWithBinary64OnRandomValues) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1000.0f, 1000.0f);
  for (int i = 0; i < 100000; ++i) {
    float v = dist(rng);
    // Half-integers are the interesting points: make every tenth one a tie.
    if (i % 10 == 0)
      v = std::floor(v) + 0.5f;
    double x = v;
    EXPECT_EQ(roundToIntegral(v, RoundingMode::HalfToEven),
              static_cast<float>(std::nearbyint(x)));
    EXPECT_EQ(roundToIntegral(v, RoundingMode::HalfAwayFromZero),
              static_cast<float>(std::round(x)));
    EXPECT_EQ(roundToIntegral(v, RoundingMode::HalfUp),
              static_cast<float>(std::floor(x + 0.5)));
    EXPECT_EQ(roundToIntegral(v, RoundingMode::TowardZero),
              static_cast<float>(std::trunc(x)));
  }
}

TEST(Rounding, NonFiniteAndSignedZero) {
  float inf = std::numeric_limits<float>::infinity();
  for (RoundingMode m : kAllModes) {
    EXPECT_TRUE(std::isnan(roundToIntegral(std::nanf(""), m)));
    EXPECT_EQ(roundToIntegral(inf, m), inf);
    EXPECT_EQ(roundToIntegral(-inf, m), -inf);
    EXPECT_TRUE(isNegativeZero(roundToIntegral(-0.25f, m)));
  }
}

TEST(QuantRange, BitWidthsAndNarrowRange) {
  EXPECT_EQ(*getQuantRange(8, true, false), (QuantRange{-128, 127}));
  EXPECT_EQ(*getQuantRange(8, true, true), (QuantRange{-127, 127}));
  EXPECT_EQ(*getQuantRange(8, false, false), (QuantRange{0, 255}));
  EXPECT_EQ(*getQuantRange(8, false, true), (QuantRange{1, 255}));
  EXPECT_EQ(*getQuantRange(4, true, false), (QuantRange{-8, 7}));
  EXPECT_EQ(*getQuantRange(2, true, false), (QuantRange{-2, 1}));
  EXPECT_EQ(*getQuantRange(16, false, false), (QuantRange{0, 65535}));
  EXPECT_FALSE(getQuantRange(1, true, false));
  EXPECT_EQ(*getQuantRange(32, true, false),
            (QuantRange{INT32_MIN, INT32_MAX})); // int32 bias codes
  EXPECT_FALSE(getQuantRange(33, true, false));
}

TEST(ZeroPoint, FloatZeroPointsRoundHalfEvenAndClamp) {
  EXPECT_EQ(normalizeZeroPoint(2.5f, int8()), 2);
  EXPECT_EQ(normalizeZeroPoint(3.5f, int8()), 4);
  EXPECT_EQ(normalizeZeroPoint(-300.0f, int8()), -128);
  EXPECT_EQ(normalizeZeroPoint(1e30f, uint8()), 255);
  EXPECT_EQ(normalizeZeroPoint(std::nanf(""), uint8()), 0);
  EXPECT_EQ(normalizeZeroPoint(int64_t(400), uint8()), 255);
  EXPECT_EQ(normalizeZeroPoint(int64_t(-3), int8()), -3);
}

TEST(Quantize, TiesFollowTheRoundingMode) {
  // 0.25 / 0.5 = 0.5 exactly, -0.75 / 0.5 = -1.5 exactly.
  EXPECT_EQ(quantize(0.25f, 0.5f, 0, int8(), RoundingMode::HalfToEven), 0);
  EXPECT_EQ(quantize(0.25f, 0.5f, 0, int8(), RoundingMode::HalfAwayFromZero),
            1);
  EXPECT_EQ(quantize(0.25f, 0.5f, 0, int8(), RoundingMode::HalfUp), 1);
  EXPECT_EQ(quantize(0.25f, 0.5f, 0, int8(), RoundingMode::TowardZero), 0);
  EXPECT_EQ(quantize(-0.75f, 0.5f, 0, int8(), RoundingMode::HalfToEven), -2);
  EXPECT_EQ(quantize(-0.75f, 0.5f, 0, int8(), RoundingMode::HalfUp), -1);
  EXPECT_EQ(quantize(-0.75f, 0.5f, 0, int8(), RoundingMode::TowardZero), -1);
  // The zero point is added after rounding: 0.5 -> 0, + 3.
  EXPECT_EQ(quantize(0.25f, 0.5f, 3, int8(), RoundingMode::HalfToEven), 3);
}

TEST(Quantize, SaturatesAtTheRangeEdges) {
  EXPECT_EQ(quantize(1000.0f, 0.1f, 0, int8(), RoundingMode::HalfToEven), 127);
  EXPECT_EQ(quantize(-1000.0f, 0.1f, 0, int8(), RoundingMode::HalfToEven),
            -128);
  EXPECT_EQ(quantize(-1000.0f, 0.1f, 0, *getQuantRange(8, true, true),
                     RoundingMode::HalfToEven),
            -127);
  EXPECT_EQ(quantize(-1.0f, 0.1f, 0, uint8(), RoundingMode::HalfToEven), 0);
  EXPECT_EQ(quantize(12.7f, 0.1f, 0, int8(), RoundingMode::HalfToEven), 127);
  EXPECT_EQ(quantize(12.8f, 0.1f, 0, int8(), RoundingMode::HalfToEven), 127);
  EXPECT_EQ(quantize(-12.85f, 0.1f, 0, int8(), RoundingMode::HalfToEven), -128);
}

TEST(Quantize, ExtremeScales) {
  float tiny = std::numeric_limits<float>::denorm_min();
  float huge = std::numeric_limits<float>::max();
  // x / tiny overflows to +-inf, which saturates.
  EXPECT_EQ(quantize(1.0f, tiny, 0, int8(), RoundingMode::HalfToEven), 127);
  EXPECT_EQ(quantize(-1.0f, tiny, 0, int8(), RoundingMode::HalfToEven), -128);
  EXPECT_EQ(quantize(0.0f, tiny, 5, int8(), RoundingMode::HalfToEven), 5);
  // x / huge underflows to 0: everything is the zero point.
  EXPECT_EQ(quantize(1e30f, huge, 5, int8(), RoundingMode::HalfToEven), 5);
  EXPECT_EQ(fakeQuant(1e30f, huge, 0, int8(), RoundingMode::HalfToEven), 0.0f);
  // A huge scale still dequantizes to a finite value when (q - z) * s fits.
  EXPECT_EQ(dequantize(1, huge, 0), huge);
  EXPECT_EQ(dequantize(2, huge, 0), std::numeric_limits<float>::infinity());
}

TEST(Quantize, InvalidScalesAreRejected) {
  EXPECT_TRUE(isValidScale(1e-30f));
  EXPECT_TRUE(isValidScale(std::numeric_limits<float>::denorm_min()));
  EXPECT_FALSE(isValidScale(0.0f));
  EXPECT_FALSE(isValidScale(-0.0f));
  EXPECT_FALSE(isValidScale(-1.0f));
  EXPECT_FALSE(isValidScale(std::nanf("")));
  EXPECT_FALSE(isValidScale(std::numeric_limits<float>::infinity()));
}

TEST(Quantize, NanAndInfinity) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(quantize(std::nanf(""), 0.1f, 7, int8(), RoundingMode::HalfToEven),
            7);
  EXPECT_EQ(quantize(inf, 0.1f, 7, int8(), RoundingMode::HalfToEven), 127);
  EXPECT_EQ(quantize(-inf, 0.1f, 7, int8(), RoundingMode::HalfToEven), -128);
  EXPECT_TRUE(std::isnan(
      fakeQuant(std::nanf(""), 0.1f, 0, int8(), RoundingMode::HalfToEven)));
  EXPECT_EQ(fakeQuant(inf, 0.5f, 0, int8(), RoundingMode::HalfToEven), 63.5f);
}

TEST(FakeQuant, MatchesBinary64FormulaOnRandomInputs) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> xs(-20.0f, 20.0f);
  std::uniform_real_distribution<float> ss(0.001f, 0.5f);
  std::uniform_int_distribution<int> zs(-20, 20);
  for (int bits : {2, 4, 8}) {
    for (bool narrow : {false, true}) {
      QuantRange r = *getQuantRange(bits, true, narrow);
      for (int i = 0; i < 20000; ++i) {
        float x = xs(rng), s = ss(rng);
        int64_t z = normalizeZeroPoint(int64_t(zs(rng)), r);
        // binary64 reference: the quotient is formed in binary32 first, as
        // the semantics say.
        double q = std::nearbyint(static_cast<double>(x / s)) + z;
        q = std::min<double>(std::max<double>(q, r.qmin), r.qmax);
        float expected = static_cast<float>((q - z)) * s;
        ASSERT_EQ(fakeQuant(x, s, z, r, RoundingMode::HalfToEven), expected)
            << x << " " << s << " " << z;
      }
    }
  }
}

TEST(FakeQuant, PerChannelUsesEachChannelsParameters) {
  // shape 2x3, axis 0: rows use (0.5, 0) and (0.25, 2).
  const int64_t shape[] = {2, 3};
  ChannelLayout rows = ChannelLayout::perAxis(shape, 2, 0);
  float x[] = {0.3f, -1.0f, 100.0f, 0.3f, -1.0f, 100.0f};
  float scales[] = {0.5f, 0.25f};
  int64_t zps[] = {0, 2};
  float y[6];
  fakeQuantTensor(x, 6, rows, scales, zps, int8(), RoundingMode::HalfToEven, y);
  EXPECT_EQ(y[0], 0.5f);   // round(0.6) = 1
  EXPECT_EQ(y[1], -1.0f);  // -2
  EXPECT_EQ(y[2], 63.5f);  // saturates at 127
  EXPECT_EQ(y[3], 0.25f);  // round(1.2) = 1
  EXPECT_EQ(y[4], -1.0f);  // -4
  EXPECT_EQ(y[5], 31.25f); // (127 - 2) * 0.25
  // axis 1: columns.
  ChannelLayout cols = ChannelLayout::perAxis(shape, 2, 1);
  EXPECT_EQ(cols.numChannels, 3);
  EXPECT_EQ(cols.channelOf(4), 1);
  EXPECT_EQ(rows.channelOf(4), 1);
  EXPECT_EQ(rows.channelOf(2), 0);
}

TEST(FakeQuantGrad, SteMaskAndLsqInEachRegion) {
  QuantRange r = int8();
  float s = 0.5f;
  int64_t z = 10;
  // Inside: x/s = 2.6, round = 3 -> dScale = (3 - 2.6) * dy.
  FakeQuantGrad in =
      fakeQuantGrad(1.3f, 2.0f, s, z, r, RoundingMode::HalfToEven, 1.0f);
  EXPECT_EQ(in.dx, 2.0f);
  EXPECT_NEAR(in.dScale, 0.8f, 1e-6);
  EXPECT_EQ(in.dZeroPoint, 0.0f);
  // Below: round(-200) + 10 < -128.
  FakeQuantGrad below =
      fakeQuantGrad(-100.0f, 2.0f, s, z, r, RoundingMode::HalfToEven, 1.0f);
  EXPECT_EQ(below.dx, 0.0f);
  EXPECT_EQ(below.dScale, (-128 - 10) * 2.0f);
  EXPECT_EQ(below.dZeroPoint, -s * 2.0f);
  // Above, with a gradient factor.
  FakeQuantGrad above =
      fakeQuantGrad(100.0f, 2.0f, s, z, r, RoundingMode::HalfToEven, 0.25f);
  EXPECT_EQ(above.dx, 0.0f);
  EXPECT_EQ(above.dScale, (127 - 10) * 2.0f * 0.25f);
  EXPECT_EQ(above.dZeroPoint, -s * 2.0f * 0.25f);
  // The edges themselves are inside: round(x/s) + z == qmax.
  FakeQuantGrad edge = fakeQuantGrad((127 - 10) * s, 1.0f, s, z, r,
                                     RoundingMode::HalfToEven, 1.0f);
  EXPECT_EQ(edge.dx, 1.0f);
  // The mask is taken after rounding: qmax + 0.4 rounds back inside.
  FakeQuantGrad justAbove = fakeQuantGrad((117.4f) * s, 1.0f, s, z, r,
                                          RoundingMode::HalfToEven, 1.0f);
  EXPECT_EQ(justAbove.dx, 1.0f);
  FakeQuantGrad nan = fakeQuantGrad(std::nanf(""), 1.0f, s, z, r,
                                    RoundingMode::HalfToEven, 1.0f);
  EXPECT_TRUE(std::isnan(nan.dx) && std::isnan(nan.dScale) &&
              std::isnan(nan.dZeroPoint));
}

TEST(FakeQuantGrad, TensorSumsPerChannel) {
  const int64_t shape[] = {2, 2};
  ChannelLayout rows = ChannelLayout::perAxis(shape, 2, 0);
  float x[] = {1000.0f, 1000.0f, -1000.0f, 0.0f};
  float dy[] = {1.0f, 2.0f, 3.0f, 4.0f};
  float scales[] = {1.0f, 2.0f};
  int64_t zps[] = {0, 0};
  float dx[4], dScale[2], dZp[2];
  fakeQuantGradTensor(x, dy, 4, rows, scales, zps, int8(),
                      RoundingMode::HalfToEven, 1.0f, dx, dScale, dZp);
  EXPECT_EQ(dx[0], 0.0f);
  EXPECT_EQ(dx[3], 4.0f);
  EXPECT_EQ(dScale[0], 127.0f * 3.0f);
  EXPECT_EQ(dZp[0], -3.0f);
  EXPECT_EQ(dScale[1], -128.0f * 3.0f); // x = 0 is exact: no contribution.
  EXPECT_EQ(dZp[1], -2.0f * 3.0f);
}

TEST(LsqGradScale, IsOneOverSqrtOfNumelTimesQmax) {
  EXPECT_FLOAT_EQ(lsqGradScale(100, 127), 1.0f / std::sqrt(12700.0f));
  EXPECT_FLOAT_EQ(lsqGradScale(4, 1), 0.5f);
}

TEST(ChooseQParams, AffineAndSymmetric) {
  // Affine uint8 over [-1, 3]: s = 4/255, z = 0 - round(-1 / s) = 64.
  QParams a = chooseQParams(-1.0f, 3.0f, uint8(), /*symmetric=*/false);
  EXPECT_EQ(a.scale, 4.0f / 255.0f);
  EXPECT_EQ(a.zeroPoint, 64);
  // The range is widened to include zero.
  QParams pos = chooseQParams(2.0f, 4.0f, uint8(), false);
  EXPECT_EQ(pos.scale, 4.0f / 255.0f);
  EXPECT_EQ(pos.zeroPoint, 0);
  // Symmetric int8 narrow: s = 3 / 127, z = 0.
  QParams s = chooseQParams(-1.0f, 3.0f, *getQuantRange(8, true, true), true);
  EXPECT_EQ(s.scale, 3.0f / 127.0f);
  EXPECT_EQ(s.zeroPoint, 0);
  // Symmetric int8 full range divides by 127.5; uint8 symmetric centres at 128.
  EXPECT_EQ(chooseQParams(-1.0f, 3.0f, int8(), true).scale, 3.0f / 127.5f);
  EXPECT_EQ(chooseQParams(-1.0f, 3.0f, uint8(), true).zeroPoint, 128);
  // A constant zero tensor gets the eps floor instead of a zero scale.
  QParams zero = chooseQParams(0.0f, 0.0f, int8(), false);
  EXPECT_EQ(zero.scale, kDefaultScaleEps);
  EXPECT_TRUE(isValidScale(zero.scale));
  EXPECT_EQ(chooseQParams(0.0f, 0.0f, int8(), false, 0.5f).scale, 0.5f);
  // NaN bounds give a NaN scale, never a plausible-looking one.
  EXPECT_TRUE(
      std::isnan(chooseQParams(std::nanf(""), 1.0f, int8(), false).scale));
  EXPECT_TRUE(
      std::isnan(chooseQParams(-1.0f, std::nanf(""), int8(), true).scale));
}

TEST(ChooseQParams, CoversTheObservedRange) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-50.0f, 50.0f);
  QuantRange r = uint8();
  for (int i = 0; i < 10000; ++i) {
    float lo = dist(rng), hi = dist(rng);
    if (lo > hi)
      std::swap(lo, hi);
    QParams p = chooseQParams(lo, hi, r, false);
    // Zero is exactly representable, and min/max land within one step of the
    // range ends.
    EXPECT_EQ(
        fakeQuant(0.0f, p.scale, p.zeroPoint, r, RoundingMode::HalfToEven),
        0.0f);
    float lo0 = std::min(lo, 0.0f), hi0 = std::max(hi, 0.0f);
    EXPECT_LE(std::fabs(fakeQuant(lo0, p.scale, p.zeroPoint, r,
                                  RoundingMode::HalfToEven) -
                        lo0),
              p.scale * 1.0001f);
    EXPECT_LE(std::fabs(fakeQuant(hi0, p.scale, p.zeroPoint, r,
                                  RoundingMode::HalfToEven) -
                        hi0),
              p.scale * 1.0001f);
  }
}

TEST(Observe, MinMaxPerChannelAndNan) {
  const int64_t shape[] = {2, 3};
  ChannelLayout cols = ChannelLayout::perAxis(shape, 2, 1);
  float x[] = {1, -2, 3, -4, 5, std::nanf("")};
  float mn[3], mx[3];
  observeTensor(x, 6, cols, mn, mx);
  EXPECT_EQ(mn[0], -4);
  EXPECT_EQ(mx[0], 1);
  EXPECT_EQ(mn[1], -2);
  EXPECT_EQ(mx[1], 5);
  EXPECT_TRUE(std::isnan(mn[2]) && std::isnan(mx[2]));
}

TEST(Prune, MagnitudeMaskPrunesTheSmallestWithIndexTieBreak) {
  float w[] = {0.5f, -0.1f, 0.1f, -3.0f, 0.0f, -0.0f, 2.0f, 0.1f};
  uint8_t keep[8];
  magnitudePruneMask(w, 8, 0.5, keep);
  // Order: 0.0(4), -0.0(5), -0.1(1), 0.1(2), 0.1(7), 0.5(0), 2(6), -3(3).
  const uint8_t expected[] = {1, 0, 0, 1, 0, 0, 1, 1};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(keep[i], expected[i]) << i;
  magnitudePruneMask(w, 8, 0.0, keep);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(keep[i], 1);
  magnitudePruneMask(w, 8, 1.0, keep);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(keep[i], 0);
}

TEST(Prune, MagnitudeMaskMatchesSortOnRandomInput) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> dist(-20, 20); // many ties
  std::vector<float> w(1000);
  for (float &v : w)
    v = dist(rng) * 0.125f;
  std::vector<uint8_t> keep(w.size());
  magnitudePruneMask(w.data(), w.size(), 0.375, keep.data());
  int pruned = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    pruned += keep[i] == 0;
    // Every pruned element is no larger than every kept one.
    for (size_t j = 0; j < w.size(); ++j)
      if (!keep[i] && keep[j])
        ASSERT_TRUE(std::fabs(w[i]) < std::fabs(w[j]) ||
                    (std::fabs(w[i]) == std::fabs(w[j]) && i < j));
  }
  EXPECT_EQ(pruned, 375);
}

TEST(Prune, NmMaskKeepsNLargestPerGroup) {
  // 2x8 along axis 1, 2:4.
  const int64_t shape[] = {2, 8};
  float w[] = {1, -4, 3,  2, 0,    0,     0,    0, //
               5, 5,  -5, 1, 0.1f, -0.3f, 0.2f, 0.4f};
  uint8_t keep[16];
  nmPruneMask(w, shape, 2, 1, 2, 4, keep);
  const uint8_t expected[] = {0, 1, 1, 0, 0, 0, 1, 1, //
                              0, 1, 1, 0, 0, 1, 0, 1};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(keep[i], expected[i]) << i;
  // Along axis 0 of a 4x2 tensor: each column is one group.
  const int64_t tall[] = {4, 2};
  float v[] = {1, 8, 2, 7, 3, 6, 4, 5};
  nmPruneMask(v, tall, 2, 0, 1, 4, keep);
  const uint8_t expectedTall[] = {0, 1, 0, 0, 0, 0, 1, 0};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(keep[i], expectedTall[i]) << i;
}

TEST(Prune, SparsityIsClampedAndNanPrunesNothing) {
  EXPECT_EQ(numPrunedFor(0.5, 9), 4);
  EXPECT_EQ(numPrunedFor(-0.5, 9), 0);
  EXPECT_EQ(numPrunedFor(1.5, 9), 9);
  EXPECT_EQ(numPrunedFor(std::nan(""), 9), 0);
}

TEST(Prune, NanCountsAsLargest) {
  float w[] = {std::nanf(""), 1.0f, std::numeric_limits<float>::infinity(),
               -2.0f};
  uint8_t keep[4];
  magnitudePruneMask(w, 4, 0.75, keep);
  EXPECT_EQ(keep[0], 1);
  EXPECT_EQ(keep[1] + keep[2] + keep[3], 0);
}

} // namespace

TEST(PackedCodes, FourBitsEveryPair) {
  // Every pair of 4-bit codes survives the round trip; the layout is the
  // documented one (even code low).
  std::vector<int8_t> codes;
  for (int lo = -8; lo <= 7; ++lo)
    for (int hi = -8; hi <= 7; ++hi) {
      codes.push_back(static_cast<int8_t>(lo));
      codes.push_back(static_cast<int8_t>(hi));
    }
  std::vector<int8_t> bytes(codes.size() / 2), back(codes.size());
  packCodes(codes.data(), codes.size(), 4, bytes.data());
  for (size_t i = 0; i < bytes.size(); ++i)
    EXPECT_EQ(static_cast<uint8_t>(bytes[i]),
              ((codes[2 * i] & 0xF) | ((codes[2 * i + 1] & 0xF) << 4)));
  unpackCodes(bytes.data(), codes.size(), 4, back.data());
  EXPECT_EQ(back, codes);
  // [1, -2] -> 0xE1.
  int8_t pair[2] = {1, -2}, byte = 0;
  packCodes(pair, 2, 4, &byte);
  EXPECT_EQ(static_cast<uint8_t>(byte), 0xE1);
}

TEST(PackedCodes, TwoBitsEveryQuadruple) {
  // Every quadruple of 2-bit codes, first code in the lowest two bits.
  std::vector<int8_t> codes;
  for (int q = 0; q < 256; ++q)
    for (int h = 0; h < 4; ++h)
      codes.push_back(static_cast<int8_t>(((q >> (2 * h)) & 3) - 2));
  std::vector<int8_t> bytes(codes.size() / 4), back(codes.size());
  packCodes(codes.data(), codes.size(), 2, bytes.data());
  for (size_t i = 0; i < bytes.size(); ++i) {
    unsigned expected = 0;
    for (int h = 0; h < 4; ++h)
      expected |= (static_cast<unsigned>(codes[4 * i + h]) & 3u) << (2 * h);
    EXPECT_EQ(static_cast<uint8_t>(bytes[i]), expected);
  }
  unpackCodes(bytes.data(), codes.size(), 2, back.data());
  EXPECT_EQ(back, codes);
  // [1, -1, 0, -2] -> 0b10'00'11'01 = 0x8D.
  int8_t quad[4] = {1, -1, 0, -2}, byte = 0;
  packCodes(quad, 4, 2, &byte);
  EXPECT_EQ(static_cast<uint8_t>(byte), 0x8D);
}

// Scales the verifier cannot see (run-time values) still give defined codes:
// the quotient x / s is one IEEE division; a NaN quotient has the zero
// point's code, like a NaN input (docs/Semantics.md, "Scale and zero point").
TEST(Quantize, BrokenScalesAreDefined) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const QuantRange r = uint8();
  const int64_t z = 100;
  auto q = [&](float x, float s) {
    return quantize(x, s, z, r, RoundingMode::HalfToEven);
  };
  // A zero scale saturates nonzero values; 0 / 0 is the zero point.
  EXPECT_EQ(q(1.0f, 0.0f), 255);
  EXPECT_EQ(q(-1.0f, 0.0f), 0);
  EXPECT_EQ(q(0.0f, 0.0f), z);
  EXPECT_EQ(q(1.0f, -0.0f), 0);
  // An infinite scale sends finite values to the zero point; inf / inf is
  // NaN: the zero point too.
  EXPECT_EQ(q(1.0f, inf), z);
  EXPECT_EQ(q(-3.0e38f, inf), z);
  EXPECT_EQ(q(inf, inf), z);
  // A NaN scale or input: the zero point.
  EXPECT_EQ(q(1.0f, nan), z);
  EXPECT_EQ(q(nan, 0.5f), z);
  // A negative scale mirrors the grid.
  EXPECT_EQ(q(1.0f, -1.0f), z - 1);
  // fake_quant is (q - z) * s in binary32: 0 for a zero scale, NaN for a NaN
  // or infinite one (0 * inf), so a broken scale shows downstream.
  EXPECT_EQ(fakeQuant(0.0f, 0.0f, z, r, RoundingMode::HalfToEven), 0.0f);
  EXPECT_TRUE(std::isnan(fakeQuant(1.0f, nan, z, r, RoundingMode::HalfToEven)));
  EXPECT_TRUE(std::isnan(fakeQuant(1.0f, inf, z, r, RoundingMode::HalfToEven)));
  EXPECT_FALSE(isValidScale(0.0f) || isValidScale(inf) || isValidScale(nan) ||
               isValidScale(-1.0f));
}
