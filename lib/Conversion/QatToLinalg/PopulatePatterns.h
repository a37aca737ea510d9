//===- PopulatePatterns.h - QatToLinalg's pattern families ------*- C++ -*-===//
//
// Part of qat-mlir. Internal to QatToLinalg: one populate function per op
// family; populateQatToLinalgPatterns adds them all.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CONVERSION_QATTOLINALG_POPULATEPATTERNS_H
#define QAT_LIB_CONVERSION_QATTOLINALG_POPULATEPATTERNS_H

#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace mlir::qat {
class PruneMaskOp;
} // namespace mlir::qat

namespace mlir::qat::lowering {

/// fake_quant, quantize, dequantize, fake_quant_grad, straight_through.
void populateFakeQuantPatterns(RewritePatternSet &patterns);
/// requantize.
void populateRequantizePatterns(RewritePatternSet &patterns);
/// observe, choose_qparams.
void populateRangePatterns(RewritePatternSet &patterns);
/// prune_mask.
void populatePruningPatterns(RewritePatternSet &patterns);

/// Why `op` cannot be lowered, if it cannot (reported by the pass before
/// conversion, instead of a generic legalization failure).
std::optional<StringRef> whyPruneMaskNotLowerable(PruneMaskOp op);

} // namespace mlir::qat::lowering

#endif // QAT_LIB_CONVERSION_QATTOLINALG_POPULATEPATTERNS_H
