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

namespace {

/// Row-wise pieces over a [N, C] tensor: reductions to [N] and maps that
/// read [N] values broadcast along the rows.
class Rows {
public:
  Rows(ImplicitLocOpBuilder &b, RankedTensorType type)
      : b(b), type(type), n(type.getDimSize(0)),
        full(AffineMap::getMultiDimIdentityMap(2, b.getContext())),
        row(AffineMap::get(2, 0, {getAffineDimExpr(0, b.getContext())},
                           b.getContext())) {}

  /// Reduces along the rows from `init`: `fn` gets the inputs' elements
  /// and the accumulator last. `rowInputs` marks the [N] inputs.
  Value reduce(ValueRange ins, ArrayRef<bool> rowInputs, double init,
               BodyFn fn) {
    SmallVector<AffineMap> maps;
    for (bool isRow : rowInputs)
      maps.push_back(isRow ? row : full);
    maps.push_back(row);
    return linalg::GenericOp::create(
               b, TypeRange{RankedTensorType::get({n}, b.getF32Type())}, ins,
               ValueRange{filled(b, {n}, init)}, maps,
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::reduction},
               [&](OpBuilder &nb, Location loc, ValueRange args) {
                 linalg::YieldOp::create(nb, loc, fn(nb, loc, args));
               })
        .getResult(0);
  }

  /// A [N, C] map of inputs ([N, C], or [N] where `rowInputs` says).
  Value map(ValueRange ins, ArrayRef<bool> rowInputs, BodyFn fn) {
    SmallVector<AffineMap> maps;
    for (bool isRow : rowInputs)
      maps.push_back(isRow ? row : full);
    maps.push_back(full);
    return linalg::GenericOp::create(
               b, TypeRange{type}, ins,
               ValueRange{tensor::EmptyOp::create(b, type.getShape(),
                                                  type.getElementType())},
               maps,
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location loc, ValueRange args) {
                 linalg::YieldOp::create(
                     nb, loc, fn(nb, loc, args.drop_back()));
               })
        .getResult(0);
  }

  /// The mean over the rows of fn(elements of the [N] inputs), a 0-D
  /// tensor.
  Value mean(ValueRange ins, BodyFn fn) {
    MLIRContext *ctx = b.getContext();
    AffineMap id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
    SmallVector<AffineMap> maps(ins.size(), id1);
    maps.push_back(AffineMap::get(1, 0, {}, ctx));
    double invN = 1.0 / static_cast<double>(n);
    return linalg::GenericOp::create(
               b, TypeRange{RankedTensorType::get({}, b.getF32Type())}, ins,
               ValueRange{filled(b, {}, 0.0)}, maps,
               ArrayRef<utils::IteratorType>{utils::IteratorType::reduction},
               [&](OpBuilder &nb, Location loc, ValueRange a) {
                 Value v = fn(nb, loc, a.drop_back())[0];
                 v = arith::MulFOp::create(nb, loc, v, cst(nb, loc, invN));
                 linalg::YieldOp::create(
                     nb, loc,
                     ValueRange{arith::AddFOp::create(nb, loc, a.back(), v)});
               })
        .getResult(0);
  }

  /// softmax(x / T) of each row, stably: its row max of x / T, exp(x / T -
  /// max) and their row sum.
  struct Softmax {
    Value max, exps, sum;
  };
  Softmax softmax(Value x, double temperature) {
    double inv = 1.0 / temperature;
    auto scaled = [inv](OpBuilder &nb, Location loc, Value v) -> Value {
      return inv == 1.0 ? v
                        : arith::MulFOp::create(nb, loc, v, cst(nb, loc, inv))
                              .getResult();
    };
    Value max = reduce({x}, {false}, -INFINITY,
                       [&](OpBuilder &nb, Location loc, ValueRange a) {
                         return SmallVector<Value>{arith::MaximumFOp::create(
                             nb, loc, scaled(nb, loc, a[0]), a[1])};
                       });
    Value exps = map({x, max}, {false, true},
                     [&](OpBuilder &nb, Location loc, ValueRange a) {
                       Value d = arith::SubFOp::create(
                           nb, loc, scaled(nb, loc, a[0]), a[1]);
                       return SmallVector<Value>{
                           math::ExpOp::create(nb, loc, d)};
                     });
    Value sum = reduce({exps}, {false}, 0.0,
                       [](OpBuilder &nb, Location loc, ValueRange a) {
                         return SmallVector<Value>{
                             arith::AddFOp::create(nb, loc, a[0], a[1])};
                       });
    return {max, exps, sum};
  }

  ImplicitLocOpBuilder &b;
  RankedTensorType type;
  int64_t n;
  AffineMap full, row;
};

/// Whether the column of the current element is `label`.
Value isLabel(OpBuilder &nb, Location loc, Value label) {
  Value col = linalg::IndexOp::create(nb, loc, 1);
  Value want = arith::IndexCastOp::create(nb, loc, nb.getIndexType(), label);
  return arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::eq, col, want)
      .getResult();
}

} // namespace

LossValue train::emitCrossEntropy(ImplicitLocOpBuilder &b, Value logits,
                                  Value labels) {
  auto type = cast<RankedTensorType>(logits.getType());
  Rows rows(b, type);
  Rows::Softmax p = rows.softmax(logits, 1.0);
  // The label's logit.
  Value picked = rows.reduce(
      {logits, labels}, {false, true}, 0.0,
      [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value v = arith::SelectOp::create(nb, loc, isLabel(nb, loc, a[1]), a[0],
                                          cst(nb, loc, 0.0));
        return SmallVector<Value>{arith::AddFOp::create(nb, loc, a[2], v)};
      });
  // loss = sum_n (max + log(sum) - picked) / N
  Value loss = rows.mean({p.max, p.sum, picked},
                         [](OpBuilder &nb, Location loc, ValueRange a) {
                           Value lse = arith::AddFOp::create(
                               nb, loc, a[0], math::LogOp::create(nb, loc, a[1]));
                           return SmallVector<Value>{
                               arith::SubFOp::create(nb, loc, lse, a[2])};
                         });
  // d loss / d logits = (softmax - onehot) / N
  double invN = 1.0 / static_cast<double>(rows.n);
  Value gradient = rows.map(
      {p.exps, p.sum, labels}, {false, true, true},
      [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value prob = arith::DivFOp::create(nb, loc, a[0], a[1]);
        Value hot =
            arith::SelectOp::create(nb, loc, isLabel(nb, loc, a[2]),
                                    cst(nb, loc, 1.0), cst(nb, loc, 0.0));
        Value d = arith::SubFOp::create(nb, loc, prob, hot);
        return SmallVector<Value>{
            arith::MulFOp::create(nb, loc, d, cst(nb, loc, invN))};
      });
  return {loss, gradient};
}

LossValue train::emitDistillation(ImplicitLocOpBuilder &b, Value logits,
                                  Value labels, Value teacher,
                                  double temperature, double weight) {
  auto type = cast<RankedTensorType>(logits.getType());
  Rows rows(b, type);
  LossValue hard = emitCrossEntropy(b, logits, labels);
  double t = temperature;
  Rows::Softmax q = rows.softmax(logits, t);  // the student's
  Rows::Softmax p = rows.softmax(teacher, t); // the target
  // KL(p || q) per row = sum_c p_c (t_c - s_c) / T - (max_p - max_q)
  //                      - log(sum_p) + log(sum_q), as sum_c p_c = 1.
  Value dot = rows.reduce(
      {p.exps, p.sum, teacher, logits}, {false, true, false, false}, 0.0,
      [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value prob = arith::DivFOp::create(nb, loc, a[0], a[1]);
        Value d = arith::SubFOp::create(nb, loc, a[2], a[3]);
        d = arith::MulFOp::create(nb, loc, d, cst(nb, loc, 1.0 / t));
        Value term = arith::MulFOp::create(nb, loc, prob, d);
        return SmallVector<Value>{arith::AddFOp::create(nb, loc, a[4], term)};
      });
  Value kl = rows.mean(
      {dot, p.max, q.max, p.sum, q.sum},
      [](OpBuilder &nb, Location loc, ValueRange a) {
        Value v = arith::SubFOp::create(nb, loc, a[0], a[1]);
        v = arith::AddFOp::create(nb, loc, v, a[2]);
        v = arith::SubFOp::create(nb, loc, v, math::LogOp::create(nb, loc, a[3]));
        v = arith::AddFOp::create(nb, loc, v, math::LogOp::create(nb, loc, a[4]));
        return SmallVector<Value>{v};
      });
  // loss = (1 - w) CE + w T^2 KL;
  // d loss / d s = (1 - w) dCE + w T (q - p) / N.
  Value loss = emitMap(b, cast<RankedTensorType>(kl.getType()),
                       {hard.value, kl}, 1,
                       [&](OpBuilder &nb, Location loc, ValueRange a) {
                         Value h = arith::MulFOp::create(
                             nb, loc, a[0], cst(nb, loc, 1.0 - weight));
                         Value s = arith::MulFOp::create(
                             nb, loc, a[1], cst(nb, loc, weight * t * t));
                         return SmallVector<Value>{
                             arith::AddFOp::create(nb, loc, h, s)};
                       })[0];
  double soft = weight * t / static_cast<double>(rows.n);
  Value gradient = rows.map(
      {hard.gradient, q.exps, q.sum, p.exps, p.sum},
      {false, false, true, false, true},
      [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value qc = arith::DivFOp::create(nb, loc, a[1], a[2]);
        Value pc = arith::DivFOp::create(nb, loc, a[3], a[4]);
        Value d = arith::SubFOp::create(nb, loc, qc, pc);
        d = arith::MulFOp::create(nb, loc, d, cst(nb, loc, soft));
        Value h = arith::MulFOp::create(nb, loc, a[0],
                                        cst(nb, loc, 1.0 - weight));
        return SmallVector<Value>{arith::AddFOp::create(nb, loc, h, d)};
      });
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
