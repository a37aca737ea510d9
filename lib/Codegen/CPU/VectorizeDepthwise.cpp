//===- VectorizeDepthwise.cpp - qat-vectorize-depthwise -------------------===//
//
// Part of qat-mlir. A depthwise convolution (NHWC input, HWC filter) as
// vector code: 16 channels a vector, a few output pixels' accumulators in
// registers through all of the filter's taps, started from the bias and
// finished by the fused elementwise consumer (the requantization) before
// their one store.
//
//===----------------------------------------------------------------------===//

#include "MatmulKernels.h"
#include "VectorWidth.h"

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::qat {
#define GEN_PASS_DEF_VECTORIZEDEPTHWISE
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// Channels a vector holds: its 32-bit lanes.
constexpr int64_t kLanes = kLanes32;
/// Output pixels of a row whose accumulators a block keeps in registers
/// (with the filter's 9 tap vectors of a 3x3 filter: 13 of 32 registers).
constexpr int64_t kPixels = 4;
/// Bytes vpdpbusd sums in each lane.
constexpr int64_t kGroup = 4;

/// The loops of one depthwise convolution's kernel.
class DepthwiseBuilder {
public:
  DepthwiseBuilder(linalg::DepthwiseConv2DNhwcHwcOp op,
                   std::optional<Epilogue> epilogue,
                   std::optional<AccumulatorStart> start, bool vnni)
      : input(op.getInputs()[0]), filter(op.getInputs()[1]),
        output(op.getOutputs()[0]), epilogue(epilogue), start(start) {
    auto outputType = cast<RankedTensorType>(output.getType());
    auto filterType = cast<RankedTensorType>(filter.getType());
    outWidth = outputType.getDimSize(2);
    channels = outputType.getDimSize(3);
    filterHeight = filterType.getDimSize(0);
    filterWidth = filterType.getDimSize(1);
    accType = VectorType::get({kLanes}, outputType.getElementType());
    inType = VectorType::get({kLanes}, filterType.getElementType());
    auto values = [](DenseIntElementsAttr attr) {
      return llvm::to_vector(attr.getValues<int64_t>());
    };
    strides = values(op.getStrides());
    dilations = values(op.getDilations());
    dot = vnni && isa<IntegerType>(accType.getElementType());
  }

  /// Output row (n, oh) of `c` (the destination, or the slice of it for
  /// this row: its indices of that row are cn, coh). Returns the new `c`.
  Value row(ImplicitLocOpBuilder &b, Value c, Value n, Value oh, Value cn,
            Value coh) {
    int64_t full = channels - channels % kLanes;
    c = updateInLoop(b, c, 0, full, kLanes,
                     [&](ImplicitLocOpBuilder &ib, Value c, Value c0) {
                       return channelBlock(ib, c, n, oh, cn, coh, c0, true);
                     });
    return updateInLoop(b, c, full, channels, kLanes,
                        [&](ImplicitLocOpBuilder &ib, Value c, Value c0) {
                          return channelBlock(ib, c, n, oh, cn, coh, c0, false);
                        });
  }

private:
  Value index(ImplicitLocOpBuilder &b, int64_t v) {
    return arith::ConstantIndexOp::create(b, v);
  }

  Value read(ImplicitLocOpBuilder &b, Value source, VectorType type,
             ValueRange indices, bool inBounds) {
    Value padding =
        arith::ConstantOp::create(b, b.getZeroAttr(type.getElementType()));
    return vector::TransferReadOp::create(b, type, source, indices, padding,
                                          ArrayRef<bool>{inBounds});
  }

  /// An input or filter vector as accumulator lanes (integers sign-extended,
  /// as the named op's cast_signed does).
  Value widen(ImplicitLocOpBuilder &b, Value v) {
    if (accType.getElementType() == inType.getElementType())
      return v;
    return arith::ExtSIOp::create(b, accType, v);
  }

  /// Channels [c0, c0 + 16) of row (n, oh): the filter's taps for them are
  /// loaded once, then the row's pixels go kPixels at a time.
  Value channelBlock(ImplicitLocOpBuilder &b, Value c, Value n, Value oh,
                     Value cn, Value coh, Value c0, bool inBounds) {
    SmallVector<Value> taps;
    for (int64_t kh = 0; kh < filterHeight; ++kh)
      for (int64_t kw = 0; kw < filterWidth; ++kw)
        taps.push_back(read(b, filter, inType, {index(b, kh), index(b, kw), c0},
                            inBounds));
    Value startValue =
        start ? start->load(b, accType, c0, ArrayRef<bool>{inBounds}) : Value();
    Value correction;
    if (dot) {
      // vpdpbusd: each lane sums 4 taps' products, the input made unsigned
      // (x + 128), so the accumulators start 128 * (sum of the taps) lower.
      Value sum;
      for (Value tap : taps) {
        Value wide = widen(b, tap);
        sum = sum ? arith::AddIOp::create(b, sum, wide).getResult() : wide;
      }
      Value shift = arith::ConstantOp::create(
          b, DenseElementsAttr::get(accType, b.getI32IntegerAttr(7)));
      correction = arith::ShLIOp::create(b, sum, shift);
      SmallVector<Value> groups;
      for (int64_t t = 0; t < static_cast<int64_t>(taps.size()); t += kGroup)
        groups.push_back(interleaveGroup(b, ArrayRef(taps).drop_front(t)));
      taps = groups;
      if (startValue)
        startValue = arith::SubIOp::create(b, startValue, correction);
    } else {
      for (Value &tap : taps)
        tap = widen(b, tap);
    }
    IRMapping columnInputs;
    if (epilogue)
      columnInputs =
          epilogue->loadColumnInputs(b, c0, accType, ArrayRef<bool>{inBounds});
    auto pixels = [&](int64_t count) {
      return [&, count](ImplicitLocOpBuilder &pb, Value c, Value ow0) {
        return pixelBlock(pb, c, n, oh, cn, coh, ow0, c0, count, taps,
                          startValue, correction, columnInputs, inBounds);
      };
    };
    int64_t full = outWidth - outWidth % kPixels;
    c = updateInLoop(b, c, 0, full, kPixels, pixels(kPixels));
    return updateInLoop(b, c, full, outWidth, 1, pixels(1));
  }

  /// `count` pixels from ow0 of row (n, oh), channels [c0, c0 + 16).
  /// `taps`: the filter's, widened, or in groups of 4 for vpdpbusd;
  /// `correction`: what the accumulators start lower by with vpdpbusd.
  Value pixelBlock(ImplicitLocOpBuilder &b, Value c, Value n, Value oh,
                   Value cn, Value coh, Value ow0, Value c0, int64_t count,
                   ArrayRef<Value> taps, Value startValue, Value correction,
                   const IRMapping &columnInputs, bool inBounds) {
    bool isFloat = isa<FloatType>(accType.getElementType());
    Value flip =
        dot ? arith::ConstantOp::create(
                  b, DenseElementsAttr::get(
                         VectorType::get({kLanes * kGroup}, b.getI8Type()),
                         b.getI8IntegerAttr(-128)))
                  .getResult()
            : Value();
    Value ih0 = arith::MulIOp::create(b, oh, index(b, strides[0]));
    for (int64_t p = 0; p < count; ++p) {
      Value ow = arith::AddIOp::create(b, ow0, index(b, p));
      Value iw0 = arith::MulIOp::create(b, ow, index(b, strides[1]));
      Value acc = startValue;
      if (!acc) {
        acc = read(b, output, accType, {n, oh, ow, c0}, inBounds);
        if (dot)
          acc = arith::SubIOp::create(b, acc, correction);
      }
      // The input under each tap, in the named op's order (kh, then kw).
      SmallVector<Value> pixels;
      for (int64_t kh = 0; kh < filterHeight; ++kh) {
        Value ih = arith::AddIOp::create(b, ih0, index(b, kh * dilations[0]));
        for (int64_t kw = 0; kw < filterWidth; ++kw) {
          Value iw = arith::AddIOp::create(b, iw0, index(b, kw * dilations[1]));
          pixels.push_back(read(b, input, inType, {n, ih, iw, c0}, inBounds));
        }
      }
      if (dot) {
        for (auto [g, tapGroup] : llvm::enumerate(taps)) {
          Value bytes =
              interleaveGroup(b, ArrayRef(pixels).drop_front(g * kGroup));
          acc = buildDotProduct(b, acc, arith::XOrIOp::create(b, bytes, flip),
                                tapGroup);
        }
      } else {
        // In order, so that float sums round as the scalar loops' do.
        for (auto [x, tap] : llvm::zip(pixels, taps)) {
          Value wide = widen(b, x);
          acc = isFloat
                    ? arith::AddFOp::create(b, acc,
                                            arith::MulFOp::create(b, wide, tap))
                          .getResult()
                    : arith::AddIOp::create(b, acc,
                                            arith::MulIOp::create(b, wide, tap))
                          .getResult();
        }
      }
      if (epilogue)
        acc = epilogue->apply(b, acc, ValueRange{n, oh, ow}, c0, accType,
                              ArrayRef<bool>{inBounds}, columnInputs);
      c = vector::TransferWriteOp::create(
              b, acc, c, ValueRange{cn, coh, ow, c0}, ArrayRef<bool>{inBounds})
              .getResult();
    }
    return c;
  }

  /// The first 4 vectors of `vectors` (fewer: zeros for the rest) as one
  /// vector of 64 bytes, lane l's 4 bytes being element l of each, in
  /// order: vpdpbusd's layout.
  Value interleaveGroup(ImplicitLocOpBuilder &b, ArrayRef<Value> vectors) {
    SmallVector<Value> four(vectors.take_front(kGroup));
    while (static_cast<int64_t>(four.size()) < kGroup)
      four.push_back(arith::ConstantOp::create(b, b.getZeroAttr(inType)));
    auto pairs = VectorType::get({kLanes}, b.getI16Type());
    Value ab = vector::BitCastOp::create(
        b, pairs, vector::InterleaveOp::create(b, four[0], four[1]));
    Value cd = vector::BitCastOp::create(
        b, pairs, vector::InterleaveOp::create(b, four[2], four[3]));
    return vector::BitCastOp::create(
        b, VectorType::get({kLanes * kGroup}, b.getI8Type()),
        vector::InterleaveOp::create(b, ab, cd));
  }

  Value input, filter, output;
  std::optional<Epilogue> epilogue;
  std::optional<AccumulatorStart> start;
  int64_t outWidth, channels, filterHeight, filterWidth;
  SmallVector<int64_t> strides, dilations;
  VectorType accType, inType;
  /// int8 with AVX-512 VNNI: taps 4 at a time by vpdpbusd.
  bool dot = false;
};

} // namespace

FailureOr<Value> mlir::qat::vectorizeDepthwiseConv(
    RewriterBase &rewriter, linalg::DepthwiseConv2DNhwcHwcOp op, bool parallel,
    int64_t parallelMinMacs, bool vnni) {
  if (!op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "not on tensors");
  SmallVector<RankedTensorType> types;
  for (Value operand : op->getOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand.getType());
    if (!type || !type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "not statically shaped");
    types.push_back(type);
  }
  Type in = types[0].getElementType(), out = types[2].getElementType();
  bool integer = in.isInteger(8) && types[1].getElementType().isInteger(8) &&
                 out.isInteger(32);
  bool floating =
      in.isF32() && types[1].getElementType().isF32() && out.isF32();
  if (!integer && !floating)
    return rewriter.notifyMatchFailure(op, "not i8 x i8 -> i32 or f32");

  std::optional<Epilogue> epilogue = Epilogue::find(op.getResult(0));
  Operation *replaced =
      epilogue ? epilogue->getOp().getOperation() : op.getOperation();
  rewriter.setInsertionPoint(replaced);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  std::optional<AccumulatorStart> start =
      AccumulatorStart::find(op.getOutputs()[0]);
  Value destination =
      epilogue ? epilogue->getDestination()
               : (start ? start->destination(b) : op.getOutputs()[0]);
  DepthwiseBuilder kernel(op, epilogue, start, vnni);

  // One output row (n, oh) an iteration: an scf.forall over all rows of
  // large convolutions, each writing its own row's slice.
  ArrayRef<int64_t> shape = types[2].getShape();
  int64_t rows = shape[0] * shape[1];
  int64_t macs = types[2].getNumElements() * types[1].getDimSize(0) *
                 types[1].getDimSize(1);
  auto rowIndices = [&](ImplicitLocOpBuilder &ib, Value r) {
    Value height = arith::ConstantIndexOp::create(ib, shape[1]);
    return std::make_pair(arith::DivUIOp::create(ib, r, height).getResult(),
                          arith::RemUIOp::create(ib, r, height).getResult());
  };
  Value result;
  if (parallel && rows >= 2 && macs >= parallelMinMacs) {
    // Row r writes its [1, 1, OW, C] slice of the output.
    result = updateSlicesInParallel(
        b, destination, rows,
        [&](ImplicitLocOpBuilder &ib, Value r) {
          auto [n, oh] = rowIndices(ib, r);
          return std::make_pair(
              SmallVector<OpFoldResult>{n, oh, ib.getIndexAttr(0),
                                        ib.getIndexAttr(0)},
              SmallVector<OpFoldResult>{ib.getIndexAttr(1), ib.getIndexAttr(1),
                                        ib.getIndexAttr(shape[2]),
                                        ib.getIndexAttr(shape[3])});
        },
        [&](ImplicitLocOpBuilder &ib, Value slice,
            ArrayRef<OpFoldResult> offsets) {
          Value zero = arith::ConstantIndexOp::create(ib, 0);
          return kernel.row(ib, slice, cast<Value>(offsets[0]),
                            cast<Value>(offsets[1]), zero, zero);
        });
  } else {
    result = updateInLoop(b, destination, 0, rows, 1,
                          [&](ImplicitLocOpBuilder &ib, Value c, Value r) {
                            auto [n, oh] = rowIndices(ib, r);
                            return kernel.row(ib, c, n, oh, n, oh);
                          });
  }
  rewriter.replaceOp(replaced, result);
  if (epilogue)
    rewriter.eraseOp(op);
  return result;
}

namespace {

struct VectorizeDepthwisePass
    : public qat::impl::VectorizeDepthwiseBase<VectorizeDepthwisePass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::DepthwiseConv2DNhwcHwcOp> convs;
    getOperation().walk(
        [&](linalg::DepthwiseConv2DNhwcHwcOp op) { convs.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::DepthwiseConv2DNhwcHwcOp op : convs)
      (void)vectorizeDepthwiseConv(rewriter, op, parallel, parallelMinMacs,
                                   vnni);
  }
};

} // namespace
