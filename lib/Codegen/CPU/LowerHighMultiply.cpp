//===- LowerHighMultiply.cpp - qat-lower-high-multiply --------------------===//
//
// Part of qat-mlir. The high word of a vector of 32 x 32-bit products as
// two vectors of 64-bit products of the even and of the odd lanes, each the
// form of vpmuldq, and one shuffle of their high words.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qat {
#define GEN_PASS_DEF_LOWERHIGHMULTIPLY
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

struct LowerHighMultiply : OpRewritePattern<arith::MulSIExtendedOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::MulSIExtendedOp op,
                                PatternRewriter &rewriter) const override {
    auto type = dyn_cast<VectorType>(op.getLhs().getType());
    if (!type || type.getRank() != 1 || type.isScalable() ||
        !type.getElementType().isInteger(32) || type.getDimSize(0) % 2 != 0)
      return rewriter.notifyMatchFailure(op, "not a 1-D even vector of i32");
    if (!op.getLow().use_empty())
      return rewriter.notifyMatchFailure(op, "the low word is used");
    int64_t lanes = type.getDimSize(0);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto wideType = VectorType::get({lanes / 2}, b.getI64Type());
    Value thirtyTwo = arith::ConstantOp::create(
        b,
        DenseElementsAttr::get(wideType, b.getI64IntegerAttr(32).getValue()));
    // Lane pairs as one i64: the even lane is the low half.
    auto even = [&](Value pairs) -> Value {
      return arith::ShRSIOp::create(
          b, arith::ShLIOp::create(b, pairs, thirtyTwo), thirtyTwo);
    };
    auto odd = [&](Value pairs) -> Value {
      return arith::ShRSIOp::create(b, pairs, thirtyTwo);
    };
    Value lhs = vector::BitCastOp::create(b, wideType, op.getLhs());
    Value rhs = vector::BitCastOp::create(b, wideType, op.getRhs());
    Value evenProducts = vector::BitCastOp::create(
        b, type, arith::MulIOp::create(b, even(lhs), even(rhs)));
    Value oddProducts = vector::BitCastOp::create(
        b, type, arith::MulIOp::create(b, odd(lhs), odd(rhs)));
    // Lane 2i's high word is word 2i + 1 of the even products, lane
    // 2i + 1's word 2i + 1 of the odd ones.
    SmallVector<int64_t> highWords;
    for (int64_t i = 0; i < lanes / 2; ++i) {
      highWords.push_back(2 * i + 1);
      highWords.push_back(lanes + 2 * i + 1);
    }
    Value high =
        vector::ShuffleOp::create(b, evenProducts, oddProducts, highWords);
    rewriter.replaceAllUsesWith(op.getHigh(), high);
    rewriter.eraseOp(op);
    return success();
  }
};

struct LowerHighMultiplyPass
    : mlir::qat::impl::LowerHighMultiplyBase<LowerHighMultiplyPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateLowerHighMultiplyPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::qat::populateLowerHighMultiplyPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerHighMultiply>(patterns.getContext());
}
