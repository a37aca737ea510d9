//===- RequantizeTest.cpp - Fixed-point multiplier and requantize --------===//
//
// Part of qat-mlir. The reference here is independent of QuantMath.cpp: exact
// 128-bit integer division for the shifts, binary64 real arithmetic for the
// multiplier decomposition.
//
//===----------------------------------------------------------------------===//

#include "qat/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace quantmath;

namespace {

using Int128 = __int128;

/// v / 2^shift rounded with `mode`, via truncating 128-bit division.
Int128 referenceShift(Int128 v, unsigned shift, RoundingMode mode) {
  Int128 divisor = Int128(1) << shift;
  Int128 q = v / divisor; // truncates toward zero
  Int128 r = v % divisor; // same sign as v
  Int128 twiceAbsR = (r < 0 ? -r : r) * 2;
  int sign = v < 0 ? -1 : 1;
  switch (mode) {
  case RoundingMode::TowardZero:
    return q;
  case RoundingMode::HalfAwayFromZero:
    return twiceAbsR >= divisor ? q + sign : q;
  case RoundingMode::HalfToEven:
    if (twiceAbsR > divisor)
      return q + sign;
    if (twiceAbsR == divisor && (q % 2 != 0))
      return q + sign;
    return q;
  case RoundingMode::HalfUp:
    // Ties toward +inf: away from zero when positive, toward zero when
    // negative.
    if (twiceAbsR > divisor)
      return q + sign;
    if (twiceAbsR == divisor && sign > 0)
      return q + 1;
    return q;
  }
  return q;
}

constexpr RoundingMode kAllModes[] = {
    RoundingMode::HalfToEven, RoundingMode::HalfAwayFromZero,
    RoundingMode::HalfUp, RoundingMode::TowardZero};

TEST(RoundingRightShift, TiesInEveryMode) {
  // 5/2 = 2.5, -5/2 = -2.5, 7/2 = 3.5, 6/4 = 1.5.
  EXPECT_EQ(roundingRightShift(5, 1, RoundingMode::HalfToEven), 2);
  EXPECT_EQ(roundingRightShift(7, 1, RoundingMode::HalfToEven), 4);
  EXPECT_EQ(roundingRightShift(-5, 1, RoundingMode::HalfToEven), -2);
  EXPECT_EQ(roundingRightShift(5, 1, RoundingMode::HalfAwayFromZero), 3);
  EXPECT_EQ(roundingRightShift(-5, 1, RoundingMode::HalfAwayFromZero), -3);
  EXPECT_EQ(roundingRightShift(5, 1, RoundingMode::HalfUp), 3);
  EXPECT_EQ(roundingRightShift(-5, 1, RoundingMode::HalfUp), -2);
  EXPECT_EQ(roundingRightShift(-5, 1, RoundingMode::TowardZero), -2);
  EXPECT_EQ(roundingRightShift(6, 2, RoundingMode::HalfToEven), 2);
  EXPECT_EQ(roundingRightShift(-7, 0, RoundingMode::HalfToEven), -7);
}

TEST(RoundingRightShift, MatchesInt128ReferenceOnRandomInputs) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<int64_t>(rng());
    if (i % 4 == 0)
      v >>= rng() % 63; // small magnitudes too
    unsigned shift = rng() % 64;
    if (i % 8 == 0 && shift > 0) // force exact ties
      v = static_cast<int64_t>(
          (static_cast<uint64_t>(v) & ~((uint64_t(1) << shift) - 1)) |
          (uint64_t(1) << (shift - 1)));
    for (RoundingMode m : kAllModes)
      ASSERT_EQ(roundingRightShift(v, shift, m),
                static_cast<int64_t>(referenceShift(v, shift, m)))
          << v << " >> " << shift << " " << stringifyRoundingMode(m);
  }
  // The int64 extremes cannot overflow.
  int64_t lo = std::numeric_limits<int64_t>::min();
  int64_t hi = std::numeric_limits<int64_t>::max();
  for (RoundingMode m : kAllModes)
    for (unsigned shift : {1u, 31u, 62u, 63u}) {
      EXPECT_EQ(roundingRightShift(lo, shift, m),
                static_cast<int64_t>(referenceShift(lo, shift, m)));
      EXPECT_EQ(roundingRightShift(hi, shift, m),
                static_cast<int64_t>(referenceShift(hi, shift, m)));
    }
}

TEST(DecomposeMultiplier, ErrorBoundOverRandomScales) {
  // The stated bound: relative error at most 2^-31.
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> exponent(-33.0, 31.0);
  const double bound = std::ldexp(1.0, -31);
  for (int i = 0; i < 100000; ++i) {
    double m = std::exp2(exponent(rng));
    if (m >= std::ldexp(1.0, 31))
      continue;
    auto fpm = decomposeMultiplier(m);
    ASSERT_TRUE(fpm.has_value()) << m;
    EXPECT_GE(fpm->multiplier, int64_t(1) << 30);
    EXPECT_LT(int64_t(fpm->multiplier), int64_t(1) << 31);
    EXPECT_GE(fpm->shift, 0);
    EXPECT_LE(fpm->shift, 63);
    EXPECT_LE(std::fabs(fpm->toDouble() - m), bound * m) << m;
  }
  // Typical requantization multipliers, s_in * s_w / s_out.
  auto typical = decomposeMultiplier(0.02 * 0.004 / 0.05);
  ASSERT_TRUE(typical);
  EXPECT_EQ(typical->shift, 40);
}

TEST(DecomposeMultiplier, RejectsWhatItCannotRepresent) {
  EXPECT_FALSE(decomposeMultiplier(0.0));
  EXPECT_FALSE(decomposeMultiplier(-0.5));
  EXPECT_FALSE(decomposeMultiplier(std::nan("")));
  EXPECT_FALSE(decomposeMultiplier(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(decomposeMultiplier(std::ldexp(1.0, 31)));
  EXPECT_FALSE(decomposeMultiplier(std::ldexp(1.0, -34)));
  EXPECT_TRUE(decomposeMultiplier(std::ldexp(1.0, -33)));
  EXPECT_TRUE(decomposeMultiplier(std::ldexp(1.0, 31) * 0.99));
  // Rounding up to 2^31 renormalizes instead of overflowing.
  auto nearlyOne = decomposeMultiplier(1.0 - std::ldexp(1.0, -40));
  ASSERT_TRUE(nearlyOne);
  EXPECT_EQ(nearlyOne->multiplier, int32_t(1) << 30);
  EXPECT_EQ(nearlyOne->shift, 30);
}

TEST(Requantize, MatchesInt128ReferenceOnRandomInputs) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int32_t> accs(
      std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int32_t> zps(-128, 255);
  std::uniform_real_distribution<double> exponent(-33.0, 30.0);
  QuantRange ranges[] = {*getQuantRange(8, true, false),
                         *getQuantRange(8, false, false),
                         *getQuantRange(4, true, true),
                         {0, 127} /* fused ReLU on int8 */};
  for (int i = 0; i < 200000; ++i) {
    int32_t acc = accs(rng);
    if (i % 2 == 0)
      acc >>= rng() % 31;
    auto fpm = decomposeMultiplier(std::exp2(exponent(rng)));
    ASSERT_TRUE(fpm);
    int32_t inZp = zps(rng), outZp = zps(rng);
    QuantRange r = ranges[i % 4];
    for (RoundingMode m : kAllModes) {
      Int128 exact = (Int128(acc) - inZp) * fpm->multiplier;
      Int128 shifted = referenceShift(exact, fpm->shift, m);
      Int128 q = shifted + outZp;
      q = q < r.qmin ? r.qmin : (q > r.qmax ? r.qmax : q);
      ASSERT_EQ(requantize(acc, *fpm, inZp, outZp, r, m), int64_t(q))
          << acc << " " << fpm->multiplier << " >> " << fpm->shift;
    }
  }
}

TEST(Requantize, SaturatesAtTheInt32Edges) {
  QuantRange wide{std::numeric_limits<int32_t>::min(),
                  std::numeric_limits<int32_t>::max()};
  FixedPointMultiplier two{int32_t(1) << 30, 29}; // M = 2
  int32_t big = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(requantize(big, two, 0, 0, wide, RoundingMode::HalfToEven), big);
  EXPECT_EQ(requantize(-big, two, 0, 0, wide, RoundingMode::HalfToEven),
            std::numeric_limits<int32_t>::min());
  // acc - zp overflows int32 but not the 64-bit arithmetic.
  FixedPointMultiplier half{int32_t(1) << 30, 31}; // M = 0.5
  EXPECT_EQ(requantize(std::numeric_limits<int32_t>::min(), half, 100, 0, wide,
                       RoundingMode::HalfToEven),
            -1073741874);
}

TEST(Requantize, CloseToRealArithmetic) {
  // The integer result is within one step of the real-valued requantization.
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int32_t> accs(-(1 << 20), 1 << 20);
  QuantRange r = *getQuantRange(8, true, false);
  for (int i = 0; i < 10000; ++i) {
    double m = std::exp2(std::uniform_real_distribution<double>(-20, -6)(rng));
    auto fpm = decomposeMultiplier(m);
    int32_t acc = accs(rng);
    double real = std::nearbyint(acc * m);
    real = std::min<double>(std::max<double>(real, r.qmin), r.qmax);
    int64_t q = requantize(acc, *fpm, 0, 0, r, RoundingMode::HalfToEven);
    EXPECT_LE(std::fabs(double(q) - real), 1.0);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Integer layers: accumulator bounds and bias quantization
//===----------------------------------------------------------------------===//

TEST(AccumulatorBound, IsReachedExactlyByBruteForce) {
  // Every small range, zero point and depth up to 2: the bound equals the
  // largest |sum| over all code vectors.
  for (unsigned aBits : {2u, 3u}) {
    for (bool aSigned : {false, true}) {
      QuantRange a = *getQuantRange(aBits, aSigned, false);
      for (unsigned wBits : {2u, 3u}) {
        QuantRange w = *getQuantRange(wBits, true, true);
        for (int64_t z = a.qmin; z <= a.qmax; ++z) {
          for (int64_t depth = 1; depth <= 2; ++depth) {
            int64_t best = 0;
            for (int64_t a0 = a.qmin; a0 <= a.qmax; ++a0)
              for (int64_t a1 = a.qmin; a1 <= a.qmax; ++a1)
                for (int64_t w0 = w.qmin; w0 <= w.qmax; ++w0)
                  for (int64_t w1 = w.qmin; w1 <= w.qmax; ++w1) {
                    int64_t sum = (a0 - z) * w0;
                    if (depth == 2)
                      sum += (a1 - z) * w1;
                    best = std::max<int64_t>(best, std::llabs(sum));
                  }
            EXPECT_EQ(accumulatorBound(depth, a, z, w), best)
                << "a " << aBits << (aSigned ? "s" : "u") << " z " << z << " w "
                << wBits << " depth " << depth;
          }
        }
      }
    }
  }
}

TEST(AccumulatorBound, Int8LayersFitUpToDepth66311) {
  QuantRange u8 = *getQuantRange(8, false, false);
  QuantRange s8 = *getQuantRange(8, true, true); // [-127, 127]
  // 255 * 127 = 32385 per term (zero point at either end of the range).
  EXPECT_EQ(accumulatorBound(784, u8, 0, s8), 784 * 32385);
  EXPECT_EQ(accumulatorBound(784, u8, 128, s8), 784 * 128 * 127);
  EXPECT_TRUE(fitsInt32(accumulatorBound(66311, u8, 0, s8)));  // 2147481735
  EXPECT_FALSE(fitsInt32(accumulatorBound(66312, u8, 0, s8))); // 2147514120
  EXPECT_FALSE(fitsInt32(accumulatorBound(66311, u8, 0, s8), 2000));
  EXPECT_TRUE(fitsInt32(accumulatorBound(66311, u8, 0, s8), 1912));
  // 4-bit weights and activations leave room for far deeper layers.
  QuantRange u4 = *getQuantRange(4, false, false);
  QuantRange s4 = *getQuantRange(4, true, true); // [-7, 7]
  EXPECT_TRUE(fitsInt32(accumulatorBound(20000000, u4, 0, s4)));
  // Saturates instead of overflowing.
  EXPECT_EQ(accumulatorBound(std::numeric_limits<int64_t>::max(), u8, 0, s8),
            std::numeric_limits<int64_t>::max());
}

TEST(QuantizeBias, RoundsAndSaturatesLikeQuantize) {
  // scale = 0.5 * 2 = 1: ties follow the mode.
  EXPECT_EQ(quantizeBias(2.5f, 0.5f, 2.0f, RoundingMode::HalfToEven), 2);
  EXPECT_EQ(quantizeBias(2.5f, 0.5f, 2.0f, RoundingMode::HalfAwayFromZero), 3);
  EXPECT_EQ(quantizeBias(-2.5f, 0.5f, 2.0f, RoundingMode::HalfAwayFromZero),
            -3);
  EXPECT_EQ(quantizeBias(0.75f, 0.25f, 0.5f, RoundingMode::HalfToEven), 6);
  EXPECT_EQ(quantizeBias(1e30f, 1e-3f, 1e-3f, RoundingMode::HalfToEven),
            std::numeric_limits<int32_t>::max());
  EXPECT_EQ(quantizeBias(-1e30f, 1e-3f, 1e-3f, RoundingMode::HalfToEven),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(quantizeBias(NAN, 1.0f, 1.0f, RoundingMode::HalfToEven), 0);
}
