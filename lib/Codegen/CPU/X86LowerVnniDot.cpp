//===- X86LowerVnniDot.cpp - qat-x86-lower-vnni-dot
//------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qat {
#define GEN_PASS_DEF_X86LOWERVNNIDOT
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The vector<64xi8> that `extended` extends, through its shape_cast from
/// vector<64xi8> to vector<16x4xi8>.
template <typename ExtOp> Value getBytes(Value extended) {
  auto ext = extended.getDefiningOp<ExtOp>();
  if (!ext)
    return {};
  auto cast = ext.getIn().template getDefiningOp<vector::ShapeCastOp>();
  if (!cast)
    return {};
  auto sourceType = dyn_cast<VectorType>(cast.getSource().getType());
  if (!sourceType || sourceType.getShape() != ArrayRef<int64_t>{64} ||
      !sourceType.getElementType().isInteger(8))
    return {};
  return cast.getSource();
}

struct LowerVnniDot : OpRewritePattern<vector::MultiDimReductionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::MultiDimReductionOp op,
                                PatternRewriter &rewriter) const override {
    auto sourceType = op.getSourceVectorType();
    if (op.getKind() != vector::CombiningKind::ADD ||
        sourceType.getShape() != ArrayRef<int64_t>{16, 4} ||
        !sourceType.getElementType().isInteger(32) ||
        op.getReductionMask() != ArrayRef<bool>{false, true})
      return rewriter.notifyMatchFailure(op, "not a 16x4 int32 row sum");
    auto mul = op.getSource().getDefiningOp<arith::MulIOp>();
    if (!mul)
      return rewriter.notifyMatchFailure(op, "not a sum of products");
    Value unsignedBytes = getBytes<arith::ExtUIOp>(mul.getLhs());
    Value signedBytes = getBytes<arith::ExtSIOp>(mul.getRhs());
    if (!unsignedBytes || !signedBytes)
      return rewriter.notifyMatchFailure(op,
                                         "not zext(64 bytes) * sext(64 bytes)");
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, op.getType(),
        rewriter.getStringAttr("llvm.x86.avx512.vpdpbusd.512"),
        ValueRange{op.getAcc(), unsignedBytes, signedBytes});
    return success();
  }
};

struct X86LowerVnniDotPass
    : mlir::qat::impl::X86LowerVnniDotBase<X86LowerVnniDotPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerVnniDot>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
