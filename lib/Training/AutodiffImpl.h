//===- AutodiffImpl.h - Internals of the reverse-mode builder ---*- C++ -*-===//
//
// Part of qat-mlir. Shared by Autodiff.cpp (the driver, tensor and qat op
// rules) and AutodiffLinalg.cpp (linalg structured ops and their payloads).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_TRAINING_AUTODIFFIMPL_H
#define QAT_LIB_TRAINING_AUTODIFFIMPL_H

#include "qat/Training/Autodiff.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::qat::autodiff {

/// The reverse sweep over one block: adjoints (gradients of the loss) of
/// the values visited so far, and the values that depend on the ones being
/// differentiated (only those get gradients).
class ReverseBuilder {
public:
  ReverseBuilder(OpBuilder &builder, const AutodiffOptions &options)
      : b(builder.getUnknownLoc(), builder), options(options) {}

  /// Marks the values that depend on `wrt` through the ops of `block`.
  void computeActivity(Block &block, ArrayRef<Value> wrt);
  bool isActive(Value value) const { return active.contains(value); }

  /// Adds `gradient` to the adjoint of `value` (when `value` is active).
  void accumulate(Value value, Value gradient);
  Value getAdjoint(Value value) const { return adjoints.lookup(value); }

  /// Emits the adjoints of `op`'s operands from those of its results.
  LogicalResult visit(Operation *op);

  /// A zero tensor of `type`.
  Value zeros(RankedTensorType type);
  /// A generic applying `fn` elementwise to same-shaped tensors.
  Value elementwise(ValueRange inputs,
                    function_ref<Value(OpBuilder &, Location, ValueRange)> fn);

  ImplicitLocOpBuilder b;
  const AutodiffOptions &options;

private:
  llvm::DenseSet<Value> active;
  llvm::DenseMap<Value, Value> adjoints;
};

/// linalg rules (AutodiffLinalg.cpp).
LogicalResult differentiateLinalg(ReverseBuilder &rb, linalg::LinalgOp op,
                                  Value gradient);

} // namespace mlir::qat::autodiff

#endif // QAT_LIB_TRAINING_AUTODIFFIMPL_H
