//===- QatToLinalg.cpp - Lower qat ops to linalg
//---------------------------===//
//
// Part of qat-mlir. Each pattern emits, in a linalg.generic body, the same
// sequence of binary32 / integer operations as the reference library
// (include/qat/Support/QuantMath.h), so that compiled results equal the
// reference bit for bit (reductions excepted: their order is unspecified).
// test/Integration checks this by running both.
//
//===----------------------------------------------------------------------===//

#include "qat/Conversion/QatToLinalg/QatToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/IR/QatOps.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVERTQATTOLINALG
#include "qat/Conversion/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

//===----------------------------------------------------------------------===//
// Scalar arithmetic shared by the op bodies
//===----------------------------------------------------------------------===//

/// Emits scalar code with one location; mirrors QuantMath.cpp function by
/// function.
class Scalar {
public:
  Scalar(OpBuilder &builder, Location loc) : b(loc, builder) {}

  ImplicitLocOpBuilder &builder() { return b; }

  Value f32(double v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value i64(int64_t v) { return arith::ConstantIntOp::create(b, v, 64); }
  Value i32(int64_t v) { return arith::ConstantIntOp::create(b, v, 32); }

  Value add(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value cmpf(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value cmpi(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }
  Value isNaN(Value x) { return cmpf(arith::CmpFPredicate::UNO, x, x); }

  /// quantmath::roundToIntegral.
  Value round(Value v, RoundingMode mode) {
    switch (mode) {
    case RoundingMode::half_to_even:
      return math::RoundEvenOp::create(b, v);
    case RoundingMode::half_away_from_zero:
      return math::RoundOp::create(b, v);
    case RoundingMode::toward_zero:
      return math::TruncOp::create(b, v);
    case RoundingMode::half_up: {
      // floor(v) + (v - floor(v) >= 1/2). The difference is exact in
      // binary32 wherever it decides the result (see QuantMath.cpp).
      Value lo = math::FloorOp::create(b, v);
      Value up = cmpf(arith::CmpFPredicate::OGE, sub(v, lo), f32(0.5));
      Value rounded = select(up, add(lo, f32(1.0)), lo);
      // Keep the sign of zero, and +-inf/NaN unchanged, as the reference.
      return math::CopySignOp::create(b, rounded, v);
    }
    }
    llvm_unreachable("unknown rounding mode");
  }

  /// clamp(v, qmin, qmax) on floats; NaN becomes qmin (maxnumf ignores it).
  Value clampF(Value v, ::quantmath::QuantRange r) {
    Value lo = arith::MaxNumFOp::create(b, v, f32(r.qmin));
    return arith::MinNumFOp::create(b, lo, f32(r.qmax));
  }

  /// clamp on i64.
  Value clampI(Value v, int64_t lo, int64_t hi) {
    Value atLeast = arith::MaxSIOp::create(b, v, i64(lo));
    return arith::MinSIOp::create(b, atLeast, i64(hi));
  }

  /// An integer of any width to i64, sign- or zero-extended.
  Value toI64(Value v, bool isSigned) {
    unsigned width = v.getType().getIntOrFloatBitWidth();
    if (width == 64)
      return v;
    if (isSigned)
      return arith::ExtSIOp::create(b, b.getI64Type(), v);
    return arith::ExtUIOp::create(b, b.getI64Type(), v);
  }

  /// An i64 to `type` (wider or narrower integer), wrapping like the folders.
  Value fromI64(Value v, Type type) {
    unsigned width = type.getIntOrFloatBitWidth();
    if (width == 64)
      return v;
    if (width < 64)
      return arith::TruncIOp::create(b, type, v);
    return arith::ExtSIOp::create(b, type, v);
  }

  /// quantmath::normalizeZeroPoint, as an i64.
  Value zeroPoint(Value zp, ::quantmath::QuantRange r) {
    if (isa<FloatType>(zp.getType())) {
      Value clamped = clampF(round(zp, RoundingMode::half_to_even), r);
      return arith::FPToSIOp::create(b, b.getI64Type(), clamped);
    }
    return clampI(toI64(zp, /*isSigned=*/true), r.qmin, r.qmax);
  }

  Value toF32(Value i64Value) {
    return arith::SIToFPOp::create(b, b.getF32Type(), i64Value);
  }

  /// The clamped code of quantmath::quantize as an integral f32 (NaN x -> qmin;
  /// the callers handle NaN themselves).
  Value clampedCode(Value x, Value scale, Value zeroPointF,
                    ::quantmath::QuantRange r, RoundingMode mode) {
    return clampF(add(round(div(x, scale), mode), zeroPointF), r);
  }

private:
  ImplicitLocOpBuilder b;
};

//===----------------------------------------------------------------------===//
// Shapes and indexing maps
//===----------------------------------------------------------------------===//

Value emptyLike(OpBuilder &b, Location loc, Value like, Type elementType) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, like);
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

/// A tensor of `type`'s shape (sizes taken from `like` where dynamic) filled
/// with `value`.
Value filled(OpBuilder &b, Location loc, Value like, Value value) {
  Value empty = emptyLike(b, loc, like, value.getType());
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

/// Maps the iteration space of a rank-`rank` tensor to a parameter: `()` per
/// tensor, `(d_axis)` per channel.
AffineMap paramMap(MLIRContext *ctx, unsigned rank,
                   std::optional<uint64_t> axis) {
  if (!axis)
    return AffineMap::get(rank, 0, ctx);
  return AffineMap::get(rank, 0, getAffineDimExpr(*axis, ctx), ctx);
}

SmallVector<utils::IteratorType> parallel(unsigned rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

/// All dimensions reduce but `axis` (when present).
SmallVector<utils::IteratorType> reduceAllBut(unsigned rank,
                                              std::optional<uint64_t> axis) {
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::reduction);
  if (axis)
    iterators[*axis] = utils::IteratorType::parallel;
  return iterators;
}

//===----------------------------------------------------------------------===//
// fake_quant, quantize, dequantize
//===----------------------------------------------------------------------===//

/// fake_quant and quantize share one shape: an elementwise generic over the
/// input with the scale and zero point read through parameter maps.
template <typename OpTy>
Value lowerQuantizeLike(
    OpTy op, ConversionPatternRewriter &rewriter, Type resultElementType,
    function_ref<Value(Scalar &, Value x, Value s, Value zI64)> body) {
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  unsigned rank = inputType.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap param = paramMap(ctx, rank, op.getAxis());
  ::quantmath::QuantRange range = op.getQuantRange();
  Value init = emptyLike(rewriter, loc, op.getInput(), resultElementType);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, TypeRange{init.getType()},
      ValueRange{op.getInput(), op.getScale(), op.getZeroPoint()},
      ValueRange{init}, ArrayRef<AffineMap>{id, param, param, id},
      parallel(rank), [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
        Scalar e(b, bodyLoc);
        Value z = e.zeroPoint(args[2], range);
        linalg::YieldOp::create(b, bodyLoc, body(e, args[0], args[1], z));
      });
  return generic.getResult(0);
}

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
          // NaN quantizes to the zero point.
          return e.fromI64(e.select(e.isNaN(x), z, qI64), elementType);
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
// requantize
//===----------------------------------------------------------------------===//

struct RequantizeLowering : OpConversionPattern<RequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  /// Per-channel constants as an i64 tensor<Cxi64>.
  static Value channelConstant(OpBuilder &b, Location loc,
                               ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      b.getI64Type());
    return arith::ConstantOp::create(b, loc,
                                     DenseIntElementsAttr::get(type, values));
  }

  LogicalResult
  matchAndRewrite(RequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    unsigned rank = op.getInput().getType().getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    ::quantmath::QuantRange range = op.getQuantRange();
    RoundingMode mode = op.getRounding();
    Type elementType = op.getType().getElementType();
    // The I32Attr accessors return the bits unsigned.
    int64_t inputZeroPoint = static_cast<int32_t>(op.getInputZeroPoint());
    int64_t outputZeroPoint = static_cast<int32_t>(op.getOutputZeroPoint());

    // For each channel: multiplier, shift, the remainder mask 2^shift - 1 and
    // the tie threshold 2^(shift-1). A zero shift gets threshold 1, which no
    // remainder (always 0) reaches, so nothing rounds: shifting by 0 is exact.
    SmallVector<int64_t> multipliers, shifts, masks, halves;
    for (auto [m, s] : llvm::zip(op.getMultiplier(), op.getShift())) {
      multipliers.push_back(m);
      shifts.push_back(s);
      masks.push_back(static_cast<int64_t>((uint64_t(1) << s) - 1));
      halves.push_back(s == 0 ? 1 : int64_t(1) << (s - 1));
    }
    std::optional<uint64_t> axis = op.getAxis();

    SmallVector<Value> inputs{op.getInput()};
    SmallVector<AffineMap> maps{id};
    if (axis) {
      AffineMap param = paramMap(ctx, rank, axis);
      for (ArrayRef<int64_t> values : {multipliers, shifts, masks, halves}) {
        inputs.push_back(channelConstant(rewriter, loc, values));
        maps.push_back(param);
      }
    }
    maps.push_back(id);
    Value init = emptyLike(rewriter, loc, op.getInput(), elementType);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, inputs, ValueRange{init},
        maps, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Scalar e(b, bodyLoc);
          ImplicitLocOpBuilder &ib = e.builder();
          Value multiplier, shift, mask, half;
          if (axis) {
            multiplier = args[1], shift = args[2], mask = args[3],
            half = args[4];
          } else {
            multiplier = e.i64(multipliers[0]), shift = e.i64(shifts[0]),
            mask = e.i64(masks[0]), half = e.i64(halves[0]);
          }
          Value acc = e.toI64(args[0], /*isSigned=*/true);
          Value centered =
              arith::SubIOp::create(ib, acc, e.i64(inputZeroPoint));
          Value product = arith::MulIOp::create(ib, centered, multiplier);
          // quantmath::roundingRightShift.
          Value floorQuotient = arith::ShRSIOp::create(ib, product, shift);
          Value remainder = arith::AndIOp::create(ib, product, mask);
          using P = arith::CmpIPredicate;
          Value aboveHalf = e.cmpi(P::ugt, remainder, half);
          Value atHalf = e.cmpi(P::eq, remainder, half);
          Value roundUp;
          switch (mode) {
          case RoundingMode::half_to_even: {
            Value odd =
                arith::TruncIOp::create(ib, ib.getI1Type(), floorQuotient);
            roundUp = arith::OrIOp::create(
                ib, aboveHalf, arith::AndIOp::create(ib, atHalf, odd));
            break;
          }
          case RoundingMode::half_away_from_zero: {
            Value nonNegative = e.cmpi(P::sge, product, e.i64(0));
            roundUp = arith::OrIOp::create(
                ib, aboveHalf, arith::AndIOp::create(ib, atHalf, nonNegative));
            break;
          }
          case RoundingMode::half_up:
            roundUp = e.cmpi(P::uge, remainder, half);
            break;
          case RoundingMode::toward_zero:
            roundUp =
                arith::AndIOp::create(ib, e.cmpi(P::slt, product, e.i64(0)),
                                      e.cmpi(P::ne, remainder, e.i64(0)));
            break;
          }
          Value rounded = arith::AddIOp::create(
              ib, floorQuotient,
              arith::ExtUIOp::create(ib, ib.getI64Type(), roundUp));
          Value saturated =
              e.clampI(rounded, std::numeric_limits<int32_t>::min(),
                       std::numeric_limits<int32_t>::max());
          Value shifted =
              arith::AddIOp::create(ib, saturated, e.i64(outputZeroPoint));
          Value clamped = e.clampI(shifted, range.qmin, range.qmax);
          linalg::YieldOp::create(b, bodyLoc, e.fromI64(clamped, elementType));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

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

//===----------------------------------------------------------------------===//
// prune_mask
//===----------------------------------------------------------------------===//

/// quantmath::magnitudeKey on a scalar: the bits of |w| as an unsigned i32.
Value magnitudeKey(Scalar &e, Value w) {
  ImplicitLocOpBuilder &b = e.builder();
  Value bits = arith::BitcastOp::create(b, b.getI32Type(), w);
  return arith::AndIOp::create(b, bits, e.i32(0x7fffffff));
}

/// Why `op` cannot be lowered, if it cannot: unstructured pruning numbers
/// elements with 32 bits from a static shape.
std::optional<StringRef> whyNotLowerable(PruneMaskOp op) {
  if (!op.getSparsity())
    return std::nullopt;
  RankedTensorType type = op.getInput().getType();
  if (!type.hasStaticShape())
    return StringRef("unstructured pruning needs a static shape");
  if (type.getNumElements() >= (int64_t(1) << 32))
    return StringRef("unstructured pruning supports at most 2^32 - 1 elements");
  return std::nullopt;
}

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

struct PruneMaskLowering : OpConversionPattern<PruneMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PruneMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getSparsity())
      return lowerUnstructured(op, rewriter);
    return lowerNM(op, rewriter);
  }

  /// N:M: each element counts the members of its group that come after it
  /// in magnitude order (quantmath::nmPruneMask).
  static LogicalResult lowerNM(PruneMaskOp op,
                               ConversionPatternRewriter &rewriter) {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value input = op.getInput();
    unsigned rank = op.getInput().getType().getRank();
    unsigned axis = *op.getAxis();
    int64_t n = *op.getN(), m = *op.getM();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    Value init = emptyLike(rewriter, loc, input, rewriter.getI1Type());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, ValueRange{input},
        ValueRange{init}, ArrayRef<AffineMap>{id, id}, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Scalar e(b, bodyLoc);
          ImplicitLocOpBuilder &ib = e.builder();
          SmallVector<Value> indices;
          for (unsigned d = 0; d < rank; ++d)
            indices.push_back(linalg::IndexOp::create(ib, d));
          Value key = magnitudeKey(e, args[0]);
          Value position = indices[axis];
          Value mIndex = arith::ConstantIndexOp::create(ib, m);
          Value first = arith::SubIOp::create(
              ib, position, arith::RemUIOp::create(ib, position, mIndex));
          Value zeroIndex = arith::ConstantIndexOp::create(ib, 0);
          Value oneIndex = arith::ConstantIndexOp::create(ib, 1);
          Value zeroCount = e.i64(0);
          auto loop = scf::ForOp::create(
              ib, zeroIndex, mIndex, oneIndex, ValueRange{zeroCount},
              [&](OpBuilder &lb, Location loopLoc, Value j, ValueRange iter) {
                Scalar le(lb, loopLoc);
                ImplicitLocOpBuilder &lib = le.builder();
                SmallVector<Value> other(indices);
                Value otherPos = arith::AddIOp::create(lib, first, j);
                other[axis] = otherPos;
                Value otherW = tensor::ExtractOp::create(lib, input, other);
                Value otherKey = magnitudeKey(le, otherW);
                using P = arith::CmpIPredicate;
                Value larger = arith::OrIOp::create(
                    lib, le.cmpi(P::ugt, otherKey, key),
                    arith::AndIOp::create(lib, le.cmpi(P::eq, otherKey, key),
                                          le.cmpi(P::ugt, otherPos, position)));
                Value count = arith::AddIOp::create(
                    lib, iter[0],
                    arith::ExtUIOp::create(lib, lib.getI64Type(), larger));
                scf::YieldOp::create(lib, count);
              });
          Value keep =
              e.cmpi(arith::CmpIPredicate::slt, loop.getResult(0), e.i64(n));
          linalg::YieldOp::create(b, bodyLoc, keep);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }

  /// Unstructured: find the k-th smallest of the distinct 64-bit keys
  /// (magnitude key << 32 | flat index) bit by bit, from the top: 64 counting
  /// passes over the tensor, then prune every key below it
  /// (quantmath::magnitudePruneMask).
  static LogicalResult lowerUnstructured(PruneMaskOp op,
                                         ConversionPatternRewriter &rewriter) {
    if (std::optional<StringRef> reason = whyNotLowerable(op))
      return rewriter.notifyMatchFailure(op, *reason);
    RankedTensorType type = op.getInput().getType();
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    unsigned rank = type.getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap scalarMap = AffineMap::get(rank, 0, ctx);
    Type i64 = rewriter.getI64Type();

    // keys[i] = magnitudeKey(w[i]) << 32 | flat(i).
    Value keysInit = emptyLike(rewriter, loc, op.getInput(), i64);
    auto keys = linalg::GenericOp::create(
        rewriter, loc, TypeRange{keysInit.getType()}, ValueRange{op.getInput()},
        ValueRange{keysInit}, ArrayRef<AffineMap>{id, id}, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Scalar e(b, bodyLoc);
          ImplicitLocOpBuilder &ib = e.builder();
          Value flat = e.i64(0);
          for (unsigned d = 0; d < rank; ++d) {
            Value index = arith::IndexCastUIOp::create(
                ib, i64, linalg::IndexOp::create(ib, d));
            flat = arith::AddIOp::create(
                ib, arith::MulIOp::create(ib, flat, e.i64(type.getDimSize(d))),
                index);
          }
          Value key = arith::ExtUIOp::create(ib, i64, magnitudeKey(e, args[0]));
          Value high = arith::ShLIOp::create(ib, key, e.i64(32));
          linalg::YieldOp::create(b, bodyLoc,
                                  Value(arith::OrIOp::create(ib, high, flat)));
        });

    // k = floor(clamp(sparsity, 0, 1) * numel) in binary64; NaN -> 0.
    Scalar e(rewriter, loc);
    ImplicitLocOpBuilder &b = e.builder();
    Value sparsity32 =
        tensor::ExtractOp::create(b, op.getSparsity(), ValueRange{});
    Value sparsity = arith::ExtFOp::create(b, b.getF64Type(), sparsity32);
    Value zeroF64 = arith::ConstantOp::create(b, b.getF64FloatAttr(0.0));
    Value oneF64 = arith::ConstantOp::create(b, b.getF64FloatAttr(1.0));
    Value positive =
        e.cmpf(arith::CmpFPredicate::OGT, sparsity, zeroF64); // false for NaN
    Value clamped = e.select(
        positive, arith::MinimumFOp::create(b, sparsity, oneF64), zeroF64);
    Value scaled = arith::MulFOp::create(
        b, clamped,
        arith::ConstantOp::create(
            b, b.getF64FloatAttr(static_cast<double>(type.getNumElements()))));
    Value numPruned =
        arith::FPToSIOp::create(b, i64, math::FloorOp::create(b, scaled));

    // threshold = the largest T with #{key < T} <= k.
    Value zeroIndex = arith::ConstantIndexOp::create(b, 0);
    Value bitsIndex = arith::ConstantIndexOp::create(b, 64);
    Value oneIndex = arith::ConstantIndexOp::create(b, 1);
    auto search = scf::ForOp::create(
        b, zeroIndex, bitsIndex, oneIndex, ValueRange{e.i64(0)},
        [&](OpBuilder &lb, Location loopLoc, Value iv, ValueRange iter) {
          Scalar le(lb, loopLoc);
          ImplicitLocOpBuilder &lib = le.builder();
          Value bit = arith::SubIOp::create(
              lib, le.i64(63), arith::IndexCastUIOp::create(lib, i64, iv));
          Value candidate = arith::OrIOp::create(
              lib, iter[0], arith::ShLIOp::create(lib, le.i64(1), bit));
          Value countInit =
              filled(lib, loopLoc,
                     tensor::EmptyOp::create(lib, ArrayRef<int64_t>{}, i64),
                     le.i64(0));
          auto count = linalg::GenericOp::create(
              lib, TypeRange{countInit.getType()},
              ValueRange{keys.getResult(0)}, ValueRange{countInit},
              ArrayRef<AffineMap>{id, scalarMap},
              SmallVector<utils::IteratorType>(rank,
                                               utils::IteratorType::reduction),
              [&](OpBuilder &cb, Location countLoc, ValueRange args) {
                Scalar ce(cb, countLoc);
                Value below =
                    ce.cmpi(arith::CmpIPredicate::ult, args[0], candidate);
                Value sum = arith::AddIOp::create(
                    cb, countLoc, args[1],
                    arith::ExtUIOp::create(cb, countLoc, i64, below));
                linalg::YieldOp::create(cb, countLoc, sum);
              });
          Value total =
              tensor::ExtractOp::create(lib, count.getResult(0), ValueRange{});
          Value accept = le.cmpi(arith::CmpIPredicate::sle, total, numPruned);
          scf::YieldOp::create(lib, le.select(accept, candidate, iter[0]));
        });
    Value threshold = search.getResult(0);

    Value maskInit =
        emptyLike(rewriter, loc, op.getInput(), rewriter.getI1Type());
    auto mask = linalg::GenericOp::create(
        rewriter, loc, TypeRange{maskInit.getType()},
        ValueRange{keys.getResult(0)}, ValueRange{maskInit},
        ArrayRef<AffineMap>{id, id}, parallel(rank),
        [&](OpBuilder &mb, Location maskLoc, ValueRange args) {
          Scalar me(mb, maskLoc);
          linalg::YieldOp::create(
              mb, maskLoc,
              me.cmpi(arith::CmpIPredicate::uge, args[0], threshold));
        });
    rewriter.replaceOp(op, mask.getResult(0));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ConvertQatToLinalgPass
    : mlir::qat::impl::ConvertQatToLinalgBase<ConvertQatToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Name the reason for ops no pattern can lower, instead of the generic
    // "failed to legalize".
    bool unsupported = false;
    getOperation()->walk([&](PruneMaskOp op) {
      if (std::optional<StringRef> reason = whyNotLowerable(op)) {
        op.emitOpError("cannot be lowered to linalg: ") << *reason;
        unsupported = true;
      }
    });
    if (unsupported)
      return signalPassFailure();

    ConversionTarget target(*ctx);
    target.addIllegalDialect<QatDialect>();
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQatToLinalgPatterns(patterns);
    // Lowering must emit code: folding a qat op here would compute it with
    // the reference library at compile time instead.
    ConversionConfig config;
    config.foldingMode = DialectConversionFoldingMode::Never;
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace

void mlir::qat::populateQatToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<FakeQuantLowering, FakeQuantGradLowering, QuantizeLowering,
               DequantizeLowering, RequantizeLowering, ObserveLowering,
               ChooseQParamsLowering, PruneMaskLowering,
               StraightThroughLowering>(patterns.getContext());
}
