//===- QatToLinalg.h - Lower qat ops to linalg ------------------*- C++ -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CONVERSION_QATTOLINALG_QATTOLINALG_H
#define QAT_CONVERSION_QATTOLINALG_QATTOLINALG_H

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace mlir::qat {

/// Patterns rewriting every qat op into linalg.generic + arith/math (and, for
/// unstructured pruning, an scf.for around linalg reductions).
void populateQatToLinalgPatterns(RewritePatternSet &patterns);

} // namespace mlir::qat

#endif // QAT_CONVERSION_QATTOLINALG_QATTOLINALG_H
