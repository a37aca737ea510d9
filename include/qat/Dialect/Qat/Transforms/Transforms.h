//===- Transforms.h - Graph rewrites of QAT graphs --------------*- C++ -*-===//
//
// Part of qat-mlir. The public rewrites behind the graph passes: each pass
// in Passes.td only calls one of these, and other passes, pipelines and
// tools may call them directly.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_TRANSFORMS_TRANSFORMS_H
#define QAT_DIALECT_QAT_TRANSFORMS_TRANSFORMS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "qat/Dialect/Qat/Transforms/InstrumentConfig.h"
#include "qat/Utils/ValuesFile.h"

#include <memory>
#include <string>

namespace mlir::qat {

//===----------------------------------------------------------------------===//
// qat-fold-batchnorm
//===----------------------------------------------------------------------===//

/// Folds the per-channel affine chains after the layers of `func` into the
/// layers' weights and a bias (docs/Instrumentation.md); returns how many
/// layers were folded.
unsigned foldBatchNorm(func::FuncOp func);

//===----------------------------------------------------------------------===//
// qat-sink-layer-reshapes
//===----------------------------------------------------------------------===//

/// Moves each expand_shape of a layer's result (a matmul run on rows
/// flattened from [N, T, C]) below the elementwise ops that read it (its
/// bias add, then its activation), which then run on the layer's own shape
/// and join its epilogue; returns failure if the rewrite does not converge.
LogicalResult sinkLayerReshapes(func::FuncOp func);

//===----------------------------------------------------------------------===//
// qat-instrument
//===----------------------------------------------------------------------===//

/// Where fake-quant ops go in every function of a module with layers, and
/// with which settings; planned before anything changes.
class InstrumentationPlan {
public:
  InstrumentationPlan(InstrumentationPlan &&);
  InstrumentationPlan &operator=(InstrumentationPlan &&);
  ~InstrumentationPlan();

  /// True when no function has a layer.
  bool empty() const;
  /// The planned layers' names, function by function.
  SmallVector<std::string> getLayerNames() const;
  /// The plan as the `dry-run` report prints it.
  void print(raw_ostream &os) const;
  /// Rewrites the planned functions (once; the plan is empty afterwards).
  LogicalResult apply(ModuleOp module);

private:
  InstrumentationPlan();
  struct Impl;
  std::unique_ptr<Impl> impl;
  friend FailureOr<InstrumentationPlan>
  planInstrumentation(ModuleOp module, InstrumentConfig &config);
};

/// Plans the instrumentation of every function of `module` that has layers.
/// Errors (an unsupported structure, a config pattern that matches no layer)
/// are reported and the module is left unchanged.
FailureOr<InstrumentationPlan> planInstrumentation(ModuleOp module,
                                                   InstrumentConfig &config);

/// planInstrumentation, then apply.
LogicalResult instrument(ModuleOp module, InstrumentConfig &config);

/// qat-prune: masks the weight of every layer whose resolved spec has a
/// prune setting (before the weight's fake-quant when there is one).
/// Fails with a diagnostic on a bad setting or an unused config pattern.
LogicalResult prune(ModuleOp module, InstrumentConfig &config);

//===----------------------------------------------------------------------===//
// qat-freeze
//===----------------------------------------------------------------------===//

/// The function named `function`, else the one function with quantization
/// parameter arguments; an error otherwise.
FailureOr<func::FuncOp> getFunctionToFreeze(ModuleOp module,
                                            StringRef function);

/// Replaces each argument of `func` that `values` names (by qat.name, with
/// the train-step prefixes `param:` and `qparam:` accepted) by a constant,
/// and marks `func` frozen; its initialiser (`qat.init_qparams_for`) is
/// erased. Every quantization parameter must get a value. Trained pruning
/// masks (`mask:<layer>`) replace their qat.prune_mask; weights nonzero
/// where one prunes are an error. On error nothing changes.
LogicalResult freezeArguments(func::FuncOp func, const ValuesFile &values);

//===----------------------------------------------------------------------===//
// qat-expose-layers
//===----------------------------------------------------------------------===//

/// Appends each named layer's quantized output to `func`'s results as
/// `layer:<name>`; returns how many were added.
unsigned exposeLayers(func::FuncOp func);

//===----------------------------------------------------------------------===//
// qat-set-batch
//===----------------------------------------------------------------------===//

/// Gives `func`'s inputs (qat.role = "input") and every value computed from
/// them along their first dimension the batch size `size`; returns the old
/// batch size. On error (a diagnostic names the op that moves the batch)
/// `func` is unchanged.
FailureOr<int64_t> setBatchSize(func::FuncOp func, int64_t size);

} // namespace mlir::qat

#endif // QAT_DIALECT_QAT_TRANSFORMS_TRANSFORMS_H
