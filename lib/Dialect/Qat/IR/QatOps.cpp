//===- QatOps.cpp - Operations of the qat dialect -------------------------===//
//
// Part of qat-mlir. Verifiers check the structural rules stated in
// QatOps.td; folders evaluate ops on constants with the reference library
// (include/qat/Support/QuantMath.h), so there is no second implementation of
// the arithmetic here.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/IR/QatOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qat;

#include "qat/Dialect/Qat/IR/QatEnums.cpp.inc"

QuantSpec mlir::qat::getQuantSpec(FakeQuantOp op) {
  QuantSpec spec;
  spec.numBits = op.getNumBits();
  spec.isSigned = op.getIsSigned();
  spec.narrowRange = op.getNarrowRange();
  spec.quantMin = op.getQuantMin();
  spec.quantMax = op.getQuantMax();
  spec.axis = op.getAxis();
  spec.rounding = op.getRounding();
  return spec;
}

::quantmath::RoundingMode mlir::qat::toReference(RoundingMode mode) {
  return static_cast<::quantmath::RoundingMode>(static_cast<uint32_t>(mode));
}

//===----------------------------------------------------------------------===//
// Shared verification
//===----------------------------------------------------------------------===//

namespace {

/// The attributes every Qat_QuantOp has, read through one template.
template <typename OpTy>::quantmath::QuantRange computeQuantRange(OpTy op) {
  std::optional<::quantmath::QuantRange> range = ::quantmath::getQuantRange(
      op.getNumBits(), op.getIsSigned(), op.getNarrowRange());
  assert(range &&
         "num_bits is verified to lie in [2, 16] ([2, 32] for quantize)");
  if (std::optional<uint64_t> lo = op.getQuantMin())
    range->qmin = std::max(range->qmin, static_cast<int64_t>(*lo));
  if (std::optional<uint64_t> hi = op.getQuantMax())
    range->qmax = std::min(range->qmax, static_cast<int64_t>(*hi));
  return *range;
}

std::string describeRange(::quantmath::QuantRange r) {
  return "[" + std::to_string(r.qmin) + ", " + std::to_string(r.qmax) + "]";
}

/// quant_min / quant_max lie inside the bit-width range and leave at least
/// two levels.
template <typename OpTy> LogicalResult verifyQuantRange(OpTy op) {
  ::quantmath::QuantRange base = *::quantmath::getQuantRange(
      op.getNumBits(), op.getIsSigned(), op.getNarrowRange());
  for (auto [name, bound] : {std::make_pair("quant_min", op.getQuantMin()),
                             std::make_pair("quant_max", op.getQuantMax())}) {
    if (bound && !base.contains(static_cast<int64_t>(*bound)))
      return op.emitOpError("expected ")
             << name << " within " << describeRange(base) << " of the "
             << op.getNumBits() << "-bit "
             << (op.getIsSigned() ? "signed" : "unsigned") << " range, got "
             << static_cast<int64_t>(*bound);
  }
  ::quantmath::QuantRange range = computeQuantRange(op);
  if (range.qmin >= range.qmax)
    return op.emitOpError("expected quant_min < quant_max, got range ")
           << describeRange(range);
  return success();
}

bool sizesCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The per-tensor / per-channel rule for a parameter tensor `paramType`
/// (named `name`) of an op quantizing `inputType`.
LogicalResult verifyParamShape(Operation *op, StringRef name,
                               RankedTensorType inputType,
                               RankedTensorType paramType,
                               std::optional<uint64_t> axis) {
  if (!axis) {
    if (paramType.getRank() != 0)
      return op->emitOpError("expected 0-D ")
             << name << " for per-tensor quantization (or an axis attribute),"
             << " got " << paramType;
    return success();
  }
  if (*axis >= static_cast<uint64_t>(inputType.getRank()))
    return op->emitOpError("expected axis < input rank ")
           << inputType.getRank() << ", got " << *axis;
  if (paramType.getRank() != 1)
    return op->emitOpError("expected 1-D ")
           << name << " for per-channel quantization along axis " << *axis
           << ", got " << paramType;
  int64_t channels = inputType.getDimSize(*axis);
  if (!sizesCompatible(paramType.getDimSize(0), channels))
    return op->emitOpError("expected ")
           << name << " of size " << channels << " (input dimension " << *axis
           << "), got " << paramType.getDimSize(0);
  return success();
}

/// Scale and zero point follow the per-tensor / per-channel rule.
LogicalResult verifyScaleAndZeroPoint(Operation *op, Value input, Value scale,
                                      Value zeroPoint,
                                      std::optional<uint64_t> axis) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto scaleType = cast<RankedTensorType>(scale.getType());
  auto zeroPointType = cast<RankedTensorType>(zeroPoint.getType());
  if (failed(verifyParamShape(op, "scale", inputType, scaleType, axis)) ||
      failed(
          verifyParamShape(op, "zero_point", inputType, zeroPointType, axis)))
    return failure();
  return success();
}

/// The checks shared by the ops with an input, a scale and a zero point.
template <typename OpTy> LogicalResult verifyQuantizeLike(OpTy op) {
  if (failed(verifyQuantRange(op)))
    return failure();
  return verifyScaleAndZeroPoint(op, op.getInput(), op.getScale(),
                                 op.getZeroPoint(), op.getAxis());
}

/// An integer tensor of `type` can hold every value of `range`.
LogicalResult verifyStorage(Operation *op, StringRef name,
                            RankedTensorType type, unsigned numBits) {
  unsigned width = type.getElementTypeBitWidth();
  if (width < numBits)
    return op->emitOpError("expected ")
           << name << " element type of at least " << numBits
           << " bits to hold the quantized range, got "
           << type.getElementType();
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Reading constants for folders
//===----------------------------------------------------------------------===//

namespace {

std::optional<std::vector<float>> getFloats(Attribute attr) {
  auto dense = dyn_cast_if_present<DenseElementsAttr>(attr);
  if (!dense || !dense.getElementType().isF32())
    return std::nullopt;
  auto values = dense.getValues<float>();
  return std::vector<float>(values.begin(), values.end());
}

/// Integer elements read as signed or unsigned.
std::optional<std::vector<int64_t>> getIntegers(Attribute attr,
                                                bool isSigned = true) {
  auto dense = dyn_cast_if_present<DenseIntElementsAttr>(attr);
  if (!dense)
    return std::nullopt;
  std::vector<int64_t> result;
  result.reserve(dense.getNumElements());
  for (const APInt &v : dense.getValues<APInt>())
    result.push_back(isSigned ? v.getSExtValue()
                              : static_cast<int64_t>(v.getZExtValue()));
  return result;
}

/// Zero points of either element type, normalized as every op does.
std::optional<std::vector<int64_t>>
getZeroPoints(Attribute attr, ::quantmath::QuantRange range) {
  std::vector<int64_t> result;
  if (std::optional<std::vector<float>> floats = getFloats(attr)) {
    for (float z : *floats)
      result.push_back(::quantmath::normalizeZeroPoint(z, range));
    return result;
  }
  if (std::optional<std::vector<int64_t>> ints = getIntegers(attr)) {
    for (int64_t z : *ints)
      result.push_back(::quantmath::normalizeZeroPoint(z, range));
    return result;
  }
  return std::nullopt;
}

/// Scales for folding; none when one is unusable (the op's result would
/// depend on IEEE division by zero, a negative or a non-finite scale, which
/// the semantics leave to the compiled code).
std::optional<std::vector<float>> getValidScales(Attribute attr) {
  std::optional<std::vector<float>> scales = getFloats(attr);
  if (!scales)
    return std::nullopt;
  for (float s : *scales)
    if (!::quantmath::isValidScale(s))
      return std::nullopt;
  return scales;
}

::quantmath::ChannelLayout getLayout(Type type, std::optional<uint64_t> axis) {
  if (!axis)
    return ::quantmath::ChannelLayout::perTensor();
  auto shaped = cast<ShapedType>(type);
  return ::quantmath::ChannelLayout::perAxis(shaped.getShape().data(),
                                             shaped.getRank(), *axis);
}

bool hasStaticShape(Type type) {
  return cast<ShapedType>(type).hasStaticShape();
}

/// The quantization parameters of an op with constant, valid ones, in the
/// form the reference library takes.
struct ConstantParams {
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
  ::quantmath::QuantRange range;
  ::quantmath::ChannelLayout layout;
};

template <typename OpTy>
std::optional<ConstantParams> getConstantParams(OpTy op, Attribute scale,
                                                Attribute zeroPoint) {
  if (!hasStaticShape(op.getInput().getType()))
    return std::nullopt;
  ConstantParams params;
  params.range = op.getQuantRange();
  std::optional<std::vector<float>> scales = getValidScales(scale);
  std::optional<std::vector<int64_t>> zeroPoints =
      getZeroPoints(zeroPoint, params.range);
  if (!scales || !zeroPoints)
    return std::nullopt;
  params.scales = std::move(*scales);
  params.zeroPoints = std::move(*zeroPoints);
  params.layout = getLayout(op.getInput().getType(), op.getAxis());
  return params;
}

DenseElementsAttr makeIntegers(Type type, ArrayRef<int64_t> values) {
  auto shaped = cast<ShapedType>(type);
  unsigned width = shaped.getElementTypeBitWidth();
  SmallVector<APInt> bits;
  bits.reserve(values.size());
  for (int64_t v : values)
    bits.push_back(APInt(width, static_cast<uint64_t>(v), /*isSigned=*/true,
                         /*implicitTrunc=*/true));
  return DenseElementsAttr::get(shaped, bits);
}

/// Zero points as the element type of `type` (integer or f32).
DenseElementsAttr makeZeroPoints(Type type, ArrayRef<int64_t> values) {
  auto shaped = cast<ShapedType>(type);
  if (shaped.getElementType().isF32()) {
    SmallVector<float> floats(values.begin(), values.end());
    return DenseElementsAttr::get(shaped, ArrayRef<float>(floats));
  }
  return makeIntegers(type, values);
}

} // namespace

//===----------------------------------------------------------------------===//
// FakeQuantOp
//===----------------------------------------------------------------------===//

LogicalResult FakeQuantOp::verify() { return verifyQuantizeLike(*this); }

OpFoldResult FakeQuantOp::fold(FoldAdaptor adaptor) {
  std::optional<ConstantParams> params =
      getConstantParams(*this, adaptor.getScale(), adaptor.getZeroPoint());
  std::optional<std::vector<float>> x = getFloats(adaptor.getInput());
  if (!params || !x)
    return {};
  std::vector<float> y(x->size());
  ::quantmath::fakeQuantTensor(x->data(), x->size(), params->layout,
                               params->scales.data(), params->zeroPoints.data(),
                               params->range, toReference(getRounding()),
                               y.data());
  return DenseElementsAttr::get(getType(), ArrayRef<float>(y));
}

//===----------------------------------------------------------------------===//
// FakeQuantGradOp
//===----------------------------------------------------------------------===//

LogicalResult FakeQuantGradOp::verify() { return verifyQuantizeLike(*this); }

LogicalResult FakeQuantGradOp::fold(FoldAdaptor adaptor,
                                    SmallVectorImpl<OpFoldResult> &results) {
  std::optional<ConstantParams> params =
      getConstantParams(*this, adaptor.getScale(), adaptor.getZeroPoint());
  std::optional<std::vector<float>> x = getFloats(adaptor.getInput());
  std::optional<std::vector<float>> dy = getFloats(adaptor.getGrad());
  if (!params || !x || !dy)
    return failure();
  size_t numChannels = params->scales.size();
  std::vector<float> dx(x->size()), dScale(numChannels),
      dZeroPoint(numChannels);
  ::quantmath::fakeQuantGradTensor(
      x->data(), dy->data(), x->size(), params->layout, params->scales.data(),
      params->zeroPoints.data(), params->range, toReference(getRounding()),
      getGradFactor().convertToFloat(), dx.data(), dScale.data(),
      dZeroPoint.data());
  auto scaleType = cast<ShapedType>(getScale().getType());
  results.push_back(DenseElementsAttr::get(
      cast<ShapedType>(getInput().getType()), ArrayRef<float>(dx)));
  results.push_back(DenseElementsAttr::get(scaleType, ArrayRef<float>(dScale)));
  results.push_back(
      DenseElementsAttr::get(scaleType, ArrayRef<float>(dZeroPoint)));
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  if (failed(verifyStorage(*this, "result", getType(), getNumBits())))
    return failure();
  return verifyQuantizeLike(*this);
}

/// quantize(dequantize(q)) == q when both use the same parameters and the
/// round trip (q - z) * s / s is exact up to far less than half a step: a
/// rounding-to-nearest mode and constant, normal scales small enough that
/// (q - z) * s cannot overflow (|q - z| < 2^17).
static bool isExactRoundTrip(QuantizeOp quantize, DequantizeOp dequantize,
                             Attribute scaleAttr) {
  if (quantize.getScale() != dequantize.getScale() ||
      quantize.getZeroPoint() != dequantize.getZeroPoint() ||
      quantize.getAxis() != dequantize.getAxis() ||
      quantize.getType() != dequantize.getInput().getType() ||
      !(quantize.getQuantRange() == dequantize.getQuantRange()) ||
      quantize.getIsSigned() != dequantize.getIsSigned() ||
      quantize.getRounding() == RoundingMode::toward_zero)
    return false;
  std::optional<std::vector<float>> scales = getValidScales(scaleAttr);
  if (!scales)
    return false;
  const float maxSafe = std::numeric_limits<float>::max() / float(1 << 17);
  for (float s : *scales)
    if (s < std::numeric_limits<float>::min() || s > maxSafe)
      return false;
  return true;
}

OpFoldResult QuantizeOp::fold(FoldAdaptor adaptor) {
  // Codes outside [qmin, qmax] would be clamped: only a dequantize with the
  // same range produces codes this quantize reproduces.
  if (auto dequantize = getInput().getDefiningOp<DequantizeOp>())
    if (isExactRoundTrip(*this, dequantize, adaptor.getScale()))
      return dequantize.getInput();

  std::optional<ConstantParams> params =
      getConstantParams(*this, adaptor.getScale(), adaptor.getZeroPoint());
  std::optional<std::vector<float>> x = getFloats(adaptor.getInput());
  if (!params || !x)
    return {};
  ::quantmath::RoundingMode mode = toReference(getRounding());
  std::vector<int64_t> q(x->size());
  for (size_t i = 0; i < x->size(); ++i) {
    int64_t c = params->layout.channelOf(i);
    q[i] = ::quantmath::quantize((*x)[i], params->scales[c],
                                 params->zeroPoints[c], params->range, mode);
  }
  return makeIntegers(getType(), q);
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  if (failed(verifyStorage(*this, "input", getInput().getType(), getNumBits())))
    return failure();
  return verifyQuantizeLike(*this);
}

OpFoldResult DequantizeOp::fold(FoldAdaptor adaptor) {
  std::optional<ConstantParams> params =
      getConstantParams(*this, adaptor.getScale(), adaptor.getZeroPoint());
  std::optional<std::vector<int64_t>> q =
      getIntegers(adaptor.getInput(), getIsSigned());
  if (!params || !q)
    return {};
  std::vector<float> x(q->size());
  for (size_t i = 0; i < q->size(); ++i) {
    int64_t c = params->layout.channelOf(i);
    x[i] = ::quantmath::dequantize((*q)[i], params->scales[c],
                                   params->zeroPoints[c]);
  }
  return DenseElementsAttr::get(getType(), ArrayRef<float>(x));
}

//===----------------------------------------------------------------------===//
// RequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult RequantizeOp::verify() {
  if (failed(verifyQuantRange(*this)) ||
      failed(verifyStorage(*this, "result", getType(), getNumBits())))
    return failure();
  ArrayRef<int32_t> multipliers = getMultiplier();
  ArrayRef<int32_t> shifts = getShift();
  if (multipliers.size() != shifts.size())
    return emitOpError("expected as many shifts as multipliers, got ")
           << shifts.size() << " and " << multipliers.size();
  RankedTensorType inputType = getInput().getType();
  if (std::optional<uint64_t> axis = getAxis()) {
    if (*axis >= static_cast<uint64_t>(inputType.getRank()))
      return emitOpError("expected axis < input rank ")
             << inputType.getRank() << ", got " << *axis;
    int64_t channels = inputType.getDimSize(*axis);
    if (ShapedType::isDynamic(channels))
      return emitOpError("expected a static size for the channel dimension ")
             << *axis;
    if (static_cast<int64_t>(multipliers.size()) != channels)
      return emitOpError("expected ")
             << channels << " multipliers (input dimension " << *axis
             << "), got " << multipliers.size();
  } else if (multipliers.size() != 1) {
    return emitOpError("expected one multiplier for per-tensor requantization "
                       "(or an axis attribute), got ")
           << multipliers.size();
  }
  for (int32_t m : multipliers)
    if (m <= 0)
      return emitOpError("expected positive multipliers, got ") << m;
  for (int32_t s : shifts)
    if (s < 0 || s > 63)
      return emitOpError("expected shifts in [0, 63], got ") << s;
  return success();
}

OpFoldResult RequantizeOp::fold(FoldAdaptor adaptor) {
  if (!hasStaticShape(getType()))
    return {};
  std::optional<std::vector<int64_t>> acc = getIntegers(adaptor.getInput());
  if (!acc)
    return {};
  ::quantmath::QuantRange range = getQuantRange();
  ::quantmath::ChannelLayout layout = getLayout(getType(), getAxis());
  ::quantmath::RoundingMode mode = toReference(getRounding());
  std::vector<int64_t> q(acc->size());
  for (size_t i = 0; i < acc->size(); ++i) {
    int64_t c = layout.channelOf(i);
    ::quantmath::FixedPointMultiplier m{getMultiplier()[c], getShift()[c]};
    q[i] = ::quantmath::requantize(static_cast<int32_t>((*acc)[i]), m,
                                   static_cast<int32_t>(getInputZeroPoint()),
                                   static_cast<int32_t>(getOutputZeroPoint()),
                                   range, mode);
  }
  return makeIntegers(getType(), q);
}

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  return verifyParamShape(*this, "result", getInput().getType(),
                          getMin().getType(), getAxis());
}

LogicalResult ObserveOp::fold(FoldAdaptor adaptor,
                              SmallVectorImpl<OpFoldResult> &results) {
  if (!hasStaticShape(getInput().getType()) ||
      !hasStaticShape(getMin().getType()))
    return failure();
  std::optional<std::vector<float>> x = getFloats(adaptor.getInput());
  if (!x)
    return failure();
  ::quantmath::ChannelLayout layout =
      getLayout(getInput().getType(), getAxis());
  std::vector<float> min(layout.numChannels), max(layout.numChannels);
  ::quantmath::observeTensor(x->data(), x->size(), layout, min.data(),
                             max.data());
  auto type = cast<ShapedType>(getMin().getType());
  results.push_back(DenseElementsAttr::get(type, ArrayRef<float>(min)));
  results.push_back(DenseElementsAttr::get(type, ArrayRef<float>(max)));
  return success();
}

//===----------------------------------------------------------------------===//
// ChooseQParamsOp
//===----------------------------------------------------------------------===//

LogicalResult ChooseQParamsOp::verify() {
  if (failed(verifyQuantRange(*this)))
    return failure();
  RankedTensorType minType = getMin().getType();
  if (minType.getRank() > 1)
    return emitOpError("expected 0-D or 1-D min and max, got ") << minType;
  if (getZeroPoint().getType().getShape() != minType.getShape())
    return emitOpError("expected zero_point of the shape of min, got ")
           << getZeroPoint().getType();
  float eps = getEps().convertToFloat();
  if (!(eps > 0) || !std::isfinite(eps))
    return emitOpError("expected a positive finite eps, got ") << eps;
  return success();
}

LogicalResult ChooseQParamsOp::fold(FoldAdaptor adaptor,
                                    SmallVectorImpl<OpFoldResult> &results) {
  if (!hasStaticShape(getMin().getType()))
    return failure();
  std::optional<std::vector<float>> mins = getFloats(adaptor.getMin());
  std::optional<std::vector<float>> maxs = getFloats(adaptor.getMax());
  if (!mins || !maxs)
    return failure();
  ::quantmath::QuantRange range = getQuantRange();
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints;
  for (size_t i = 0; i < mins->size(); ++i) {
    ::quantmath::QParams p =
        ::quantmath::chooseQParams((*mins)[i], (*maxs)[i], range,
                                   getSymmetric(), getEps().convertToFloat());
    scales.push_back(p.scale);
    zeroPoints.push_back(p.zeroPoint);
  }
  results.push_back(DenseElementsAttr::get(
      cast<ShapedType>(getScale().getType()), ArrayRef<float>(scales)));
  results.push_back(makeZeroPoints(getZeroPoint().getType(), zeroPoints));
  return success();
}

//===----------------------------------------------------------------------===//
// PruneMaskOp
//===----------------------------------------------------------------------===//

LogicalResult PruneMaskOp::verify() {
  bool anyNm = getN() || getM() || getAxis();
  bool allNm = getN() && getM() && getAxis();
  if (getSparsity()) {
    if (anyNm)
      return emitOpError("expected either a sparsity operand or n, m and axis "
                         "attributes, not both");
    std::optional<ArrayRef<int64_t>> block = getBlock();
    if (!block)
      return success();
    RankedTensorType type = getInput().getType();
    if (block->size() != static_cast<size_t>(type.getRank()))
      return emitOpError("expected a block size per dimension (")
             << type.getRank() << "), got " << block->size();
    for (auto [d, size] : llvm::enumerate(*block)) {
      int64_t dim = type.getDimSize(d);
      if (size < 1 || (!ShapedType::isDynamic(dim) && dim % size != 0))
        return emitOpError("expected block sizes that divide the dimensions "
                           "they tile, got ")
               << size << " for dimension " << d << " (size " << dim << ")";
    }
    return success();
  }
  if (getBlock())
    return emitOpError("expected a sparsity operand with a block attribute");
  if (!allNm)
    return emitOpError("expected n, m and axis attributes for N:M pruning (or "
                       "a sparsity operand)");
  if (*getN() > *getM())
    return emitOpError("expected n <= m, got n = ")
           << *getN() << ", m = " << *getM();
  RankedTensorType type = getInput().getType();
  if (*getAxis() >= static_cast<uint64_t>(type.getRank()))
    return emitOpError("expected axis < input rank ")
           << type.getRank() << ", got " << *getAxis();
  int64_t size = type.getDimSize(*getAxis());
  if (!ShapedType::isDynamic(size) && size % static_cast<int64_t>(*getM()) != 0)
    return emitOpError("expected dimension ")
           << *getAxis() << " (size " << size
           << ") to be a multiple of m = " << *getM();
  return success();
}

OpFoldResult PruneMaskOp::fold(FoldAdaptor adaptor) {
  RankedTensorType type = getInput().getType();
  if (!type.hasStaticShape())
    return {};
  std::optional<std::vector<float>> w = getFloats(adaptor.getInput());
  if (!w)
    return {};
  std::vector<uint8_t> keep(w->size());
  if (getSparsity()) {
    std::optional<std::vector<float>> sparsity =
        getFloats(adaptor.getSparsity());
    if (!sparsity)
      return {};
    if (std::optional<ArrayRef<int64_t>> block = getBlock())
      ::quantmath::blockPruneMask(w->data(), type.getShape().data(),
                                  type.getRank(), block->data(),
                                  sparsity->front(), keep.data());
    else
      ::quantmath::magnitudePruneMask(w->data(), w->size(), sparsity->front(),
                                      keep.data());
  } else {
    ::quantmath::nmPruneMask(w->data(), type.getShape().data(), type.getRank(),
                             *getAxis(), *getN(), *getM(), keep.data());
  }
  SmallVector<bool> mask(keep.begin(), keep.end());
  return DenseElementsAttr::get(cast<ShapedType>(getMask().getType()),
                                ArrayRef<bool>(mask));
}

OpFoldResult ApplyMaskOp::fold(FoldAdaptor adaptor) {
  auto mask = dyn_cast_or_null<DenseElementsAttr>(adaptor.getMask());
  if (!mask)
    return {};
  // Everything kept: the input as it is.
  if (mask.isSplat() && mask.getSplatValue<bool>())
    return getInput();
  auto input = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput());
  if (!input)
    return {};
  SmallVector<APFloat> values(input.getValues<APFloat>());
  auto keep = mask.getValues<bool>();
  for (auto [i, value] : llvm::enumerate(values))
    if (!keep[i])
      value = APFloat::getZero(value.getSemantics());
  return DenseElementsAttr::get(cast<ShapedType>(getType()), values);
}

#define GET_OP_CLASSES
#include "qat/Dialect/Qat/IR/QatOps.cpp.inc"
