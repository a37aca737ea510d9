//===- Pruning.cpp - prune_mask and apply_mask ----------------------------===//
//
// Part of qat-mlir. The lowering of prune_mask (N:M masks elementwise,
// unstructured masks by 64 counting passes over (magnitude << 32 | index) keys,
// no sort) and of apply_mask (a select).
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"
#include "ScalarEmitter.h"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::lowering;

namespace {

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
} // namespace

std::optional<StringRef>
mlir::qat::lowering::whyPruneMaskNotLowerable(PruneMaskOp op) {
  if (!op.getSparsity())
    return std::nullopt;
  RankedTensorType type = op.getInput().getType();
  if (!type.hasStaticShape())
    return StringRef("unstructured pruning needs a static shape");
  if (type.getNumElements() >= (int64_t(1) << 32))
    return StringRef("unstructured pruning supports at most 2^32 - 1 elements");
  return std::nullopt;
}

namespace {

struct PruneMaskLowering : OpConversionPattern<PruneMaskOp> {
  PruneMaskLowering(MLIRContext *ctx) : OpConversionPattern(ctx) {
    // Block masks lower through an unstructured mask of the block scores.
    setHasBoundedRewriteRecursion();
  }

  LogicalResult
  matchAndRewrite(PruneMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getBlock())
      return lowerBlocks(op, rewriter);
    if (op.getSparsity())
      return lowerUnstructured(op, rewriter);
    return lowerNM(op, rewriter);
  }

  /// Blocks (quantmath::blockPruneMask): the input viewed as
  /// [g0, b0, g1, b1, ...], one binary32 score per block (the sum of |x|,
  /// the block's dimensions innermost so that they add in row-major order),
  /// an unstructured mask of the scores, spread back over the blocks.
  static LogicalResult lowerBlocks(PruneMaskOp op,
                                   ConversionPatternRewriter &rewriter) {
    RankedTensorType type = op.getInput().getType();
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "block pruning needs a static "
                                             "shape");
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    ArrayRef<int64_t> block = *op.getBlock();
    unsigned rank = type.getRank();
    SmallVector<int64_t> grid, expanded;
    SmallVector<ReassociationIndices> groups;
    for (unsigned d = 0; d < rank; ++d) {
      grid.push_back(type.getDimSize(d) / block[d]);
      groups.push_back({2 * d, 2 * d + 1});
      expanded.append({grid.back(), block[d]});
    }
    Value view = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(expanded, type.getElementType()),
        op.getInput(), groups);
    // Iteration (g0..g(r-1), b0..b(r-1)); the view is read at
    // (g0, b0, g1, b1, ...).
    SmallVector<AffineExpr> viewIndex, gridIndex;
    for (unsigned d = 0; d < rank; ++d) {
      viewIndex.append({getAffineDimExpr(d, ctx),
                        getAffineDimExpr(rank + d, ctx)});
      gridIndex.push_back(getAffineDimExpr(d, ctx));
    }
    AffineMap viewMap = AffineMap::get(2 * rank, 0, viewIndex, ctx);
    AffineMap gridMap = AffineMap::get(2 * rank, 0, gridIndex, ctx);
    SmallVector<utils::IteratorType> iterators = parallel(rank);
    iterators.append(rank, utils::IteratorType::reduction);
    auto gridType = RankedTensorType::get(grid, rewriter.getF32Type());
    Value zero = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getF32FloatAttr(0.0f));
    Value scoresInit =
        linalg::FillOp::create(
            rewriter, loc, zero,
            tensor::EmptyOp::create(rewriter, loc, grid,
                                    rewriter.getF32Type())
                .getResult())
            .getResult(0);
    auto scores = linalg::GenericOp::create(
        rewriter, loc, TypeRange{gridType}, ValueRange{view},
        ValueRange{scoresInit}, ArrayRef<AffineMap>{viewMap, gridMap},
        iterators, [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Value magnitude = math::AbsFOp::create(b, bodyLoc, args[0]);
          linalg::YieldOp::create(
              b, bodyLoc,
              Value(arith::AddFOp::create(b, bodyLoc, args[1], magnitude)));
        });
    Value blockMask = PruneMaskOp::create(
        rewriter, loc, RankedTensorType::get(grid, rewriter.getI1Type()),
        scores.getResult(0), op.getSparsity(), nullptr, nullptr, nullptr,
        nullptr);
    // Spread: the view's element (g0, b0, ...) takes its block's bit.
    SmallVector<AffineExpr> ofBlock;
    for (unsigned d = 0; d < rank; ++d)
      ofBlock.push_back(getAffineDimExpr(2 * d, ctx));
    AffineMap spreadIn = AffineMap::get(2 * rank, 0, ofBlock, ctx);
    AffineMap identity = AffineMap::getMultiDimIdentityMap(2 * rank, ctx);
    Value spreadInit =
        tensor::EmptyOp::create(rewriter, loc, expanded, rewriter.getI1Type());
    auto spread = linalg::GenericOp::create(
        rewriter, loc, TypeRange{spreadInit.getType()}, ValueRange{blockMask},
        ValueRange{spreadInit}, ArrayRef<AffineMap>{spreadIn, identity},
        parallel(2 * rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          linalg::YieldOp::create(b, bodyLoc, args[0]);
        });
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getType(), spread.getResult(0), groups);
    return success();
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
    if (std::optional<StringRef> reason = whyPruneMaskNotLowerable(op))
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

/// apply_mask: mask ? x : +0.0, elementwise.
struct ApplyMaskLowering : OpConversionPattern<ApplyMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ApplyMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto type = cast<RankedTensorType>(input.getType());
    unsigned rank = type.getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, op.getContext());
    Value init = emptyLike(rewriter, loc, input, type.getElementType());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()},
        ValueRange{input, adaptor.getMask()}, ValueRange{init},
        ArrayRef<AffineMap>{id, id, id}, parallel(rank),
        [&](OpBuilder &b, Location bodyLoc, ValueRange args) {
          Value zero = arith::ConstantOp::create(
              b, bodyLoc, b.getFloatAttr(args[0].getType(), 0.0));
          linalg::YieldOp::create(
              b, bodyLoc,
              arith::SelectOp::create(b, bodyLoc, args[1], args[0], zero)
                  .getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void mlir::qat::lowering::populatePruningPatterns(RewritePatternSet &patterns) {
  patterns.add<PruneMaskLowering, ApplyMaskLowering>(patterns.getContext());
}
