//===- Requantize.cpp - requantize
//------------------------------------------===//
//
// Part of qat-mlir. The lowering of requantize (int32 fixed-point rescale,
// rounding, clamps) to a linalg.generic body built by the ScalarEmitter.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"
#include "ScalarEmitter.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::lowering;

namespace {

//===----------------------------------------------------------------------===//
// requantize
//===----------------------------------------------------------------------===//

/// quantmath::roundingRightShift of `product` by `shift` in `mode`, given
/// the shift's remainder mask 2^shift - 1 and tie threshold 2^(shift-1).
Value roundingShift(Scalar &e, Value product, Value shift, Value mask,
                    Value half, RoundingMode mode) {
  ImplicitLocOpBuilder &ib = e.builder();
  Value floorQuotient = arith::ShRSIOp::create(ib, product, shift);
  Value remainder = arith::AndIOp::create(ib, product, mask);
  using P = arith::CmpIPredicate;
  Value aboveHalf = e.cmpi(P::ugt, remainder, half);
  Value atHalf = e.cmpi(P::eq, remainder, half);
  Value roundUp;
  switch (mode) {
  case RoundingMode::half_to_even: {
    Value odd = arith::TruncIOp::create(ib, ib.getI1Type(), floorQuotient);
    roundUp = arith::OrIOp::create(ib, aboveHalf,
                                   arith::AndIOp::create(ib, atHalf, odd));
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
    roundUp = arith::AndIOp::create(ib, e.cmpi(P::slt, product, e.i64(0)),
                                    e.cmpi(P::ne, remainder, e.i64(0)));
    break;
  }
  return arith::AddIOp::create(
      ib, floorQuotient, arith::ExtUIOp::create(ib, ib.getI64Type(), roundUp));
}

struct RequantizeLowering : OpConversionPattern<RequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  /// Per-channel constants as a tensor<Cxi64> or tensor<Cxi32>.
  static Value channelConstant(OpBuilder &b, Location loc,
                               ArrayRef<int64_t> values, Type elementType) {
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      elementType);
    SmallVector<APInt> bits;
    for (int64_t v : values)
      bits.push_back(APInt(elementType.getIntOrFloatBitWidth(), v,
                           /*isSigned=*/true, /*implicitTrunc=*/true));
    return arith::ConstantOp::create(b, loc,
                                     DenseIntElementsAttr::get(type, bits));
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

    // Ties to even or up, with no input zero point (int32 accumulators):
    // |product| < 2^62, so the rounding can be an addition before the shift,
    //   even: (product + 2^(s-1) - 1 + ((product >> s) & 1)) >> s
    //   up:   (product + 2^(s-1)) >> s
    // (a zero shift adds nothing), with no compare: fewer, cheaper vector
    // ops in the matmul kernels' epilogues. The results are
    // quantmath::roundingRightShift's all the same (test/Integration).
    bool additive =
        inputZeroPoint == 0 &&
        (mode == RoundingMode::half_to_even || mode == RoundingMode::half_up);
    // With every shift in [33, 63] (a rescale below 1/2 in normalized form:
    // every layer's requantization in practice), the additive form needs
    // only the product's high word: see buildHighWord. It runs in 32-bit
    // lanes, twice as many per vector, and needs no int32 saturation
    // (|result| < 2^29); the zero point and clamp stay within int32 too.
    bool highWord =
        additive &&
        llvm::all_of(op.getShift(), [](int32_t s) { return s >= 33; }) &&
        std::abs(outputZeroPoint) < (int64_t(1) << 30) &&
        range.qmin >= std::numeric_limits<int32_t>::min() &&
        range.qmax <= std::numeric_limits<int32_t>::max();
    // Saturating to int32 before the output zero point and clamp changes
    // nothing when the clamp's range, less the zero point, is within int32.
    bool saturate =
        range.qmin - outputZeroPoint < std::numeric_limits<int32_t>::min() ||
        range.qmax - outputZeroPoint > std::numeric_limits<int32_t>::max();

    // Per channel (or once): the multiplier and shift, and the constants of
    // the form's rounding.
    SmallVector<SmallVector<int64_t>> constants =
        highWord ? highWordConstants(op, mode) : wideConstants(op, additive);
    Type constantType = highWord ? rewriter.getI32Type() : rewriter.getI64Type();
    std::optional<uint64_t> axis = op.getAxis();
    SmallVector<Value> inputs{op.getInput()};
    SmallVector<AffineMap> maps{id};
    if (axis) {
      AffineMap param = paramMap(ctx, rank, axis);
      for (ArrayRef<int64_t> values : constants) {
        inputs.push_back(channelConstant(rewriter, loc, values, constantType));
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
          SmallVector<Value> channel;
          for (auto [i, values] : llvm::enumerate(constants))
            channel.push_back(axis ? args[1 + i]
                                   : arith::ConstantIntOp::create(
                                         ib, constantType, values[0])
                                         .getResult());
          Value result;
          if (highWord) {
            Value rounded = buildHighWord(ib, args[0], channel, mode);
            Value shifted = arith::AddIOp::create(
                ib, rounded, e.i32(outputZeroPoint));
            Value atLeast =
                arith::MaxSIOp::create(ib, shifted, e.i32(range.qmin));
            Value clamped =
                arith::MinSIOp::create(ib, atLeast, e.i32(range.qmax));
            result = elementType.getIntOrFloatBitWidth() < 32
                         ? arith::TruncIOp::create(ib, elementType, clamped)
                               .getResult()
                         : clamped;
          } else {
            Value rounded = buildWide(e, args[0], channel, inputZeroPoint,
                                      additive, mode);
            Value saturated =
                saturate
                    ? e.clampI(rounded, std::numeric_limits<int32_t>::min(),
                               std::numeric_limits<int32_t>::max())
                    : rounded;
            Value shifted =
                arith::AddIOp::create(ib, saturated, e.i64(outputZeroPoint));
            result = e.fromI64(e.clampI(shifted, range.qmin, range.qmax),
                               elementType);
          }
          linalg::YieldOp::create(b, bodyLoc, result);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }

private:
  /// The 64-bit form's constants: multiplier, shift, and then either the
  /// rounding bias and the odd-quotient bit (additive), or the remainder
  /// mask 2^shift - 1 and the tie threshold 2^(shift-1). A zero shift gets
  /// threshold 1, which no remainder (always 0) reaches, so nothing rounds:
  /// shifting by 0 is exact.
  static SmallVector<SmallVector<int64_t>> wideConstants(RequantizeOp op,
                                                         bool additive) {
    bool even = op.getRounding() == RoundingMode::half_to_even;
    SmallVector<SmallVector<int64_t>> c(4);
    for (auto [m, s] : llvm::zip(op.getMultiplier(), op.getShift())) {
      int64_t half = s == 0 ? 0 : int64_t(1) << (s - 1);
      c[0].push_back(m);
      c[1].push_back(s);
      if (additive) {
        c[2].push_back(even && s > 0 ? half - 1 : half);
        c[3].push_back(even && s > 0 ? 1 : 0);
      } else {
        c[2].push_back(static_cast<int64_t>((uint64_t(1) << s) - 1));
        c[3].push_back(s == 0 ? 1 : half);
      }
    }
    return c;
  }

  /// rounded(acc * multiplier / 2^shift) in 64 bits (constants from
  /// wideConstants).
  static Value buildWide(Scalar &e, Value acc, ArrayRef<Value> c,
                         int64_t inputZeroPoint, bool additive,
                         RoundingMode mode) {
    ImplicitLocOpBuilder &ib = e.builder();
    Value multiplier = c[0], shift = c[1];
    Value centered = arith::SubIOp::create(ib, e.toI64(acc, /*isSigned=*/true),
                                           e.i64(inputZeroPoint));
    Value product = arith::MulIOp::create(ib, centered, multiplier);
    if (!additive)
      return roundingShift(e, product, shift, /*mask=*/c[2], /*half=*/c[3],
                           mode);
    Value sum = arith::AddIOp::create(ib, product, /*bias=*/c[2]);
    if (mode == RoundingMode::half_to_even)
      sum = arith::AddIOp::create(
          ib, sum,
          arith::AndIOp::create(ib, arith::ShRSIOp::create(ib, product, shift),
                                /*oddBit=*/c[3]));
    return arith::ShRSIOp::create(ib, sum, shift);
  }

  /// The high-word form's constants, for shift s = 32 + t (t in [1, 31]):
  /// multiplier, t, the rounding bias 2^(t-1), and for ties to even the
  /// quotient's parity bit 2^t and the low-word mask (below).
  static SmallVector<SmallVector<int64_t>> highWordConstants(RequantizeOp op,
                                                             RoundingMode mode) {
    bool even = mode == RoundingMode::half_to_even;
    SmallVector<SmallVector<int64_t>> c(even ? 5 : 3);
    for (auto [m, s] : llvm::zip(op.getMultiplier(), op.getShift())) {
      int64_t t = s - 32;
      c[0].push_back(m);
      c[1].push_back(t);
      c[2].push_back(int64_t(1) << (t - 1));
      if (!even)
        continue;
      c[3].push_back(int64_t(1) << t);
      // The product's low word is 0 exactly when acc is a multiple of
      // 2^(32 - z), z the multiplier's trailing zeros (its odd part is
      // invertible modulo 2^32); a zero multiplier: always.
      unsigned z = m == 0 ? 32 : llvm::countr_zero(static_cast<uint32_t>(m));
      c[4].push_back(z == 32 ? 0 : static_cast<int32_t>((uint64_t(1) << (32 - z)) - 1));
    }
    return c;
  }

  /// rounded(acc * multiplier / 2^s), s = 32 + t, from the high word
  /// hi = (acc * multiplier) >> 32 of the exact product p = hi * 2^32 + lo
  /// (0 <= lo < 2^32). Adding lo / 2^32 < 1 to an integer numerator does not
  /// change a floor division by 2^t, so
  ///   up:   (p + 2^(s-1)) >> s = (hi + 2^(t-1)) >> t
  ///   even: (p + 2^(s-1) - 1 + b) >> s, b = (p >> s) & 1 = (hi >> t) & 1,
  ///         is the same but for one case: b = 0 and lo = 0, where p - 1
  ///         borrows from hi: (hi + 2^(t-1) - 1) >> t.
  /// Every intermediate fits in int32: |hi| < 2^30, 2^(t-1) <= 2^30.
  static Value buildHighWord(ImplicitLocOpBuilder &ib, Value acc,
                             ArrayRef<Value> c, RoundingMode mode) {
    Value multiplier = c[0], t = c[1], bias = c[2];
    Value high =
        arith::MulSIExtendedOp::create(ib, acc, multiplier).getHigh();
    Value sum = arith::AddIOp::create(ib, high, bias);
    if (mode == RoundingMode::half_to_even) {
      Value parityBit = c[3], lowMask = c[4];
      Value bits = arith::OrIOp::create(
          ib, arith::AndIOp::create(ib, acc, lowMask),
          arith::AndIOp::create(ib, high, parityBit));
      Value borrow = arith::ExtUIOp::create(
          ib, ib.getI32Type(),
          arith::CmpIOp::create(ib, arith::CmpIPredicate::eq, bits,
                                arith::ConstantIntOp::create(ib, 0, 32)));
      sum = arith::SubIOp::create(ib, sum, borrow);
    }
    return arith::ShRSIOp::create(ib, sum, t);
  }
};

} // namespace

void mlir::qat::lowering::populateRequantizePatterns(
    RewritePatternSet &patterns) {
  patterns.add<RequantizeLowering>(patterns.getContext());
}
