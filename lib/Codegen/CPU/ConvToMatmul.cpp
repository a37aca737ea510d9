//===- ConvToMatmul.cpp - qat-conv-to-matmul ------------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Utils/Im2col.h"

#include "MatmulKernels.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVTOMATMUL
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// Replaces `op` by an scf.for over batch chunks of `chunk` images, each a
/// convolution of the same kind on slices; returns that inner convolution.
linalg::Conv2DNhwcHwcfOp
splitBatch(RewriterBase &rewriter, linalg::Conv2DNhwcHwcfOp op, int64_t chunk) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value input = op.getInputs()[0], output = op.getOutputs()[0];
  auto inputType = cast<RankedTensorType>(input.getType());
  auto outputType = cast<RankedTensorType>(output.getType());
  auto sliceOf = [&](RankedTensorType type) {
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = chunk;
    return RankedTensorType::get(shape, type.getElementType());
  };
  auto offsets = [&](Value i, int64_t rank) {
    SmallVector<OpFoldResult> result = {i};
    result.append(rank - 1, b.getIndexAttr(0));
    return result;
  };
  auto sizes = [&](RankedTensorType type) {
    SmallVector<OpFoldResult> result;
    for (int64_t d : type.getShape())
      result.push_back(b.getIndexAttr(d));
    return result;
  };
  SmallVector<OpFoldResult> ones(4, b.getIndexAttr(1));
  Value lower = arith::ConstantIndexOp::create(b, 0);
  Value upper = arith::ConstantIndexOp::create(b, outputType.getDimSize(0));
  Value step = arith::ConstantIndexOp::create(b, chunk);
  linalg::Conv2DNhwcHwcfOp inner;
  auto loop = scf::ForOp::create(
      b, lower, upper, step, ValueRange{output},
      [&](OpBuilder &nested, Location loc, Value i, ValueRange iterArgs) {
        ImplicitLocOpBuilder lb(loc, nested);
        auto inSlice = sliceOf(inputType), outSlice = sliceOf(outputType);
        Value x = tensor::ExtractSliceOp::create(
            lb, inSlice, input, offsets(i, 4), sizes(inSlice), ones);
        Value acc = tensor::ExtractSliceOp::create(
            lb, outSlice, iterArgs[0], offsets(i, 4), sizes(outSlice), ones);
        inner = linalg::Conv2DNhwcHwcfOp::create(
            lb, TypeRange{outSlice}, ValueRange{x, op.getInputs()[1]},
            ValueRange{acc}, op->getAttrs());
        Value updated =
            tensor::InsertSliceOp::create(lb, inner.getResult(0), iterArgs[0],
                                          offsets(i, 4), sizes(outSlice), ones);
        scf::YieldOp::create(lb, updated);
      });
  rewriter.replaceOp(op, loop.getResults());
  return inner;
}

void rewrite(RewriterBase &rewriter, linalg::Conv2DNhwcHwcfOp op,
             int64_t maxIm2colBytes, bool implicitGemm) {
  auto inputType = cast<RankedTensorType>(op.getInputs()[0].getType());
  auto filterType = cast<RankedTensorType>(op.getInputs()[1].getType());
  auto outputType = cast<RankedTensorType>(op.getOutputs()[0].getType());
  int64_t n = outputType.getDimSize(0), oh = outputType.getDimSize(1),
          ow = outputType.getDimSize(2);
  int64_t kh = filterType.getDimSize(0), kw = filterType.getDimSize(1),
          c = filterType.getDimSize(2);
  int64_t rows = n * oh * ow, depth = kh * kw * c;
  int64_t elementBytes =
      std::max<int64_t>(1, inputType.getElementTypeBitWidth() / 8);
  // qat-vectorize-matmul reads an f32 patch matrix in place when C has a
  // panel's columns: nothing is materialized, at any size.
  bool readInPlace = implicitGemm && inputType.getElementType().isF32() &&
                     filterType.getDimSize(3) >= kMinPanel;
  if (!readInPlace && rows * depth * elementBytes > maxIm2colBytes) {
    // Too large at once: convert the largest batch chunk that fits, in a
    // loop over the batch (a divisor of it, so shapes stay static).
    int64_t perImage = oh * ow * depth * elementBytes;
    int64_t chunk = 0;
    for (int64_t d = n / 2; d >= 1 && !chunk; --d)
      if (n % d == 0 && d * perImage <= maxIm2colBytes)
        chunk = d;
    if (chunk)
      rewrite(rewriter, splitBatch(rewriter, op, chunk), maxIm2colBytes,
              implicitGemm);
    return;
  }
  SmallVector<int64_t> strides(op.getStrides().getValues<int64_t>());
  SmallVector<int64_t> dilations(op.getDilations().getValues<int64_t>());

  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);

  Value patches = buildIm2col(b, op.getInputs()[0], {n, oh, ow}, {kh, kw},
                              strides, dilations);
  Value cols = tensor::CollapseShapeOp::create(
      b, patches, SmallVector<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}});

  Value filter = tensor::CollapseShapeOp::create(
      b, op.getInputs()[1], SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
  Value output = tensor::CollapseShapeOp::create(
      b, op.getOutputs()[0], SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
  auto matmul =
      linalg::MatmulOp::create(b, TypeRange{output.getType()},
                               ValueRange{cols, filter}, ValueRange{output});
  Value result = tensor::ExpandShapeOp::create(
      b, outputType, matmul.getResult(0),
      SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
  rewriter.replaceOp(op, result);
}

} // namespace

LogicalResult mlir::qat::rewriteConvAsMatmul(RewriterBase &rewriter,
                                             linalg::Conv2DNhwcHwcfOp op,
                                             int64_t maxIm2colBytes,
                                             bool implicitGemm) {
  if (!op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "expected tensor semantics");
  if (!llvm::all_of(op->getOperandTypes(), [](Type t) {
        return cast<ShapedType>(t).hasStaticShape();
      }))
    return rewriter.notifyMatchFailure(op, "expected static shapes");
  rewrite(rewriter, op, maxIm2colBytes, implicitGemm);
  return success();
}

namespace {

struct ConvToMatmulPass : mlir::qat::impl::ConvToMatmulBase<ConvToMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::Conv2DNhwcHwcfOp> convs;
    getOperation().walk(
        [&](linalg::Conv2DNhwcHwcfOp op) { convs.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::Conv2DNhwcHwcfOp op : convs)
      (void)rewriteConvAsMatmul(rewriter, op, maxIm2colBytes, implicitGemm);
    // The convolution's elementwise consumer (bias, requantize, ReLU) reads
    // the matmul's result through the expand_shape back to NHWC: collapse
    // the consumer to the matmul's 2-D shape instead, so that the matmul
    // kernels fuse it as their epilogue (each result finished in registers,
    // the int32 accumulators never stored).
    RewritePatternSet patterns(&getContext());
    linalg::populateFoldReshapeOpsByCollapsingPatterns(
        patterns, [](OpOperand *fused) {
          auto expand = fused->get().getDefiningOp<tensor::ExpandShapeOp>();
          auto consumer = dyn_cast<linalg::GenericOp>(fused->getOwner());
          return expand && consumer &&
                 expand.getSrc().getDefiningOp<linalg::MatmulOp>() &&
                 consumer.getNumParallelLoops() == consumer.getNumLoops();
        });
    (void)applyPatternsGreedily(getOperation(), std::move(patterns));
  }
};

} // namespace
