//===- VectorizeMatmul.cpp - qat-vectorize-matmul
//--------------------------===//
//
// Part of qat-mlir. Rewrites a float linalg.matmul on tensors into a register-
// blocked loop nest of vector operations: for each column panel of C, for
// each block of tile-m rows, tile-m accumulator vectors live in registers
// across the whole reduction, each step broadcasting one element of A per row
// and loading one row segment of B.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "MatmulKernels.h"

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

/// Builds the loop nest for one matmul.
class MatmulBuilder {
public:
  MatmulBuilder(ImplicitLocOpBuilder &b, Value a, Value bMat, Value cStart,
                int64_t tileN, std::optional<Epilogue> epilogue)
      : b(b), a(a), bMat(bMat), cStart(cStart), tileN(tileN),
        epilogue(epilogue), start(AccumulatorStart::find(cStart)) {
    auto aType = cast<RankedTensorType>(a.getType());
    auto bType = cast<RankedTensorType>(bMat.getType());
    k = aType.getDimSize(1);
    n = bType.getDimSize(1);
    vectorType = VectorType::get({tileN}, b.getF32Type());
    padding = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    fullColumns = n % tileN == 0;
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  /// `rows` rows of C (A rows from aRow0, C rows from cRow0 of `c`), panel
  /// by panel of tile-n columns.
  Value strip(ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
              int64_t rows) {
    return updateInLoop(sb, c, 0, n, tileN,
                        [&](ImplicitLocOpBuilder &jb, Value c, Value j0) {
                          return block(jb, c, aRow0, cRow0, j0, rows);
                        });
  }

private:
  Value row(ImplicitLocOpBuilder &ib, Value i0, int64_t r) {
    return r == 0 ? i0 : arith::AddIOp::create(ib, i0, index(r)).getResult();
  }

  /// One block: accumulators read from C, the reduction, written back.
  Value block(ImplicitLocOpBuilder &jb, Value c, Value aRow0, Value cRow0,
              Value j0, int64_t rows) {
    // Column blocks past the end of a row are masked (out-of-bounds lanes are
    // read as 0 and not written).
    SmallVector<bool> inBounds = {fullColumns};
    SmallVector<Value> accumulators;
    SmallVector<Value> rowIndices, cRows;
    // A fill's value or a bias, the same for every row, when C is a fill or
    // a bias broadcast (nothing to read).
    Value startVector =
        start ? start->load(jb, vectorType, j0, inBounds) : Value();
    for (int64_t r = 0; r < rows; ++r) {
      rowIndices.push_back(row(jb, aRow0, r));
      cRows.push_back(row(jb, cRow0, r));
      // With an epilogue, `c` is the epilogue's output and the accumulators
      // start from the matmul's own (never written) output.
      accumulators.push_back(
          startVector ? startVector
                      : vector::TransferReadOp::create(
                            jb, vectorType, epilogue ? cStart : c,
                            ValueRange{epilogue ? rowIndices[r] : cRows[r], j0},
                            padding, inBounds)
                            .getResult());
    }
    auto reduction = scf::ForOp::create(
        jb, index(0), index(k), index(1), accumulators,
        [&](OpBuilder &nested, Location loc, Value kk, ValueRange acc) {
          ImplicitLocOpBuilder kb(loc, nested);
          Value bRow = vector::TransferReadOp::create(
              kb, vectorType, bMat, ValueRange{kk, j0}, padding, inBounds);
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value aElement =
                tensor::ExtractOp::create(kb, a, ValueRange{rowIndices[r], kk});
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
      if (epilogue)
        result = epilogue->apply(jb, result, rowIndices[r], j0, vectorType,
                                 inBounds, columnInputs);
      c = vector::TransferWriteOp::create(jb, result, c,
                                          ValueRange{cRows[r], j0}, inBounds)
              .getResult();
    }
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, bMat, cStart, padding;
  int64_t k = 0, n = 0, tileN;
  VectorType vectorType;
  bool fullColumns = true;
  std::optional<Epilogue> epilogue;
  std::optional<AccumulatorStart> start;
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
    Type f32 = Float32Type::get(&getContext());
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op :
         collectMatmuls(getOperation(), [&](linalg::MatmulOp op) {
           return isStaticMatmul(op, f32, f32);
         })) {
      replaceWithKernel(
          rewriter, op, tileM, parallel, parallelMinMacs,
          /*startsFromInit=*/true, [&](ImplicitLocOpBuilder &b, std::optional<Epilogue> epilogue) {
            return MatmulBuilder(b, op.getInputs()[0], op.getInputs()[1],
                                 op.getOutputs()[0], tileN, epilogue);
          });
    }
  }
};

} // namespace
