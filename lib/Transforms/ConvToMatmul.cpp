//===- ConvToMatmul.cpp - qat-conv-to-matmul
//--------------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVTOMATMUL
#include "qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

struct ConvToMatmulPass : mlir::qat::impl::ConvToMatmulBase<ConvToMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::Conv2DNhwcHwcfOp> convs;
    getOperation().walk([&](linalg::Conv2DNhwcHwcfOp op) {
      if (op.hasPureTensorSemantics() &&
          llvm::all_of(op->getOperandTypes(), [](Type t) {
            return cast<ShapedType>(t).hasStaticShape();
          }))
        convs.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::Conv2DNhwcHwcfOp op : convs)
      rewrite(rewriter, op);
  }

  void rewrite(IRRewriter &rewriter, linalg::Conv2DNhwcHwcfOp op) {
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
    if (rows * depth * elementBytes > maxIm2colBytes)
      return;
    SmallVector<int64_t> strides(op.getStrides().getValues<int64_t>());
    SmallVector<int64_t> dilations(op.getDilations().getValues<int64_t>());

    rewriter.setInsertionPoint(op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = op.getContext();

    // cols[m][k] = x[n][oh*sh + kh*dh][ow*sw + kw*dw][c]
    AffineExpr m, k;
    bindDims(ctx, m, k);
    AffineExpr batch = m.floorDiv(oh * ow);
    AffineExpr outRow = (m % (oh * ow)).floorDiv(ow);
    AffineExpr outCol = m % ow;
    AffineExpr filterRow = k.floorDiv(kw * c);
    AffineExpr filterCol = (k % (kw * c)).floorDiv(c);
    AffineExpr channel = k % c;
    auto gather = AffineMap::get(
        2, 0,
        {batch, outRow * strides[0] + filterRow * dilations[0],
         outCol * strides[1] + filterCol * dilations[1], channel},
        ctx);
    Type elementType = inputType.getElementType();
    auto colsType = RankedTensorType::get({rows, depth}, elementType);
    Value colsInit =
        tensor::EmptyOp::create(b, colsType.getShape(), elementType);
    Value cols =
        linalg::GenericOp::create(
            b, TypeRange{colsType}, ValueRange{op.getInputs()[0]},
            ValueRange{colsInit},
            ArrayRef<AffineMap>{gather,
                                AffineMap::getMultiDimIdentityMap(2, ctx)},
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [](OpBuilder &nb, Location loc, ValueRange args) {
              linalg::YieldOp::create(nb, loc, args[0]);
            })
            .getResult(0);

    Value filter = tensor::CollapseShapeOp::create(
        b, op.getInputs()[1],
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
    Value output = tensor::CollapseShapeOp::create(
        b, op.getOutputs()[0],
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
    auto matmul =
        linalg::MatmulOp::create(b, TypeRange{output.getType()},
                                 ValueRange{cols, filter}, ValueRange{output});
    Value result = tensor::ExpandShapeOp::create(
        b, outputType, matmul.getResult(0),
        SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
    rewriter.replaceOp(op, result);
  }
};

} // namespace
