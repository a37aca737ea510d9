//===- SparseStorage.cpp - Compressed int8 weight tiles -------------------===//
//
// Part of qat-mlir. See SparseStorage.h for the two formats.
//
//===----------------------------------------------------------------------===//

#include "qat/Support/SparseStorage.h"

#include <cassert>
#include <cstring>

namespace sparsestorage {

namespace {

bool isZeroTile(const int8_t *tile) {
  for (int64_t i = 0; i < kTileBytes; ++i)
    if (tile[i] != 0)
      return false;
  return true;
}

} // namespace

int maxNonzerosPerGroup(const int8_t *bytes, int64_t count) {
  assert(count % kGroupBytes == 0 && "whole groups");
  int most = 0;
  for (int64_t g = 0; g < count; g += kGroupBytes) {
    int nonzeros = 0;
    for (int64_t p = 0; p < kGroupBytes; ++p)
      nonzeros += bytes[g + p] != 0;
    most = nonzeros > most ? nonzeros : most;
  }
  return most;
}

std::optional<NMGroups> compressNM(const int8_t *bytes, int64_t count, int n) {
  assert((n == 1 || n == 2) && count % kGroupBytes == 0);
  int64_t groups = count / kGroupBytes;
  NMGroups out;
  out.n = n;
  out.values.assign(groups * n, 0);
  out.positions.assign((groups * n * 2 + 7) / 8, 0);
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t *group = bytes + g * kGroupBytes;
    int slots[2] = {0, 0}, used = 0;
    for (int p = 0; p < kGroupBytes; ++p)
      if (group[p] != 0) {
        if (used == n)
          return std::nullopt;
        slots[used++] = p;
      }
    // Fill the free slots with zeros at the lowest unused positions.
    for (int p = 0; used < n; ++p) {
      bool taken = false;
      for (int s = 0; s < used; ++s)
        taken |= slots[s] == p;
      if (!taken)
        slots[used++] = p;
    }
    for (int s = 0; s < n; ++s) {
      int64_t slot = g * n + s;
      out.values[slot] = group[slots[s]];
      out.positions[slot * 2 / 8] |=
          static_cast<uint8_t>(slots[s] << (slot * 2 % 8));
    }
  }
  return out;
}

void expandNM(const NMGroups &groups, int8_t *bytes) {
  int64_t count = static_cast<int64_t>(groups.values.size()) / groups.n;
  std::memset(bytes, 0, count * kGroupBytes);
  for (int64_t g = 0; g < count; ++g)
    for (int s = 0; s < groups.n; ++s) {
      int64_t slot = g * groups.n + s;
      int position = (groups.positions[slot * 2 / 8] >> (slot * 2 % 8)) & 3;
      if (groups.values[slot] != 0)
        bytes[g * kGroupBytes + position] = groups.values[slot];
    }
}

Blocks compressBlocks(const int8_t *tiles, int64_t panels,
                      int64_t tilesPerPanel) {
  Blocks out;
  out.offsets.push_back(0);
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t r = 0; r < tilesPerPanel; ++r) {
      const int8_t *tile = tiles + (p * tilesPerPanel + r) * kTileBytes;
      if (isZeroTile(tile))
        continue;
      out.values.insert(out.values.end(), tile, tile + kTileBytes);
      out.rows.push_back(static_cast<int32_t>(r));
    }
    out.offsets.push_back(static_cast<int32_t>(out.rows.size()));
  }
  return out;
}

void expandBlocks(const Blocks &blocks, int64_t tilesPerPanel, int8_t *tiles) {
  int64_t panels = static_cast<int64_t>(blocks.offsets.size()) - 1;
  std::memset(tiles, 0, panels * tilesPerPanel * kTileBytes);
  for (int64_t p = 0; p < panels; ++p)
    for (int32_t i = blocks.offsets[p]; i < blocks.offsets[p + 1]; ++i)
      std::memcpy(tiles + (p * tilesPerPanel + blocks.rows[i]) * kTileBytes,
                  blocks.values.data() + int64_t(i) * kTileBytes, kTileBytes);
}

double zeroTileFraction(const int8_t *tiles, int64_t count) {
  if (count == 0)
    return 0.0;
  int64_t zero = 0;
  for (int64_t t = 0; t < count; ++t)
    zero += isZeroTile(tiles + t * kTileBytes);
  return static_cast<double>(zero) / static_cast<double>(count);
}

} // namespace sparsestorage
