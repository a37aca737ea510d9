//===- Im2col.cpp - Convolution patches as a matrix
//------------------------===//
//
// Part of qat-mlir. The one im2col builder, shared by qat-conv-to-matmul and
// the filter gradients of training.
//
//===----------------------------------------------------------------------===//

#include "qat/Utils/Im2col.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

Value mlir::qat::buildIm2col(ImplicitLocOpBuilder &b, Value input,
                             ArrayRef<int64_t> outputSizes,
                             ArrayRef<int64_t> windowSizes,
                             ArrayRef<int64_t> strides,
                             ArrayRef<int64_t> dilations) {
  MLIRContext *ctx = b.getContext();
  auto inputType = cast<RankedTensorType>(input.getType());
  AffineExpr dn, doh, dow, dkh, dkw, dc;
  bindDims(ctx, dn, doh, dow, dkh, dkw, dc);
  auto gather = AffineMap::get(6, 0,
                               {dn, doh * strides[0] + dkh * dilations[0],
                                dow * strides[1] + dkw * dilations[1], dc},
                               ctx);
  Type elementType = inputType.getElementType();
  auto patchesType = RankedTensorType::get(
      {outputSizes[0], outputSizes[1], outputSizes[2], windowSizes[0],
       windowSizes[1], inputType.getDimSize(3)},
      elementType);
  Value init = tensor::EmptyOp::create(b, patchesType.getShape(), elementType);
  return linalg::GenericOp::create(
             b, TypeRange{patchesType}, ValueRange{input}, ValueRange{init},
             ArrayRef<AffineMap>{gather,
                                 AffineMap::getMultiDimIdentityMap(6, ctx)},
             SmallVector<utils::IteratorType>(6, utils::IteratorType::parallel),
             [](OpBuilder &nb, Location loc, ValueRange args) {
               linalg::YieldOp::create(nb, loc, args[0]);
             })
      .getResult(0);
}
