//===- RangeLearning.cpp - Quantization ranges inside the training step ---===//
//
// Part of qat-mlir. With range-learning=ema the scales and zero points of
// the forward are computed in the step: weights' from their current min/max,
// activations' from moving-average observers (PyTorch's
// MovingAverageMinMaxObserver), or running min/max when calibrating.
//
//===----------------------------------------------------------------------===//

#include "TrainStepImpl.h"

#include "qat/Dialect/Qat/IR/QatOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::train;

void train::computeRanges(Block &block,
                          const DenseMap<Value, QParamSlot> &placeholders,
                          llvm::StringMap<Observer> &ranges,
                          const RangeOptions &options,
                          DenseMap<Value, Value> *computed) {
  RangeUse use = options.use;
  SmallVector<FakeQuantOp> fakeQuants;
  block.walk([&](FakeQuantOp op) { fakeQuants.push_back(op); });
  for (FakeQuantOp fq : fakeQuants) {
    auto slot = placeholders.find(fq.getScale());
    if (slot == placeholders.end())
      continue;
    Value placeholder = fq.getScale();
    ImplicitLocOpBuilder b(fq.getLoc(), fq);
    auto scaleType = cast<RankedTensorType>(fq.getScale().getType());
    auto zeroType = cast<RankedTensorType>(fq.getZeroPoint().getType());
    QuantSpec spec = getQuantSpec(fq);
    if (slot->second.kind == QParamSlot::WeightScale) {
      auto observe =
          ObserveOp::create(b, scaleType, fq.getInput(), fq.getAxis());
      auto qparams = ChooseQParamsOp::create(
          b, observe.getMin(), observe.getMax(),
          RankedTensorType::get(scaleType.getShape(), b.getI32Type()), spec,
          /*symmetric=*/true);
      fq.getScaleMutable().set(qparams.getScale());
      if (computed)
        computed->try_emplace(placeholder, qparams.getScale());
      continue;
    }
    Observer &range = ranges[slot->second.group];
    auto observe = ObserveOp::create(b, scaleType, fq.getInput());
    Value batchMin = observe.getMin(), batchMax = observe.getMax();
    auto combine = [&](Value old, Value batch, bool isMin) -> Value {
      if (use == RangeUse::Frozen)
        return old;
      return emitMap(
          b, scaleType, {old, batch, options.step ? options.step : old}, 1,
          [&](OpBuilder &nb, Location loc, ValueRange a) {
            if (use == RangeUse::Calibrate)
              return SmallVector<Value>{
                  isMin ? arith::MinimumFOp::create(nb, loc, a[0], a[1])
                              .getResult()
                        : arith::MaximumFOp::create(nb, loc, a[0], a[1])
                              .getResult()};
            Value unset = arith::CmpFOp::create(
                nb, loc, arith::CmpFPredicate::OEQ, a[0],
                cst(nb, loc, isMin ? INFINITY : -INFINITY));
            Value moved = arith::AddFOp::create(
                nb, loc, a[0],
                arith::MulFOp::create(
                    nb, loc, cst(nb, loc, options.averagingConstant),
                    arith::SubFOp::create(nb, loc, a[1], a[0])));
            if (options.freezeAfter >= 0) {
              Value frozen = arith::CmpFOp::create(
                  nb, loc, arith::CmpFPredicate::OGT, a[2],
                  cst(nb, loc, static_cast<double>(options.freezeAfter)));
              moved = arith::SelectOp::create(nb, loc, frozen, a[0], moved);
            }
            return SmallVector<Value>{
                arith::SelectOp::create(nb, loc, unset, a[1], moved)};
          })[0];
    };
    range = {combine(range.min, batchMin, true),
             combine(range.max, batchMax, false)};
    if (use == RangeUse::Calibrate) {
      fq.getResult().replaceAllUsesWith(fq.getInput());
      fq->erase();
      continue;
    }
    bool symmetric = fq.getIsSigned();
    auto qparams = ChooseQParamsOp::create(b, range.min, range.max, zeroType,
                                           spec, symmetric);
    fq.getScaleMutable().set(qparams.getScale());
    if (computed)
      computed->try_emplace(placeholder, qparams.getScale());
    Value zeroPlaceholder = fq.getZeroPoint();
    if (placeholders.contains(zeroPlaceholder)) {
      fq.getZeroPointMutable().set(qparams.getZeroPoint());
      if (computed)
        computed->try_emplace(zeroPlaceholder, qparams.getZeroPoint());
    }
  }
  // Calibrate: weight fake-quants go too (a float forward).
  if (use == RangeUse::Calibrate) {
    fakeQuants.clear();
    block.walk([&](FakeQuantOp op) { fakeQuants.push_back(op); });
    for (FakeQuantOp fq : fakeQuants) {
      fq.getResult().replaceAllUsesWith(fq.getInput());
      fq->erase();
    }
  }
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//
