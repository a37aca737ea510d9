//===- ScalarEmitter.h - The reference semantics as IR ----------*- C++ -*-===//
//
// Part of qat-mlir. Internal to QatToLinalg: the one emitter of the
// reference semantics (include/qat/Support/QuantMath.h) as scalar arith/math
// ops inside linalg.generic bodies, with the shape helpers the per-family
// lowerings share. Each family's patterns live in their own file
// (FakeQuant.cpp, Requantize.cpp, Ranges.cpp, Pruning.cpp) behind a
// populate function (PopulatePatterns.h).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CONVERSION_QATTOLINALG_SCALAREMITTER_H
#define QAT_LIB_CONVERSION_QATTOLINALG_SCALAREMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include "qat/Dialect/Qat/IR/QatOps.h"

namespace mlir::qat::lowering {

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

  /// The clamped code of quantmath::quantize as an integral f32; a NaN
  /// quotient gives the zero point.
  Value clampedCode(Value x, Value scale, Value zeroPointF,
                    ::quantmath::QuantRange r, RoundingMode mode) {
    Value quotient = div(x, scale);
    Value code = clampF(add(round(quotient, mode), zeroPointF), r);
    return select(isNaN(quotient), zeroPointF, code);
  }

private:
  ImplicitLocOpBuilder b;
};

//===----------------------------------------------------------------------===//
// Shapes and indexing maps
//===----------------------------------------------------------------------===//

inline Value emptyLike(OpBuilder &b, Location loc, Value like,
                       Type elementType) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, like);
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

/// A tensor of `type`'s shape (sizes taken from `like` where dynamic) filled
/// with `value`.
inline Value filled(OpBuilder &b, Location loc, Value like, Value value) {
  Value empty = emptyLike(b, loc, like, value.getType());
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

/// Maps the iteration space of a rank-`rank` tensor to a parameter: `()` per
/// tensor, `(d_axis)` per channel.
inline AffineMap paramMap(MLIRContext *ctx, unsigned rank,
                          std::optional<uint64_t> axis) {
  if (!axis)
    return AffineMap::get(rank, 0, ctx);
  return AffineMap::get(rank, 0, getAffineDimExpr(*axis, ctx), ctx);
}

inline SmallVector<utils::IteratorType> parallel(unsigned rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

/// All dimensions reduce but `axis` (when present).
inline SmallVector<utils::IteratorType>
reduceAllBut(unsigned rank, std::optional<uint64_t> axis) {
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::reduction);
  if (axis)
    iterators[*axis] = utils::IteratorType::parallel;
  return iterators;
}

//===----------------------------------------------------------------------===//
// The shape of fake_quant and quantize
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

} // namespace mlir::qat::lowering

#endif // QAT_LIB_CONVERSION_QATTOLINALG_SCALAREMITTER_H
