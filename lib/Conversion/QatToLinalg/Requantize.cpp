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
    // For each channel: multiplier, shift, and then either the rounding
    // bias and the odd-quotient bit (additive), or the remainder mask
    // 2^shift - 1 and the tie threshold 2^(shift-1). A zero shift gets
    // threshold 1, which no remainder (always 0) reaches, so nothing
    // rounds: shifting by 0 is exact.
    // The last two are `rounding0` and `rounding1`.
    SmallVector<int64_t> multipliers, shifts, rounding0, rounding1;
    for (auto [m, s] : llvm::zip(op.getMultiplier(), op.getShift())) {
      multipliers.push_back(m);
      shifts.push_back(s);
      int64_t half = s == 0 ? 0 : int64_t(1) << (s - 1);
      if (additive) {
        bool even = mode == RoundingMode::half_to_even;
        rounding0.push_back(even && s > 0 ? half - 1 : half);
        rounding1.push_back(even && s > 0 ? 1 : 0);
      } else {
        rounding0.push_back(static_cast<int64_t>((uint64_t(1) << s) - 1));
        rounding1.push_back(s == 0 ? 1 : half);
      }
    }
    // Saturating to int32 before the output zero point and clamp changes
    // nothing when the clamp's range, less the zero point, is within int32.
    bool saturate =
        range.qmin - outputZeroPoint < std::numeric_limits<int32_t>::min() ||
        range.qmax - outputZeroPoint > std::numeric_limits<int32_t>::max();
    std::optional<uint64_t> axis = op.getAxis();

    SmallVector<Value> inputs{op.getInput()};
    SmallVector<AffineMap> maps{id};
    if (axis) {
      AffineMap param = paramMap(ctx, rank, axis);
      for (ArrayRef<int64_t> values : {multipliers, shifts, rounding0, rounding1}) {
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
          Value multiplier, shift, first, second;
          if (axis) {
            multiplier = args[1], shift = args[2], first = args[3],
            second = args[4];
          } else {
            multiplier = e.i64(multipliers[0]), shift = e.i64(shifts[0]),
            first = e.i64(rounding0[0]), second = e.i64(rounding1[0]);
          }
          Value acc = e.toI64(args[0], /*isSigned=*/true);
          Value centered =
              arith::SubIOp::create(ib, acc, e.i64(inputZeroPoint));
          Value product = arith::MulIOp::create(ib, centered, multiplier);
          Value rounded;
          if (additive) {
            Value bias = first, oddBit = second;
            Value sum = arith::AddIOp::create(ib, product, bias);
            if (mode == RoundingMode::half_to_even)
              sum = arith::AddIOp::create(
                  ib, sum,
                  arith::AndIOp::create(
                      ib, arith::ShRSIOp::create(ib, product, shift), oddBit));
            rounded = arith::ShRSIOp::create(ib, sum, shift);
          } else {
            Value mask = first, half = second;
            rounded = roundingShift(e, product, shift, mask, half, mode);
          }
          Value saturated =
              saturate ? e.clampI(rounded, std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::max())
                       : rounded;
          Value shifted =
              arith::AddIOp::create(ib, saturated, e.i64(outputZeroPoint));
          Value clamped = e.clampI(shifted, range.qmin, range.qmax);
          linalg::YieldOp::create(b, bodyLoc, e.fromI64(clamped, elementType));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void mlir::qat::lowering::populateRequantizePatterns(
    RewritePatternSet &patterns) {
  patterns.add<RequantizeLowering>(patterns.getContext());
}
