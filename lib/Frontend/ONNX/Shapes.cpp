//===- Shapes.cpp - Shape arithmetic and data movement --------------------===//
//
// Part of qat-mlir. Shapes are static, so the shape arithmetic an exporter
// writes (Shape, Gather, Unsqueeze, Concat, ... for `x.view(x.size(0), -1)`)
// is evaluated here on constants. The ops that move computed data keep an
// NHWC value in NHWC where they can (slicing, splitting and concatenating
// channels) and go through the ONNX element order where order matters
// (Reshape, Flatten, Transpose).
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qat::onnx_import;

namespace {

/// Row-major strides of `shape`.
Shape stridesOf(ArrayRef<int64_t> shape) {
  Shape strides(shape.size(), 1);
  for (int j = static_cast<int>(shape.size()) - 2; j >= 0; --j)
    strides[j] = strides[j + 1] * shape[j + 1];
  return strides;
}

/// A constant's elements gathered by `index(e)` (the source offset of
/// output element e) into `shape`.
Constant gatherConstant(const Constant &c, Shape shape,
                        llvm::function_ref<int64_t(int64_t)> index) {
  Constant out;
  out.shape = std::move(shape);
  out.isFloat = c.isFloat;
  out.isBool = c.isBool;
  int64_t n = numElements(out.shape);
  if (c.isFloat) {
    out.floats.resize(n);
    for (int64_t e = 0; e < n; ++e)
      out.floats[e] = c.floats[index(e)];
  } else {
    out.ints.resize(n);
    for (int64_t e = 0; e < n; ++e)
      out.ints[e] = c.ints[index(e)];
  }
  return out;
}
} // namespace

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

LogicalResult Importer::opConstant() {
  const onnx::AttributeProto *a = nullptr;
  for (const auto &attr : currentNode().attribute())
    a = &attr;
  if (!a || currentNode().attribute_size() != 1)
    return fail("expected exactly one attribute (value, value_float, "
                "value_floats, value_int or value_ints)");
  if (a->name() == "value") {
    std::string why;
    auto c = decode(a->t(), why);
    if (!c)
      return fail("its value " + why);
    defineConstant(0, std::move(*c));
  } else if (a->name() == "value_float") {
    defineConstant(0, Constant::ofFloats({}, {a->f()}));
  } else if (a->name() == "value_floats") {
    defineConstant(0, Constant::ofFloats(
                          {static_cast<int64_t>(a->floats_size())},
                          std::vector<float>(a->floats().begin(),
                                             a->floats().end())));
  } else if (a->name() == "value_int") {
    defineConstant(0, Constant::ofInts({}, {a->i()}));
  } else if (a->name() == "value_ints") {
    defineConstant(0, Constant::ofInts(
                          {static_cast<int64_t>(a->ints_size())},
                          std::vector<int64_t>(a->ints().begin(),
                                               a->ints().end())));
  } else {
    return fail("attribute '" + a->name() + "' is not supported");
  }
  return success();
}

LogicalResult Importer::opConstantOfShape() {
  Shape dims;
  if (isRuntimeInput(0)) {
    std::optional<Shape> declared = declaredResultShape(0);
    if (!declared)
      return failure();
    dims = *declared;
  } else if (const Constant *shape = constantInput(0)) {
    for (int64_t d : shape->toInts()) {
      if (d < 0)
        return fail("negative dimension in shape " +
                    formatShape(shape->toInts()));
      dims.push_back(d);
    }
  } else {
    return failure();
  }
  if (mlir::failed(checkSize(dims, "shape")))
    return failure();
  Constant value = Constant::ofFloats({}, {0.0f});
  if (const auto *a = attribute("value")) {
    std::string why;
    auto c = decode(a->t(), why);
    if (!c || c->size() != 1)
      return fail("its value must be one element");
    value = *c;
  }
  defineConstant(0, gatherConstant(value, dims, [](int64_t) { return 0; }));
  return success();
}

LogicalResult Importer::opShape() {
  Shape shape;
  if (isConstantInput(0)) {
    shape = constantInput(0)->shape;
  } else {
    Tensor v = input(0);
    if (!v)
      return failure();
    shape = v.shape;
  }
  int64_t rank = shape.size();
  int64_t start = intAttr("start", 0), end = intAttr("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  std::vector<int64_t> dims(shape.begin() + start,
                            shape.begin() + std::max(start, end));
  defineConstant(0, Constant::ofInts({static_cast<int64_t>(dims.size())},
                                     std::move(dims)));
  return success();
}

/// Range with an operand computed at run time: as many elements as the
/// model declares, start + i * delta computed by the program.
static LogicalResult runtimeRange(Importer &im) {
  int runtime = im.isRuntimeInput(0) ? 0 : (im.isRuntimeInput(1) ? 1 : 2);
  std::optional<Shape> declared = im.declaredResultShape(runtime);
  if (!declared)
    return failure();
  if (declared->size() != 1)
    return im.fail("the declared result shape " + formatShape(*declared) +
                   " is not 1-D");
  OpBuilder &b = im.builder();
  Location loc = im.loc();
  Type element = im.inputElement(0);
  // Input `i` must be one element of the start's type (the limit too,
  // though only the start and delta are read: the count is declared).
  auto isScalar = [&](int i) {
    bool one;
    if (im.isRuntimeInput(i)) {
      Tensor t = im.input(i);
      one = t && numElements(t.shape) == 1 && t.elementType() == element;
    } else {
      const Constant *c = im.constantInput(i);
      one = c && c->size() == 1;
    }
    if (!one && !im.failed())
      (void)im.fail("input '" + im.inputName(i) +
                    "' must be a scalar of the start's type");
    return one;
  };
  // The value of input `i`, in the result's element type.
  auto scalarOf = [&](int i) -> Value {
    if (!im.isRuntimeInput(i))
      return im.scalar(im.constantInput(i)->at(0), element);
    Tensor t = im.input(i);
    SmallVector<Value> zeros(t.shape.size(), im.scalar(0, b.getIndexType()));
    return tensor::ExtractOp::create(b, loc, t.value, zeros);
  };
  if (!isScalar(0) || !isScalar(1) || !isScalar(2))
    return failure();
  Value start = scalarOf(0), delta = scalarOf(2);
  Value out = im.generic(
      {}, {im.identity(1)}, *declared,
      [&](OpBuilder &nb, Location l, ArrayRef<Value>) -> Value {
        Value i = linalg::IndexOp::create(nb, l, 0);
        if (isa<FloatType>(element)) {
          Value n = arith::UIToFPOp::create(
              nb, l, element,
              arith::IndexCastUIOp::create(nb, l, nb.getI64Type(), i));
          return arith::AddFOp::create(
              nb, l, start, arith::MulFOp::create(nb, l, n, delta));
        }
        Value n = arith::IndexCastUIOp::create(nb, l, element, i);
        return arith::AddIOp::create(nb, l, start,
                                     arith::MulIOp::create(nb, l, n, delta));
      },
      {}, {}, element);
  im.define(0, im.wrap(out, *declared));
  return success();
}

LogicalResult Importer::opRange() {
  if (isRuntimeInput(0) || isRuntimeInput(1) || isRuntimeInput(2))
    return runtimeRange(*this);
  const Constant *start = constantInput(0);
  const Constant *limit = start ? constantInput(1) : nullptr;
  const Constant *delta = limit ? constantInput(2) : nullptr;
  if (!delta)
    return failure();
  double s = start->at(0), l = limit->at(0), d = delta->at(0);
  if (d == 0 || !std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d))
    return fail("start, limit and delta must be finite and delta nonzero");
  double count = std::max(0.0, std::ceil((l - s) / d));
  if (count > static_cast<double>(kMaxElements))
    return fail("the range has more than 2^32 elements");
  auto n = static_cast<int64_t>(count);
  if (start->isFloat) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i)
      v[i] = static_cast<float>(s + i * d);
    defineConstant(0, Constant::ofFloats({n}, std::move(v)));
  } else {
    std::vector<int64_t> v(n);
    for (int64_t i = 0; i < n; ++i)
      v[i] = start->intAt(0) + i * delta->intAt(0);
    defineConstant(0, Constant::ofInts({n}, std::move(v)));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Pass-through
//===----------------------------------------------------------------------===//

static std::optional<Shape> inputShape(Importer &im, int index);

static LogicalResult passThrough(Importer &im) {
  if (im.isConstantInput(0)) {
    im.defineConstant(0, *im.constantInput(0));
    return success();
  }
  Tensor v = im.input(0);
  if (!v)
    return failure();
  im.define(0, v);
  return success();
}

LogicalResult Importer::opIdentity() { return passThrough(*this); }

LogicalResult Importer::opDropout() {
  // Inference: the identity, and a mask of every element kept.
  if (hasInput(2)) {
    const Constant *training = constantInput(2);
    if (!training)
      return failure();
    // In training mode with a ratio of 0 (as torchvision's Swin exports
    // it) dropout is the identity too.
    bool zeroRatio = false;
    if (hasInput(1)) {
      const Constant *ratio = constantInput(1);
      if (!ratio)
        return failure();
      zeroRatio = ratio->size() == 1 && ratio->at(0) == 0;
    }
    if (training->size() != 1 || (training->at(0) != 0 && !zeroRatio))
      return fail("training_mode=true with a non-zero ratio is not "
                  "supported (inference only: dropout is random in "
                  "training)");
  }
  if (mlir::failed(passThrough(*this)))
    return failure();
  if (currentNode().output_size() > 1 && !currentNode().output(1).empty()) {
    auto shape = inputShape(*this, 0);
    if (!shape)
      return failure();
    Constant mask;
    mask.shape = *shape;
    mask.isFloat = false;
    mask.isBool = true;
    mask.ints.assign(numElements(*shape), 1);
    defineConstant(1, std::move(mask));
  }
  return success();
}

LogicalResult Importer::opCast() {
  int64_t to = intAttr("to", 0);
  // The element type of a computed result: null for the 16-bit floats,
  // which only constants are cast to (rounded through them).
  Type element = elementTypeOf(b.getContext(), to);
  bool toHalf = to == onnx::TensorProto_DataType_FLOAT16 ||
                to == onnx::TensorProto_DataType_BFLOAT16;
  bool toBool = to == onnx::TensorProto_DataType_BOOL;
  bool toFloat = toHalf || (element && isa<FloatType>(element));
  bool toInt = element && isa<IntegerType>(element) && !toBool;
  std::string target = onnx::TensorProto_DataType_Name(
      static_cast<onnx::TensorProto_DataType>(to));
  if (!toFloat && !toBool && !toInt)
    return fail("cast to " + (target.empty() ? std::to_string(to) : target) +
                " is not supported");
  if (isConstantInput(0)) {
    const Constant &c = *constantInput(0);
    Constant out;
    out.shape = c.shape;
    if (toFloat) {
      out.floats.resize(c.size());
      for (int64_t i = 0; i < c.size(); ++i) {
        float v = static_cast<float>(c.at(i));
        if (toHalf) {
          // Round through the narrower type.
          llvm::APFloat f(v);
          bool lost;
          f.convert(to == onnx::TensorProto_DataType_FLOAT16
                        ? llvm::APFloat::IEEEhalf()
                        : llvm::APFloat::BFloat(),
                    llvm::APFloat::rmNearestTiesToEven, &lost);
          f.convert(llvm::APFloat::IEEEsingle(),
                    llvm::APFloat::rmNearestTiesToEven, &lost);
          v = f.convertToFloat();
        }
        out.floats[i] = v;
      }
    } else {
      out.isFloat = false;
      out.isBool = toBool;
      out.ints.resize(c.size());
      for (int64_t i = 0; i < c.size(); ++i)
        out.ints[i] = toBool ? (c.at(i) != 0)
                             : (c.isFloat ? static_cast<int64_t>(
                                                std::trunc(c.at(i)))
                                          : c.intAt(i));
    }
    defineConstant(0, std::move(out));
    return success();
  }
  Tensor v = input(0);
  if (!v)
    return failure();
  Type from = v.elementType();
  bool fromUnsigned = isUnsignedInput(0);
  bool toUnsigned = isUnsignedDataType(to);
  if (!element)
    return fail("cast of a computed tensor to " + target +
                " is not supported (the runtime has no tensors of it; "
                "FLOAT, DOUBLE, BOOL, INT8-64 and UINT8-64 are)");
  if (element != from) {
    v = map(v, [&](OpBuilder &nb, Location loc, ArrayRef<Value> a) -> Value {
      Value x = a[0];
      unsigned fw = from.getIntOrFloatBitWidth(),
               tw = element.getIntOrFloatBitWidth();
      if (isa<FloatType>(from)) {
        if (element.isInteger(1))
          return arith::CmpFOp::create(
              nb, loc, arith::CmpFPredicate::UNE, x,
              arith::ConstantOp::create(nb, loc, nb.getFloatAttr(from, 0)));
        if (isa<FloatType>(element))
          return fw > tw ? Value(arith::TruncFOp::create(nb, loc, element, x))
                         : Value(arith::ExtFOp::create(nb, loc, element, x));
        return toUnsigned ? Value(arith::FPToUIOp::create(nb, loc, element, x))
                          : Value(arith::FPToSIOp::create(nb, loc, element, x));
      }
      // From integers: booleans and unsigned integers extend with zeros.
      bool zeroExtend = from.isInteger(1) || fromUnsigned;
      if (isa<FloatType>(element))
        return zeroExtend
                   ? Value(arith::UIToFPOp::create(nb, loc, element, x))
                   : Value(arith::SIToFPOp::create(nb, loc, element, x));
      if (element.isInteger(1))
        return arith::CmpIOp::create(
            nb, loc, arith::CmpIPredicate::ne, x,
            arith::ConstantOp::create(nb, loc, nb.getIntegerAttr(from, 0)));
      if (fw > tw)
        return arith::TruncIOp::create(nb, loc, element, x);
      return zeroExtend ? Value(arith::ExtUIOp::create(nb, loc, element, x))
                        : Value(arith::ExtSIOp::create(nb, loc, element, x));
    }, element);
  }
  define(0, v);
  markUnsigned(0, toUnsigned);
  return success();
}

//===----------------------------------------------------------------------===//
// Reshaping
//===----------------------------------------------------------------------===//

/// Reshape of input 0 to `target` (any element order: through ONNX's).
static LogicalResult reshapeTo(Importer &im, Shape target) {
  if (im.isConstantInput(0)) {
    Constant c = *im.constantInput(0);
    c.shape = target;
    im.defineConstant(0, std::move(c));
    return success();
  }
  Tensor v = im.input(0);
  if (!v)
    return failure();
  v = im.toLogical(v);
  im.define(0, im.wrap(im.reshape(v.value, v.shape, target), target));
  return success();
}

/// The shape of input 0 (constant or computed).
static std::optional<Shape> inputShape(Importer &im, int index) {
  if (im.isConstantInput(index))
    return im.constantInput(index)->shape;
  Tensor v = im.input(index);
  if (!v)
    return std::nullopt;
  return v.shape;
}

/// Reshape of input 0 to the shape the model declares for the result, for
/// an op whose shape operand is computed at run time (the element order is
/// the same whatever unit dimensions it adds or drops).
static LogicalResult reshapeToDeclared(Importer &im, int operand) {
  auto shape = inputShape(im, 0);
  std::optional<Shape> target =
      shape ? im.declaredResultShape(operand) : std::nullopt;
  if (!target)
    return failure();
  if (numElements(*target) != numElements(*shape))
    return im.fail("cannot reshape " + formatShape(*shape) +
                   " to the declared result shape " + formatShape(*target));
  return reshapeTo(im, *target);
}

/// `a` and `b` without their unit dimensions are the same.
static bool sameButUnitDims(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  auto nonUnit = [](ArrayRef<int64_t> s) {
    Shape kept;
    for (int64_t d : s)
      if (d != 1)
        kept.push_back(d);
    return kept;
  };
  return nonUnit(a) == nonUnit(b);
}

LogicalResult Importer::opReshape() {
  if (isRuntimeInput(1))
    return reshapeToDeclared(*this, 1);
  auto shape = inputShape(*this, 0);
  const Constant *t = shape ? constantInput(1) : nullptr;
  if (!t)
    return failure();
  std::vector<int64_t> target = t->toInts();
  bool allowZero = intAttr("allowzero", 0) != 0;
  int64_t known = 1, unknown = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowZero) {
      if (i >= shape->size())
        return fail("shape " + formatShape(target) + " copies dimension " +
                    Twine(i) + " of a rank-" + Twine(shape->size()) +
                    " input");
      target[i] = (*shape)[i];
    }
    if (target[i] == -1) {
      if (unknown >= 0)
        return fail("shape " + formatShape(t->toInts()) +
                    " has more than one -1");
      unknown = i;
    } else if (target[i] < 0) {
      return fail("shape " + formatShape(t->toInts()) +
                  " has a negative dimension");
    } else if (llvm::MulOverflow(known, target[i], known)) {
      return fail("shape " + formatShape(t->toInts()) +
                  " has more than 2^63 elements");
    }
  }
  int64_t total = numElements(*shape);
  if (unknown >= 0) {
    if (known == 0 || total % known)
      return fail("cannot reshape " + formatShape(*shape) + " to " +
                  formatShape(t->toInts()));
    target[unknown] = total / known;
  }
  if (numElements(target) != total)
    return fail("cannot reshape " + formatShape(*shape) + " (" +
                Twine(total) + " elements) to " + formatShape(target));
  return reshapeTo(*this, Shape(target.begin(), target.end()));
}

LogicalResult Importer::opFlatten() {
  auto shape = inputShape(*this, 0);
  if (!shape)
    return failure();
  int64_t rank = shape->size();
  int64_t axis = intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  if (axis < 0)
    axis += rank;
  Shape target{numElements(ArrayRef<int64_t>(*shape).take_front(axis)),
               numElements(ArrayRef<int64_t>(*shape).drop_front(axis))};
  return reshapeTo(*this, target);
}

/// Input 0's shape, and the axes: an attribute before opset 13, input 1
/// from it (Squeeze, Unsqueeze).
static LogicalResult shapeAndAxes(Importer &im, std::optional<Shape> &shape,
                                  std::optional<std::vector<int64_t>> &axes) {
  shape = inputShape(im, 0);
  if (!shape)
    return failure();
  axes = im.opset() >= 13 ? im.intsAttrOrInput("axes", 1)
                          : im.intsAttr("axes");
  return failure(im.failed());
}

/// Squeeze and Unsqueeze with axes computed at run time: the declared
/// result, which must differ from the input in unit dimensions only.
static LogicalResult squeezeToDeclared(Importer &im) {
  auto shape = inputShape(im, 0);
  std::optional<Shape> target = shape ? im.declaredResultShape(1)
                                      : std::nullopt;
  if (!target)
    return failure();
  if (!sameButUnitDims(*shape, *target))
    return im.fail("the declared result shape " + formatShape(*target) +
                   " differs from the input's " + formatShape(*shape) +
                   " in more than unit dimensions");
  return reshapeTo(im, *target);
}

LogicalResult Importer::opSqueeze() {
  if (opset() >= 13 && isRuntimeInput(1))
    return squeezeToDeclared(*this);
  std::optional<Shape> shape;
  std::optional<std::vector<int64_t>> axes;
  if (mlir::failed(shapeAndAxes(*this, shape, axes)))
    return failure();
  int64_t rank = shape->size();
  SmallVector<bool> drop(rank, false);
  if (!axes) {
    for (int64_t d = 0; d < rank; ++d)
      drop[d] = (*shape)[d] == 1;
  } else {
    for (int64_t ax : *axes) {
      if (ax < -rank || ax >= rank)
        return fail("axis " + Twine(ax) + " is out of range for rank " +
                    Twine(rank));
      int64_t d = (ax + rank) % rank;
      if ((*shape)[d] != 1)
        return fail("cannot squeeze dimension " + Twine(d) + " of size " +
                    Twine((*shape)[d]));
      drop[d] = true;
    }
  }
  Shape target;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[d])
      target.push_back((*shape)[d]);
  return reshapeTo(*this, target);
}

LogicalResult Importer::opUnsqueeze() {
  if (opset() >= 13 && isRuntimeInput(1))
    return squeezeToDeclared(*this);
  std::optional<Shape> shape;
  std::optional<std::vector<int64_t>> axes;
  if (mlir::failed(shapeAndAxes(*this, shape, axes)))
    return failure();
  if (!axes)
    return fail("expected axes, found none");
  int64_t rank = shape->size() + axes->size();
  SmallVector<bool> inserted(rank, false);
  for (int64_t ax : *axes) {
    if (ax < -rank || ax >= rank)
      return fail("axis " + Twine(ax) + " is out of range for rank " +
                  Twine(rank));
    int64_t d = (ax + rank) % rank;
    if (inserted[d])
      return fail("axis " + Twine(ax) + " is repeated");
    inserted[d] = true;
  }
  Shape target;
  size_t k = 0;
  for (int64_t d = 0; d < rank; ++d)
    target.push_back(inserted[d] ? 1 : (*shape)[k++]);
  return reshapeTo(*this, target);
}

LogicalResult Importer::opTranspose() {
  auto shape = inputShape(*this, 0);
  if (!shape)
    return failure();
  int64_t rank = shape->size();
  std::vector<int64_t> perm;
  if (auto given = intsAttr("perm"))
    perm = *given;
  else
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  SmallVector<bool> seen(rank, false);
  if (static_cast<int64_t>(perm.size()) != rank ||
      llvm::any_of(perm, [&](int64_t p) {
        return p < 0 || p >= rank || std::exchange(seen[p], true);
      }))
    return fail("perm " + formatShape(perm) + " is not a permutation of " +
                Twine(rank) + " dimensions");
  Shape target;
  for (int64_t p : perm)
    target.push_back((*shape)[p]);
  if (isConstantInput(0)) {
    const Constant &c = *constantInput(0);
    Shape strides = stridesOf(c.shape), outStrides = stridesOf(target);
    defineConstant(0, gatherConstant(c, target, [&](int64_t e) {
                     int64_t src = 0;
                     for (int64_t j = 0; j < rank; ++j)
                       src += ((e / outStrides[j]) % target[j]) *
                              strides[perm[j]];
                     return src;
                   }));
    return success();
  }
  Tensor v = toLogical(input(0));
  if (!v)
    return failure();
  define(0, wrap(transpose(v.value, v.shape, perm), target));
  return success();
}

LogicalResult Importer::opExpand() {
  auto shape = inputShape(*this, 0);
  if (!shape)
    return failure();
  std::vector<int64_t> want;
  if (isRuntimeInput(1)) {
    std::optional<Shape> declared = declaredResultShape(1);
    if (!declared)
      return failure();
    want.assign(declared->begin(), declared->end());
  } else if (const Constant *t = constantInput(1)) {
    want = t->toInts();
  } else {
    return failure();
  }
  size_t rank = std::max(want.size(), shape->size());
  Shape in(rank - shape->size(), 1), target(rank, 1);
  in.append(shape->begin(), shape->end());
  for (size_t j = 0; j < want.size(); ++j)
    target[rank - want.size() + j] = want[j];
  for (size_t j = 0; j < rank; ++j) {
    if (in[j] != 1 && target[j] != 1 && in[j] != target[j])
      return fail("cannot expand " + formatShape(*shape) + " to " +
                  formatShape(want));
    target[j] = std::max(in[j], target[j]);
  }
  if (mlir::failed(checkSize(target, "the expanded shape")))
    return failure();
  if (isConstantInput(0)) {
    const Constant &c = *constantInput(0);
    Shape strides = stridesOf(in), outStrides = stridesOf(target);
    defineConstant(0, gatherConstant(c, target, [&](int64_t e) {
                     int64_t src = 0;
                     for (size_t j = 0; j < rank; ++j)
                       if (in[j] != 1)
                         src += ((e / outStrides[j]) % target[j]) * strides[j];
                     return src;
                   }));
    return success();
  }
  Tensor v = toLogical(input(0));
  if (!v)
    return failure();
  SmallVector<int64_t> kept;
  Shape stored;
  for (size_t j = 0; j < rank; ++j)
    if (in[j] == target[j]) {
      kept.push_back(j);
      stored.push_back(in[j]);
    }
  Value src = reshape(v.value, v.shape, stored);
  Value out = generic({src}, {keep(rank, kept), identity(rank)}, target,
                      [](OpBuilder &, Location, ArrayRef<Value> a) {
                        return a[0];
                      },
                      {}, {}, v.elementType());
  define(0, wrap(out, target));
  return success();
}

//===----------------------------------------------------------------------===//
// Concatenation, slicing, splitting, padding, gathering
//===----------------------------------------------------------------------===//

LogicalResult Importer::opConcat() {
  int64_t axis = intAttr("axis", 0);
  bool allConstant = true;
  for (int i = 0; i < numInputs(); ++i)
    allConstant &= isConstantInput(i);
  if (numInputs() == 0)
    return fail("expected at least one input");
  if (allConstant) {
    SmallVector<const Constant *> parts;
    for (int i = 0; i < numInputs(); ++i)
      parts.push_back(constantInput(i));
    int64_t rank = parts[0]->shape.size();
    if (axis < -rank || axis >= rank)
      return fail("axis " + Twine(axis) + " is out of range for rank " +
                  Twine(rank));
    axis = (axis + rank) % rank;
    Shape shape = parts[0]->shape;
    shape[axis] = 0;
    for (const Constant *p : parts) {
      if (static_cast<int64_t>(p->shape.size()) != rank)
        return fail("inputs of different ranks");
      shape[axis] += p->shape[axis];
    }
    Constant out;
    out.shape = shape;
    out.isFloat = llvm::any_of(parts, [](const Constant *p) {
      return p->isFloat;
    });
    int64_t outer = numElements(ArrayRef<int64_t>(shape).take_front(axis));
    for (int64_t o = 0; o < outer; ++o)
      for (const Constant *p : parts) {
        int64_t chunk =
            numElements(ArrayRef<int64_t>(p->shape).drop_front(axis));
        for (int64_t e = 0; e < chunk; ++e) {
          if (out.isFloat)
            out.floats.push_back(static_cast<float>(p->at(o * chunk + e)));
          else
            out.ints.push_back(p->intAt(o * chunk + e));
        }
      }
    defineConstant(0, std::move(out));
    return success();
  }
  SmallVector<Tensor> parts;
  for (int i = 0; i < numInputs(); ++i) {
    Tensor v = input(i);
    if (!v)
      return failure();
    parts.push_back(v);
  }
  int64_t rank = parts[0].shape.size();
  if (axis < -rank || axis >= rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  axis = (axis + rank) % rank;
  bool nhwc = rank == 4 && parts[0].elementType().isF32();
  Shape shape = parts[0].shape;
  shape[axis] = 0;
  SmallVector<Value> operands;
  for (Tensor &v : parts) {
    if (static_cast<int64_t>(v.shape.size()) != rank)
      return fail("inputs of different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && v.shape[d] != parts[0].shape[d])
        return fail("input shapes " + formatShape(parts[0].shape) + " and " +
                    formatShape(v.shape) + " differ outside axis " +
                    Twine(axis));
    v = nhwc ? toNhwc(v) : toLogical(v);
    if (!v)
      return failure();
    shape[axis] += v.shape[axis];
    operands.push_back(v.value);
  }
  Tensor out{Value(), shape, nhwc};
  out.value = tensor::ConcatOp::create(
      b, currentLoc, nhwc ? out.physicalAxis(axis) : axis, operands);
  define(0, out);
  return success();
}

/// Elements [start, start + size) with `step` along `axis` (logical) of
/// input 0, kept in its layout.
static Tensor sliceAlong(Importer &im, const Tensor &v,
                         ArrayRef<int64_t> starts, ArrayRef<int64_t> sizes,
                         ArrayRef<int64_t> steps) {
  OpBuilder &b = im.builder();
  int64_t rank = v.shape.size();
  SmallVector<OpFoldResult> offsets(rank), lengths(rank), strides(rank);
  Shape logical(sizes);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t p = v.physicalAxis(d);
    offsets[p] = b.getIndexAttr(starts[d]);
    lengths[p] = b.getIndexAttr(sizes[d]);
    strides[p] = b.getIndexAttr(steps[d]);
  }
  Tensor out{Value(), logical, v.nhwc};
  out.value = tensor::ExtractSliceOp::create(
      b, im.loc(), im.tensorType(out.physical(), v.elementType()), v.value,
      offsets, lengths, strides);
  return out;
}

/// The values of 1-D integer input `index` as i64 scalars at the
/// function's level: constants when the input is one, else read from the
/// tensor at run time.
static std::optional<SmallVector<Value>> scalarsOf(Importer &im, int index) {
  OpBuilder &b = im.builder();
  Location loc = im.loc();
  Type i64 = b.getI64Type();
  SmallVector<Value> values;
  if (im.isConstantInput(index)) {
    for (int64_t v : im.constantInput(index)->toInts())
      values.push_back(
          arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)));
    return values;
  }
  Tensor t = im.input(index);
  if (!t)
    return std::nullopt;
  t = im.toLogical(t);
  Type element = t.elementType();
  if (t.shape.size() > 1 || !isa<IntegerType>(element) ||
      element.isInteger(1)) {
    (void)im.fail("input '" + im.inputName(index) +
                  "': expected a 1-D integer tensor, found shape " +
                  formatShape(t.shape));
    return std::nullopt;
  }
  bool isUnsigned = im.isUnsignedInput(index);
  int64_t count = t.shape.empty() ? 1 : t.shape[0];
  for (int64_t i = 0; i < count; ++i) {
    SmallVector<Value> at;
    if (!t.shape.empty())
      at.push_back(arith::ConstantIndexOp::create(b, loc, i));
    Value v = tensor::ExtractOp::create(b, loc, t.value, at);
    if (element != i64)
      v = isUnsigned ? Value(arith::ExtUIOp::create(b, loc, i64, v))
                     : Value(arith::ExtSIOp::create(b, loc, i64, v));
    values.push_back(v);
  }
  return values;
}

namespace {
/// Scalar i64 arithmetic for positions computed at run time.
struct IndexMath {
  OpBuilder &b;
  Location loc;

  Value c(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value lt(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
  }
  Value eq(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  }
  Value select(Value cond, Value x, Value y) {
    return arith::SelectOp::create(b, loc, cond, x, y);
  }
  Value clamp(Value x, Value lo, Value hi) {
    return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, x, lo),
                                  hi);
  }
  /// x, or x + size when negative (ONNX's counting from the end).
  Value wrap(Value x, int64_t size) {
    return select(lt(x, c(0)), add(x, c(size)), x);
  }
  /// The position of output element `i` (of linalg.index type) along a
  /// dimension, as i64.
  Value position(unsigned d) {
    return arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                      linalg::IndexOp::create(b, loc, d));
  }
  Value toIndex(Value x) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  }
};
} // namespace

/// Slice with starts, ends, axes or steps computed at run time: the
/// result has the shape the model declares, and element i of it reads the
/// input at start + i * step along each dimension, where start and step
/// are worked out from the run-time values with ONNX's clamping. Reads stay
/// inside the input whatever the values are.
static LogicalResult sliceAtRuntime(Importer &im, const Shape &shape) {
  int operand = 1;
  while (!im.isRuntimeInput(operand))
    ++operand;
  std::optional<Shape> out = im.declaredResultShape(operand);
  if (!out)
    return failure();
  int64_t rank = shape.size();
  if (static_cast<int64_t>(out->size()) != rank)
    return im.fail("the declared result shape " + formatShape(*out) +
                   " has another rank than the input " + formatShape(shape));
  for (int64_t d = 0; d < rank; ++d)
    if ((*out)[d] > shape[d])
      return im.fail("the declared result shape " + formatShape(*out) +
                     " does not fit in the input " + formatShape(shape));
  auto starts = scalarsOf(im, 1), ends = scalarsOf(im, 2);
  if (!starts || !ends)
    return failure();
  IndexMath m{im.builder(), im.loc()};
  size_t entries = starts->size();
  // An optional input's values, else `byDefault` of each entry.
  auto givenOr = [&](int index, function_ref<Value(size_t)> byDefault)
      -> std::optional<SmallVector<Value>> {
    if (im.hasInput(index))
      return scalarsOf(im, index);
    SmallVector<Value> values;
    for (size_t i = 0; i < entries; ++i)
      values.push_back(byDefault(i));
    return values;
  };
  auto axes = givenOr(3, [&](size_t i) { return m.c(i); });
  auto steps = givenOr(4, [&](size_t) { return m.c(1); });
  if (!axes || !steps)
    return failure();
  if (ends->size() != entries || axes->size() != entries ||
      steps->size() != entries)
    return im.fail("starts, ends, axes and steps have different lengths");
  Tensor v = im.input(0);
  if (!v)
    return failure();
  v = im.toLogical(v);
  // Each entry's axis counted from the front, and its direction.
  SmallVector<Value> axis, forward;
  for (size_t i = 0; i < entries; ++i) {
    axis.push_back(m.wrap((*axes)[i], rank));
    forward.push_back(m.lt(m.c(0), (*steps)[i]));
  }
  // Each dimension's first position and step: 0 and 1 unless an entry
  // names it.
  SmallVector<Value> first, stride;
  for (int64_t d = 0; d < rank; ++d) {
    Value start = m.c(0), step = m.c(1);
    int64_t dim = shape[d];
    for (size_t i = 0; i < entries; ++i) {
      Value named = m.eq(axis[i], m.c(d));
      // ONNX clamps a start into [0, dim] going forward, [0, dim - 1]
      // backward.
      Value s = m.clamp(m.wrap((*starts)[i], dim), m.c(0),
                        m.select(forward[i], m.c(dim), m.c(dim - 1)));
      start = m.select(named, s, start);
      step = m.select(named, (*steps)[i], step);
    }
    first.push_back(start);
    stride.push_back(step);
  }
  Value source = v.value;
  Value result = im.generic(
      {}, {im.identity(rank)}, *out,
      [&](OpBuilder &b, Location loc, ArrayRef<Value>) -> Value {
        IndexMath e{b, loc};
        SmallVector<Value> at;
        for (int64_t d = 0; d < rank; ++d) {
          Value i = e.add(first[d], e.mul(e.position(d), stride[d]));
          at.push_back(e.toIndex(e.clamp(i, e.c(0), e.c(shape[d] - 1))));
        }
        return tensor::ExtractOp::create(b, loc, source, at);
      },
      {}, {}, v.elementType());
  im.define(0, im.wrap(result, *out));
  return success();
}

LogicalResult Importer::opSlice() {
  auto shape = inputShape(*this, 0);
  if (!shape)
    return failure();
  int64_t rank = shape->size();
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset() < 10) {
    starts = intsAttr("starts").value_or(std::vector<int64_t>{});
    ends = intsAttr("ends").value_or(std::vector<int64_t>{});
    axes = intsAttr("axes").value_or(std::vector<int64_t>{});
  } else {
    for (int i = 1; i <= 4; ++i)
      if (isRuntimeInput(i))
        return sliceAtRuntime(*this, *shape);
    const Constant *s = constantInput(1);
    const Constant *e = s ? constantInput(2) : nullptr;
    if (!e)
      return failure();
    starts = s->toInts();
    ends = e->toInts();
    if (hasInput(3)) {
      const Constant *a = constantInput(3);
      if (!a)
        return failure();
      axes = a->toInts();
    }
    if (hasInput(4)) {
      const Constant *st = constantInput(4);
      if (!st)
        return failure();
      steps = st->toInts();
    }
  }
  if (failed())
    return failure();
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return fail("starts, ends, axes and steps have different lengths");
  Shape first(rank, 0), sizes(*shape), stride(rank, 1);
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t ax = axes[i];
    if (ax < -rank || ax >= rank)
      return fail("axis " + Twine(ax) + " is out of range for rank " +
                  Twine(rank));
    ax = (ax + rank) % rank;
    if (std::exchange(seen[ax], true))
      return fail("axis " + Twine(ax) + " is repeated");
    int64_t dim = (*shape)[ax], step = steps[i];
    if (step == 0)
      return fail("a step of 0");
    if (step < 0 && !isConstantInput(0))
      return fail("negative steps (reversal) of a computed tensor are not "
                  "supported");
    // ONNX's clamping: [0, dim] going forward, [-1, dim - 1] backward.
    auto clampIndex = [&](int64_t x, bool isEnd) {
      if (x < 0)
        x += dim;
      return step > 0 ? std::clamp<int64_t>(x, 0, dim)
                      : std::clamp<int64_t>(x, isEnd ? -1 : 0, dim - 1);
    };
    int64_t s = clampIndex(starts[i], false), e = clampIndex(ends[i], true);
    int64_t n = step > 0 ? (e > s ? (e - s + step - 1) / step : 0)
                         : (s > e ? (s - e - step - 1) / -step : 0);
    if (n == 0 && !isConstantInput(0))
      return fail("the slice along axis " + Twine(ax) +
                  " is empty (empty tensors are not supported)");
    first[ax] = s;
    sizes[ax] = n;
    stride[ax] = step;
  }
  if (isConstantInput(0)) {
    const Constant &c = *constantInput(0);
    Shape strides = stridesOf(c.shape), outStrides = stridesOf(sizes);
    defineConstant(0, gatherConstant(c, sizes, [&](int64_t e) {
                     int64_t src = 0;
                     for (int64_t j = 0; j < rank; ++j)
                       src += (first[j] + ((e / outStrides[j]) % sizes[j]) *
                                              stride[j]) *
                              strides[j];
                     return src;
                   }));
    return success();
  }
  Tensor v = input(0);
  if (!v)
    return failure();
  define(0, sliceAlong(*this, v, first, sizes, stride));
  return success();
}

LogicalResult Importer::opSplit() {
  Tensor v = input(0);
  if (!v)
    return failure();
  int64_t rank = v.shape.size();
  int64_t axis = intAttr("axis", 0);
  if (axis < -rank || axis >= rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  axis = (axis + rank) % rank;
  int64_t dim = v.shape[axis];
  int outputs = currentNode().output_size();
  std::optional<std::vector<int64_t>> split;
  if (opset() >= 13 && isRuntimeInput(1)) {
    // Sizes computed at run time: the declared shapes of the outputs.
    split.emplace();
    for (int k = 0; k < outputs; ++k) {
      std::optional<Shape> declared = declaredResultShape(1, k);
      if (!declared)
        return failure();
      if (static_cast<int64_t>(declared->size()) != rank)
        return fail("output " + Twine(k) + " is declared " +
                    formatShape(*declared) + ", of another rank than the "
                    "input's " + formatShape(v.shape));
      split->push_back((*declared)[axis]);
    }
  } else {
    split = opset() >= 13 ? (hasInput(1) ? intsAttrOrInput("split", 1)
                                         : std::nullopt)
                          : intsAttr("split");
  }
  if (failed())
    return failure();
  std::vector<int64_t> sizes;
  if (split) {
    sizes = *split;
  } else {
    int64_t parts = intAttr("num_outputs", outputs);
    if (parts < 1)
      return fail("num_outputs must be positive");
    int64_t each = (dim + parts - 1) / parts;
    for (int64_t k = 0, left = dim; k < parts; ++k, left -= each)
      sizes.push_back(std::min(each, left));
  }
  int64_t total = 0;
  for (int64_t s : sizes)
    total += s;
  if (static_cast<int>(sizes.size()) != outputs || total != dim ||
      llvm::any_of(sizes, [](int64_t s) { return s <= 0; }))
    return fail("split " + formatShape(sizes) + " into " + Twine(outputs) +
                " outputs does not cover dimension " + Twine(axis) +
                " of size " + Twine(dim));
  int64_t offset = 0;
  for (int k = 0; k < outputs; ++k) {
    Shape first(rank, 0), len(v.shape), step(rank, 1);
    first[axis] = offset;
    len[axis] = sizes[k];
    offset += sizes[k];
    define(k, sliceAlong(*this, v, first, len, step));
  }
  return success();
}

namespace {
enum class PadMode { Constant, Edge, Reflect };
} // namespace

/// Padding as a gather: each result element reads the input at its
/// position less the leading pad `low[d]` (i64 scalars, constant or
/// computed at run time), brought inside the input as `mode` says (edge:
/// the border element repeated; reflect: mirrored about it); in constant
/// mode a position outside the input is `fill`. Reads stay inside the input
/// whatever the pads are.
static void padByIndex(Importer &im, const Tensor &logical,
                       ArrayRef<Value> low, const Shape &out, PadMode mode,
                       Value fill) {
  int64_t rank = logical.shape.size();
  Value src = logical.value;
  Value result = im.generic(
      {}, {im.identity(rank)}, out,
      [&](OpBuilder &b, Location loc, ArrayRef<Value>) -> Value {
        IndexMath e{b, loc};
        SmallVector<Value> at;
        Value inside;
        for (int64_t d = 0; d < rank; ++d) {
          if (getConstantIntValue(low[d]) == 0 &&
              out[d] == logical.shape[d]) {
            at.push_back(linalg::IndexOp::create(b, loc, d));
            continue;
          }
          // The position relative to the input, then brought inside it.
          Value i = e.sub(e.position(d), low[d]);
          Value last = e.c(logical.shape[d] - 1);
          if (mode == PadMode::Reflect) {
            // |i|, then last - |last - |i||: mirrored at both borders.
            auto abs = [&](Value x) {
              return arith::MaxSIOp::create(b, loc, x, e.sub(e.c(0), x))
                  .getResult();
            };
            i = e.sub(last, abs(e.sub(last, abs(i))));
          } else if (mode == PadMode::Constant) {
            Value in = arith::AndIOp::create(
                b, loc, e.lt(e.c(-1), i), e.lt(i, e.c(logical.shape[d])));
            inside = inside ? arith::AndIOp::create(b, loc, inside, in) : in;
          }
          at.push_back(e.toIndex(e.clamp(i, e.c(0), last)));
        }
        Value x = tensor::ExtractOp::create(b, loc, src, at);
        return inside ? e.select(inside, x, fill) : x;
      },
      {}, {}, logical.elementType());
  im.define(0, im.wrap(result, out));
}

/// Pad with its pads or constant value computed at run time: the result
/// has the shape the model declares, and the leading pads are read when
/// the program runs.
static LogicalResult padAtRuntime(Importer &im, Tensor v, PadMode mode) {
  if (im.hasInput(3) && !im.isConstantInput(3))
    return im.fail("input 'axes' must be a constant (an initializer or a "
                   "Constant node), found a computed tensor");
  std::optional<Shape> out =
      im.declaredResultShape(im.isRuntimeInput(1) ? 1 : 2);
  if (!out)
    return failure();
  v = im.toLogical(v);
  int64_t rank = v.shape.size();
  if (static_cast<int64_t>(out->size()) != rank)
    return im.fail("the declared result shape " + formatShape(*out) +
                   " has another rank than the input " + formatShape(v.shape));
  for (int64_t d = 0; d < rank; ++d)
    if ((*out)[d] < v.shape[d])
      return im.fail("the declared result shape " + formatShape(*out) +
                     " is smaller than the input " + formatShape(v.shape) +
                     " (negative padding is not supported)");
  auto pads = scalarsOf(im, 1);
  if (!pads)
    return failure();
  std::vector<int64_t> axes;
  if (im.hasInput(3))
    axes = im.constantInput(3)->toInts();
  else
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  if (pads->size() != 2 * axes.size())
    return im.fail("pads has " + Twine(pads->size()) + " values: expected " +
                   Twine(2 * axes.size()));
  IndexMath m{im.builder(), im.loc()};
  SmallVector<Value> low(rank, m.c(0));
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < -rank || axes[i] >= rank)
      return im.fail("axis " + Twine(axes[i]) + " is out of range for rank " +
                     Twine(rank));
    low[(axes[i] + rank) % rank] = (*pads)[i];
  }
  Value fill;
  if (mode == PadMode::Constant) {
    if (im.hasInput(2)) {
      Tensor c = im.input(2);
      if (!c)
        return failure();
      if (numElements(c.shape) != 1 || c.elementType() != v.elementType())
        return im.fail("constant_value: expected one value of the input's "
                       "type, found shape " +
                       formatShape(c.shape));
      SmallVector<Value> zeros(
          c.shape.size(), arith::ConstantIndexOp::create(m.b, m.loc, 0));
      fill = tensor::ExtractOp::create(m.b, m.loc, c.value, zeros);
    } else {
      fill = arith::ConstantOp::create(m.b, m.loc,
                                       m.b.getZeroAttr(v.elementType()));
    }
  }
  padByIndex(im, v, low, *out, mode, fill);
  return success();
}

LogicalResult Importer::opPad() {
  std::string name = stringAttr("mode", "constant");
  if (name != "constant" && name != "edge" && name != "reflect")
    return fail("mode=" + name + ": expected constant, edge or reflect");
  PadMode mode = name == "edge"      ? PadMode::Edge
                 : name == "reflect" ? PadMode::Reflect
                                     : PadMode::Constant;
  if (opset() >= 11 && (isRuntimeInput(1) || isRuntimeInput(2))) {
    Tensor v = input(0);
    if (!v)
      return failure();
    return padAtRuntime(*this, v, mode);
  }
  std::optional<std::vector<int64_t>> pads =
      opset() >= 11 ? intsAttrOrInput("pads", 1) : intsAttr("pads");
  if (failed())
    return failure();
  double value = opset() >= 11 ? 0.0 : floatAttr("value", 0.0f);
  if (opset() >= 11 && hasInput(2)) {
    const Constant *c = constantInput(2);
    if (!c)
      return failure();
    if (c->size() != 1)
      return fail("constant_value must be a scalar");
    value = c->at(0);
  }
  Tensor v = input(0);
  if (!v)
    return failure();
  int64_t rank = v.shape.size();
  std::vector<int64_t> all(2 * rank, 0);
  if (pads) {
    std::vector<int64_t> axes;
    if (hasInput(3)) {
      const Constant *a = constantInput(3);
      if (!a)
        return failure();
      axes = a->toInts();
    } else {
      for (int64_t d = 0; d < rank; ++d)
        axes.push_back(d);
    }
    if (pads->size() != 2 * axes.size())
      return fail("pads " + formatShape(*pads) + ": expected " +
                  Twine(2 * axes.size()) + " values");
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t d = (axes[i] + rank) % rank;
      all[d] = (*pads)[i];
      all[rank + d] = (*pads)[axes.size() + i];
    }
  }
  if (llvm::any_of(all, [](int64_t p) { return p < 0; }))
    return fail("pads " + formatShape(all) +
                ": negative padding (cropping) is not supported");
  if (llvm::all_of(all, [](int64_t p) { return p == 0; })) {
    define(0, v);
    return success();
  }
  Shape out(v.shape);
  for (int64_t d = 0; d < rank; ++d)
    out[d] += all[d] + all[rank + d];
  bool integer = !isa<FloatType>(v.elementType());
  if (mode != PadMode::Constant || integer) {
    // Edge and reflect, and integers (tensor.pad below takes a float),
    // read the input at computed positions.
    v = toLogical(v);
    IndexMath m{b, currentLoc};
    SmallVector<Value> low;
    for (int64_t d = 0; d < rank; ++d) {
      if (mode == PadMode::Reflect &&
          (all[d] >= v.shape[d] || all[rank + d] >= v.shape[d]))
        return fail("reflect padding of " + Twine(all[d]) + " and " +
                    Twine(all[rank + d]) + " along dimension " + Twine(d) +
                    " of size " + Twine(v.shape[d]) +
                    ": expected less than the size");
      low.push_back(m.c(all[d]));
    }
    Value fill;
    if (mode == PadMode::Constant)
      fill = arith::ConstantOp::create(
          b, currentLoc,
          b.getIntegerAttr(v.elementType(), static_cast<int64_t>(value)));
    padByIndex(*this, v, low, out, mode, fill);
    return success();
  }
  SmallVector<OpFoldResult> low(rank), high(rank);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t p = v.physicalAxis(d);
    low[p] = b.getIndexAttr(all[d]);
    high[p] = b.getIndexAttr(all[rank + d]);
  }
  Tensor result{Value(), out, v.nhwc};
  result.value = tensor::PadOp::create(b, currentLoc,
                                       tensorType(result.physical()), v.value,
                                       low, high, scalar(value));
  define(0, result);
  return success();
}

LogicalResult Importer::opScatterND() {
  // Constants only (masks built at export time, as Swin's).
  if (!isConstantInput(0) || !isConstantInput(1) || !isConstantInput(2))
    return fail("only constant data, indices and updates are supported");
  if (stringAttr("reduction", "none") != "none")
    return fail("reduction=" + stringAttr("reduction", "none") +
                " is not supported");
  Constant out = *constantInput(0);
  const Constant &indices = *constantInput(1), &updates = *constantInput(2);
  int64_t rank = out.shape.size();
  if (indices.shape.empty() || indices.shape.back() > rank)
    return fail("indices of shape " + formatShape(indices.shape) +
                " for data of rank " + Twine(rank));
  int64_t k = indices.shape.back();
  int64_t count = indices.size() / std::max<int64_t>(k, 1);
  int64_t slice = numElements(ArrayRef<int64_t>(out.shape).drop_front(k));
  Shape strides = stridesOf(out.shape);
  if (updates.size() != count * slice)
    return fail("updates of shape " + formatShape(updates.shape) +
                " do not match the indices");
  for (int64_t u = 0; u < count; ++u) {
    int64_t offset = 0;
    for (int64_t d = 0; d < k; ++d) {
      int64_t i = indices.intAt(u * k + d);
      if (i < 0)
        i += out.shape[d];
      if (i < 0 || i >= out.shape[d])
        return fail("index " + Twine(indices.intAt(u * k + d)) +
                    " is out of range for dimension " + Twine(d));
      offset += i * strides[d];
    }
    for (int64_t e = 0; e < slice; ++e) {
      if (out.isFloat)
        out.floats[offset + e] = static_cast<float>(updates.at(u * slice + e));
      else
        out.ints[offset + e] = updates.intAt(u * slice + e);
    }
  }
  defineConstant(0, std::move(out));
  return success();
}

/// Gather with indices computed at run time (token ids into an embedding):
/// each result element reads the data at its index, which a negative value
/// counts from the end of. An index outside the dimension is clamped into
/// it, so that no input can make the program read outside its data.
static LogicalResult gatherAtRuntime(Importer &im, int64_t axis,
                                     const Shape &dataShape) {
  Tensor indices = im.input(1);
  if (!indices)
    return failure();
  Type indexElement = indices.elementType();
  if (!isa<IntegerType>(indexElement) || indexElement.isInteger(1))
    return im.fail("indices must be INT32 or INT64");
  indices = im.toLogical(indices);
  bool unsignedIndices = im.isUnsignedInput(1);
  Value data;
  Type element;
  if (im.isConstantInput(0)) {
    // A table of weights (an embedding) is a parameter, as a layer's are.
    const Constant &c = *im.constantInput(0);
    element = im.constantElement(c);
    data = c.isFloat ? im.parameter(im.inputName(0), c.shape, c.floats)
                     : im.denseConstant(c, element);
  } else {
    Tensor v = im.toLogical(im.input(0));
    if (!v)
      return failure();
    data = v.value;
    element = v.elementType();
  }
  int64_t rank = dataShape.size(), q = indices.shape.size();
  int64_t dim = dataShape[axis];
  Shape out(dataShape.begin(), dataShape.begin() + axis);
  out.append(indices.shape.begin(), indices.shape.end());
  out.append(dataShape.begin() + axis + 1, dataShape.end());
  int64_t outRank = out.size();
  SmallVector<int64_t> indexDims;
  for (int64_t d = axis; d < axis + q; ++d)
    indexDims.push_back(d);
  Value result = im.generic(
      {indices.value}, {im.keep(outRank, indexDims), im.identity(outRank)},
      out,
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        Type i64 = b.getI64Type();
        Value k = a[0];
        if (k.getType() != i64)
          k = unsignedIndices ? Value(arith::ExtUIOp::create(b, loc, i64, k))
                              : Value(arith::ExtSIOp::create(b, loc, i64, k));
        auto c64 = [&](int64_t v) -> Value {
          return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
        };
        Value negative =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, c64(0));
        k = arith::SelectOp::create(
            b, loc, negative, arith::AddIOp::create(b, loc, k, c64(dim)), k);
        k = arith::MaxSIOp::create(b, loc, k, c64(0));
        k = arith::MinSIOp::create(b, loc, k, c64(dim - 1));
        SmallVector<Value> at;
        for (int64_t d = 0; d < axis; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d));
        at.push_back(arith::IndexCastOp::create(b, loc, b.getIndexType(), k));
        for (int64_t d = axis + 1; d < rank; ++d)
          at.push_back(linalg::IndexOp::create(b, loc, d - 1 + q));
        return tensor::ExtractOp::create(b, loc, data, at);
      },
      {}, {}, element);
  im.define(0, im.wrap(result, out));
  return success();
}

LogicalResult Importer::opGather() {
  int64_t axis = intAttr("axis", 0);
  auto dataShape = inputShape(*this, 0);
  if (!dataShape)
    return failure();
  int64_t rank = dataShape->size();
  if (axis < -rank || axis >= rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  axis = (axis + rank) % rank;
  int64_t dim = (*dataShape)[axis];
  if (isRuntimeInput(1))
    return gatherAtRuntime(*this, axis, *dataShape);
  const Constant &idx = *constantInput(1);
  std::vector<int64_t> indices = idx.toInts();
  for (int64_t &i : indices) {
    if (i < -dim || i >= dim)
      return fail("index " + Twine(i) + " is out of range for dimension " +
                  Twine(axis) + " of size " + Twine(dim));
    if (i < 0)
      i += dim;
  }
  Shape out(dataShape->begin(), dataShape->begin() + axis);
  out.append(idx.shape.begin(), idx.shape.end());
  out.append(dataShape->begin() + axis + 1, dataShape->end());
  int64_t inner = numElements(ArrayRef<int64_t>(*dataShape).drop_front(axis + 1));
  int64_t count = indices.size();
  if (isConstantInput(0)) {
    const Constant &c = *constantInput(0);
    defineConstant(0, gatherConstant(c, out, [&](int64_t e) {
                     int64_t o = e / (count * inner);
                     int64_t k = (e / inner) % count;
                     int64_t i = e % inner;
                     return (o * dim + indices[k]) * inner + i;
                   }));
    return success();
  }
  // Constant indices into a computed tensor: one slice per index, joined.
  Tensor v = toLogical(input(0));
  if (!v)
    return failure();
  SmallVector<Value> parts;
  for (int64_t i : indices) {
    Shape first(rank, 0), len(v.shape), step(rank, 1);
    first[axis] = i;
    len[axis] = 1;
    parts.push_back(sliceAlong(*this, v, first, len, step).value);
  }
  Value joined = parts.size() == 1
                     ? parts[0]
                     : Value(tensor::ConcatOp::create(b, currentLoc, axis,
                                                      parts));
  Shape joinedShape(v.shape);
  joinedShape[axis] = count;
  define(0, wrap(reshape(joined, joinedShape, out), out));
  return success();
}
