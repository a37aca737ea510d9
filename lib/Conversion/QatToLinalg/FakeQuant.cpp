//===- FakeQuant.cpp - fake_quant and its gradient
//--------------------------===//
//
// Part of qat-mlir. Lowerings of fake_quant, quantize, dequantize,
// fake_quant_grad and straight_through to linalg.generic bodies built by the
// ScalarEmitter.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"
#include "ScalarEmitter.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::lowering;

namespace {

//===----------------------------------------------------------------------===//
// fake_quant, quantize, dequantize
//===----------------------------------------------------------------------===//

struct FakeQuantLowering : OpConversionPattern<FakeQuantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(FakeQuantOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ::quantmath::QuantRange range = op.getQuantRange();
    RoundingMode mode = op.getRounding();
    Value result = lowerQuantizeLike(op, rewriter, rewriter.getF32Type(),
                                     [&](Scalar &e, Value x, Value s, Value z) {
                                       Value zf = e.toF32(z);
                                       Value q =
                                           e.clampedCode(x, s, zf, range, mode);
                                       Value y = e.mul(e.sub(q, zf), s);
                                       return e.select(e.isNaN(x), x, y);
                                     });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct QuantizeLowering : OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ::quantmath::QuantRange range = op.getQuantRange();
    RoundingMode mode = op.getRounding();
    Type elementType = op.getType().getElementType();
    Value result = lowerQuantizeLike(
        op, rewriter, elementType, [&](Scalar &e, Value x, Value s, Value z) {
          Value q = e.clampedCode(x, s, e.toF32(z), range, mode);
          ImplicitLocOpBuilder &ib = e.builder();
          // Clamped again in integers: past 24 bits the float bound rounds
          // (float(2^31 - 1) = 2^31), where the reference returns qmax.
          Value qI64 = arith::MinSIOp::create(
              ib,
              arith::MaxSIOp::create(
                  ib, arith::FPToSIOp::create(ib, ib.getI64Type(), q),
                  e.i64(range.qmin)),
              e.i64(range.qmax));
          // A NaN quotient has the zero point's code (clampedCode).
          return e.fromI64(qI64, elementType);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    bool isSigned = op.getIsSigned();
    Value result =
        lowerQuantizeLike(op, rewriter, rewriter.getF32Type(),
                          [&](Scalar &e, Value q, Value s, Value z) {
                            // (q - z) exactly in i64, then one rounding to f32.
                            Value diff = arith::SubIOp::create(
                                e.builder(), e.toI64(q, isSigned), z);
                            return e.mul(e.toF32(diff), s);
                          });
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// fake_quant_grad
//===----------------------------------------------------------------------===//

struct FakeQuantGradLowering : OpConversionPattern<FakeQuantGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(FakeQuantGradOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    unsigned rank = op.getInput().getType().getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap param = paramMap(ctx, rank, op.getAxis());
    ::quantmath::QuantRange range = op.getQuantRange();
    RoundingMode mode = op.getRounding();
    float gradFactor = op.getGradFactor().convertToFloat();

    // 1. Per element: dx and the two gradient contributions
    //    (quantmath::fakeQuantGrad).
    Value init = emptyLike(rewriter, loc, op.getInput(), rewriter.getF32Type());
    auto perElement = linalg::GenericOp::create(
        rewriter, loc,
        TypeRange{init.getType(), init.getType(), init.getType()},
        ValueRange{op.getInput(), op.getScale(), op.getZeroPoint(),
                   op.getGrad()},
        ValueRange{init, init, init},
        ArrayRef<AffineMap>{id, param, param, id, id, id, id}, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Scalar e(b, bodyLoc);
          Value x = args[0], s = args[1], dy = args[3];
          Value z = e.toF32(e.zeroPoint(args[2], range));
          Value scaled = e.div(x, s);
          Value rounded = e.round(scaled, mode);
          Value v = e.add(rounded, z);
          Value below = e.cmpf(arith::CmpFPredicate::OLT, v, e.f32(range.qmin));
          Value above = e.cmpf(arith::CmpFPredicate::OGT, v, e.f32(range.qmax));
          Value outside = arith::OrIOp::create(b, bodyLoc, below, above);
          Value zero = e.f32(0.0);
          Value dx = e.select(outside, zero, dy);
          Value dScale =
              e.select(below, e.mul(e.sub(e.f32(range.qmin), z), dy),
                       e.select(above, e.mul(e.sub(e.f32(range.qmax), z), dy),
                                e.mul(e.sub(rounded, scaled), dy)));
          Value negScale = arith::NegFOp::create(b, bodyLoc, s);
          Value dZeroPoint = e.select(outside, e.mul(negScale, dy), zero);
          Value factor = e.f32(gradFactor);
          dScale = e.mul(dScale, factor);
          dZeroPoint = e.mul(dZeroPoint, factor);
          Value nan = e.isNaN(x);
          linalg::YieldOp::create(b, bodyLoc,
                                  ValueRange{e.select(nan, x, dx),
                                             e.select(nan, x, dScale),
                                             e.select(nan, x, dZeroPoint)});
        });

    // 2. Sum the contributions per tensor or per channel.
    Value zero =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0.0));
    Value sumInit = filled(rewriter, loc, op.getScale(), zero);
    auto sums = linalg::GenericOp::create(
        rewriter, loc, TypeRange{sumInit.getType(), sumInit.getType()},
        ValueRange{perElement.getResult(1), perElement.getResult(2)},
        ValueRange{sumInit, sumInit}, ArrayRef<AffineMap>{id, id, param, param},
        reduceAllBut(rank, op.getAxis()),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Scalar e(b, bodyLoc);
          linalg::YieldOp::create(
              b, bodyLoc,
              ValueRange{e.add(args[2], args[0]), e.add(args[3], args[1])});
        });
    rewriter.replaceOp(
        op, {perElement.getResult(0), sums.getResult(0), sums.getResult(1)});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// straight_through
//===----------------------------------------------------------------------===//

/// The forward value; the gradient path only matters to differentiation.
struct StraightThroughLowering : OpConversionPattern<StraightThroughOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(StraightThroughOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getValue());
    return success();
  }
};

} // namespace

void mlir::qat::lowering::populateFakeQuantPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FakeQuantLowering, QuantizeLowering, DequantizeLowering,
               FakeQuantGradLowering, StraightThroughLowering>(
      patterns.getContext());
}
