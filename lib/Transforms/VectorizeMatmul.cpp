//===- VectorizeMatmul.cpp - qat-vectorize-matmul --------------------------===//
//
// Part of qat-mlir. Rewrites a float linalg.matmul on tensors into a register-
// blocked loop nest of vector operations: for each block of tile-m rows and
// tile-n columns of C, tile-m accumulator vectors live in registers across
// the whole reduction, each step broadcasting one element of A per row and
// loading one row segment of B.
//
//===----------------------------------------------------------------------===//

#include "qat/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_VECTORIZEMATMUL
#include "qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

bool isCandidate(linalg::MatmulOp op) {
  if (!op.hasPureTensorSemantics())
    return false;
  for (Value operand : op->getOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand.getType());
    if (!type || !type.hasStaticShape() || !type.getElementType().isF32())
      return false;
  }
  // Only the default maps (no transposition or broadcast).
  return op.getIndexingMapsArray() ==
         op.getDefaultIndexingMaps(op->getContext());
}

/// Builds the loop nest for one matmul.
class MatmulBuilder {
public:
  MatmulBuilder(ImplicitLocOpBuilder &b, Value a, Value bMat, int64_t tileN)
      : b(b), a(a), bMat(bMat), tileN(tileN) {
    auto aType = cast<RankedTensorType>(a.getType());
    auto bType = cast<RankedTensorType>(bMat.getType());
    k = aType.getDimSize(1);
    n = bType.getDimSize(1);
    vectorType = VectorType::get({tileN}, b.getF32Type());
    padding = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    fullColumns = n % tileN == 0;
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  /// C with rows [first, last) computed, in blocks of `rows` rows.
  Value rowBlocks(Value c, int64_t first, int64_t last, int64_t rows) {
    if (first >= last)
      return c;
    auto loop = scf::ForOp::create(
        b, index(first), index(last), index(rows), ValueRange{c},
        [&](OpBuilder &nested, Location loc, Value i0, ValueRange iter) {
          ImplicitLocOpBuilder ib(loc, nested);
          Value result = columnBlocks(ib, iter[0], i0, rows);
          scf::YieldOp::create(ib, result);
        });
    return loop.getResult(0);
  }

private:
  /// All column blocks of rows [i0, i0 + rows).
  Value columnBlocks(ImplicitLocOpBuilder &ib, Value c, Value i0,
                     int64_t rows) {
    auto loop = scf::ForOp::create(
        ib, index(0), index(n), index(tileN), ValueRange{c},
        [&](OpBuilder &nested, Location loc, Value j0, ValueRange iter) {
          ImplicitLocOpBuilder jb(loc, nested);
          Value result = block(jb, iter[0], i0, j0, rows);
          scf::YieldOp::create(jb, result);
        });
    return loop.getResult(0);
  }

  Value row(ImplicitLocOpBuilder &ib, Value i0, int64_t r) {
    return r == 0 ? i0 : arith::AddIOp::create(ib, i0, index(r)).getResult();
  }

  /// One block: accumulators read from C, the reduction, written back.
  Value block(ImplicitLocOpBuilder &jb, Value c, Value i0, Value j0,
              int64_t rows) {
    // Column blocks past the end of a row are masked (out-of-bounds lanes are
    // read as 0 and not written).
    SmallVector<bool> inBounds = {fullColumns};
    SmallVector<Value> accumulators;
    SmallVector<Value> rowIndices;
    for (int64_t r = 0; r < rows; ++r) {
      rowIndices.push_back(row(jb, i0, r));
      accumulators.push_back(vector::TransferReadOp::create(
          jb, vectorType, c, ValueRange{rowIndices[r], j0}, padding,
          inBounds));
    }
    auto reduction = scf::ForOp::create(
        jb, index(0), index(k), index(1), accumulators,
        [&](OpBuilder &nested, Location loc, Value kk, ValueRange acc) {
          ImplicitLocOpBuilder kb(loc, nested);
          Value bRow = vector::TransferReadOp::create(
              kb, vectorType, bMat, ValueRange{kk, j0}, padding, inBounds);
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value aElement = tensor::ExtractOp::create(
                kb, a, ValueRange{rowIndices[r], kk});
            Value aSplat =
                vector::BroadcastOp::create(kb, vectorType, aElement);
            next.push_back(vector::FMAOp::create(kb, aSplat, bRow, acc[r]));
          }
          scf::YieldOp::create(kb, next);
        });
    for (int64_t r = 0; r < rows; ++r)
      c = vector::TransferWriteOp::create(jb, reduction.getResult(r), c,
                                          ValueRange{rowIndices[r], j0},
                                          inBounds)
              .getResult();
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, bMat, padding;
  int64_t k = 0, n = 0, tileN;
  VectorType vectorType;
  bool fullColumns = true;
};

struct VectorizeMatmulPass
    : mlir::qat::impl::VectorizeMatmulBase<VectorizeMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    if (tileM < 1 || tileN < 1) {
      getOperation().emitError("qat-vectorize-matmul: tile-m and tile-n must "
                               "be positive");
      return signalPassFailure();
    }
    SmallVector<linalg::MatmulOp> candidates;
    getOperation().walk([&](linalg::MatmulOp op) {
      if (isCandidate(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op : candidates) {
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op.getLoc(), rewriter);
      MatmulBuilder builder(b, op.getInputs()[0], op.getInputs()[1], tileN);
      int64_t m = cast<RankedTensorType>(op.getInputs()[0].getType())
                      .getDimSize(0);
      int64_t full = m - m % tileM;
      Value c = op.getOutputs()[0];
      c = builder.rowBlocks(c, 0, full, tileM);
      c = builder.rowBlocks(c, full, m, 1);
      rewriter.replaceOp(op, c);
    }
  }
};

} // namespace
