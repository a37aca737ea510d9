//===- VectorizeMatmul.cpp - qat-vectorize-matmul
//--------------------------===//
//
// Part of qat-mlir. Rewrites a float linalg.matmul on tensors into a register-
// blocked loop nest of vector operations: for each column panel of C, for
// each block of tile-m rows, tile-m accumulator vectors live in registers
// across the whole reduction, each step broadcasting one element of A per row
// and loading one row segment of B. Panels are as narrow as C allows (down to
// 8 lanes); a C of fewer than 8 columns is computed as dot products along
// the rows of A instead (a matrix-vector product when it has one column).
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "ImplicitGemm.h"
#include "MatmulKernels.h"
#include "VectorWidth.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_VECTORIZEMATMUL
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The shortest block of the reduction: each block reads and writes C's
/// accumulators once more.
constexpr int64_t kMinReductionBlock = 128;

/// Builds the loop nest for one matmul.
class MatmulBuilder {
public:
  /// `blockBytes`: the most bytes of B a block of the reduction spans
  /// (every strip of rows reads the block again, so it is to stay in the L2
  /// cache, 1 MiB a core here, with room for A and C); 0: no blocks.
  MatmulBuilder(ImplicitLocOpBuilder &b, Value a, Value bMat, Value cStart,
                int64_t tileN, bool packConstantB, int64_t blockBytes,
                std::optional<Epilogue> epilogue,
                const std::optional<GatheredA> &gathered)
      : b(b), a(a), bMat(bMat), cStart(cStart), tileN(tileN),
        epilogue(epilogue), start(AccumulatorStart::find(cStart)) {
    if (gathered)
      this->gathered.emplace(b, *gathered, gathered->input);
    auto aType = cast<RankedTensorType>(a.getType());
    auto bType = cast<RankedTensorType>(bMat.getType());
    k = aType.getDimSize(1);
    n = bType.getDimSize(1);
    vectorType = VectorType::get({tileN}, b.getF32Type());
    padding = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    fullColumns = n % tileN == 0;
    if (packConstantB)
      if (auto constant =
              dyn_cast_or_null<DenseFPElementsAttr>(getConstantMatrix(bMat)))
        panels = packPanels(constant);
    // A B larger than the block budget is read a block of its rows at a
    // time by all strips, the partial sums kept in C between blocks (with an
    // epilogue, in its f32 output, finished at the last block; that output
    // a new tensor, so that no buffer the epilogue reads can be it).
    Value destination = epilogue ? epilogue->getDestination() : Value();
    bool partialsFit =
        !epilogue ||
        (cast<ShapedType>(destination.getType()).getElementType().isF32() &&
         destination.getDefiningOp<tensor::EmptyOp>());
    // (Blocks too short for the budget would cost more in C's traffic
    // than they save: 784x512x2048 ran 12.3 ms whole, 15.5 ms in blocks.)
    int64_t most = blockBytes / 4 / n;
    if (partialsFit && blockBytes > 0 && k > most &&
        most >= kMinReductionBlock) {
      kBlocks = (k + most - 1) / most;
      kBlock = (k + kBlocks - 1) / kBlocks;
    }
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  /// All rows (`rows`) for each block of the reduction in turn: an scf.for
  /// over the blocks, or the whole reduction at once.
  Value overReductionBlocks(ImplicitLocOpBuilder &rb, Value c, RowsFn rows) {
    if (kBlocks == 1) {
      kBegin = index(0);
      kEnd = index(k);
      return rows(rb, c);
    }
    auto loop = scf::ForOp::create(rb, index(0), index(kBlocks), index(1),
                                   ValueRange{c});
    auto ib = ImplicitLocOpBuilder::atBlockBegin(rb.getLoc(), loop.getBody());
    Value blockIndex = loop.getInductionVar();
    Value blockRows = arith::ConstantIndexOp::create(ib, kBlock);
    // The kernel's constants (index(), through `b`, which may be `rb`) go
    // at the top of the body, before everything that uses them.
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(blockRows.getDefiningOp());
    kBegin = arith::MulIOp::create(ib, blockIndex, blockRows);
    kEnd = arith::AddIOp::create(ib, kBegin, index(kBlock));
    if (k % kBlock != 0)
      kEnd = arith::MinSIOp::create(ib, kEnd, index(k));
    firstBlock = arith::CmpIOp::create(ib, arith::CmpIPredicate::eq, blockIndex,
                                       index(0));
    lastBlock = arith::CmpIOp::create(ib, arith::CmpIPredicate::eq, blockIndex,
                                      index(kBlocks - 1));
    scf::YieldOp::create(ib, rows(ib, loop.getRegionIterArgs()[0]));
    return loop.getResult(0);
  }

  /// `rows` rows of C (A rows from aRow0, C rows from cRow0 of `c`), panel
  /// by panel of tile-n columns.
  Value strip(ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
              int64_t rows) {
    SmallVector<Value> rowBases =
        gathered ? gathered->rowBases(sb, aRow0, rows) : SmallVector<Value>();
    return updateInLoop(sb, c, 0, n, tileN,
                        [&](ImplicitLocOpBuilder &jb, Value c, Value j0) {
                          return block(jb, c, aRow0, cRow0, rowBases, j0, rows);
                        });
  }

private:
  /// A constant B stored panel by panel, [n / tileN][k][tileN] (the last
  /// panel padded with zeros): each reduction step reads one contiguous
  /// segment, where B's rows are n floats apart (2 KiB for 512 columns:
  /// every row of a panel would fall in the same few L1 sets).
  Value packPanels(DenseFPElementsAttr constant) {
    int64_t count = (n + tileN - 1) / tileN;
    SmallVector<float> packed(count * k * tileN, 0.0f);
    int64_t i = 0;
    for (float v : constant.getValues<float>()) {
      int64_t row = i / n, column = i % n;
      packed[((column / tileN) * k + row) * tileN + column % tileN] = v;
      ++i;
    }
    auto type = RankedTensorType::get({count, k, tileN}, b.getF32Type());
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(type, ArrayRef<float>(packed)));
  }

  Value row(ImplicitLocOpBuilder &ib, Value i0, int64_t r) {
    return r == 0 ? i0 : arith::AddIOp::create(ib, i0, index(r)).getResult();
  }

  /// One block: accumulators read from C, the reduction, written back.
  Value block(ImplicitLocOpBuilder &jb, Value c, Value aRow0, Value cRow0,
              ArrayRef<Value> rowBases, Value j0, int64_t rows) {
    // Column blocks past the end of a row are masked (out-of-bounds lanes are
    // read as 0 and not written).
    SmallVector<bool> inBounds = {fullColumns};
    SmallVector<Value> accumulators;
    SmallVector<Value> rowIndices, cRows;
    // A fill's value or a bias, the same for every row, when C is a fill or
    // a bias broadcast (nothing to read).
    Value startVector =
        start ? start->load(jb, vectorType, j0, inBounds) : Value();
    Value panel = panels
                      ? arith::DivUIOp::create(jb, j0, index(tileN)).getResult()
                      : Value();
    for (int64_t r = 0; r < rows; ++r) {
      rowIndices.push_back(row(jb, aRow0, r));
      cRows.push_back(row(jb, cRow0, r));
      // With an epilogue, `c` is the epilogue's output and the accumulators
      // start from the matmul's own (never written) output.
      Value initial =
          startVector ? startVector
                      : vector::TransferReadOp::create(
                            jb, vectorType, epilogue ? cStart : c,
                            ValueRange{epilogue ? rowIndices[r] : cRows[r], j0},
                            padding, inBounds)
                            .getResult();
      // After the first block of the reduction, the partial sums in `c`.
      if (firstBlock && (startVector || epilogue))
        initial = arith::SelectOp::create(
            jb, firstBlock, initial,
            vector::TransferReadOp::create(jb, vectorType, c,
                                           ValueRange{cRows[r], j0}, padding,
                                           inBounds));
      accumulators.push_back(initial);
    }
    auto reduction = scf::ForOp::create(
        jb, kBegin, kEnd, index(1), accumulators,
        [&](OpBuilder &nested, Location loc, Value kk, ValueRange acc) {
          ImplicitLocOpBuilder kb(loc, nested);
          Value bRow =
              panels
                  ? vector::TransferReadOp::create(
                        kb, vectorType, panels, ValueRange{panel, kk, index(0)},
                        padding, ArrayRef<bool>{true})
                        .getResult()
                  : vector::TransferReadOp::create(kb, vectorType, bMat,
                                                   ValueRange{kk, j0}, padding,
                                                   inBounds)
                        .getResult();
          Value columnOffset =
              gathered ? gathered->columnOffset(kb, kk) : Value();
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value aElement =
                gathered ? gathered->readElement(kb, rowBases[r], columnOffset)
                         : tensor::ExtractOp::create(
                               kb, a, ValueRange{rowIndices[r], kk})
                               .getResult();
            Value aSplat =
                vector::BroadcastOp::create(kb, vectorType, aElement);
            next.push_back(vector::FMAOp::create(kb, aSplat, bRow, acc[r]));
          }
          scf::YieldOp::create(kb, next);
        });
    IRMapping columnInputs;
    if (epilogue)
      columnInputs = epilogue->loadColumnInputs(jb, j0, vectorType, inBounds);
    for (int64_t r = 0; r < rows; ++r) {
      Value result = reduction.getResult(r);
      if (epilogue) {
        Value finished = epilogue->apply(jb, result, rowIndices[r], j0,
                                         vectorType, inBounds, columnInputs);
        // Blocks before the last store the partial sums.
        result = lastBlock
                     ? arith::SelectOp::create(jb, lastBlock, finished, result)
                           .getResult()
                     : finished;
      }
      c = vector::TransferWriteOp::create(jb, result, c,
                                          ValueRange{cRows[r], j0}, inBounds)
              .getResult();
    }
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, bMat, cStart, padding;
  /// A constant B packed by packPanels, or null (B read in place).
  Value panels;
  /// Implicit GEMM: A read from the gather's input, one element at a time.
  std::optional<GatheredReader> gathered;
  int64_t k = 0, n = 0, tileN;
  /// The reduction in kBlocks blocks of kBlock rows of B (the last one
  /// shorter when kBlock does not divide k).
  int64_t kBlocks = 1, kBlock = 0;
  /// The current block's rows of B, and whether it is the first and the
  /// last (null with one block: both).
  Value kBegin, kEnd, firstBlock, lastBlock;
  VectorType vectorType;
  bool fullColumns = true;
  std::optional<Epilogue> epilogue;
  std::optional<AccumulatorStart> start;
};

/// A matmul whose C has fewer columns than the narrowest panel: each element
/// of C is a dot product of a row of A and a column of B, computed over
/// `kDotLanes`-wide segments of the reduction (B transposed once, so both
/// are contiguous), a group of rows at a time so that each segment of a
/// column of B serves several rows.
class DotBuilder : public WholeReduction {
public:
  static constexpr int64_t kLanes = kLanes32;
  /// Accumulator vectors a group of rows keeps in registers.
  static constexpr int64_t kAccumulators = 16;
  /// The shortest reduction worth it: each dot product ends in a reduction
  /// across lanes (about as costly as 4 segments), and a shorter one runs
  /// faster, in order, on a narrow panel.
  static constexpr int64_t kMinReduction = 64;

  DotBuilder(ImplicitLocOpBuilder &b, Value a, Value bMat, Value cStart,
             std::optional<Epilogue> epilogue,
             const std::optional<GatheredA> &gathered)
      : b(b), a(a), cStart(cStart), epilogue(epilogue),
        start(AccumulatorStart::find(cStart)) {
    if (gathered)
      this->gathered.emplace(b, *gathered, gathered->input);
    auto bType = cast<RankedTensorType>(bMat.getType());
    k = bType.getDimSize(0);
    n = bType.getDimSize(1);
    vectorType = VectorType::get({kLanes}, b.getF32Type());
    rowType = VectorType::get({n}, b.getF32Type());
    zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    // B's columns as rows: a view when B has one column, else a copy (n * k
    // elements, small next to the m * n * k of the product).
    auto bTType = RankedTensorType::get({n, k}, b.getF32Type());
    if (n == 1) {
      Value column = tensor::CollapseShapeOp::create(
          b, bMat, ArrayRef<ReassociationIndices>{{0, 1}});
      bT = tensor::ExpandShapeOp::create(
          b, bTType, column, ArrayRef<ReassociationIndices>{{0, 1}});
    } else {
      Value empty = tensor::EmptyOp::create(b, bTType.getShape(),
                                            bTType.getElementType());
      bT = linalg::TransposeOp::create(b, bMat, empty, ArrayRef<int64_t>{1, 0})
               ->getResult(0);
    }
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  Value strip(ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
              int64_t rows) {
    int64_t groupRows = std::max<int64_t>(1, kAccumulators / n);
    for (int64_t r0 = 0; r0 < rows; r0 += groupRows)
      c = group(sb, c, aRow0, cRow0, r0, std::min(groupRows, rows - r0));
    return c;
  }

private:
  Value row(ImplicitLocOpBuilder &ib, Value i0, int64_t r) {
    return r == 0 ? i0 : arith::AddIOp::create(ib, i0, index(r)).getResult();
  }

  /// accumulators[r * n + j] += A[row r][k0 : k0 + kLanes] *
  /// B^T[j][k0 : k0 + kLanes], masked past the end of the reduction, for
  /// k0 = segment * kLanes. `rowIndices` are A's rows, or with an implicit
  /// GEMM their bases in the gather's input.
  SmallVector<Value> segment(ImplicitLocOpBuilder &kb, ValueRange acc,
                             ArrayRef<Value> rowIndices, Value segment,
                             bool inBounds) {
    Value k0 = arith::MulIOp::create(kb, segment, index(kLanes));
    Value columnOffset =
        gathered ? gathered->columnOffset(kb, segment) : Value();
    SmallVector<Value> columns, next;
    for (int64_t j = 0; j < n; ++j)
      columns.push_back(vector::TransferReadOp::create(
          kb, vectorType, bT, ValueRange{index(j), k0}, zero,
          ArrayRef<bool>{inBounds}));
    for (auto [r, rowIndex] : llvm::enumerate(rowIndices)) {
      Value aSegment =
          gathered
              ? gathered->read(kb, vectorType, rowIndex, columnOffset)
              : vector::TransferReadOp::create(kb, vectorType, a,
                                               ValueRange{rowIndex, k0}, zero,
                                               ArrayRef<bool>{inBounds})
                    .getResult();
      for (int64_t j = 0; j < n; ++j)
        next.push_back(
            vector::FMAOp::create(kb, aSegment, columns[j], acc[r * n + j]));
    }
    return next;
  }

  /// Rows r0 .. r0 + rows of the strip.
  Value group(ImplicitLocOpBuilder &gb, Value c, Value aRow0, Value cRow0,
              int64_t r0, int64_t rows) {
    SmallVector<Value> rowIndices, cRows;
    for (int64_t r = r0; r < r0 + rows; ++r) {
      rowIndices.push_back(row(gb, aRow0, r));
      cRows.push_back(row(gb, cRow0, r));
    }
    SmallVector<Value> aRows =
        gathered ? gathered->rowBases(gb, rowIndices.front(), rows)
                 : rowIndices;
    Value zeros = arith::ConstantOp::create(gb, gb.getZeroAttr(vectorType));
    SmallVector<Value> acc(rows * n, zeros);
    // Whole segments, then a masked one (an implicit GEMM has none: its k
    // is a multiple of the segment).
    int64_t segments = k / kLanes;
    if (segments > 0) {
      auto loop = scf::ForOp::create(
          gb, index(0), index(segments), index(1), acc,
          [&](OpBuilder &nested, Location loc, Value s, ValueRange iter) {
            ImplicitLocOpBuilder kb(loc, nested);
            scf::YieldOp::create(
                kb, segment(kb, iter, aRows, s, /*inBounds=*/true));
          });
      acc.assign(loop.getResults().begin(), loop.getResults().end());
    }
    if (k % kLanes != 0)
      acc = segment(gb, acc, aRows, index(segments), /*inBounds=*/false);

    Value column0 = index(0);
    SmallVector<bool> inBounds = {true};
    Value startVector =
        start ? start->load(gb, rowType, column0, inBounds) : Value();
    IRMapping columnInputs;
    if (epilogue)
      columnInputs = epilogue->loadColumnInputs(gb, column0, rowType, inBounds);
    for (int64_t r = 0; r < rows; ++r) {
      SmallVector<Value> dots;
      for (int64_t j = 0; j < n; ++j)
        dots.push_back(vector::ReductionOp::create(
            gb, vector::CombiningKind::ADD, acc[r * n + j]));
      Value result = vector::FromElementsOp::create(gb, rowType, dots);
      // With an epilogue, `c` is the epilogue's output and C's start is
      // read from the matmul's own (never written) output.
      Value initial =
          startVector
              ? startVector
              : vector::TransferReadOp::create(
                    gb, rowType, epilogue ? cStart : c,
                    ValueRange{epilogue ? rowIndices[r] : cRows[r], column0},
                    zero, inBounds)
                    .getResult();
      result = arith::AddFOp::create(gb, initial, result);
      if (epilogue)
        result = epilogue->apply(gb, result, rowIndices[r], column0, rowType,
                                 inBounds, columnInputs);
      c = vector::TransferWriteOp::create(
              gb, result, c, ValueRange{cRows[r], column0}, inBounds)
              .getResult();
    }
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, bT, cStart, zero;
  /// Implicit GEMM: A read from the gather's input, kLanes at a time.
  std::optional<GatheredReader> gathered;
  int64_t k = 0, n = 0;
  VectorType vectorType, rowType;
  std::optional<Epilogue> epilogue;
  std::optional<AccumulatorStart> start;
};

/// The panel width for C's `n` columns: `tileN`, halved while half still
/// covers them (down to kMinPanel), so that narrow C's waste no lanes.
int64_t panelWidth(int64_t n, int64_t tileN) {
  int64_t lanes = tileN;
  while (lanes % 2 == 0 && lanes / 2 >= n && lanes / 2 >= kMinPanel)
    lanes /= 2;
  return lanes;
}

struct VectorizeMatmulPass
    : mlir::qat::impl::VectorizeMatmulBase<VectorizeMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    if (tileM < 1 || tileN < 1) {
      getOperation().emitError("qat-vectorize-matmul: tile-m and tile-n must "
                               "be positive");
      return signalPassFailure();
    }
    Type f32 = Float32Type::get(&getContext());
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op :
         collectMatmuls(getOperation(), [&](linalg::MatmulOp op) {
           return isStaticMatmul(op, f32, f32);
         })) {
      auto type = cast<RankedTensorType>(op.getOutputs()[0].getType());
      int64_t n = type.getDimSize(1);
      Value a = op.getInputs()[0], b = op.getInputs()[1],
            c = op.getOutputs()[0];
      int64_t k = cast<RankedTensorType>(a.getType()).getDimSize(1);
      // Where a gather computes A, the kernels read its input in place.
      if (n < kMinPanel && k >= DotBuilder::kMinReduction) {
        std::optional<GatheredA> gathered =
            implicitGemm ? matchGatheredA(a, DotBuilder::kLanes, tileM)
                         : std::nullopt;
        replaceWithKernel(rewriter, op, tileM, parallel, parallelMinMacs,
                          /*startsFromInit=*/true,
                          [&](ImplicitLocOpBuilder &builder,
                              std::optional<Epilogue> epilogue) {
                            return DotBuilder(builder, a, b, c, epilogue,
                                              gathered);
                          });
        continue;
      }
      std::optional<GatheredA> gathered =
          implicitGemm ? matchGatheredA(a, 1, tileM) : std::nullopt;
      replaceWithKernel(
          rewriter, op, tileM, parallel, parallelMinMacs,
          /*startsFromInit=*/true,
          [&](ImplicitLocOpBuilder &builder, std::optional<Epilogue> epilogue) {
            return MatmulBuilder(builder, a, b, c, panelWidth(n, tileN),
                                 packConstants, reductionBlockBytes, epilogue,
                                 gathered);
          });
    }
    // The gathers that implicit GEMMs replaced are dead now (they would
    // still write their patch matrices after bufferization). Only the
    // function's own block: erasing an op erases its regions.
    for (Block &block : getOperation().getBody())
      for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
        if (isOpTriviallyDead(&op))
          rewriter.eraseOp(&op);
  }
};

} // namespace
