//===- Losses.cpp - Losses of the generated training step -----------------===//
//
// Part of qat-mlir. Each loss is emitted with its gradient with respect to
// the network's output, as linalg on tensors.
//
//===----------------------------------------------------------------------===//

#include "TrainStepImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::train;

SmallVector<Value> train::emitMap(ImplicitLocOpBuilder &b,
                                  RankedTensorType type, ValueRange inputs,
                                  unsigned numResults, BodyFn body) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = type.getRank();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap scalar = AffineMap::get(rank, 0, {}, ctx);
  SmallVector<AffineMap> maps;
  for (Value input : inputs)
    maps.push_back(cast<RankedTensorType>(input.getType()).getRank() == 0
                       ? scalar
                       : identity);
  SmallVector<Value> inits;
  for (unsigned i = 0; i < numResults; ++i) {
    inits.push_back(
        tensor::EmptyOp::create(b, type.getShape(), type.getElementType()));
    maps.push_back(identity);
  }
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, SmallVector<Type>(numResults, type), inputs, inits, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        linalg::YieldOp::create(
            nested, loc, body(nested, loc, args.take_front(inputs.size())));
      });
  return SmallVector<Value>(generic.getResults());
}

static Value filled(ImplicitLocOpBuilder &b, ArrayRef<int64_t> shape,
                    double value) {
  Type f32 = b.getF32Type();
  Value empty = tensor::EmptyOp::create(b, shape, f32);
  Value v = arith::ConstantOp::create(b, b.getFloatAttr(f32, value));
  return linalg::FillOp::create(b, v, empty).getResult(0);
}

Value train::cst(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

LossValue train::emitCrossEntropy(ImplicitLocOpBuilder &b, Value logits,
                                  Value labels) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(logits.getType());
  int64_t n = type.getDimSize(0);
  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  auto par = utils::IteratorType::parallel;
  auto red = utils::IteratorType::reduction;
  auto rowType = RankedTensorType::get({n}, b.getF32Type());
  auto isLabel = [](OpBuilder &nb, Location loc, Value label) {
    Value col = linalg::IndexOp::create(nb, loc, 1);
    Value want = arith::IndexCastOp::create(nb, loc, nb.getIndexType(), label);
    return arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::eq, col, want)
        .getResult();
  };
  auto reduceRows = [&](ValueRange ins, SmallVector<AffineMap> maps,
                        double init, BodyFn fn) {
    maps.push_back(row);
    return linalg::GenericOp::create(
               b, TypeRange{rowType}, ins, ValueRange{filled(b, {n}, init)},
               maps, ArrayRef<utils::IteratorType>{par, red},
               [&](OpBuilder &nb, Location loc, ValueRange args) {
                 linalg::YieldOp::create(nb, loc, fn(nb, loc, args));
               })
        .getResult(0);
  };
  // Row max, exp(l - max), row sum, the label's logit.
  Value max = reduceRows({logits}, {full}, -INFINITY,
                         [](OpBuilder &nb, Location loc, ValueRange a) {
                           return SmallVector<Value>{
                               arith::MaximumFOp::create(nb, loc, a[0], a[1])};
                         });
  Value exps = linalg::GenericOp::create(
                   b, TypeRange{type}, ValueRange{logits, max},
                   ValueRange{tensor::EmptyOp::create(b, type.getShape(),
                                                      type.getElementType())},
                   ArrayRef<AffineMap>{full, row, full},
                   ArrayRef<utils::IteratorType>{par, par},
                   [](OpBuilder &nb, Location loc, ValueRange a) {
                     Value d = arith::SubFOp::create(nb, loc, a[0], a[1]);
                     linalg::YieldOp::create(
                         nb, loc, ValueRange{math::ExpOp::create(nb, loc, d)});
                   })
                   .getResult(0);
  Value sum = reduceRows(
      {exps}, {full}, 0.0, [](OpBuilder &nb, Location loc, ValueRange a) {
        return SmallVector<Value>{arith::AddFOp::create(nb, loc, a[0], a[1])};
      });
  Value picked = reduceRows(
      {logits, labels}, {full, row}, 0.0,
      [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value v = arith::SelectOp::create(nb, loc, isLabel(nb, loc, a[1]), a[0],
                                          cst(nb, loc, 0.0));
        return SmallVector<Value>{arith::AddFOp::create(nb, loc, a[2], v)};
      });
  // loss = sum_n (max + log(sum) - picked) / N
  double invN = 1.0 / static_cast<double>(n);
  AffineMap id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
  Value loss =
      linalg::GenericOp::create(
          b, TypeRange{RankedTensorType::get({}, b.getF32Type())},
          ValueRange{max, sum, picked}, ValueRange{filled(b, {}, 0.0)},
          ArrayRef<AffineMap>{id1, id1, id1, AffineMap::get(1, 0, {}, ctx)},
          ArrayRef<utils::IteratorType>{red},
          [&](OpBuilder &nb, Location loc, ValueRange a) {
            Value lse = arith::AddFOp::create(
                nb, loc, a[0], math::LogOp::create(nb, loc, a[1]));
            Value l = arith::SubFOp::create(nb, loc, lse, a[2]);
            l = arith::MulFOp::create(nb, loc, l, cst(nb, loc, invN));
            linalg::YieldOp::create(
                nb, loc, ValueRange{arith::AddFOp::create(nb, loc, a[3], l)});
          })
          .getResult(0);
  // d loss / d logits = (softmax - onehot) / N
  Value gradient =
      linalg::GenericOp::create(
          b, TypeRange{type}, ValueRange{exps, sum, labels},
          ValueRange{tensor::EmptyOp::create(b, type.getShape(),
                                             type.getElementType())},
          ArrayRef<AffineMap>{full, row, row, full},
          ArrayRef<utils::IteratorType>{par, par},
          [&](OpBuilder &nb, Location loc, ValueRange a) {
            Value p = arith::DivFOp::create(nb, loc, a[0], a[1]);
            Value hot =
                arith::SelectOp::create(nb, loc, isLabel(nb, loc, a[2]),
                                        cst(nb, loc, 1.0), cst(nb, loc, 0.0));
            Value d = arith::SubFOp::create(nb, loc, p, hot);
            linalg::YieldOp::create(nb, loc,
                                    ValueRange{arith::MulFOp::create(
                                        nb, loc, d, cst(nb, loc, invN))});
          })
          .getResult(0);
  return {loss, gradient};
}

LossValue train::emitMeanSquaredError(ImplicitLocOpBuilder &b, Value output,
                                      Value target) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(output.getType());
  double invCount = 1.0 / static_cast<double>(type.getNumElements());
  Value diff = emitMap(b, type, {output, target}, 1,
                       [](OpBuilder &nb, Location loc, ValueRange a) {
                         return SmallVector<Value>{
                             arith::SubFOp::create(nb, loc, a[0], a[1])};
                       })[0];
  unsigned rank = type.getRank();
  Value loss =
      linalg::GenericOp::create(
          b, TypeRange{RankedTensorType::get({}, b.getF32Type())},
          ValueRange{diff}, ValueRange{filled(b, {}, 0.0)},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                              AffineMap::get(rank, 0, {}, ctx)},
          SmallVector<utils::IteratorType>(rank,
                                           utils::IteratorType::reduction),
          [&](OpBuilder &nb, Location loc, ValueRange a) {
            Value sq = arith::MulFOp::create(nb, loc, a[0], a[0]);
            sq = arith::MulFOp::create(nb, loc, sq, cst(nb, loc, invCount));
            linalg::YieldOp::create(
                nb, loc, ValueRange{arith::AddFOp::create(nb, loc, a[1], sq)});
          })
          .getResult(0);
  Value gradient = emitMap(
      b, type, {diff}, 1, [&](OpBuilder &nb, Location loc, ValueRange a) {
        return SmallVector<Value>{
            arith::MulFOp::create(nb, loc, a[0], cst(nb, loc, 2.0 * invCount))};
      })[0];
  return {loss, gradient};
}
