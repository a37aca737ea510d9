//===- SparseStorage.h - Compressed int8 weight tiles -----------*- C++ -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//
//
// The two compressed forms of pruned int8 weights in a compiled library, in
// plain C++ (no MLIR), defined on the VNNI kernel's packed weight layout:
// tiles of 64 bytes, each 16 groups of 4 consecutive reduction elements (one
// group per output column). qat-x86-vnni-matmul compresses with these
// functions at compile time and emits code that reads the compressed form;
// unittests/Support checks the round trips, and the compiled kernels are
// checked bit for bit against dense ones (python/tests/test_runtime.py).
//
//  * N:M groups (N = 1 or 2 nonzeros in each group of 4, the 2:4 and 1:4
//    patterns along the reduction axis): N values and N 2-bit positions per
//    group. 2:4 stores 40 bytes per 64-byte tile (62.5%), 1:4 20 (31.25%).
//    The kernel expands them back to the packed layout at run time.
//  * Blocks: only the tiles that hold a nonzero byte, with a CSR index (per
//    16-column panel, the range of its kept tiles, and each kept tile's
//    position along the reduction). The kernel skips the missing tiles.
//    At 75% zero tiles: 25% of the values plus 4 bytes per kept tile
//    (26.6% of dense).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_SUPPORT_SPARSESTORAGE_H
#define QAT_SUPPORT_SPARSESTORAGE_H

#include <cstdint>
#include <optional>
#include <vector>

namespace sparsestorage {

/// Bytes of a tile of the packed layout, of one group, and groups per tile.
constexpr int64_t kTileBytes = 64;
constexpr int64_t kGroupBytes = 4;
constexpr int64_t kGroupsPerTile = kTileBytes / kGroupBytes;

/// The most nonzero bytes in any group of 4 of `bytes` (a multiple of 4).
int maxNonzerosPerGroup(const int8_t *bytes, int64_t count);

/// N:M groups: for group g and slot s < n, values[g * n + s] and its
/// position in the group, bits [2 * (g * n + s), +2) of `positions` (bit i
/// is bit i % 8 of byte i / 8). A group's slots hold its nonzeros in
/// increasing position, then zeros at the lowest unused positions, so that
/// the n positions of a group are distinct.
struct NMGroups {
  int n = 0;
  std::vector<int8_t> values;
  std::vector<uint8_t> positions;
};

/// `count` bytes (a multiple of 4) as N:M groups with n = 1 or 2, or
/// std::nullopt when a group has more than n nonzeros.
std::optional<NMGroups> compressNM(const int8_t *bytes, int64_t count, int n);

/// The inverse: writes values.size() / n * 4 bytes.
void expandNM(const NMGroups &groups, int8_t *bytes);

/// Blocks: of `panels` x `tilesPerPanel` tiles (panel-major), the kept ones:
/// panel p's are tiles [offsets[p], offsets[p + 1]) of `values` (64 bytes
/// each), the i-th of which sits at position rows[i] of its panel.
struct Blocks {
  std::vector<int8_t> values;
  std::vector<int32_t> offsets;
  std::vector<int32_t> rows;
};

/// The zero tiles of `tiles` dropped.
Blocks compressBlocks(const int8_t *tiles, int64_t panels,
                      int64_t tilesPerPanel);

/// The inverse: writes panels x tilesPerPanel tiles, zero where dropped.
void expandBlocks(const Blocks &blocks, int64_t tilesPerPanel, int8_t *tiles);

/// The fraction of the tiles of `tiles` (count tiles) that are all zero.
double zeroTileFraction(const int8_t *tiles, int64_t count);

} // namespace sparsestorage

#endif // QAT_SUPPORT_SPARSESTORAGE_H
