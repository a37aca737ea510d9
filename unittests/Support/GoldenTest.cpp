//===- GoldenTest.cpp - The reference library against PyTorch ------------===//
//
// Part of qat-mlir. Checks QuantMath against PyTorch's fake-quant kernels,
// using vectors written by scripts/gen_golden.py (see that script for the
// file format).
//
// Intended differences, each checked rather than tolerated blindly:
//  1. qat divides (round(x / s)); PyTorch multiplies by the binary32
//     reciprocal (round(x * (1 / s))). Where the two disagree, the test checks
//     that PyTorch's value is exactly what its formula gives, and that our
//     value is what ours gives. With power-of-two scales both agree exactly.
//  2. LSQ scale gradient inside the range: qat uses round(x/s) - x/s, PyTorch
//     (fake_quant(x) - x) / s. Same real number, different binary32 rounding,
//     and sums are accumulated in another order: compared with a tolerance
//     relative to the sum of magnitudes.
//  3. Masked dx: PyTorch writes dy * 0 (so -0.0 for negative dy), qat +0.0.
//
//===----------------------------------------------------------------------===//

#include "qat/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace quantmath;

namespace {

struct GoldenCase {
  std::string name, op;
  int64_t qmin = 0, qmax = 0, axis = -1;
  float gradFactor = 1;
  std::vector<int64_t> shape;
  std::map<std::string, std::vector<float>> values;
};

std::vector<GoldenCase> loadGoldenCases() {
  std::ifstream in(QAT_GOLDEN_DIR "/pytorch_fake_quant.txt");
  std::vector<GoldenCase> cases;
  std::string line;
  GoldenCase current;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "case") {
      std::string label;
      current = GoldenCase();
      words >> current.name >> current.op >> label >> current.qmin >> label >>
          current.qmax >> label >> current.axis >> label >> current.gradFactor;
    } else if (key == "shape") {
      int64_t d;
      while (words >> d)
        current.shape.push_back(d);
    } else if (key == "end") {
      cases.push_back(current);
    } else {
      std::vector<float> &values = current.values[key];
      double v;
      while (words >> v)
        values.push_back(static_cast<float>(v));
    }
  }
  return cases;
}

/// Names a case in test output (instead of dumping its bytes).
void PrintTo(const GoldenCase &c, std::ostream *os) { *os << c.name; }

/// PyTorch's fake-quant code, emulated: clamp(z + nearbyint(x * (1/s))).
int64_t pytorchCode(float x, float scale, int64_t zeroPoint, QuantRange r) {
  float invScale = 1.0f / scale;
  return static_cast<int64_t>(std::nearbyint(x * invScale)) + zeroPoint;
}

class Golden : public ::testing::TestWithParam<GoldenCase> {};

TEST(GoldenFile, HasEveryCase) {
  std::vector<GoldenCase> cases = loadGoldenCases();
  ASSERT_EQ(cases.size(), 10u) << "regenerate with scripts/gen_golden.py";
}

TEST_P(Golden, MatchesPyTorch) {
  const GoldenCase &c = GetParam();
  QuantRange range{c.qmin, c.qmax};
  const std::vector<float> &x = c.values.at("x");
  const std::vector<float> &dy = c.values.at("dy");
  const std::vector<float> &torchY = c.values.at("y");
  const std::vector<float> &torchDx = c.values.at("dx");
  const std::vector<float> &scales = c.values.at("scale");
  std::vector<int64_t> zeroPoints;
  for (float z : c.values.at("zero_point"))
    zeroPoints.push_back(normalizeZeroPoint(z, range));
  ChannelLayout layout =
      c.axis < 0 ? ChannelLayout::perTensor()
                 : ChannelLayout::perAxis(c.shape.data(), c.shape.size(),
                                          static_cast<unsigned>(c.axis));
  ASSERT_EQ(scales.size(), static_cast<size_t>(layout.numChannels));
  const int64_t n = static_cast<int64_t>(x.size());

  std::vector<float> y(n), dx(n), dScale(layout.numChannels),
      dZeroPoint(layout.numChannels);
  fakeQuantTensor(x.data(), n, layout, scales.data(), zeroPoints.data(), range,
                  RoundingMode::HalfToEven, y.data());
  fakeQuantGradTensor(x.data(), dy.data(), n, layout, scales.data(),
                      zeroPoints.data(), range, RoundingMode::HalfToEven,
                      c.gradFactor, dx.data(), dScale.data(),
                      dZeroPoint.data());

  bool powerOfTwoScales = true;
  for (float s : scales)
    powerOfTwoScales &= std::ldexp(1.0f, std::ilogb(s)) == s;

  int64_t explained = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t ch = layout.channelOf(i);
    float s = scales[ch];
    int64_t z = zeroPoints[ch];
    int64_t torchCode = pytorchCode(x[i], s, z, range);
    if (y[i] == torchY[i] && dx[i] == torchDx[i])
      continue;
    // Difference 1: only the reciprocal can explain a mismatch.
    ++explained;
    EXPECT_FALSE(powerOfTwoScales) << c.name << " element " << i;
    EXPECT_NE(torchCode, static_cast<int64_t>(unclampedCode(
                             x[i], s, z, RoundingMode::HalfToEven)))
        << c.name << " element " << i << " x=" << x[i];
    EXPECT_EQ(torchY[i], dequantize(range.clamp(torchCode), s, z))
        << c.name << " element " << i;
    EXPECT_EQ(torchDx[i], range.contains(torchCode) ? dy[i] : 0.0f)
        << c.name << " element " << i;
  }
  // The reciprocal changes the code of few elements (ties of x / s).
  EXPECT_LE(explained * 100, n) << c.name;

  if (c.op != "learnable")
    return;
  const std::vector<float> &torchDScale = c.values.at("dscale");
  const std::vector<float> &torchDZeroPoint = c.values.at("dzero_point");
  std::vector<double> magnitude(layout.numChannels, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ch = layout.channelOf(i);
    FakeQuantGrad g =
        fakeQuantGrad(x[i], dy[i], scales[ch], zeroPoints[ch], range,
                      RoundingMode::HalfToEven, c.gradFactor);
    magnitude[ch] += std::fabs(g.dScale) + std::fabs(g.dZeroPoint);
  }
  for (int64_t ch = 0; ch < layout.numChannels; ++ch) {
    double tolerance = 1e-5 * magnitude[ch] + 1e-6;
    EXPECT_NEAR(dScale[ch], torchDScale[ch], tolerance)
        << c.name << " channel " << ch;
    EXPECT_NEAR(dZeroPoint[ch], torchDZeroPoint[ch], tolerance)
        << c.name << " channel " << ch;
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Golden,
                         ::testing::ValuesIn(loadGoldenCases()),
                         [](const ::testing::TestParamInfo<GoldenCase> &info) {
                           return info.param.name;
                         });

} // namespace
