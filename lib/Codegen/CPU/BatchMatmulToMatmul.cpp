//===- BatchMatmulToMatmul.cpp - qat-batch-matmul-to-matmul
//----------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_BATCHMATMULTOMATMUL
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// One batch element of a rank-3 tensor: [i, 0, 0] [1, d1, d2], rank-reduced.
Value sliceOf(ImplicitLocOpBuilder &b, Value tensor, Value i) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<OpFoldResult> offsets = {i, b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1),
                                     b.getIndexAttr(type.getDimSize(1)),
                                     b.getIndexAttr(type.getDimSize(2))};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  auto sliceType = RankedTensorType::get(
      {type.getDimSize(1), type.getDimSize(2)}, type.getElementType());
  return tensor::ExtractSliceOp::create(b, sliceType, tensor, offsets, sizes,
                                        strides);
}

struct BatchMatmulToMatmulPass
    : mlir::qat::impl::BatchMatmulToMatmulBase<BatchMatmulToMatmulPass> {
  void runOnOperation() override {
    SmallVector<linalg::BatchMatmulOp> candidates;
    getOperation().walk([&](linalg::BatchMatmulOp op) {
      bool isStatic = llvm::all_of(op->getOperandTypes(), [](Type t) {
        auto type = dyn_cast<RankedTensorType>(t);
        return type && type.hasStaticShape();
      });
      if (isStatic && op.hasPureTensorSemantics() &&
          op.getIndexingMapsArray() ==
              op.getDefaultIndexingMaps(op->getContext()))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::BatchMatmulOp op : candidates) {
      rewriter.setInsertionPoint(op);
      ImplicitLocOpBuilder b(op.getLoc(), rewriter);
      Value lhs = op.getInputs()[0], rhs = op.getInputs()[1];
      Value init = op.getOutputs()[0];
      int64_t batch = cast<RankedTensorType>(init.getType()).getDimSize(0);
      auto loop = scf::ForOp::create(
          b, arith::ConstantIndexOp::create(b, 0),
          arith::ConstantIndexOp::create(b, batch),
          arith::ConstantIndexOp::create(b, 1), ValueRange{init},
          [&](OpBuilder &nested, Location loc, Value i, ValueRange iter) {
            ImplicitLocOpBuilder ib(loc, nested);
            Value out = sliceOf(ib, iter[0], i);
            auto matmul = linalg::MatmulOp::create(
                ib, TypeRange{out.getType()},
                ValueRange{sliceOf(ib, lhs, i), sliceOf(ib, rhs, i)},
                ValueRange{out});
            auto outType = cast<RankedTensorType>(out.getType());
            SmallVector<OpFoldResult> offsets = {i, ib.getIndexAttr(0),
                                                 ib.getIndexAttr(0)};
            SmallVector<OpFoldResult> sizes = {
                ib.getIndexAttr(1), ib.getIndexAttr(outType.getDimSize(0)),
                ib.getIndexAttr(outType.getDimSize(1))};
            SmallVector<OpFoldResult> strides(3, ib.getIndexAttr(1));
            Value updated = tensor::InsertSliceOp::create(
                ib, matmul.getResult(0), iter[0], offsets, sizes, strides);
            scf::YieldOp::create(ib, updated);
          });
      rewriter.replaceOp(op, loop.getResult(0));
    }
  }
};

} // namespace
