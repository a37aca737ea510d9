//===- QatToLinalg.cpp - Lower qat ops to linalg --------------------------===//
//
// Part of qat-mlir. convert-qat-to-linalg and populateQatToLinalgPatterns.
// Each pattern (one file per op family) emits, in a linalg.generic body, the
// same sequence of binary32 / integer operations as the reference library
// (include/qat/Support/QuantMath.h), through the one ScalarEmitter, so that
// compiled results equal the reference bit for bit (reductions excepted:
// their order is unspecified). test/Integration checks this by running both.
//
//===----------------------------------------------------------------------===//

#include "qat/Conversion/QatToLinalg/QatToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/IR/QatOps.h"

#include "PopulatePatterns.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVERTQATTOLINALG
#include "qat/Conversion/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ConvertQatToLinalgPass
    : mlir::qat::impl::ConvertQatToLinalgBase<ConvertQatToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Name the reason for ops no pattern can lower, instead of the generic
    // "failed to legalize".
    bool unsupported = false;
    getOperation()->walk([&](PruneMaskOp op) {
      if (std::optional<StringRef> reason =
              lowering::whyPruneMaskNotLowerable(op)) {
        op.emitOpError("cannot be lowered to linalg: ") << *reason;
        unsupported = true;
      }
    });
    if (unsupported)
      return signalPassFailure();

    ConversionTarget target(*ctx);
    target.addIllegalDialect<QatDialect>();
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQatToLinalgPatterns(patterns);
    // Lowering must emit code: folding a qat op here would compute it with
    // the reference library at compile time instead.
    ConversionConfig config;
    config.foldingMode = DialectConversionFoldingMode::Never;
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace

void mlir::qat::populateQatToLinalgPatterns(RewritePatternSet &patterns) {
  lowering::populateFakeQuantPatterns(patterns);
  lowering::populateRequantizePatterns(patterns);
  lowering::populateRangePatterns(patterns);
  lowering::populatePruningPatterns(patterns);
}
