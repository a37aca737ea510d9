//===- Ranges.cpp - observe and choose_qparams
//------------------------------===//
//
// Part of qat-mlir. The lowerings of observe (min/max reductions) and
// choose_qparams.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"
#include "ScalarEmitter.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::lowering;

namespace {

//===----------------------------------------------------------------------===//
// observe, choose_qparams
//===----------------------------------------------------------------------===//

struct ObserveLowering : OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    unsigned rank = op.getInput().getType().getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap param = paramMap(ctx, rank, op.getAxis());
    float inf = std::numeric_limits<float>::infinity();
    auto constant = [&](float v) {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getF32FloatAttr(v));
    };
    // The result shape: 0-D, or the input's channel dimension (cast to the
    // result type below where that one is more or less static).
    SmallVector<OpFoldResult> sizes;
    if (std::optional<uint64_t> axis = op.getAxis())
      sizes.push_back(
          tensor::getMixedSize(rewriter, loc, op.getInput(), *axis));
    auto fill = [&](float v) {
      Value empty =
          tensor::EmptyOp::create(rewriter, loc, sizes, rewriter.getF32Type());
      return linalg::FillOp::create(rewriter, loc, constant(v).getResult(),
                                    empty)
          .getResult(0);
    };
    Value minInit = fill(inf), maxInit = fill(-inf);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{minInit.getType(), maxInit.getType()},
        ValueRange{op.getInput()}, ValueRange{minInit, maxInit},
        ArrayRef<AffineMap>{id, param, param}, reduceAllBut(rank, op.getAxis()),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          // NaN-propagating, like quantmath::observeTensor.
          Value mn = arith::MinimumFOp::create(b, bodyLoc, args[1], args[0]);
          Value mx = arith::MaximumFOp::create(b, bodyLoc, args[2], args[0]);
          linalg::YieldOp::create(b, bodyLoc, ValueRange{mn, mx});
        });
    SmallVector<Value> results;
    for (Value result : generic.getResults())
      results.push_back(result.getType() == op.getMin().getType()
                            ? result
                            : tensor::CastOp::create(
                                  rewriter, loc, op.getMin().getType(), result)
                                  .getResult());
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ChooseQParamsLowering : OpConversionPattern<ChooseQParamsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ChooseQParamsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    unsigned rank = op.getMin().getType().getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    ::quantmath::QuantRange range = op.getQuantRange();
    bool symmetric = op.getSymmetric();
    float eps = op.getEps().convertToFloat();
    Type zeroPointType = op.getZeroPoint().getType().getElementType();
    Value scaleInit =
        emptyLike(rewriter, loc, op.getMin(), rewriter.getF32Type());
    Value zeroPointInit = emptyLike(rewriter, loc, op.getMin(), zeroPointType);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{scaleInit.getType(), zeroPointInit.getType()},
        ValueRange{op.getMin(), op.getMax()},
        ValueRange{scaleInit, zeroPointInit},
        ArrayRef<AffineMap>{id, id, id, id}, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          // quantmath::chooseQParams, operation for operation.
          Scalar e(b, bodyLoc);
          ImplicitLocOpBuilder &ib = e.builder();
          Value zero = e.f32(0.0);
          Value minNeg = arith::MinimumFOp::create(ib, args[0], zero);
          Value maxPos = arith::MaximumFOp::create(ib, args[1], zero);
          Value levels = e.f32(static_cast<float>(range.qmax - range.qmin));
          Value scale;
          Value zeroPoint;
          if (symmetric) {
            Value absMax = arith::MaximumFOp::create(
                ib, arith::NegFOp::create(ib, minNeg), maxPos);
            scale = arith::MaximumFOp::create(
                ib, e.div(absMax, e.div(levels, e.f32(2.0))), e.f32(eps));
            zeroPoint =
                e.i64(range.qmin < 0 ? 0 : (range.qmin + range.qmax + 1) / 2);
          } else {
            scale = arith::MaximumFOp::create(
                ib, e.div(e.sub(maxPos, minNeg), levels), e.f32(eps));
            Value zeroF =
                e.sub(e.f32(range.qmin), e.round(e.div(minNeg, scale),
                                                 RoundingMode::half_to_even));
            zeroPoint = e.zeroPoint(zeroF, range);
          }
          Value zeroPointOut = isa<FloatType>(zeroPointType)
                                   ? e.toF32(zeroPoint)
                                   : e.fromI64(zeroPoint, zeroPointType);
          linalg::YieldOp::create(b, bodyLoc, ValueRange{scale, zeroPointOut});
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

} // namespace

void mlir::qat::lowering::populateRangePatterns(RewritePatternSet &patterns) {
  patterns.add<ObserveLowering, ChooseQParamsLowering>(patterns.getContext());
}
