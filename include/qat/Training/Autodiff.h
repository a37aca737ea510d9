//===- Autodiff.h - Reverse-mode gradients of linalg + qat ------*- C++ -*-===//
//
// Part of qat-mlir. Builds the gradient of a scalar loss with respect to
// chosen values of a single-block function of linalg on tensors and qat ops,
// as more linalg on tensors. The rules are listed in docs/Training.md:
// every linalg structured op by differentiating its scalar payload (sums,
// products, max reductions, strided and dilated windows), the tensor shape
// ops, and the qat ops (straight-through and LSQ for fake_quant). An op on
// the path from a differentiated value to the loss without a rule is an
// error naming it; nothing is silently dropped.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRAINING_AUTODIFF_H
#define QAT_TRAINING_AUTODIFF_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::qat {

struct AutodiffOptions {
  /// Scale fake_quant scale gradients by LSQ's 1 / sqrt(numel * qmax)
  /// (numel per channel for per-channel scales).
  bool lsqGradScale = true;
  /// LSQ's numel of these fake_quants' inputs is multiplied by
  /// `batchShards`: activations of one shard of a global batch
  /// (TrainStepOptions::batchShards).
  llvm::DenseSet<Operation *> shardedActivations;
  int64_t batchShards = 1;
};

/// Emits, at `builder`'s insertion point (after the ops of `block`), the
/// gradients of a loss with respect to each of `wrt`, given the gradients
/// `seeds` of the loss with respect to some values of `block` (value,
/// gradient pairs). A value of `wrt` the loss does not depend on gets zeros.
/// Fails with a diagnostic at the first op without a gradient rule.
FailureOr<SmallVector<Value>>
buildGradients(OpBuilder &builder, Block &block,
               ArrayRef<std::pair<Value, Value>> seeds, ArrayRef<Value> wrt,
               const AutodiffOptions &options = {});

} // namespace mlir::qat

#endif // QAT_TRAINING_AUTODIFF_H
