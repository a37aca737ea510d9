//===- Elementwise.cpp - Arithmetic, activations and reductions -----------===//
//
// Part of qat-mlir. Elementwise ops broadcast as numpy does (a computed
// tensor of fewer or unit dimensions is read through a map that drops them;
// a constant one becomes a parameter stored without them), compute in f32
// (integers and booleans where an op needs them: comparisons, Where, shape
// arithmetic), and fold when every input is a constant.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qat::onnx_import;

namespace {

Value f32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc,
                                   b.getF32FloatAttr(static_cast<float>(v)));
}

/// max(0, min(1, alpha * x + beta)).
Value hardSigmoid(OpBuilder &b, Location loc, Value x, double alpha,
                  double beta) {
  Value ax = arith::MulFOp::create(b, loc, x, f32(b, loc, alpha));
  Value axb = arith::AddFOp::create(b, loc, ax, f32(b, loc, beta));
  Value lo = arith::MaximumFOp::create(b, loc, axb, f32(b, loc, 0.0));
  return arith::MinimumFOp::create(b, loc, lo, f32(b, loc, 1.0));
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Value neg = arith::NegFOp::create(b, loc, x);
  Value e = math::ExpOp::create(b, loc, neg);
  Value one = f32(b, loc, 1.0);
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, e, one));
}

bool isFloat(Type t) { return isa<FloatType>(t); }

} // namespace

//===----------------------------------------------------------------------===//
// Binary and variadic arithmetic
//===----------------------------------------------------------------------===//

namespace {
enum class Arith { Add, Sub, Mul, Div, Max, Min, Pow };

double applyArith(Arith kind, double a, double c, bool ints) {
  switch (kind) {
  case Arith::Add:
    return a + c;
  case Arith::Sub:
    return a - c;
  case Arith::Mul:
    return a * c;
  case Arith::Div:
    return ints ? (c == 0 ? 0 : std::trunc(a / c)) : a / c;
  case Arith::Max:
    return std::max(a, c);
  case Arith::Min:
    return std::min(a, c);
  case Arith::Pow:
    return std::pow(a, c);
  }
  return 0;
}

/// `kind` of `x` and `y`; integers divide and compare unsigned when
/// `isUnsigned`.
Value buildArith(OpBuilder &b, Location loc, Arith kind, Value x, Value y,
                 bool isUnsigned = false) {
  if (isFloat(x.getType())) {
    switch (kind) {
    case Arith::Add:
      return arith::AddFOp::create(b, loc, x, y);
    case Arith::Sub:
      return arith::SubFOp::create(b, loc, x, y);
    case Arith::Mul:
      return arith::MulFOp::create(b, loc, x, y);
    case Arith::Div:
      return arith::DivFOp::create(b, loc, x, y);
    case Arith::Max:
      return arith::MaximumFOp::create(b, loc, x, y);
    case Arith::Min:
      return arith::MinimumFOp::create(b, loc, x, y);
    case Arith::Pow:
      return math::PowFOp::create(b, loc, x, y);
    }
  }
  switch (kind) {
  case Arith::Add:
    return arith::AddIOp::create(b, loc, x, y);
  case Arith::Sub:
    return arith::SubIOp::create(b, loc, x, y);
  case Arith::Mul:
    return arith::MulIOp::create(b, loc, x, y);
  case Arith::Div:
    return isUnsigned ? Value(arith::DivUIOp::create(b, loc, x, y))
                      : Value(arith::DivSIOp::create(b, loc, x, y));
  case Arith::Max:
    return isUnsigned ? Value(arith::MaxUIOp::create(b, loc, x, y))
                      : Value(arith::MaxSIOp::create(b, loc, x, y));
  case Arith::Min:
    return isUnsigned ? Value(arith::MinUIOp::create(b, loc, x, y))
                      : Value(arith::MinSIOp::create(b, loc, x, y));
  case Arith::Pow:
    return math::IPowIOp::create(b, loc, x, y);
  }
  return {};
}

/// Integer and float operands must match after materialization.
LogicalResult checkSameElement(Importer &im, ArrayRef<int> inputs) {
  Type first;
  for (int i : inputs) {
    if (im.isConstantInput(i))
      continue; // Constants take the computed operands' type.
    Type t = im.inputElement(i);
    if (first && t != first)
      return im.fail("inputs of different element types");
    first = first ? first : t;
  }
  return success();
}
} // namespace

static LogicalResult variadic(Importer &im, Arith kind) {
  SmallVector<int> inputs;
  for (int i = 0; i < im.numInputs(); ++i)
    inputs.push_back(i);
  if (inputs.empty())
    return im.fail("expected at least one input, found none");
  bool ints = true, isUnsigned = false;
  for (int i : inputs) {
    ints &= !isFloat(im.inputElement(i));
    // Pow's result has its base's type, whatever the exponent's.
    if (kind != Arith::Pow || i == 0)
      isUnsigned |= im.isUnsignedInput(i);
  }
  bool unsignedExponent = kind == Arith::Pow && im.isUnsignedInput(1);
  if (im.foldConstants(inputs, [&](ArrayRef<double> a) {
        double r = a[0];
        for (double v : a.drop_front())
          r = applyArith(kind, r, v, ints);
        return r;
      }))
    return success(!im.failed());
  // Pow's exponent may have another type than its base (the result has
  // the base's).
  if (failed(checkSameElement(im, kind == Arith::Pow ? ArrayRef<int>(inputs)
                                                          .take_front()
                                                    : ArrayRef<int>(inputs))))
    return failure();
  // The computed operands' element type; constants follow it.
  Type element;
  for (int i : kind == Arith::Pow ? ArrayRef<int>(inputs).take_front()
                                  : ArrayRef<int>(inputs))
    if (!im.isConstantInput(i) || !element)
      element = im.inputElement(i);
  if (kind == Arith::Pow && im.isConstantInput(1) &&
      im.constantInput(1)->size() == 1 && isFloat(element)) {
    // Small integer exponents as products, 0.5 as a square root.
    double e = im.constantInput(1)->at(0);
    if (e == 1.0 || e == 2.0 || e == 3.0 || e == 0.5)
      return im.elementwise(
          {0},
          [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
            if (e == 0.5)
              return math::SqrtOp::create(b, loc, a[0]);
            Value r = a[0];
            for (int k = 1; k < static_cast<int>(e); ++k)
              r = arith::MulFOp::create(b, loc, r, a[0]);
            return r;
          },
          element);
  }
  return im.elementwise(
      inputs,
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
        SmallVector<Value> args(a);
        if (kind == Arith::Pow && (isFloat(element) ||
                                   isFloat(args[1].getType()))) {
          // In float; an integer base's result truncates back.
          Type f32 = b.getF32Type();
          auto toFloat = [&](Value v) -> Value {
            if (isFloat(v.getType()))
              return v.getType() == f32
                         ? v
                         : Value(arith::TruncFOp::create(b, loc, f32, v));
            return v == args[1] && unsignedExponent
                       ? Value(arith::UIToFPOp::create(b, loc, f32, v))
                       : Value(arith::SIToFPOp::create(b, loc, f32, v));
          };
          Value r = math::PowFOp::create(b, loc, toFloat(args[0]),
                                         toFloat(args[1]));
          return isFloat(element)
                     ? r
                     : Value(arith::FPToSIOp::create(b, loc, element, r));
        }
        for (Value &v : args) {
          // A constant scalar of another type than the computed operands.
          if (v.getType() == element)
            continue;
          if (isFloat(element) && !isFloat(v.getType()))
            v = arith::SIToFPOp::create(b, loc, element, v);
          else if (!isFloat(element) && !isFloat(v.getType()))
            v = v.getType().getIntOrFloatBitWidth() >
                        element.getIntOrFloatBitWidth()
                    ? Value(arith::TruncIOp::create(b, loc, element, v))
                    : Value(arith::ExtSIOp::create(b, loc, element, v));
          else if (isFloat(element))
            v = v.getType().getIntOrFloatBitWidth() >
                        element.getIntOrFloatBitWidth()
                    ? Value(arith::TruncFOp::create(b, loc, element, v))
                    : Value(arith::ExtFOp::create(b, loc, element, v));
          else
            v = arith::FPToSIOp::create(b, loc, element, v);
        }
        Value r = args[0];
        for (Value v : ArrayRef<Value>(args).drop_front())
          r = buildArith(b, loc, kind, r, v, isUnsigned);
        return r;
      },
      element);
}

LogicalResult Importer::opAdd() { return variadic(*this, Arith::Add); }
LogicalResult Importer::opSub() { return variadic(*this, Arith::Sub); }
LogicalResult Importer::opMul() { return variadic(*this, Arith::Mul); }
LogicalResult Importer::opDiv() { return variadic(*this, Arith::Div); }
LogicalResult Importer::opMax() { return variadic(*this, Arith::Max); }
LogicalResult Importer::opMin() { return variadic(*this, Arith::Min); }
LogicalResult Importer::opSum() { return variadic(*this, Arith::Add); }
LogicalResult Importer::opPow() { return variadic(*this, Arith::Pow); }

LogicalResult Importer::opMod() {
  // fmod=0 (integers only): the result has the divisor's sign, as Python's
  // %; fmod=1: C's fmod, the dividend's sign.
  bool cStyle = intAttr("fmod", 0) != 0;
  bool floats = isFloat(inputElement(0)) || isFloat(inputElement(1));
  if (floats && !cStyle)
    return fail("fmod=0 on floats is not allowed by ONNX; expected fmod=1");
  if (foldConstants({0, 1}, [&](ArrayRef<double> a) {
        if (a[1] == 0)
          return 0.0;
        double r = std::fmod(a[0], a[1]);
        if (!cStyle && r != 0 && ((r < 0) != (a[1] < 0)))
          r += a[1];
        return r;
      }))
    return success(!failed());
  if (mlir::failed(checkSameElement(*this, {0, 1})))
    return failure();
  Type element = !isConstantInput(0) ? inputElement(0) : inputElement(1);
  bool isUnsigned = isUnsignedInput(0) || isUnsignedInput(1);
  return elementwise(
      {0, 1},
      [&](OpBuilder &nb, Location loc, ArrayRef<Value> a) -> Value {
        Value x = a[0], y = a[1];
        if (isFloat(element))
          return arith::RemFOp::create(nb, loc, x, y);
        if (x.getType() != element)
          x = arith::TruncIOp::create(nb, loc, element, x);
        if (y.getType() != element)
          y = arith::TruncIOp::create(nb, loc, element, y);
        if (isUnsigned)
          return arith::RemUIOp::create(nb, loc, x, y);
        Value r = arith::RemSIOp::create(nb, loc, x, y);
        if (cStyle)
          return r;
        // Python's %: add the divisor when the signs differ.
        Value zero = arith::ConstantOp::create(nb, loc,
                                               nb.getIntegerAttr(element, 0));
        Value rNeg = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::slt,
                                           r, zero);
        Value yNeg = arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::slt,
                                           y, zero);
        Value rNonZero = arith::CmpIOp::create(
            nb, loc, arith::CmpIPredicate::ne, r, zero);
        Value differ = arith::XOrIOp::create(nb, loc, rNeg, yNeg);
        Value fix = arith::AndIOp::create(nb, loc, differ, rNonZero);
        return arith::SelectOp::create(nb, loc, fix,
                                       arith::AddIOp::create(nb, loc, r, y), r);
      },
      element);
}

//===----------------------------------------------------------------------===//
// Comparisons and selection
//===----------------------------------------------------------------------===//

static LogicalResult compare(Importer &im, arith::CmpFPredicate fp,
                             arith::CmpIPredicate ip,
                             double (*fold)(double, double)) {
  if (im.foldConstants(
          {0, 1}, [&](ArrayRef<double> a) { return fold(a[0], a[1]); },
          /*predicate=*/true))
    return success(!im.failed());
  bool floats = isFloat(im.inputElement(0)) || isFloat(im.inputElement(1));
  if (im.isUnsignedInput(0) || im.isUnsignedInput(1))
    ip = ip == arith::CmpIPredicate::slt   ? arith::CmpIPredicate::ult
         : ip == arith::CmpIPredicate::sgt ? arith::CmpIPredicate::ugt
                                           : ip;
  return im.elementwise(
      {0, 1},
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        Value x = a[0], y = a[1];
        if (floats) {
          if (!isFloat(x.getType()))
            x = arith::SIToFPOp::create(b, loc, b.getF32Type(), x);
          if (!isFloat(y.getType()))
            y = arith::SIToFPOp::create(b, loc, b.getF32Type(), y);
          return arith::CmpFOp::create(b, loc, fp, x, y);
        }
        if (x.getType() != y.getType()) {
          Type wide = b.getI64Type();
          if (x.getType() != wide)
            x = arith::ExtSIOp::create(b, loc, wide, x);
          if (y.getType() != wide)
            y = arith::ExtSIOp::create(b, loc, wide, y);
        }
        return arith::CmpIOp::create(b, loc, ip, x, y);
      },
      im.builder().getI1Type());
}

LogicalResult Importer::opEqual() {
  return compare(*this, arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq,
                 [](double a, double c) { return double(a == c); });
}
LogicalResult Importer::opLess() {
  return compare(*this, arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt,
                 [](double a, double c) { return double(a < c); });
}
LogicalResult Importer::opGreater() {
  return compare(*this, arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt,
                 [](double a, double c) { return double(a > c); });
}

LogicalResult Importer::opNot() {
  if (foldConstants(
          {0}, [](ArrayRef<double> a) { return double(a[0] == 0); }, true))
    return success(!failed());
  return elementwise(
      {0},
      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
        return arith::XOrIOp::create(b, loc, a[0], one);
      },
      builder().getI1Type());
}

LogicalResult Importer::opWhere() {
  bool ints = !isFloat(inputElement(1)) && !isFloat(inputElement(2));
  if (foldConstants({0, 1, 2}, [](ArrayRef<double> a) {
        return a[0] != 0 ? a[1] : a[2];
      }))
    return success(!failed());
  if (!inputElement(0).isInteger(1))
    return fail("the condition must be boolean");
  Type element = ints ? inputElement(1) : builder().getF32Type();
  return elementwise(
      {0, 1, 2},
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        Value x = a[1], y = a[2];
        if (x.getType() != element)
          x = isFloat(element) ? Value(arith::SIToFPOp::create(b, loc, element, x))
                               : Value(arith::TruncIOp::create(b, loc, element, x));
        if (y.getType() != element)
          y = isFloat(element) ? Value(arith::SIToFPOp::create(b, loc, element, y))
                               : Value(arith::TruncIOp::create(b, loc, element, y));
        return arith::SelectOp::create(b, loc, a[0], x, y);
      },
      element);
}

//===----------------------------------------------------------------------===//
// Unary activations
//===----------------------------------------------------------------------===//

/// A float unary op: folded on constants with `fold`, else one generic.
static LogicalResult unary(Importer &im,
                           llvm::function_ref<Value(OpBuilder &, Location,
                                                    Value)>
                               body,
                           double (*fold)(double)) {
  if (fold && im.foldConstants({0}, [&](ArrayRef<double> a) {
        return fold(a[0]);
      }))
    return success(!im.failed());
  if (!isFloat(im.inputElement(0)))
    return im.fail("expected a float input, found " +
                   std::string(im.inputElement(0).isInteger(1) ? "a boolean"
                                                               : "an integer"));
  return im.elementwise(
      {0}, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
        return body(b, loc, a[0]);
      });
}

LogicalResult Importer::opRelu() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return arith::MaximumFOp::create(b, loc, x, f32(b, loc, 0.0));
      },
      [](double x) { return std::max(x, 0.0); });
}

LogicalResult Importer::opClip() {
  std::optional<double> lo, hi;
  if (opset() < 11) {
    if (attribute("min"))
      lo = floatAttr("min", 0);
    if (attribute("max"))
      hi = floatAttr("max", 0);
  }
  if ((hasInput(1) && !isConstantInput(1)) ||
      (hasInput(2) && !isConstantInput(2))) {
    // Bounds computed at run time: max and min with them.
    SmallVector<int> inputs{0};
    for (int i : {1, 2})
      if (hasInput(i))
        inputs.push_back(i);
    bool low = hasInput(1), high = hasInput(2);
    bool isUnsigned = isUnsignedInput(0);
    return elementwise(inputs,
                       [&](OpBuilder &nb, Location loc,
                           ArrayRef<Value> a) -> Value {
                         Value r = a[0];
                         size_t k = 1;
                         if (low)
                           r = buildArith(nb, loc, Arith::Max, r, a[k++],
                                          isUnsigned);
                         if (high)
                           r = buildArith(nb, loc, Arith::Min, r, a[k++],
                                          isUnsigned);
                         return r;
                       },
                       inputElement(0));
  }
  for (int i : {1, 2}) {
    if (!hasInput(i))
      continue;
    const Constant *c = constantInput(i);
    if (!c)
      return failure();
    if (c->size() != 1)
      return fail("bound '" + inputName(i) + "' must be a scalar, found " +
                  std::to_string(c->size()) + " values");
    (i == 1 ? lo : hi) = c->at(0);
  }
  Tensor x = input(0);
  if (!x)
    return failure();
  Type element = x.elementType();
  bool isUnsigned = isUnsignedInput(0);
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
           Value r = a[0];
           if (lo)
             r = buildArith(b, loc, Arith::Max, r, scalar(*lo, element),
                            isUnsigned);
           if (hi)
             r = buildArith(b, loc, Arith::Min, r, scalar(*hi, element),
                            isUnsigned);
           if (!lo && !hi && isFloat(element))
             r = arith::AddFOp::create(b, loc, r, scalar(0.0, element));
           return r;
         }, element));
  return success();
}

LogicalResult Importer::opSigmoid() {
  return unary(*this, sigmoid,
               [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
}

LogicalResult Importer::opTanh() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::TanhOp::create(b, loc, x);
      },
      [](double x) { return std::tanh(x); });
}

LogicalResult Importer::opExp() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::ExpOp::create(b, loc, x);
      },
      [](double x) { return std::exp(x); });
}

LogicalResult Importer::opLog() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::LogOp::create(b, loc, x);
      },
      [](double x) { return std::log(x); });
}

LogicalResult Importer::opSqrt() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::SqrtOp::create(b, loc, x);
      },
      [](double x) { return std::sqrt(x); });
}

LogicalResult Importer::opErf() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::ErfOp::create(b, loc, x);
      },
      [](double x) { return std::erf(x); });
}

LogicalResult Importer::opFloor() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::FloorOp::create(b, loc, x);
      },
      [](double x) { return std::floor(x); });
}

LogicalResult Importer::opCeil() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::CeilOp::create(b, loc, x);
      },
      [](double x) { return std::ceil(x); });
}

LogicalResult Importer::opAbs() {
  if (!isFloat(inputElement(0)) && !isConstantInput(0))
    return elementwise(
        {0},
        [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
          return math::AbsIOp::create(b, loc, a[0]);
        },
        inputElement(0));
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return math::AbsFOp::create(b, loc, x);
      },
      [](double x) { return std::fabs(x); });
}

LogicalResult Importer::opNeg() {
  if (!isFloat(inputElement(0)) && !isConstantInput(0))
    return elementwise(
        {0},
        [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
          Value zero = arith::ConstantOp::create(
              b, loc, b.getIntegerAttr(a[0].getType(), 0));
          return arith::SubIOp::create(b, loc, zero, a[0]);
        },
        inputElement(0));
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return arith::NegFOp::create(b, loc, x);
      },
      [](double x) { return -x; });
}

LogicalResult Importer::opSign() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        Value zero = f32(b, loc, 0.0);
        Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                          zero);
        Value neg = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x,
                                          zero);
        Value p = arith::UIToFPOp::create(b, loc, b.getF32Type(), pos);
        Value n = arith::UIToFPOp::create(b, loc, b.getF32Type(), neg);
        return arith::SubFOp::create(b, loc, p, n);
      },
      [](double x) { return double((x > 0) - (x < 0)); });
}

LogicalResult Importer::opReciprocal() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        return arith::DivFOp::create(b, loc, f32(b, loc, 1.0), x);
      },
      [](double x) { return 1.0 / x; });
}

LogicalResult Importer::opSoftplus() {
  return unary(
      *this,
      [](OpBuilder &b, Location loc, Value x) -> Value {
        Value e = math::ExpOp::create(b, loc, x);
        return math::Log1pOp::create(b, loc, e);
      },
      [](double x) { return std::log1p(std::exp(x)); });
}

LogicalResult Importer::opLeakyRelu() {
  double alpha = floatAttr("alpha", 0.01f);
  Tensor x = input(0);
  if (!x)
    return failure();
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
           Value s = arith::MulFOp::create(b, loc, a[0], scalar(alpha));
           Value p = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           a[0], scalar(0.0));
           return arith::SelectOp::create(b, loc, p, a[0], s);
         }));
  return success();
}

LogicalResult Importer::opElu() {
  double alpha = floatAttr("alpha", 1.0f);
  Tensor x = input(0);
  if (!x)
    return failure();
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
           Value em1 = math::ExpM1Op::create(b, loc, a[0]);
           Value s = arith::MulFOp::create(b, loc, em1, scalar(alpha));
           Value p = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           a[0], scalar(0.0));
           return arith::SelectOp::create(b, loc, p, a[0], s);
         }));
  return success();
}

LogicalResult Importer::opHardSigmoid() {
  double alpha = floatAttr("alpha", 0.2f), beta = floatAttr("beta", 0.5f);
  Tensor x = input(0);
  if (!x)
    return failure();
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
           return hardSigmoid(b, loc, a[0], alpha, beta);
         }));
  return success();
}

LogicalResult Importer::opHardSwish() {
  Tensor x = input(0);
  if (!x)
    return failure();
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
           Value h = hardSigmoid(b, loc, a[0], 1.0 / 6.0, 0.5);
           return arith::MulFOp::create(b, loc, a[0], h);
         }));
  return success();
}

LogicalResult Importer::opGelu() {
  std::string approximate = stringAttr("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return fail("approximate='" + approximate +
                "'; expected 'none' or 'tanh'");
  Tensor x = input(0);
  if (!x)
    return failure();
  bool useTanh = approximate == "tanh";
  define(0, map(x, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
           Value half = arith::MulFOp::create(b, loc, a[0], f32(b, loc, 0.5));
           Value inner;
           if (useTanh) {
             // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
             Value x3 = arith::MulFOp::create(
                 b, loc, arith::MulFOp::create(b, loc, a[0], a[0]), a[0]);
             Value poly = arith::AddFOp::create(
                 b, loc, a[0],
                 arith::MulFOp::create(b, loc, x3, f32(b, loc, 0.044715)));
             inner = math::TanhOp::create(
                 b, loc,
                 arith::MulFOp::create(b, loc, poly,
                                       f32(b, loc, std::sqrt(2.0 / M_PI))));
           } else {
             inner = math::ErfOp::create(
                 b, loc,
                 arith::MulFOp::create(b, loc, a[0], f32(b, loc, M_SQRT1_2)));
           }
           Value onePlus = arith::AddFOp::create(b, loc, inner, f32(b, loc, 1));
           return arith::MulFOp::create(b, loc, half, onePlus);
         }));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

namespace {
enum class Reduction { Sum, Mean, Max, Min };
} // namespace

/// The axes a reduction from `input` to the `declared` shape reduces, for
/// axes computed at run time; fails when the declared shape is not such a
/// reduction or (without keepdims) more than one set of axes gives it.
static std::optional<std::vector<int64_t>>
reducedAxes(Importer &im, ArrayRef<int64_t> input, ArrayRef<int64_t> declared,
            bool keepdims) {
  int64_t rank = input.size();
  std::vector<int64_t> axes;
  auto refuse = [&](StringRef why) -> std::optional<std::vector<int64_t>> {
    (void)im.fail("the declared result shape " + formatShape(declared) +
                  " of a reduction of " + formatShape(input) + " " + why);
    return std::nullopt;
  };
  if (keepdims) {
    if (static_cast<int64_t>(declared.size()) != rank)
      return refuse("has another rank (keepdims is set)");
    for (int64_t d = 0; d < rank; ++d) {
      if (declared[d] == input[d])
        continue;
      if (declared[d] != 1)
        return refuse("is not a reduction of it");
      axes.push_back(d);
    }
    return axes;
  }
  // The kept dimensions matched leftmost and rightmost: one matching when
  // the two agree.
  auto match = [&](bool leftmost) -> std::optional<std::vector<bool>> {
    std::vector<bool> kept(rank, false);
    int64_t n = declared.size();
    if (leftmost) {
      int64_t j = 0;
      for (int64_t d = 0; d < rank && j < n; ++d)
        if (input[d] == declared[j])
          kept[d] = true, ++j;
      if (j != n)
        return std::nullopt;
    } else {
      int64_t j = n - 1;
      for (int64_t d = rank - 1; d >= 0 && j >= 0; --d)
        if (input[d] == declared[j])
          kept[d] = true, --j;
      if (j != -1)
        return std::nullopt;
    }
    return kept;
  };
  auto left = match(true), right = match(false);
  if (!left || !right)
    return refuse("is not a reduction of it");
  if (*left != *right)
    return refuse("is the reduction of more than one set of axes");
  for (int64_t d = 0; d < rank; ++d)
    if (!(*left)[d])
      axes.push_back(d);
  return axes;
}

static LogicalResult reduce(Importer &im, Reduction kind) {
  // Axes: an attribute, or an input (ReduceSum from opset 13, the others
  // from 18).
  int axesInput = 1;
  bool axesAsInput = kind == Reduction::Sum ? im.opset() >= 13
                                            : im.opset() >= 18;
  int64_t keepdims = im.intAttr("keepdims", 1);
  Tensor v = im.input(0);
  if (!v)
    return failure();
  // Axes computed at run time: those the declared result shape reduces.
  bool axesAtRuntime = axesAsInput && im.isRuntimeInput(axesInput);
  std::optional<std::vector<int64_t>> axes;
  if (axesAtRuntime) {
    if (std::optional<Shape> declared = im.declaredResultShape(axesInput))
      axes = reducedAxes(im, v.shape, *declared, keepdims);
  } else {
    axes = axesAsInput ? (im.hasInput(axesInput)
                              ? im.intsAttrOrInput("axes", axesInput)
                              : std::nullopt)
                       : im.intsAttr("axes");
  }
  if (im.failed())
    return failure();
  if (!isFloat(v.elementType()))
    return im.fail("expected a float input");
  int64_t rank = v.shape.size();
  if (axesAtRuntime && axes->empty()) {
    // The declared shape is the input's: nothing is reduced.
    im.define(0, v);
    return success();
  }
  if (!axes || axes->empty()) {
    if (im.intAttr("noop_with_empty_axes", 0)) {
      im.define(0, v);
      return success();
    }
    axes = std::vector<int64_t>();
    for (int64_t d = 0; d < rank; ++d)
      axes->push_back(d);
  }
  SmallVector<bool> reduced(rank, false);
  for (int64_t ax : *axes) {
    if (ax < -rank || ax >= rank)
      return im.fail("axis " + std::to_string(ax) + " is out of range for " +
                     "rank " + std::to_string(rank));
    reduced[(ax + rank) % rank] = true;
  }
  // Reduce in the stored layout when the kept dimensions stay in logical
  // order there (N, C of an NHWC value); else in ONNX order.
  SmallVector<int64_t> perm;
  if (v.nhwc)
    perm = {0, 2, 3, 1};
  else
    for (int64_t d = 0; d < rank; ++d)
      perm.push_back(d);
  SmallVector<int64_t> keptLogical, keptInPerm;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d])
      keptLogical.push_back(d);
  for (int64_t d : perm)
    if (!reduced[d])
      keptInPerm.push_back(d);
  if (keptInPerm != keptLogical) {
    v = im.toLogical(v);
    perm.clear();
    for (int64_t d = 0; d < rank; ++d)
      perm.push_back(d);
  }
  Shape phys = v.physical();
  Shape outPhys;
  SmallVector<int64_t> dims;
  SmallVector<utils::IteratorType> iterators;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[perm[i]]) {
      iterators.push_back(utils::IteratorType::reduction);
      count *= phys[i];
    } else {
      iterators.push_back(utils::IteratorType::parallel);
      outPhys.push_back(phys[i]);
      dims.push_back(i);
    }
  }
  double init = kind == Reduction::Max   ? -INFINITY
                : kind == Reduction::Min ? INFINITY
                                         : 0.0;
  Value r = im.generic(
      {v.value}, {im.identity(rank), im.keep(rank, dims)}, outPhys,
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        switch (kind) {
        case Reduction::Max:
          return arith::MaximumFOp::create(b, loc, a[0], a[1]);
        case Reduction::Min:
          return arith::MinimumFOp::create(b, loc, a[0], a[1]);
        default:
          return arith::AddFOp::create(b, loc, a[0], a[1]);
        }
      },
      iterators, im.filled(outPhys, init));
  Shape shape;
  for (int64_t d : keptLogical)
    shape.push_back(v.shape[d]);
  Tensor out{r, shape, false};
  if (kind == Reduction::Mean) {
    Value factor = im.scalar(1.0 / static_cast<double>(count));
    out = im.map(out, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
      return arith::MulFOp::create(b, loc, a[0], factor).getResult();
    });
  }
  if (keepdims) {
    // Unit dimensions back in place (a reshape), NHWC again if 4-D.
    Shape full;
    for (int64_t d = 0; d < rank; ++d)
      full.push_back(reduced[d] ? 1 : v.shape[d]);
    out = im.wrap(im.reshape(out.value, out.physical(), full), full);
  }
  im.define(0, out);
  return success();
}

LogicalResult Importer::opReduceSum() { return reduce(*this, Reduction::Sum); }
LogicalResult Importer::opReduceMean() {
  return reduce(*this, Reduction::Mean);
}
LogicalResult Importer::opReduceMax() { return reduce(*this, Reduction::Max); }
LogicalResult Importer::opReduceMin() { return reduce(*this, Reduction::Min); }
