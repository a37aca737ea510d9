//===- Passes.h - Training passes -------------------------------*- C++ -*-===//
//
// Part of qat-mlir. qat-build-train-step, a thin pass over buildTrainStep
// (qat/Training/TrainStep.h).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRAINING_PASSES_H
#define QAT_TRAINING_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Training/TrainStep.h"

namespace mlir::qat {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qat/Training/Passes.h.inc"

} // namespace mlir::qat

#endif // QAT_TRAINING_PASSES_H
