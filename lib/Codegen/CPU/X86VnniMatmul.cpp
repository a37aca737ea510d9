//===- X86VnniMatmul.cpp - qat-x86-vnni-matmul
//-----------------------------===//
//
// Part of qat-mlir. Rewrites int8 x int8 -> int32 matmuls into AVX-512 VNNI
// code: vpdpbusd multiplies 64 unsigned bytes by 64 signed bytes and adds
// groups of four products into 16 int32 lanes. The dot product is emitted as
// plain vector arithmetic (buildDotProduct), which qat-x86-lower-vnni-dot
// turns into the instruction after bufferization. The signed A is made unsigned
// by adding 128 (a xor 0x80 per byte), which adds 128 * colsum(B)[j] to every
// C[i][j]; the accumulators start at C - 128 * colsum(B) to cancel it. B is
// packed so that each 64-byte vector holds 4 consecutive k of 16 columns.
//
// Pruned constant weights are stored compressed (qat/Support/SparseStorage.h)
// when the cost rule in chooseFormat says so: block-sparse weights as their
// nonzero tiles, which the kernel walks through a CSR index and so skips the
// zero ones; N:M weights as values and 2-bit positions, expanded into the
// packed layout at run time.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Support/SparseStorage.h"
#include "qat/Utils/PackedCodes.h"

#include "ImplicitGemm.h"
#include "MatmulKernels.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_X86VNNIMATMUL
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

constexpr int64_t kLanes = 16;  // int32 lanes of a zmm register
constexpr int64_t kGroup = 4;   // bytes summed per lane by vpdpbusd
constexpr int64_t kRows = 8;    // rows of a register block
constexpr int64_t kVectors = 2; // 16-column vectors of a register block
/// Independent accumulators a block of few rows keeps, so that each
/// vpdpbusd's latency is hidden behind the others': a block of fewer than
/// 4 rows gets wider panels (8 vectors for one row, at batch 1).
constexpr int64_t kMinChains = 8;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The pass options that govern compressed weights (chooseFormat).
struct SparseWeightOptions {
  bool enabled;
  double minZeroTiles;
};

/// B[K][N] packed to [ceil(N/16)][ceil(K/4)][64] (zero padded), and the
/// correction -128 * colsum(B) as [ceil(N/16) * 16] int32. Block-sparse
/// weights keep only their nonzero tiles: `packed` is then [tiles][64],
/// panel jb's tiles are [tileOffsets[jb], tileOffsets[jb + 1]) and tile t
/// covers k from 4 * tileRows[t] (sparsestorage::Blocks).
struct PackedB {
  Value packed;
  Value correction;
  Value tileOffsets;
  Value tileRows;

  bool isBlockSparse() const { return static_cast<bool>(tileOffsets); }
};

/// How a constant B is stored in the library and read by the kernel.
enum class WeightFormat { Dense, Blocks, NM };

/// The cost rule. The block-sparse kernel costs about what the dense one
/// does per tile it multiplies (a 16-column panel instead of 32, one index
/// load), so it wins once enough tiles are skipped: at least `minZeroTiles`
/// of them. Otherwise weights whose groups of 4 along k hold at most 2
/// nonzeros (2:4, 1:4) are stored as N:M groups, 62.5% or 31% of the
/// bytes, for the price of expanding them once per call; 2- and 4-bit
/// weights stay packed (25% or 50% already). Anything else is dense.
WeightFormat chooseFormat(ArrayRef<int8_t> packed, unsigned packedBits,
                          const SparseWeightOptions &options) {
  if (!options.enabled)
    return WeightFormat::Dense;
  int64_t tiles = packed.size() / sparsestorage::kTileBytes;
  if (sparsestorage::zeroTileFraction(packed.data(), tiles) >=
      options.minZeroTiles)
    return WeightFormat::Blocks;
  if (!packedBits &&
      sparsestorage::maxNonzerosPerGroup(packed.data(), packed.size()) <= 2)
    return WeightFormat::NM;
  return WeightFormat::Dense;
}

template <typename T>
Value constantVector(ImplicitLocOpBuilder &b, ArrayRef<T> values,
                     ArrayRef<int64_t> shape, Type elementType) {
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(RankedTensorType::get(shape, elementType),
                                values));
}

/// The packed layout [nb][kb][64] rebuilt at run time from N:M groups, one
/// tile per iteration: slot s of lane l is broadcast to the lane's 4 bytes
/// (a shuffle of the values), its 2-bit position likewise from the
/// positions' bytes, and each byte keeps the slot whose position is its own.
Value buildExpandNM(ImplicitLocOpBuilder &b,
                    const sparsestorage::NMGroups &groups, int64_t nb,
                    int64_t kb) {
  constexpr int64_t tileBytes = sparsestorage::kTileBytes;
  constexpr int64_t groupBytes = sparsestorage::kGroupBytes;
  int64_t n = groups.n, tiles = nb * kb;
  int64_t valuesPerTile = sparsestorage::kGroupsPerTile * n;
  int64_t positionBytesPerTile = valuesPerTile * 2 / 8;
  Type i8 = b.getI8Type();
  Value values =
      constantVector<int8_t>(b, groups.values, {tiles * valuesPerTile}, i8);
  SmallVector<int8_t> positionBytes(groups.positions.begin(),
                                    groups.positions.end());
  Value positions = constantVector<int8_t>(b, positionBytes,
                                           {tiles * positionBytesPerTile}, i8);

  auto tileType = VectorType::get({tileBytes}, i8);
  auto splat = [&](ArrayRef<int8_t> bytes) -> Value {
    return arith::ConstantOp::create(b,
                                     DenseElementsAttr::get(tileType, bytes));
  };
  // Per byte i of a tile (lane i / 4, position i % 4) and slot s: the
  // slot's value index, the byte holding its position and that byte's shift.
  SmallVector<SmallVector<int64_t>> valueIndex(n), positionByte(n);
  SmallVector<SmallVector<int8_t>> shift(n);
  SmallVector<int8_t> ownPosition;
  for (int64_t i = 0; i < tileBytes; ++i) {
    int64_t lane = i / groupBytes;
    ownPosition.push_back(static_cast<int8_t>(i % groupBytes));
    for (int64_t s = 0; s < n; ++s) {
      int64_t slot = lane * n + s;
      valueIndex[s].push_back(slot);
      positionByte[s].push_back(slot * 2 / 8);
      shift[s].push_back(static_cast<int8_t>(slot * 2 % 8));
    }
  }
  Value own = splat(ownPosition);
  Value three = splat(SmallVector<int8_t>(tileBytes, 3));
  Value zeros = splat(SmallVector<int8_t>(tileBytes, 0));
  SmallVector<Value> shifts;
  for (int64_t s = 0; s < n; ++s)
    shifts.push_back(splat(shift[s]));

  auto outType = RankedTensorType::get({tiles, tileBytes}, i8);
  Value init = tensor::EmptyOp::create(b, outType.getShape(), i8);
  Value zero8 = arith::ConstantIntOp::create(b, 0, 8);
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, v);
  };
  auto loop = scf::ForOp::create(
      b, index(0), index(tiles), index(1), ValueRange{init},
      [&](OpBuilder &nested, Location loc, Value t, ValueRange iter) {
        ImplicitLocOpBuilder lb(loc, nested);
        auto at = [&](int64_t stride) -> Value {
          return arith::MulIOp::create(
              lb, t, arith::ConstantIndexOp::create(lb, stride));
        };
        Value tileValues = vector::TransferReadOp::create(
            lb, VectorType::get({valuesPerTile}, i8), values,
            ValueRange{at(valuesPerTile)}, zero8, ArrayRef<bool>{true});
        Value tilePositions = vector::TransferReadOp::create(
            lb, VectorType::get({positionBytesPerTile}, i8), positions,
            ValueRange{at(positionBytesPerTile)}, zero8, ArrayRef<bool>{true});
        Value result = zeros;
        for (int64_t s = n - 1; s >= 0; --s) {
          Value candidate = vector::ShuffleOp::create(
              lb, tileValues, tileValues, valueIndex[s]);
          Value position = arith::AndIOp::create(
              lb,
              arith::ShRUIOp::create(
                  lb,
                  vector::ShuffleOp::create(lb, tilePositions, tilePositions,
                                            positionByte[s]),
                  shifts[s]),
              three);
          Value mine = arith::CmpIOp::create(lb, arith::CmpIPredicate::eq,
                                             position, own);
          result = arith::SelectOp::create(lb, mine, candidate, result);
        }
        Value written =
            vector::TransferWriteOp::create(
                lb, result, iter[0],
                ValueRange{t, arith::ConstantIndexOp::create(lb, 0)},
                ArrayRef<bool>{true})
                .getResult();
        scf::YieldOp::create(lb, written);
      });
  return tensor::ExpandShapeOp::create(
      b, RankedTensorType::get({nb, kb, tileBytes}, i8), loop.getResult(0),
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
}

/// Packs a constant B ([k][n] row-major codes) at compile time. Codes that
/// came packed (`packedBits` 2 or 4, else 0) stay that way: the tiles are
/// stored with the same width and unpacked at run time, straight into the
/// kernel's layout.
PackedB packConstant(ImplicitLocOpBuilder &b, ArrayRef<int8_t> source,
                     int64_t k, int64_t n, unsigned packedBits,
                     const SparseWeightOptions &options) {
  int64_t nb = ceilDiv(n, kLanes), kb = ceilDiv(k, kGroup);
  std::vector<int8_t> packed(nb * kb * kLanes * kGroup, 0);
  std::vector<int32_t> correction(nb * kLanes, 0);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t j = 0; j < n; ++j) {
      int8_t v = source[kk * n + j];
      int64_t index = ((j / kLanes) * kb + kk / kGroup) * kLanes * kGroup +
                      (j % kLanes) * kGroup + kk % kGroup;
      packed[index] = v;
      correction[j] -= 128 * v;
    }
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  auto correctionB = [&] {
    return constantVector<int32_t>(b, correction, {nb * kLanes}, i32);
  };
  // Tiles stored as the codes came: 8 / packedBits per byte when packed.
  auto store = [&](ArrayRef<int8_t> tiles, ArrayRef<int64_t> shape) -> Value {
    auto type = RankedTensorType::get(shape, i8);
    return packedBits ? buildPackedCodes(b, tiles, type, packedBits)
                      : constantVector<int8_t>(b, tiles, shape, i8);
  };
  switch (chooseFormat(packed, packedBits, options)) {
  case WeightFormat::Dense: {
    Value tiles = store(packed, {nb, kb, kLanes * kGroup});
    return {tiles, correctionB(), {}, {}};
  }
  case WeightFormat::NM: {
    int most = sparsestorage::maxNonzerosPerGroup(packed.data(), packed.size());
    std::optional<sparsestorage::NMGroups> groups = sparsestorage::compressNM(
        packed.data(), packed.size(), std::max(most, 1));
    assert(groups && "chooseFormat checked the groups");
    Value tiles = buildExpandNM(b, *groups, nb, kb);
    return {tiles, correctionB(), {}, {}};
  }
  case WeightFormat::Blocks: {
    sparsestorage::Blocks blocks =
        sparsestorage::compressBlocks(packed.data(), nb, kb);
    // An all-zero B keeps one zero tile that no panel reads: tensors are
    // never empty.
    if (blocks.rows.empty()) {
      blocks.values.assign(kLanes * kGroup, 0);
      blocks.rows.push_back(0);
    }
    int64_t kept = blocks.rows.size();
    Value tiles = store(blocks.values, {kept, kLanes * kGroup});
    return {tiles, correctionB(),
            constantVector<int32_t>(b, blocks.offsets, {nb + 1}, i32),
            constantVector<int32_t>(b, blocks.rows, {kept}, i32)};
  }
  }
  llvm_unreachable("every weight format");
}

/// `byte` xor 0x80: a signed int8 made unsigned, a + 128 as u8.
Value flipSignBit(OpBuilder &b, Location loc, Value byte) {
  return arith::XOrIOp::create(b, loc, byte,
                               arith::ConstantIntOp::create(b, loc, -128, 8));
}

/// Packs B at run time: pad, gather into the packed layout, sum columns.
PackedB packAtRunTime(ImplicitLocOpBuilder &b, Value bMat, int64_t k,
                      int64_t n) {
  int64_t nb = ceilDiv(n, kLanes), kb = ceilDiv(k, kGroup);
  MLIRContext *ctx = b.getContext();
  Value zero8 = arith::ConstantIntOp::create(b, 0, 8);
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> high = {b.getIndexAttr(kb * kGroup - k),
                                    b.getIndexAttr(nb * kLanes - n)};
  auto paddedType =
      RankedTensorType::get({kb * kGroup, nb * kLanes}, b.getI8Type());
  Value padded = tensor::PadOp::create(b, paddedType, bMat, low, high, zero8);

  // packed[jb][kq][t] = padded[4 * kq + t mod 4][16 * jb + t floordiv 4]
  AffineExpr jb, kq, t;
  bindDims(ctx, jb, kq, t);
  auto gather = AffineMap::get(
      3, 0, {kq * kGroup + t % kGroup, jb * kLanes + t.floorDiv(kGroup)}, ctx);
  auto packedType =
      RankedTensorType::get({nb, kb, kLanes * kGroup}, b.getI8Type());
  Value packedInit =
      tensor::EmptyOp::create(b, packedType.getShape(), b.getI8Type());
  Value packed =
      linalg::GenericOp::create(
          b, TypeRange{packedType}, ValueRange{padded}, ValueRange{packedInit},
          ArrayRef<AffineMap>{gather,
                              AffineMap::getMultiDimIdentityMap(3, ctx)},
          SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
          [](OpBuilder &nb, Location loc, ValueRange args) {
            linalg::YieldOp::create(nb, loc, args[0]);
          })
          .getResult(0);

  // correction[j] = -128 * sum_k padded[k][j]
  auto correctionType = RankedTensorType::get({nb * kLanes}, b.getI32Type());
  Value zero32 = arith::ConstantIntOp::create(b, 0, 32);
  Value init =
      linalg::FillOp::create(
          b, zero32,
          tensor::EmptyOp::create(b, correctionType.getShape(), b.getI32Type())
              .getResult())
          .getResult(0);
  AffineExpr r, c;
  bindDims(ctx, r, c);
  Value correction =
      linalg::GenericOp::create(
          b, TypeRange{correctionType}, ValueRange{padded}, ValueRange{init},
          ArrayRef<AffineMap>{AffineMap::get(2, 0, {r, c}, ctx),
                              AffineMap::get(2, 0, {c}, ctx)},
          {utils::IteratorType::reduction, utils::IteratorType::parallel},
          [](OpBuilder &nb, Location loc, ValueRange args) {
            ImplicitLocOpBuilder ib(loc, nb);
            Value wide = arith::ExtSIOp::create(ib, ib.getI32Type(), args[0]);
            Value scaled = arith::MulIOp::create(
                ib, wide, arith::ConstantIntOp::create(ib, -128, 32));
            linalg::YieldOp::create(
                ib, ValueRange{arith::AddIOp::create(ib, args[1], scaled)});
          })
          .getResult(0);
  return {packed, correction, {}, {}};
}

} // namespace

Value mlir::qat::buildDotProduct(ImplicitLocOpBuilder &b, Value acc,
                                 Value unsignedBytes, Value signedBytes) {
  auto groups = VectorType::get({kLanes, kGroup}, b.getI8Type());
  auto wide = VectorType::get({kLanes, kGroup}, b.getI32Type());
  Value lhs = arith::ExtUIOp::create(
      b, wide, vector::ShapeCastOp::create(b, groups, unsignedBytes));
  Value rhs = arith::ExtSIOp::create(
      b, wide, vector::ShapeCastOp::create(b, groups, signedBytes));
  Value products = arith::MulIOp::create(b, lhs, rhs);
  return vector::MultiDimReductionOp::create(b, products, acc,
                                             ArrayRef<bool>{false, true},
                                             vector::CombiningKind::ADD);
}

namespace {

class VnniBuilder : public WholeReduction {
public:
  VnniBuilder(ImplicitLocOpBuilder &b, Value a, PackedB packedB, Value cStart,
              int64_t k, int64_t n, std::optional<Epilogue> epilogue,
              const std::optional<GatheredA> &gathered)
      : b(b), a(a), cStart(cStart), packedB(packedB), k(k), n(n),
        epilogue(epilogue), accType(VectorType::get({kLanes}, b.getI32Type())),
        bytesType(VectorType::get({kLanes * kGroup}, b.getI8Type())),
        groupType(VectorType::get({kGroup}, b.getI8Type())) {
    zero8 = arith::ConstantIntOp::create(b, 0, 8);
    zero32 = arith::ConstantIntOp::create(b, 0, 32);
    start = AccumulatorStart::find(cStart);
    // Implicit GEMM: the gather's input made unsigned (once, up front: far
    // smaller than the patches).
    if (gathered)
      this->gathered.emplace(b, *gathered, biased(gathered->input));
    else
      biasA();
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  /// `rows` rows of C (A rows from aRow0, C rows from cRow0 of `c`): panels
  /// of kVectors 16-column vectors (more for fewer than 4 rows, up to
  /// kMinChains accumulators), then single-vector panels.
  Value strip(ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
              int64_t rows) {
    int64_t nb = ceilDiv(n, kLanes);
    int64_t wide = std::max(kVectors, std::min(kMinChains / rows, nb));
    // Block-sparse panels are one vector wide: each has its own tiles.
    int64_t widePanels = 0, fullPanels = 0;
    if (!packedB.isBlockSparse()) {
      widePanels = nb - nb % wide;
      fullPanels = nb - (nb - widePanels) % kVectors;
    }
    SmallVector<Value> rowBases =
        gathered ? gathered->rowBases(sb, aRow0, rows) : SmallVector<Value>();
    auto panels = [&](int64_t first, int64_t last, int64_t vectors, Value c) {
      return updateInLoop(sb, c, first, last, vectors,
                          [&](ImplicitLocOpBuilder &jb, Value c, Value jv) {
                            return block(jb, c, aRow0, cRow0, rowBases, jv,
                                         vectors, rows);
                          });
    };
    return panels(fullPanels, nb, 1,
                  panels(widePanels, fullPanels, kVectors,
                         panels(0, widePanels, wide, c)));
  }

private:
  /// A made unsigned once, up front: a xor 0x80 = a + 128 as u8.
  void biasA() {
    if (Value fused = biasProducer()) {
      a = fused;
      return;
    }
    a = biased(a);
  }

  /// `bytes` (int8, any rank) made unsigned: each byte xor 0x80.
  Value biased(Value bytes) {
    auto type = cast<RankedTensorType>(bytes.getType());
    unsigned rank = type.getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
    Value init = tensor::EmptyOp::create(b, type.getShape(), b.getI8Type());
    return linalg::GenericOp::create(
               b, TypeRange{type}, ValueRange{bytes}, ValueRange{init},
               ArrayRef<AffineMap>{id, id},
               SmallVector<utils::IteratorType>(rank,
                                                utils::IteratorType::parallel),
               [](OpBuilder &nb, Location loc, ValueRange args) {
                 linalg::YieldOp::create(nb, loc,
                                         flipSignBit(nb, loc, args[0]));
               })
        .getResult(0);
  }

  /// When A is computed by an all-parallel generic that nothing else reads
  /// (im2col, through collapse_shapes), the bias goes into that generic's
  /// body: A is then written once, already biased. Null otherwise.
  Value biasProducer() {
    SmallVector<tensor::CollapseShapeOp> collapses;
    Value value = a;
    while (auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>()) {
      if (!value.hasOneUse())
        return {};
      collapses.push_back(collapse);
      value = collapse.getSrc();
    }
    auto producer = value.getDefiningOp<linalg::GenericOp>();
    if (!producer || !value.hasOneUse() || producer->getNumResults() != 1 ||
        producer.getNumParallelLoops() != producer.getNumLoops() ||
        !producer.getMatchingIndexingMap(producer.getDpsInitOperand(0))
             .isIdentity())
      return {};
    auto biased = cast<linalg::GenericOp>(b.clone(*producer));
    Operation *yield = biased.getRegion().front().getTerminator();
    OpBuilder inside(yield);
    yield->setOperand(
        0, flipSignBit(inside, yield->getLoc(), yield->getOperand(0)));
    Value result = biased.getResult(0);
    for (tensor::CollapseShapeOp collapse : llvm::reverse(collapses))
      result =
          tensor::CollapseShapeOp::create(b, collapse.getResultType(), result,
                                          collapse.getReassociationIndices());
    return result;
  }

  /// An int32 element of a 1-D tensor, as an index.
  Value loadIndex(ImplicitLocOpBuilder &ib, Value tensor, Value position) {
    return arith::IndexCastOp::create(
        ib, ib.getIndexType(),
        tensor::ExtractOp::create(ib, tensor, ValueRange{position}));
  }

  Value add(ImplicitLocOpBuilder &ib, Value x, int64_t v) {
    return v == 0 ? x : arith::AddIOp::create(ib, x, index(v)).getResult();
  }

  Value block(ImplicitLocOpBuilder &ib, Value c, Value aRow0, Value cRow0,
              ArrayRef<Value> rowBases, Value jv, int64_t vectors,
              int64_t rows) {
    SmallVector<bool> columnsInBounds = {n % kLanes == 0};
    SmallVector<Value> rowIndex, cRows, columns, accumulators;
    for (int64_t v = 0; v < vectors; ++v)
      columns.push_back(
          arith::MulIOp::create(ib, add(ib, jv, v), index(kLanes)));
    // The accumulators start from C plus the correction; from the fill
    // value or bias plus the correction, the same for every row, when C is
    // a fill or a bias broadcast (nothing to read).
    SmallVector<Value> corrections;
    for (int64_t v = 0; v < vectors; ++v) {
      Value correction = vector::TransferReadOp::create(
          ib, accType, packedB.correction, ValueRange{columns[v]}, zero32,
          ArrayRef<bool>{true});
      corrections.push_back(
          start ? arith::AddIOp::create(
                      ib, start->load(ib, accType, columns[v], columnsInBounds),
                      correction)
                      .getResult()
                : correction);
    }
    for (int64_t r = 0; r < rows; ++r) {
      rowIndex.push_back(add(ib, aRow0, r));
      cRows.push_back(add(ib, cRow0, r));
      for (int64_t v = 0; v < vectors; ++v) {
        // With an epilogue, `c` is the epilogue's output and the
        // accumulators start from the matmul's own (never written) output.
        accumulators.push_back(
            start ? corrections[v]
                  : arith::AddIOp::create(
                        ib,
                        vector::TransferReadOp::create(
                            ib, accType, epilogue ? cStart : c,
                            ValueRange{epilogue ? rowIndex[r] : cRows[r],
                                       columns[v]},
                            zero32, columnsInBounds),
                        corrections[v])
                        .getResult());
      }
    }
    // Dense: every tile of the panel, kq = 0 .. kb. Block-sparse: the
    // panel's kept tiles t, each at its own kq.
    Value first = index(0), last = index(ceilDiv(k, kGroup));
    if (packedB.isBlockSparse()) {
      first = loadIndex(ib, packedB.tileOffsets, jv);
      last = loadIndex(ib, packedB.tileOffsets, add(ib, jv, 1));
    }
    auto reduction = scf::ForOp::create(
        ib, first, last, index(1), accumulators,
        [&](OpBuilder &nested, Location loc, Value t, ValueRange acc) {
          ImplicitLocOpBuilder kbld(loc, nested);
          SmallVector<Value> bVectors;
          Value kq = t;
          if (packedB.isBlockSparse()) {
            kq = loadIndex(kbld, packedB.tileRows, t);
            bVectors.push_back(vector::TransferReadOp::create(
                kbld, bytesType, packedB.packed, ValueRange{t, index(0)}, zero8,
                ArrayRef<bool>{true}));
          } else {
            for (int64_t v = 0; v < vectors; ++v)
              bVectors.push_back(vector::TransferReadOp::create(
                  kbld, bytesType, packedB.packed,
                  ValueRange{add(kbld, jv, v), kq, index(0)}, zero8,
                  ArrayRef<bool>{true}));
          }
          Value kStart = arith::MulIOp::create(kbld, kq, index(kGroup));
          Value columnOffset =
              gathered ? gathered->columnOffset(kbld, kq) : Value();
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            // Four bytes of the biased A as one int32 in every lane.
            Value group =
                gathered
                    ? gathered->read(kbld, groupType, rowBases[r], columnOffset)
                    : vector::TransferReadOp::create(
                          kbld, groupType, a, ValueRange{rowIndex[r], kStart},
                          zero8, ArrayRef<bool>{k % kGroup == 0})
                          .getResult();
            Value word = vector::ExtractOp::create(
                kbld,
                vector::BitCastOp::create(
                    kbld, VectorType::get({1}, kbld.getI32Type()), group),
                ArrayRef<int64_t>{0});
            Value splat = vector::BitCastOp::create(
                kbld, bytesType,
                vector::BroadcastOp::create(kbld, accType, word));
            for (int64_t v = 0; v < vectors; ++v)
              next.push_back(buildDotProduct(kbld, acc[r * vectors + v], splat,
                                             bVectors[v]));
          }
          scf::YieldOp::create(kbld, next);
        });
    SmallVector<IRMapping> columnInputs(vectors);
    if (epilogue)
      for (int64_t v = 0; v < vectors; ++v)
        columnInputs[v] = epilogue->loadColumnInputs(ib, columns[v], accType,
                                                     columnsInBounds);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v) {
        Value result = reduction.getResult(r * vectors + v);
        if (epilogue)
          result = epilogue->apply(ib, result, rowIndex[r], columns[v], accType,
                                   columnsInBounds, columnInputs[v]);
        c = vector::TransferWriteOp::create(ib, result, c,
                                            ValueRange{cRows[r], columns[v]},
                                            columnsInBounds)
                .getResult();
      }
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, cStart;
  /// What cStart holds when a fill or a bias broadcast computes it.
  std::optional<AccumulatorStart> start;
  PackedB packedB;
  int64_t k, n;
  /// Implicit GEMM (matchGatheredA): the biased input, read in place.
  std::optional<GatheredReader> gathered;
  std::optional<Epilogue> epilogue;
  VectorType accType, bytesType, groupType;
  Value zero8, zero32;
};

struct X86VnniMatmulPass
    : mlir::qat::impl::X86VnniMatmulBase<X86VnniMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    Builder builder(&getContext());
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op :
         collectMatmuls(getOperation(), [&](linalg::MatmulOp op) {
           return op.getCast() == linalg::TypeFn::cast_signed &&
                  isStaticMatmul(op, builder.getI8Type(), builder.getI32Type());
         })) {
      replaceWithKernel(
          rewriter, op, kRows, parallel, parallelMinMacs,
          /*startsFromInit=*/true,
          [&](ImplicitLocOpBuilder &b, std::optional<Epilogue> epilogue) {
            Value a = op.getInputs()[0], bMat = op.getInputs()[1];
            auto aType = cast<RankedTensorType>(a.getType());
            int64_t k = aType.getDimSize(1);
            int64_t n = cast<RankedTensorType>(bMat.getType()).getDimSize(1);
            std::optional<PackedCodes> packedCodes = getPackedCodes(bMat);
            SmallVector<int8_t> codes;
            if (packedCodes)
              codes = std::move(packedCodes->codes);
            else if (auto constantB = dyn_cast_or_null<DenseIntElementsAttr>(
                         getConstantMatrix(bMat)))
              for (const APInt &v : constantB.getValues<APInt>())
                codes.push_back(static_cast<int8_t>(v.getSExtValue()));
            PackedB packed =
                !codes.empty()
                    ? packConstant(b, codes, k, n,
                                   packedCodes ? packedCodes->bits : 0,
                                   {sparseWeights, minZeroTiles})
                    : packAtRunTime(b, bMat, k, n);
            // Read A from the gather's input where a gather computes it.
            std::optional<GatheredA> gathered =
                implicitGemm ? matchGatheredA(a, kGroup, kRows) : std::nullopt;
            return VnniBuilder(b, a, packed, op.getOutputs()[0], k, n, epilogue,
                               gathered);
          });
    }
    // Weights that were unpacked for a replaced matmul are dead now; a
    // dead unpack would otherwise survive bufferization (it writes a
    // buffer) and keep the first copy of the weights in the library.
    // Only the function's own block: erasing an op erases its regions.
    for (Block &block : getOperation().getBody())
      for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
        if (isOpTriviallyDead(&op))
          rewriter.eraseOp(&op);
  }
};

} // namespace
