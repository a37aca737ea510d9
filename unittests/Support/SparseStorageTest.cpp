//===- SparseStorageTest.cpp - Compressed weight tiles --------------------===//
//
// Part of qat-mlir. The two compressed forms of qat/Support/SparseStorage.h:
// round trips on random pruned tiles, the exact byte counts the formats
// promise, and the refusals (a group with more nonzeros than N).
//
//===----------------------------------------------------------------------===//

#include "qat/Support/SparseStorage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace sparsestorage;

namespace {

/// `tiles` random tiles whose groups of 4 have at most `keep` nonzeros
/// (some fewer, to exercise the zero-filled slots).
std::vector<int8_t> nmTiles(int64_t tiles, int keep, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int8_t> bytes(tiles * kTileBytes, 0);
  for (int64_t g = 0; g < tiles * kGroupsPerTile; ++g) {
    int positions[4] = {0, 1, 2, 3};
    std::shuffle(positions, positions + 4, rng);
    int nonzeros = static_cast<int>(rng() % (keep + 1));
    for (int s = 0; s < nonzeros; ++s) {
      int8_t v = static_cast<int8_t>(rng() % 255 - 127);
      bytes[g * kGroupBytes + positions[s]] = v == 0 ? 1 : v;
    }
  }
  return bytes;
}

TEST(SparseStorage, NMRoundTrip) {
  for (int n : {1, 2}) {
    std::vector<int8_t> bytes = nmTiles(37, n, 7 + n);
    EXPECT_LE(maxNonzerosPerGroup(bytes.data(), bytes.size()), n);
    std::optional<NMGroups> groups = compressNM(bytes.data(), bytes.size(), n);
    ASSERT_TRUE(groups.has_value());
    // n values and n 2-bit positions per group of 4 bytes.
    EXPECT_EQ(groups->values.size(), bytes.size() / 4 * n);
    EXPECT_EQ(groups->positions.size(), bytes.size() / 4 * n * 2 / 8);
    std::vector<int8_t> back(bytes.size(), 42);
    expandNM(*groups, back.data());
    EXPECT_EQ(back, bytes);
  }
}

TEST(SparseStorage, NMBytesAreThePromisedFraction) {
  std::vector<int8_t> bytes = nmTiles(100, 2, 3);
  std::optional<NMGroups> groups = compressNM(bytes.data(), bytes.size(), 2);
  ASSERT_TRUE(groups.has_value());
  double stored = groups->values.size() + groups->positions.size();
  EXPECT_DOUBLE_EQ(stored / bytes.size(), 0.625);
}

TEST(SparseStorage, NMPositionsOfAKnownGroup) {
  // Group 0: nonzeros at 1 and 3 -> slots (1, 3); group 1: one nonzero at 2
  // -> slots (2, 0), the filler at the lowest free position.
  int8_t bytes[8] = {0, 5, 0, -7, 0, 0, 9, 0};
  std::optional<NMGroups> groups = compressNM(bytes, 8, 2);
  ASSERT_TRUE(groups.has_value());
  EXPECT_EQ(groups->values, (std::vector<int8_t>{5, -7, 9, 0}));
  // Bits: slot 0 = 1, slot 1 = 3, slot 2 = 2, slot 3 = 0.
  EXPECT_EQ(groups->positions, (std::vector<uint8_t>{1 | 3 << 2 | 2 << 4}));
}

TEST(SparseStorage, NMRefusesAFullerGroup) {
  std::vector<int8_t> bytes = nmTiles(4, 2, 11);
  bytes[17] = 3, bytes[18] = 4, bytes[19] = 5, bytes[16] = 6;
  EXPECT_EQ(maxNonzerosPerGroup(bytes.data(), bytes.size()), 4);
  EXPECT_FALSE(compressNM(bytes.data(), bytes.size(), 2).has_value());
  EXPECT_FALSE(compressNM(nmTiles(4, 2, 1).data(), 4 * kTileBytes, 1)
                   .has_value());
}

TEST(SparseStorage, BlocksRoundTrip) {
  std::mt19937 rng(5);
  const int64_t panels = 6, tilesPerPanel = 9;
  std::vector<int8_t> tiles(panels * tilesPerPanel * kTileBytes, 0);
  int64_t kept = 0;
  for (int64_t t = 0; t < panels * tilesPerPanel; ++t) {
    if (rng() % 4 != 0)
      continue;
    ++kept;
    // A kept tile may be mostly zero: one nonzero byte keeps it.
    tiles[t * kTileBytes + rng() % kTileBytes] = 1 + rng() % 100;
  }
  Blocks blocks = compressBlocks(tiles.data(), panels, tilesPerPanel);
  EXPECT_EQ(blocks.rows.size(), static_cast<size_t>(kept));
  EXPECT_EQ(blocks.values.size(), static_cast<size_t>(kept * kTileBytes));
  ASSERT_EQ(blocks.offsets.size(), static_cast<size_t>(panels + 1));
  EXPECT_EQ(blocks.offsets.back(), kept);
  for (int64_t p = 0; p < panels; ++p)
    for (int32_t i = blocks.offsets[p]; i + 1 < blocks.offsets[p + 1]; ++i)
      EXPECT_LT(blocks.rows[i], blocks.rows[i + 1]) << "rows ascend";
  EXPECT_DOUBLE_EQ(zeroTileFraction(tiles.data(), panels * tilesPerPanel),
                   1.0 - double(kept) / (panels * tilesPerPanel));
  std::vector<int8_t> back(tiles.size(), 42);
  expandBlocks(blocks, tilesPerPanel, back.data());
  EXPECT_EQ(back, tiles);
}

TEST(SparseStorage, AllZeroAndDenseExtremes) {
  std::vector<int8_t> zero(3 * kTileBytes, 0);
  Blocks none = compressBlocks(zero.data(), 1, 3);
  EXPECT_TRUE(none.rows.empty());
  EXPECT_EQ(none.offsets, (std::vector<int32_t>{0, 0}));
  EXPECT_DOUBLE_EQ(zeroTileFraction(zero.data(), 3), 1.0);
  std::vector<int8_t> full(3 * kTileBytes, -1);
  EXPECT_DOUBLE_EQ(zeroTileFraction(full.data(), 3), 0.0);
  EXPECT_EQ(compressBlocks(full.data(), 3, 1).rows.size(), 3u);
}

} // namespace
