//===- IntegerLayers.cpp - The integer form of QAT layers -----------------===//
//
// Part of qat-mlir. Builds the integer arithmetic of the layers of a QAT
// graph with constant scales: int8 codes, int32 accumulation, fixed-point
// requantization. Each layer is matched completely (input fake-quant, weight
// fake-quant, epilogue, output fake-quant) before anything is rewritten.
// qat-convert-to-integer replaces the float layers with it; qat-faithful
// keeps them for gradients and takes its values from it.
//
//===----------------------------------------------------------------------===//

#include "IntegerLayers.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"
#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Support/QuantMath.h"
#include "qat/Utils/PackedCodes.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::qat;

namespace mlir::qat::integer {

namespace {

/// The elements of a constant, also seen through reshapes (which keep the
/// row-major order).
template <typename T> FailureOr<SmallVector<T>> constantValues(Value value) {
  while (isa_and_nonnull<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(
      value.getDefiningOp()))
    value = value.getDefiningOp()->getOperand(0);
  DenseElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return failure();
  return SmallVector<T>(attr.getValues<T>());
}

/// The constant parameters of `fq`, or a reason.
FailureOr<Codes> readCodes(FakeQuantOp fq, bool perTensor, std::string &why) {
  Codes codes;
  FailureOr<SmallVector<float>> scales = constantValues<float>(fq.getScale());
  if (failed(scales)) {
    why = "its scale is not a constant (run qat-freeze first)";
    return failure();
  }
  codes.scales = *scales;
  if (perTensor && codes.scales.size() != 1) {
    why = "expected a per-tensor activation scale";
    return failure();
  }
  DenseElementsAttr zero;
  if (!matchPattern(fq.getZeroPoint(), m_Constant(&zero)) ||
      !isa<IntegerType>(zero.getElementType())) {
    why = "its zero point is not an integer constant (run qat-freeze first)";
    return failure();
  }
  SmallVector<int64_t> zeros;
  for (const APInt &z : zero.getValues<APInt>())
    zeros.push_back(z.getSExtValue());
  codes.range = fq.getQuantRange();
  if (codes.range.qmax - codes.range.qmin > 255) {
    why = "more than 8 bits";
    return failure();
  }
  codes.zeroPoint = zeros.front();
  if (!llvm::all_equal(zeros)) {
    why = "per-channel zero points";
    return failure();
  }
  codes.offset = codes.range.qmax > 127 ? 128 : 0;
  codes.rounding = static_cast<quantmath::RoundingMode>(
      static_cast<uint32_t>(fq.getRounding()));
  return codes;
}

/// A scalar constant operand of a payload op, if it is one.
std::optional<float> scalarConstant(Value value) {
  FloatAttr attr;
  if (matchPattern(value, m_Constant(&attr)))
    return attr.getValueAsDouble();
  return std::nullopt;
}

/// Whether `op`'s accumulator starts from a fill with 0.
bool startsFromZero(linalg::LinalgOp op) {
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  std::optional<float> start =
      fill ? scalarConstant(fill.value()) : std::nullopt;
  return start && *start == 0.0f;
}

/// The real rescale of a product of two quantized tensors (elementwise or
/// a matmul): s_a s_b (times a constant scale after it) / s_out.
double productRescale(const IntegerLayer &layer) {
  return static_cast<double>(layer.inputCodes.scales.front()) *
         layer.other.codes.scales.front() * layer.scale /
         layer.outputCodes.scales.front();
}

/// Appends the fixed-point form of `real` (checked when matched).
void appendMultiplier(double real, SmallVectorImpl<int32_t> &multipliers,
                      SmallVectorImpl<int32_t> &shifts) {
  quantmath::FixedPointMultiplier fixed = *quantmath::decomposeMultiplier(real);
  multipliers.push_back(fixed.multiplier);
  shifts.push_back(fixed.shift);
}

/// The int32 sums of int8 `codes` into `init` (a zero fill) over the
/// loops `iterators`: `init += extsi(code)` through `maps` (codes, init).
Value sumCodes(ImplicitLocOpBuilder &b, Value codes, Value init,
               ArrayRef<AffineMap> maps,
               ArrayRef<utils::IteratorType> iterators) {
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{codes}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               Value wide = arith::ExtSIOp::create(nested, loc,
                                                   args[1].getType(), args[0]);
               linalg::YieldOp::create(
                   nested, loc,
                   Value(arith::AddIOp::create(nested, loc, args[1], wide)));
             })
      .getResult(0);
}

} // namespace

LogicalResult Converter::matchEpilogue(IntegerLayer &layer) {
  Value value = layer.op->getResult(0);
  auto resultType = cast<RankedTensorType>(value.getType());
  int64_t rank = resultType.getRank(), n = layer.channels;
  if (layer.bias.empty())
    layer.bias.assign(n, 0.0f);
  Sum *sum = layer.getIf<Sum>();
  // Layers with weights take biases and constant shifts; they and products
  // of two activations take a constant scale into their multipliers.
  bool contraction = layer.getIf<Contraction>();
  bool scalable =
      contraction || layer.getIf<Product>() || layer.getIf<ActivationMatmul>();
  while (true) {
    if (!value.hasOneUse())
      return layer.op.emitOpError("cannot be converted to integers: its "
                                  "output has several users before its "
                                  "fake-quant");
    Operation *user = *value.user_begin();
    if (auto fq = dyn_cast<FakeQuantOp>(user)) {
      layer.output = fq;
      return success();
    }
    auto generic = dyn_cast<linalg::GenericOp>(user);
    unsigned input = value.use_begin()->getOperandNumber();
    std::optional<PayloadChain> chain =
        generic ? matchPayloadChain(generic, input) : std::nullopt;
    if (!chain || !isElementwiseOn(generic, input) ||
        (chain->scales && !sum && !scalable))
      return user->emitOpError("cannot be converted to integers: expected a "
                               "bias add, ReLU, ReLU6 or clamp after the "
                               "layer, or its output fake-quant");
    // The payload's steps, with their constant operands.
    Block *body = generic.getBlock();
    // The value the chain carries (matchPayloadChain checked its steps);
    // a commutative step may take it as either operand (`bias + x`).
    Value carried = body->getArgument(input);
    for (Operation &inner : body->without_terminator()) {
      if (inner.getNumOperands() != 2)
        continue;
      Value other = inner.getOperand(
          isCommutativeStep(&inner) && inner.getOperand(1) == carried ? 0 : 1);
      if (llvm::is_contained(inner.getOperands(), carried))
        carried = inner.getResult(0);
      std::optional<float> c = scalarConstant(other);
      if (sum && isa<arith::MulFOp, arith::DivFOp>(inner)) {
        // A sum's scale (an average's 1/count), before any clamp.
        std::optional<float> k = c;
        if (!k && isa<arith::MulFOp>(inner))
          k = scalarConstant(inner.getOperand(0));
        if (!k || layer.clampLow || layer.clampHigh)
          return generic.emitOpError("cannot be converted to integers: "
                                     "expected a constant scale before any "
                                     "clamp");
        sum->factor *= isa<arith::DivFOp>(inner) ? 1.0 / *k : *k;
        continue;
      }
      if (scalable && isa<arith::MulFOp, arith::DivFOp>(inner)) {
        // A positive constant scale before any clamp (hard sigmoid's 1/6):
        // folded into the requantization multiplier.
        std::optional<float> k = c;
        if (!k && isa<arith::MulFOp>(inner))
          k = scalarConstant(inner.getOperand(0));
        if (!k || *k <= 0.0f || !std::isfinite(*k) || layer.clampLow ||
            layer.clampHigh ||
            (isa<arith::DivFOp>(inner) && !scalarConstant(other)))
          return generic.emitOpError("cannot be converted to integers: "
                                     "expected a positive constant scale "
                                     "before any clamp");
        layer.scale *= isa<arith::DivFOp>(inner) ? 1.0 / *k : *k;
        continue;
      }
      if (contraction && isa<arith::AddFOp, arith::SubFOp>(inner) &&
          (c || (isa<arith::AddFOp>(inner) &&
                 scalarConstant(inner.getOperand(0))))) {
        // A constant shift (hard sigmoid's +0.5), before any clamp: a bias
        // in the accumulator's units.
        std::optional<float> shift =
            c ? c : scalarConstant(inner.getOperand(0));
        if (layer.clampLow || layer.clampHigh ||
            (isa<arith::SubFOp>(inner) && !c))
          return generic.emitOpError("cannot be converted to integers: "
                                     "expected a constant shift before any "
                                     "clamp");
        layer.biasShift += static_cast<float>(
            (isa<arith::SubFOp>(inner) ? -*shift : *shift) / layer.scale);
        continue;
      }
      if (isa<arith::AddFOp>(inner)) {
        if (!contraction)
          return generic.emitOpError("cannot be converted to integers: a "
                                     "bias after a sum, an add or a product "
                                     "of two activations");
        auto arg = dyn_cast<BlockArgument>(other);
        if (!arg || arg.getOwner() != body || layer.clampLow || layer.clampHigh)
          return generic.emitOpError("cannot be converted to integers: "
                                     "expected a per-column bias before any "
                                     "clamp");
        Value bias = generic.getDpsInputs()[arg.getArgNumber()];
        FailureOr<SmallVector<float>> values = constantValues<float>(bias);
        AffineMap map = generic.getIndexingMapsArray()[arg.getArgNumber()];
        auto biasType = cast<RankedTensorType>(bias.getType());
        if (!isPerChannelMap(map, rank - 1) || biasType.getNumElements() != n)
          return generic.emitOpError("cannot be converted to integers: the "
                                     "bias is not per column");
        if (failed(values)) {
          // A trained bias: quantized at run time, and only one (codes of a
          // sum are not the sum of codes).
          if (mode != Mode::Faithful)
            return generic.emitOpError("cannot be converted to integers: the "
                                       "bias is not a constant (freeze it)");
          if (layer.biasValue)
            return generic.emitOpError("cannot be simulated faithfully: "
                                       "several biases that are not "
                                       "constants");
          if (layer.scale != 1.0)
            return generic.emitOpError("cannot be simulated faithfully: a "
                                       "trained bias after a scale");
          layer.biasValue = bias;
          continue;
        }
        if (layer.biasValue && layer.scale != 1.0)
          return generic.emitOpError("cannot be simulated faithfully: a "
                                     "trained bias after a scale");
        for (int64_t j = 0; j < n; ++j)
          layer.bias[j] += static_cast<float>((*values)[j] / layer.scale);
      } else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(inner) && c) {
        layer.clampLow = std::max(layer.clampLow.value_or(-INFINITY), *c);
      } else if (isa<arith::MinimumFOp, arith::MinNumFOp>(inner) && c) {
        layer.clampHigh = std::min(layer.clampHigh.value_or(INFINITY), *c);
      } else {
        return generic.emitOpError("cannot be converted to integers: "
                                   "unsupported epilogue step");
      }
    }
    layer.epilogue.push_back(generic);
    value = generic->getResult(0);
  }
}

/// The data operand of a grid-preserving op the integer layers can carry
/// codes through, or null.
static Value pathSource(Operation *op) {
  if (auto pad = dyn_cast<tensor::PadOp>(op)) {
    std::optional<float> value =
        pad.getConstantPaddingValue()
            ? scalarConstant(pad.getConstantPaddingValue())
            : std::nullopt;
    if (value && (*value == 0.0f || std::isinf(*value) ||
                  *value == -std::numeric_limits<float>::max()))
      return pad.getSource();
    return {};
  }
  if (isa<linalg::PoolingNhwcMaxOp, linalg::TransposeOp>(op))
    return cast<linalg::LinalgOp>(op).getDpsInputs()[0];
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op))
    return op->getOperand(0);
  // A slice of codes (ShuffleNet's channel split).
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
    return slice.getSource();
  return {};
}

LogicalResult Converter::matchInit(IntegerLayer &layer) {
  // The accumulator starts from zero, or from a per-channel bias broadcast
  // over the other dimensions (TOSA's convolutions).
  Value init = layer.op.getDpsInits()[0];
  auto type = cast<RankedTensorType>(init.getType());
  int64_t rank = type.getRank(), n = type.getShape().back();
  auto fail = [&]() {
    return layer.op.emitOpError(
        "cannot be converted to integers: the accumulator starts from "
        "neither zero nor a per-channel bias");
  };
  if (init.getDefiningOp<linalg::FillOp>())
    return startsFromZero(layer.op) ? success() : fail();
  Value bias;
  if (auto broadcast = init.getDefiningOp<linalg::BroadcastOp>()) {
    if (llvm::equal(broadcast.getDimensions(), llvm::seq<int64_t>(0, rank - 1)))
      bias = broadcast.getInput();
  } else if (auto generic = init.getDefiningOp<linalg::GenericOp>()) {
    Block *body = generic.getBody();
    if (generic.getNumDpsInputs() == 1 && body->getOperations().size() == 1 &&
        body->getTerminator()->getOperand(0) == body->getArgument(0) &&
        isPerChannelMap(generic.getIndexingMapsArray()[0], rank - 1))
      bias = generic.getDpsInputs()[0];
  }
  if (!bias || cast<RankedTensorType>(bias.getType()).getNumElements() != n)
    return fail();
  layer.bias.assign(n, 0.0f);
  if (FailureOr<SmallVector<float>> values = constantValues<float>(bias);
      succeeded(values)) {
    layer.bias = *values;
    return success();
  }
  if (mode != Mode::Faithful)
    return layer.op.emitOpError("cannot be converted to integers: the bias "
                                "is not a constant (freeze it)");
  layer.biasValue = bias;
  return success();
}

FailureOr<IntegerLayer> Converter::matchLayer(linalg::LinalgOp op) {
  IntegerLayer layer;
  layer.op = op;
  Contraction &contraction = layer.kind.emplace<Contraction>();
  auto fail = [&](Operation *at, const Twine &why) {
    at->emitOpError("cannot be converted to integers: ") << why;
    return failure();
  };
  auto matmul = dyn_cast<linalg::MatmulOp>(op.getOperation());
  if (!op.hasPureTensorSemantics() ||
      !(isa<linalg::Conv2DNhwcHwcfOp, linalg::Conv2DNhwcFhwcOp,
            linalg::DepthwiseConv2DNhwcHwcOp>(op.getOperation()) ||
        (matmul && !matmul.hasUserDefinedMaps())))
    return op.emitOpError("cannot be converted to integers yet (only "
                          "linalg.matmul, linalg.conv_2d_nhwc_hwcf, "
                          "linalg.conv_2d_nhwc_fhwc and "
                          "linalg.depthwise_conv_2d_nhwc_hwc layers are)");
  // An FHWC filter (TOSA's layout) is deployed as HWCF, output channels
  // last like every other layer's weights.
  bool fhwc = isa<linalg::Conv2DNhwcFhwcOp>(op.getOperation());
  // The activation operand, through padding, max pooling and reshapes.
  layer.input = quantizedSource(op.getDpsInputs()[0], layer.path);
  if (!layer.input)
    return fail(op, "its input must be fake-quantized (through padding, "
                    "max pooling, slices, transposes, reshapes or "
                    "concatenations of tensors on one grid only)");
  contraction.weight = op.getDpsInputs()[1].getDefiningOp<FakeQuantOp>();
  if (!contraction.weight)
    return fail(op, "its weight must be fake-quantized");
  std::string why;
  FailureOr<Codes> in = readCodes(layer.input, /*perTensor=*/true, why);
  if (failed(in))
    return fail(layer.input, "input: " + why);
  FailureOr<Codes> w = readCodes(contraction.weight, /*perTensor=*/false, why);
  if (failed(w))
    return fail(contraction.weight, "weight: " + why);
  auto weightType = cast<RankedTensorType>(contraction.weight.getType());
  int64_t channelAxis = fhwc ? 0 : weightType.getRank() - 1;
  if (w->zeroPoint != 0 || w->offset != 0)
    return fail(contraction.weight, "weights must be signed and symmetric");
  if (w->scales.size() > 1 &&
      contraction.weight.getAxis() != static_cast<uint64_t>(channelAxis))
    return fail(contraction.weight, "per-channel weights must use the output "
                                    "channels");
  FailureOr<SmallVector<float>> weights =
      constantValues<float>(contraction.weight.getInput());
  if (succeeded(weights))
    contraction.weights = *weights;
  else if (mode != Mode::Faithful) // quantized at run time when faithful
    return fail(contraction.weight, "the weight is not a constant (freeze it)");
  // A frozen mask is an invariant: every weight it prunes must have the
  // code 0 (the weights are symmetric), or the deployed layer would
  // silently be denser than the one trained.
  if (auto mask = contraction.weight->getAttrOfType<DenseIntElementsAttr>(
          QatDialect::kMaskAttrName);
      mask && !contraction.weights.empty()) {
    int64_t channels = weightType.getDimSize(channelAxis);
    int64_t inner = fhwc ? weightType.getNumElements() / channels : 1;
    int64_t broken = 0, first = -1, firstCode = 0, i = 0;
    for (bool keep : mask.getValues<bool>()) {
      int64_t channel = (i / inner) % channels;
      float scale =
          w->scales.size() == 1 ? w->scales.front() : w->scales[channel];
      int64_t q = quantmath::quantize(contraction.weights[i], scale, 0,
                                      w->range, w->rounding);
      if (!keep && q != 0 && broken++ == 0) {
        first = i;
        firstCode = q;
      }
      ++i;
    }
    if (broken > 0)
      return fail(contraction.weight,
                  llvm::formatv("{0} weight codes are nonzero where the "
                                "frozen mask prunes them (the first at flat "
                                "index {1}: code {2})",
                                broken, first, firstCode)
                      .str());
  }
  if (fhwc) {
    contraction.filterPermutation = {1, 2, 3, 0};
    ArrayRef<int64_t> f = weightType.getShape();
    if (!contraction.weights.empty()) {
      // [F][KH][KW][C] -> [KH][KW][C][F].
      SmallVector<float> hwcf(contraction.weights.size());
      int64_t rest = f[1] * f[2] * f[3];
      for (int64_t o = 0; o < f[0]; ++o)
        for (int64_t i = 0; i < rest; ++i)
          hwcf[i * f[0] + o] = contraction.weights[o * rest + i];
      contraction.weights = std::move(hwcf);
    }
  }
  if (failed(matchInit(layer)))
    return failure();
  layer.channels = weightType.getDimSize(channelAxis);
  contraction.depth = weightType.getNumElements() / layer.channels;
  layer.inputCodes = *in;
  contraction.weightCodes = *w;
  if (failed(matchEpilogue(layer)))
    return failure();
  if (layer.biasValue &&
      llvm::any_of(layer.bias, [](float b) { return b != 0.0f; }))
    return fail(op, "cannot be simulated faithfully: a trained bias and a "
                    "constant one");
  // Constant shifts join a constant bias here, a trained one at run time
  // (the same f32 addition either way).
  if (!layer.biasValue)
    for (float &bias : layer.bias)
      bias += layer.biasShift;
  FailureOr<Codes> out = readCodes(layer.output, /*perTensor=*/true, why);
  if (failed(out))
    return fail(layer.output, "output: " + why);
  layer.outputCodes = *out;

  // Every rescale must have a fixed-point form.
  for (size_t j = 0; j < w->scales.size(); ++j) {
    double real = static_cast<double>(in->scales.front()) * w->scales[j] *
                  layer.scale / out->scales.front();
    if (!quantmath::decomposeMultiplier(real))
      return fail(op, "the rescale s_in * s_w / s_out = " +
                          Twine(std::to_string(real)) +
                          " has no fixed-point form");
  }

  // int32 must hold every accumulator.
  quantmath::QuantRange stored{in->range.qmin - in->offset,
                               in->range.qmax - in->offset};
  int64_t bound = quantmath::accumulatorBound(contraction.depth, stored,
                                              in->storedZeroPoint(), w->range);
  if (!quantmath::fitsInt32(bound))
    return fail(op, "an int32 accumulator could overflow (depth " +
                        Twine(contraction.depth) + ", bound " + Twine(bound) +
                        ")");
  return layer;
}

LogicalResult Converter::matchOptionalOutput(IntegerLayer &layer) {
  layer.channels = 1;
  // An epilogue that does not match leaves the op in float, silently.
  {
    ScopedDiagnosticHandler quiet(func.getContext(),
                                  [](Diagnostic &) { return success(); });
    if (failed(matchEpilogue(layer)))
      return failure();
  }
  std::string why;
  FailureOr<Codes> out = readCodes(layer.output, /*perTensor=*/true, why);
  if (failed(out))
    return failure();
  layer.outputCodes = *out;
  return success();
}

FailureOr<IntegerLayer> Converter::matchSum(linalg::LinalgOp op) {
  IntegerLayer layer;
  layer.op = op;
  Sum &sum = layer.kind.emplace<Sum>();
  if (!op.hasPureTensorSemantics() || !isSumOp(op))
    return failure();
  layer.input = quantizedSource(op.getDpsInputs()[0], layer.path);
  if (!layer.input)
    return failure();
  if (!startsFromZero(op))
    return failure();
  sum.count = 1;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<unsigned> reductions;
  op.getReductionDims(reductions);
  for (unsigned loop : reductions)
    sum.count *= ranges[loop];
  std::string why;
  FailureOr<Codes> in = readCodes(layer.input, /*perTensor=*/true, why);
  if (failed(in))
    return failure();
  layer.inputCodes = *in;
  if (failed(matchOptionalOutput(layer)))
    return failure();
  const Codes *out = &layer.outputCodes;
  double real = static_cast<double>(in->scales.front()) * sum.factor /
                out->scales.front();
  int64_t maxCode = std::max(std::abs(in->range.qmin - in->zeroPoint),
                             std::abs(in->range.qmax - in->zeroPoint));
  if (!quantmath::decomposeMultiplier(real) ||
      !quantmath::fitsInt32(sum.count * (maxCode + 256)))
    return failure();
  return layer;
}

FakeQuantOp Converter::quantizedSource(Value value,
                                       SmallVectorImpl<Operation *> &path) {
  FakeQuantOp fq;
  SmallVector<Operation *> reversed;
  while (!(fq = value.getDefiningOp<FakeQuantOp>())) {
    Operation *def = value.getDefiningOp();
    Value next;
    if (auto concat = dyn_cast_or_null<tensor::ConcatOp>(def))
      next = concat.getInputs().front(); // the others: below
    else if (def)
      next = pathSource(def);
    if (!next)
      return {};
    reversed.push_back(def);
    value = next;
  }
  // A concatenation carries codes when every input is on the same grid
  // (qat-instrument gives them one parameter set): the codes of the other
  // inputs are concatenated with this chain's.
  std::string why;
  FailureOr<Codes> codes = readCodes(fq, /*perTensor=*/true, why);
  for (Operation *op : reversed) {
    auto concat = dyn_cast<tensor::ConcatOp>(op);
    if (!concat || concatParts.count(op))
      continue;
    SmallVector<ConcatPart> parts;
    for (Value input : concat.getInputs().drop_front()) {
      ConcatPart part;
      part.fq = quantizedSource(input, part.path);
      FailureOr<Codes> partCodes =
          part.fq ? readCodes(part.fq, /*perTensor=*/true, why)
                  : FailureOr<Codes>(failure());
      if (failed(codes) || failed(partCodes) ||
          partCodes->scales != codes->scales ||
          partCodes->zeroPoint != codes->zeroPoint ||
          !(partCodes->range == codes->range))
        return {};
      part.codes = *partCodes;
      parts.push_back(std::move(part));
    }
    concatParts[op] = std::move(parts);
  }
  path.append(reversed.rbegin(), reversed.rend());
  return fq;
}

bool Converter::matchTwoOperands(IntegerLayer &layer, std::string &why) {
  layer.input = quantizedSource(layer.op.getDpsInputs()[0], layer.path);
  layer.other.fq =
      quantizedSource(layer.op.getDpsInputs()[1], layer.other.path);
  if (!layer.input || !layer.other.fq) {
    why = "expected both operands fake-quantized (through padding, max "
          "pooling, slices, transposes, reshapes or concatenations of "
          "tensors on one grid only)";
    return false;
  }
  FailureOr<Codes> a = readCodes(layer.input, /*perTensor=*/true, why);
  if (failed(a))
    return false;
  FailureOr<Codes> b = readCodes(layer.other.fq, /*perTensor=*/true, why);
  if (failed(b))
    return false;
  layer.inputCodes = *a;
  layer.other.codes = *b;
  return true;
}

FailureOr<IntegerLayer> Converter::matchBinary(linalg::GenericOp op) {
  // An elementwise `a + b` of two same-shaped tensors, or `a * b` with
  // either operand broadcast (read through a projection of the loops).
  if (!op.hasPureTensorSemantics() || isSumOp(op) || !hasIntegerForm(op) ||
      op.getBody()->getOperations().size() != 2)
    return failure();
  bool product = isa<arith::MulFOp>(
      op.getBody()->getTerminator()->getOperand(0).getDefiningOp());
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!maps[2].isIdentity() ||
      !llvm::all_of(ArrayRef(maps).take_front(2), [&](AffineMap map) {
        return product ? map.isProjectedPermutation() : map.isIdentity();
      }))
    return failure();
  IntegerLayer layer;
  layer.op = cast<linalg::LinalgOp>(op.getOperation());
  if (product)
    layer.kind.emplace<Product>();
  else
    layer.kind.emplace<ResidualAdd>();
  std::string why;
  if (!matchTwoOperands(layer, why) || failed(matchOptionalOutput(layer)))
    return failure();
  double a = layer.inputCodes.scales.front(),
         b = layer.other.codes.scales.front(),
         out = layer.outputCodes.scales.front();
  if (product) {
    if (!quantmath::decomposeMultiplier(productRescale(layer)))
      return failure();
    return layer;
  }
  double common = std::max(a, b) * std::ldexp(1.0, -20);
  if (!quantmath::decomposeMultiplier(a / common) ||
      !quantmath::decomposeMultiplier(b / common) ||
      !quantmath::decomposeMultiplier(common / out))
    return failure();
  return layer;
}

/// Whether `op` multiplies two activations: a batch matmul, or a matmul
/// whose B is an activation (computed from the inputs), not a weight.
static bool isActivationMatmul(linalg::LinalgOp op,
                               const GraphAnalysis &graph) {
  if (isa<linalg::BatchMatmulOp>(op.getOperation()))
    return true;
  return isa<linalg::MatmulOp>(op.getOperation()) &&
         graph.isActivation(op.getDpsInputs()[1]);
}

FailureOr<IntegerLayer> Converter::matchActivationMatmul(linalg::LinalgOp op) {
  IntegerLayer layer;
  layer.op = op;
  ActivationMatmul &matmul = layer.kind.emplace<ActivationMatmul>();
  auto fail = [&](Operation *at, const Twine &why) {
    at->emitOpError("cannot be converted to integers: ") << why;
    return failure();
  };
  // A batch matmul or a matmul (isActivationMatmul).
  bool defaultMaps =
      op.getIndexingMapsArray() ==
      (isa<linalg::BatchMatmulOp>(op.getOperation())
           ? linalg::BatchMatmulOp::getDefaultIndexingMaps(op.getContext())
           : linalg::MatmulOp::getDefaultIndexingMaps(op.getContext()));
  if (!op.hasPureTensorSemantics() || !defaultMaps)
    return fail(op, "a matmul of two activations with transposed operands "
                    "(user-defined indexing maps)");
  std::string why;
  if (!matchTwoOperands(layer, why))
    return fail(op, why);
  if (!startsFromZero(op))
    return fail(op, "the accumulator of a matmul of two activations must "
                    "start from zero");
  auto aType = cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  matmul.depth = aType.getShape().back();
  layer.channels = 1;
  if (failed(matchEpilogue(layer)))
    return failure();
  FailureOr<Codes> out = readCodes(layer.output, /*perTensor=*/true, why);
  if (failed(out))
    return fail(layer.output, "output: " + why);
  layer.outputCodes = *out;
  double real = productRescale(layer);
  if (!quantmath::decomposeMultiplier(real))
    return fail(
        op, "the rescale s_a * s_b / s_out = " + Twine(std::to_string(real)) +
                " has no fixed-point form");
  // The result, sum_k (qa - za) (qb - zb), must fit in int32 (the terms
  // in between may wrap: int32 arithmetic is modular).
  auto widest = [](const Codes &c) {
    return std::max(std::abs(c.range.qmin - c.zeroPoint),
                    std::abs(c.range.qmax - c.zeroPoint));
  };
  int64_t bound =
      matmul.depth * widest(layer.inputCodes) * widest(layer.other.codes);
  if (!quantmath::fitsInt32(bound))
    return fail(op, "an int32 accumulator could overflow (depth " +
                        Twine(matmul.depth) + ", bound " + Twine(bound) + ")");
  return layer;
}

LogicalResult Converter::match() {
  for (Operation &op : func.getBody().front()) {
    if (!isLayerOp(&op)) {
      auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp)
        continue;
      if (FailureOr<IntegerLayer> sum = matchSum(linalgOp); succeeded(sum))
        layers.push_back(std::move(*sum));
      else if (auto generic = dyn_cast<linalg::GenericOp>(op))
        if (FailureOr<IntegerLayer> binary = matchBinary(generic);
            succeeded(binary))
          layers.push_back(std::move(*binary));
      continue;
    }
    auto linalgOp = cast<linalg::LinalgOp>(op);
    FailureOr<IntegerLayer> layer = isActivationMatmul(linalgOp, graph)
                                        ? matchActivationMatmul(linalgOp)
                                        : matchLayer(linalgOp);
    if (failed(layer))
      return failure();
    layers.push_back(std::move(*layer));
  }
  if (layers.empty())
    return func.emitOpError("has no layer to convert to integers");
  return success();
}

Value Converter::emitInput(ImplicitLocOpBuilder &b, IntegerLayer &layer) {
  return emitCodes(b, layer.input, layer.path, layer.inputCodes);
}

Value Converter::emitCodes(ImplicitLocOpBuilder &b, FakeQuantOp fq,
                           ArrayRef<Operation *> path, const Codes &in) {
  MLIRContext *ctx = b.getContext();
  Type i8 = IntegerType::get(ctx, 8), i32 = IntegerType::get(ctx, 32);
  // The codes of the input fake-quant: the previous layer's, or quantized
  // here (once).
  Value codes = converted.lookup(fq);
  if (!codes) {
    auto type = cast<RankedTensorType>(fq.getType());
    Value scale = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                  in.scales.front()));
    Value zero = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({}, i32),
                                  static_cast<int32_t>(in.storedZeroPoint())));
    QuantSpec spec;
    spec.quantMin = in.range.qmin - in.offset;
    spec.quantMax = in.range.qmax - in.offset;
    spec.rounding = fq.getRounding();
    codes = QuantizeOp::create(b, RankedTensorType::get(type.getShape(), i8),
                               fq.getInput(), scale, zero, spec);
    converted[fq] = codes;
  }
  // The same grid-preserving ops, on codes: real 0 is the zero point's code,
  // -inf the smallest code.
  for (Operation *op : path) {
    auto codesType = [&](Value v) {
      return RankedTensorType::get(
          cast<RankedTensorType>(v.getType()).getShape(), i8);
    };
    if (auto pad = dyn_cast<tensor::PadOp>(op)) {
      float value = *scalarConstant(pad.getConstantPaddingValue());
      int64_t code =
          value == 0.0f ? in.storedZeroPoint() : in.range.qmin - in.offset;
      Value padding = arith::ConstantOp::create(
          b, b.getIntegerAttr(i8, static_cast<int8_t>(code)));
      codes = tensor::PadOp::create(b, codesType(pad.getResult()), codes,
                                    pad.getMixedLowPad(), pad.getMixedHighPad(),
                                    padding);
    } else if (auto pool = dyn_cast<linalg::PoolingNhwcMaxOp>(op)) {
      auto type = codesType(pool->getResult(0));
      Value lowest = arith::ConstantOp::create(
          b,
          b.getIntegerAttr(i8, static_cast<int8_t>(in.range.qmin - in.offset)));
      Value empty = tensor::EmptyOp::create(b, type.getShape(), i8);
      Value init = linalg::FillOp::create(b, lowest, empty).getResult(0);
      codes = linalg::PoolingNhwcMaxOp::create(
                  b, TypeRange{type}, ValueRange{codes, pool.getDpsInputs()[1]},
                  ValueRange{init},
                  {b.getNamedAttr("strides", pool.getStridesAttr()),
                   b.getNamedAttr("dilations", pool.getDilationsAttr())})
                  .getResult(0);
    } else if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
      // This chain is the first input; the others have their own.
      SmallVector<Value> inputs = {codes};
      for (ConcatPart &part : concatParts[op])
        inputs.push_back(emitCodes(b, part.fq, part.path, part.codes));
      codes = tensor::ConcatOp::create(b, codesType(concat.getResult()),
                                       concat.getDim(), inputs);
    } else if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
      auto type = codesType(transpose.getResult()[0]);
      Value empty = tensor::EmptyOp::create(b, type.getShape(), i8);
      codes = linalg::TransposeOp::create(b, codes, empty,
                                          transpose.getPermutation())
                  .getResult()[0];
    } else if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
      codes = tensor::ExtractSliceOp::create(
          b, codesType(slice.getResult()), codes, slice.getMixedOffsets(),
          slice.getMixedSizes(), slice.getMixedStrides());
    } else if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
      codes = tensor::CollapseShapeOp::create(
          b, codesType(collapse.getResult()), codes,
          collapse.getReassociationIndices());
    } else {
      auto expand = cast<tensor::ExpandShapeOp>(op);
      codes =
          tensor::ExpandShapeOp::create(b, codesType(expand.getResult()), codes,
                                        expand.getReassociationIndices());
    }
  }
  return codes;
}

Value Converter::emitContraction(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                                 Contraction &contraction, Value x,
                                 SmallVectorImpl<int32_t> &multipliers,
                                 SmallVectorImpl<int32_t> &shifts) {
  Type i8 = b.getIntegerType(8), i32 = b.getIntegerType(32);
  const Codes &in = layer.inputCodes, &w = contraction.weightCodes,
              &out = layer.outputCodes;
  auto wType = cast<RankedTensorType>(contraction.weight.getType());
  if (!contraction.filterPermutation.empty())
    wType = RankedTensorType::get(
        applyPermutation(wType.getShape(), contraction.filterPermutation),
        wType.getElementType());
  auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
  int64_t k = contraction.depth, n = layer.channels,
          rank = resultType.getRank();
  auto scaleOf = [&](const Codes &c, int64_t j) {
    return c.scales.size() == 1 ? c.scales.front() : c.scales[j];
  };

  // The multipliers (representable: checked when the layer was matched).
  int64_t perChannel = w.scales.size() == 1 ? 1 : n;
  for (int64_t j = 0; j < perChannel; ++j) {
    appendMultiplier(static_cast<double>(in.scales.front()) * scaleOf(w, j) *
                         layer.scale / out.scales.front(),
                     multipliers, shifts);
  }

  // Weight codes and the accumulator's constant term: computed here from
  // constants, or at run time from trained values (faithful mode).
  auto codesType = RankedTensorType::get(wType.getShape(), i8);
  Value weights, perColumn;
  if (!contraction.weights.empty() && !layer.biasValue) {
    SmallVector<int8_t> codes(k * n);
    SmallVector<int32_t> constant(n);
    for (int64_t j = 0; j < n; ++j) {
      int64_t columnSum = 0;
      for (int64_t i = 0; i < k; ++i) {
        int64_t q = quantmath::quantize(contraction.weights[i * n + j],
                                        scaleOf(w, j), 0, w.range, w.rounding);
        codes[i * n + j] = static_cast<int8_t>(q);
        columnSum += q;
      }
      int64_t bias = quantmath::quantizeBias(layer.bias[j], in.scales.front(),
                                             scaleOf(w, j), in.rounding);
      int64_t c = bias - in.storedZeroPoint() * columnSum;
      constant[j] = static_cast<int32_t>(
          std::clamp<int64_t>(c, std::numeric_limits<int32_t>::min(),
                              std::numeric_limits<int32_t>::max()));
    }
    unsigned packedBits =
        packInt4 ? choosePackedBits(w.range.qmin, w.range.qmax,
                                    static_cast<int64_t>(codes.size()))
                 : 0;
    weights = packedBits ? buildPackedCodes(b, codes, codesType, packedBits)
                         : arith::ConstantOp::create(
                               b, DenseElementsAttr::get(
                                      codesType, ArrayRef<int8_t>(codes)));
    perColumn = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({n}, i32),
                                  ArrayRef<int32_t>(constant)));
  } else {
    // The weight fake-quant's own parameters and attributes, as codes.
    auto original = cast<RankedTensorType>(contraction.weight.getType());
    weights = QuantizeOp::create(
        b, RankedTensorType::get(original.getShape(), i8),
        contraction.weight.getInput(), contraction.weight.getScale(),
        contraction.weight.getZeroPoint(), getQuantSpec(contraction.weight));
    if (!contraction.filterPermutation.empty())
      weights =
          linalg::TransposeOp::create(
              b, weights, tensor::EmptyOp::create(b, codesType.getShape(), i8),
              contraction.filterPermutation)
              .getResult()[0];
    perColumn = emitRuntimeInit(b, layer, contraction, weights);
  }
  auto accType = RankedTensorType::get(resultType.getShape(), i32);
  SmallVector<int64_t> broadcastDims =
      llvm::to_vector(llvm::seq<int64_t>(0, rank - 1));
  Value init =
      linalg::BroadcastOp::create(
          b, perColumn, tensor::EmptyOp::create(b, accType.getShape(), i32),
          broadcastDims)
          .getResult()[0];
  if (isa<linalg::Conv2DNhwcHwcfOp, linalg::Conv2DNhwcFhwcOp>(
          layer.op.getOperation()))
    return linalg::Conv2DNhwcHwcfOp::create(
               b, TypeRange{accType}, ValueRange{x, weights}, ValueRange{init},
               {b.getNamedAttr("strides", layer.op->getAttr("strides")),
                b.getNamedAttr("dilations", layer.op->getAttr("dilations"))})
        .getResult(0);
  if (auto depthwise =
          dyn_cast<linalg::DepthwiseConv2DNhwcHwcOp>(layer.op.getOperation()))
    return linalg::DepthwiseConv2DNhwcHwcOp::create(
               b, TypeRange{accType}, ValueRange{x, weights}, ValueRange{init},
               {b.getNamedAttr("strides", depthwise.getStridesAttr()),
                b.getNamedAttr("dilations", depthwise.getDilationsAttr())})
        .getResult(0);
  return linalg::MatmulOp::create(b, TypeRange{accType}, ValueRange{x, weights},
                                  ValueRange{init})
      .getResult(0);
}

Value Converter::emitRuntimeInit(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                                 Contraction &contraction, Value weightCodes) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getIntegerType(32), i64 = b.getIntegerType(64);
  const Codes &in = layer.inputCodes, &w = contraction.weightCodes;
  int64_t n = layer.channels;
  auto columnType = RankedTensorType::get({n}, i32);
  auto codesType = cast<RankedTensorType>(weightCodes.getType());
  unsigned rank = codesType.getRank();

  // colsum(Wq): every dimension but the last (the output channels) reduced.
  Value zero = arith::ConstantOp::create(b, b.getI32IntegerAttr(0));
  Value sumInit =
      linalg::FillOp::create(
          b, zero,
          tensor::EmptyOp::create(b, ArrayRef<int64_t>{n}, i32).getResult())
          .getResult(0);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::reduction);
  iterators.back() = utils::IteratorType::parallel;
  AffineMap all = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap last = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx));
  Value columnSums = sumCodes(b, weightCodes, sumInit, {all, last}, iterators);

  // The bias on the accumulator's grid: quantizeBias with the same
  // binary32 scale product s_x * s_w as the deployed constants.
  Value biasCodes;
  if (layer.biasValue) {
    SmallVector<float> products(n);
    for (int64_t j = 0; j < n; ++j)
      products[j] = in.scales.front() *
                    (w.scales.size() == 1 ? w.scales.front() : w.scales[j]);
    auto f32Column = RankedTensorType::get({n}, b.getF32Type());
    Value scale = arith::ConstantOp::create(
        b, DenseElementsAttr::get(f32Column, ArrayRef<float>(products)));
    Value zeros = arith::ConstantOp::create(
        b, DenseElementsAttr::get(columnType, b.getI32IntegerAttr(0)));
    Value bias = layer.biasValue;
    if (cast<RankedTensorType>(bias.getType()).getShape() !=
        ArrayRef<int64_t>{n})
      bias = tensor::CollapseShapeOp::create(
          b, f32Column, bias,
          SmallVector<ReassociationIndices>{llvm::to_vector(llvm::seq<int64_t>(
              0, cast<RankedTensorType>(bias.getType()).getRank()))});
    if (layer.biasShift != 0.0f) {
      Value shift = arith::ConstantOp::create(
          b, DenseElementsAttr::get(f32Column, layer.biasShift));
      bias = arith::AddFOp::create(b, bias, shift);
    }
    QuantSpec spec;
    spec.numBits = 32;
    spec.axis = 0;
    spec.rounding =
        static_cast<RoundingMode>(static_cast<uint32_t>(in.rounding));
    biasCodes = QuantizeOp::create(b, columnType, bias, scale, zeros, spec);
  } else {
    SmallVector<int32_t> codes(n);
    for (int64_t j = 0; j < n; ++j)
      codes[j] = static_cast<int32_t>(quantmath::quantizeBias(
          layer.bias[j], in.scales.front(),
          w.scales.size() == 1 ? w.scales.front() : w.scales[j], in.rounding));
    biasCodes = arith::ConstantOp::create(
        b, DenseElementsAttr::get(columnType, ArrayRef<int32_t>(codes)));
  }

  // bias - z_x * colsum, in 64 bits, saturated to int32 as deployed.
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  int64_t zeroPoint = in.storedZeroPoint();
  return linalg::GenericOp::create(
             b, TypeRange{columnType}, ValueRange{biasCodes, columnSums},
             ValueRange{tensor::EmptyOp::create(b, ArrayRef<int64_t>{n}, i32)
                            .getResult()},
             ArrayRef<AffineMap>{id, id, id},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               auto constant = [&](int64_t v) -> Value {
                 return arith::ConstantIntOp::create(nested, loc, v, 64);
               };
               Value bias = arith::ExtSIOp::create(nested, loc, i64, args[0]);
               Value sum = arith::ExtSIOp::create(nested, loc, i64, args[1]);
               Value c = arith::SubIOp::create(
                   nested, loc, bias,
                   arith::MulIOp::create(nested, loc, constant(zeroPoint),
                                         sum));
               c = arith::MaxSIOp::create(
                   nested, loc, c,
                   constant(std::numeric_limits<int32_t>::min()));
               c = arith::MinSIOp::create(
                   nested, loc, c,
                   constant(std::numeric_limits<int32_t>::max()));
               linalg::YieldOp::create(
                   nested, loc,
                   Value(arith::TruncIOp::create(nested, loc, i32, c)));
             })
      .getResult(0);
}

Value Converter::emitOther(ImplicitLocOpBuilder &b, IntegerLayer &layer) {
  return emitCodes(b, layer.other.fq, layer.other.path, layer.other.codes);
}

Value Converter::emitAdd(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                         SmallVectorImpl<int32_t> &multipliers,
                         SmallVectorImpl<int32_t> &shifts) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getIntegerType(32);
  auto type = RankedTensorType::get(
      cast<RankedTensorType>(layer.op->getResult(0).getType()).getShape(), i32);
  unsigned rank = type.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  auto elementwise =
      [&](ValueRange inputs,
          function_ref<Value(OpBuilder &, Location, ValueRange)> body)
      -> Value {
    SmallVector<AffineMap> maps(inputs.size() + 1, id);
    return linalg::GenericOp::create(
               b, TypeRange{type}, inputs,
               ValueRange{tensor::EmptyOp::create(b, type.getShape(), i32)
                              .getResult()},
               maps, parallel,
               [&](OpBuilder &nested, Location loc, ValueRange args) {
                 linalg::YieldOp::create(nested, loc, body(nested, loc, args));
               })
        .getResult(0);
  };
  // Each operand's codes, minus its zero point, on the common grid
  // s_c = max(s_a, s_b) / 2^20: int32 with 20 bits of fraction to spare
  // (|q - z| < 2^8, so |a| < 2^28 and the sum fits).
  const Codes &a = layer.inputCodes, &c = layer.other.codes;
  double common = std::max<double>(a.scales.front(), c.scales.front()) *
                  std::ldexp(1.0, -20);
  auto onCommonGrid = [&](Value codes, const Codes &in) -> Value {
    Value wide = elementwise(
        ValueRange{codes},
        [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
          return arith::ExtSIOp::create(nested, loc, i32, args[0]);
        });
    quantmath::FixedPointMultiplier fixed =
        *quantmath::decomposeMultiplier(in.scales.front() / common);
    QuantSpec spec;
    spec.numBits = 32;
    return RequantizeOp::create(b, type, wide, {fixed.multiplier},
                                {fixed.shift}, in.storedZeroPoint(),
                                /*outputZeroPoint=*/0, spec);
  };
  Value lhs = onCommonGrid(emitInput(b, layer), a);
  Value rhs = onCommonGrid(emitOther(b, layer), c);
  appendMultiplier(common / layer.outputCodes.scales.front(), multipliers,
                   shifts);
  return elementwise(
      ValueRange{lhs, rhs},
      [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        return arith::AddIOp::create(nested, loc, args[0], args[1]);
      });
}

Value Converter::emitProduct(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                             SmallVectorImpl<int32_t> &multipliers,
                             SmallVectorImpl<int32_t> &shifts) {
  Type i32 = b.getIntegerType(32);
  const Codes &x = layer.inputCodes, &g = layer.other.codes;
  appendMultiplier(productRescale(layer), multipliers, shifts);
  // (qx - zx) (qg - zg): |each| < 2^8, so the product fits in int32.
  auto type = RankedTensorType::get(
      cast<RankedTensorType>(layer.op->getResult(0).getType()).getShape(), i32);
  Value lhs = emitInput(b, layer), rhs = emitOther(b, layer);
  return linalg::GenericOp::create(
             b, TypeRange{type}, ValueRange{lhs, rhs},
             ValueRange{
                 tensor::EmptyOp::create(b, type.getShape(), i32).getResult()},
             layer.op.getIndexingMapsArray(), layer.op.getIteratorTypesArray(),
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               auto centred = [&](Value code, const Codes &c) -> Value {
                 Value wide = arith::ExtSIOp::create(nested, loc, i32, code);
                 Value zero = arith::ConstantIntOp::create(nested, loc, i32,
                                                           c.storedZeroPoint());
                 return arith::SubIOp::create(nested, loc, wide, zero);
               };
               linalg::YieldOp::create(
                   nested, loc,
                   Value(arith::MulIOp::create(nested, loc, centred(args[0], x),
                                               centred(args[1], g))));
             })
      .getResult(0);
}

Value Converter::emitActivationMatmul(ImplicitLocOpBuilder &b,
                                      IntegerLayer &layer,
                                      ActivationMatmul &matmul,
                                      SmallVectorImpl<int32_t> &multipliers,
                                      SmallVectorImpl<int32_t> &shifts) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getIntegerType(32);
  const Codes &ca = layer.inputCodes, &cb = layer.other.codes;
  appendMultiplier(productRescale(layer), multipliers, shifts);
  Value a = emitInput(b, layer), other = emitOther(b, layer);

  // sum_k (qa - za)(qb - zb) = sum_k qa qb + init, with
  // init = K za zb - zb rowsum(A) - za colsum(B): A is [..., M, K], B
  // [..., K, N], the result [..., M, N].
  auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
  unsigned rank = resultType.getRank();
  ArrayRef<int64_t> shape = resultType.getShape();
  auto dims = [&](ArrayRef<unsigned> kept) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : kept)
      exprs.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(rank, 0, exprs, ctx);
  };
  SmallVector<unsigned> all = llvm::to_vector(llvm::seq<unsigned>(0, rank));
  SmallVector<unsigned> rows(all.begin(), all.end() - 1); // [..., M]
  SmallVector<unsigned> columns(all.begin(), all.end() - 2);
  columns.push_back(rank - 1); // [..., N]
  // A sum over K of the codes of a [..., M, K] or [..., K, N] operand:
  // loops [..., x, K] with K the reduction, `transposed` for B.
  auto sumOverDepth = [&](Value codes, bool transposed) -> Value {
    SmallVector<int64_t> outShape(shape.begin(), shape.end() - 2);
    outShape.push_back(shape[transposed ? rank - 1 : rank - 2]);
    SmallVector<unsigned> read(all.begin(), all.end() - 2);
    if (transposed)
      read.append({rank - 1, rank - 2});
    else
      read.append({rank - 2, rank - 1});
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    Value zero = arith::ConstantOp::create(b, b.getI32IntegerAttr(0));
    Value init =
        linalg::FillOp::create(
            b, zero, tensor::EmptyOp::create(b, outShape, i32).getResult())
            .getResult(0);
    return sumCodes(b, codes, init, {dims(read), dims(rows)}, iterators);
  };
  int64_t za = ca.storedZeroPoint(), zb = cb.storedZeroPoint();
  auto accType = RankedTensorType::get(shape, i32);
  SmallVector<Value> sums;
  SmallVector<AffineMap> maps;
  if (zb != 0) {
    sums.push_back(sumOverDepth(a, /*transposed=*/false));
    maps.push_back(dims(rows));
  }
  if (za != 0) {
    sums.push_back(sumOverDepth(other, /*transposed=*/true));
    maps.push_back(dims(columns));
  }
  maps.push_back(dims(all));
  // The constant term wraps like the rest (int32 arithmetic is modular).
  int32_t constant =
      static_cast<int32_t>(static_cast<uint32_t>(matmul.depth * za * zb));
  Value init =
      linalg::GenericOp::create(
          b, TypeRange{accType}, sums,
          ValueRange{tensor::EmptyOp::create(b, shape, i32).getResult()}, maps,
          SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
          [&](OpBuilder &nested, Location loc, ValueRange args) {
            Value c = arith::ConstantIntOp::create(nested, loc, i32, constant);
            unsigned next = 0;
            for (int64_t z : {zb, za}) {
              if (z == 0)
                continue;
              Value term = arith::MulIOp::create(
                  nested, loc, args[next++],
                  arith::ConstantIntOp::create(nested, loc, i32, z));
              c = arith::SubIOp::create(nested, loc, c, term);
            }
            linalg::YieldOp::create(nested, loc, c);
          })
          .getResult(0);
  if (isa<linalg::BatchMatmulOp>(layer.op.getOperation()))
    return linalg::BatchMatmulOp::create(b, TypeRange{accType},
                                         ValueRange{a, other}, ValueRange{init})
        .getResult(0);
  return linalg::MatmulOp::create(b, TypeRange{accType}, ValueRange{a, other},
                                  ValueRange{init})
      .getResult(0);
}

Value Converter::emitSum(ImplicitLocOpBuilder &b, IntegerLayer &layer, Sum &sum,
                         Value x, SmallVectorImpl<int32_t> &multipliers,
                         SmallVectorImpl<int32_t> &shifts,
                         int32_t &inputZeroPoint) {
  Type i32 = b.getIntegerType(32);
  const Codes &in = layer.inputCodes, &out = layer.outputCodes;
  auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
  auto accType = RankedTensorType::get(resultType.getShape(), i32);
  // sum(real) = s_in * (sum(codes) - count * z_in): the zero point's share
  // is the requantization's input zero point (in range: checked at match).
  inputZeroPoint = static_cast<int32_t>(sum.count * in.storedZeroPoint());
  appendMultiplier(static_cast<double>(in.scales.front()) * sum.factor /
                       out.scales.front(),
                   multipliers, shifts);

  Value zero = arith::ConstantOp::create(b, b.getI32IntegerAttr(0));
  Value empty = tensor::EmptyOp::create(b, accType.getShape(), i32);
  Value init = linalg::FillOp::create(b, zero, empty).getResult(0);
  if (auto pool = dyn_cast<linalg::PoolingNhwcSumOp>(layer.op.getOperation()))
    return linalg::PoolingNhwcSumOp::create(
               b, TypeRange{accType}, ValueRange{x, pool.getDpsInputs()[1]},
               ValueRange{init},
               {b.getNamedAttr("strides", pool.getStridesAttr()),
                b.getNamedAttr("dilations", pool.getDilationsAttr())})
        .getResult(0);
  // A reduction: the same loops, summing widened codes.
  return sumCodes(b, x, init, layer.op.getIndexingMapsArray(),
                  layer.op.getIteratorTypesArray());
}

void Converter::rewrite() {
  Type i8 = IntegerType::get(func.getContext(), 8);
  for (IntegerLayer &layer : layers) {
    ImplicitLocOpBuilder b(layer.op.getLoc(), layer.op);
    const Codes &out = layer.outputCodes;
    auto resultType = cast<RankedTensorType>(layer.op->getResult(0).getType());
    int64_t rank = resultType.getRank();
    SmallVector<int32_t> multipliers, shifts;
    int32_t inputZeroPoint = 0;
    Value acc;
    if (layer.getIf<ResidualAdd>())
      acc = emitAdd(b, layer, multipliers, shifts);
    else if (layer.getIf<Product>())
      acc = emitProduct(b, layer, multipliers, shifts);
    else if (auto *matmul = layer.getIf<ActivationMatmul>())
      acc = emitActivationMatmul(b, layer, *matmul, multipliers, shifts);
    else if (auto *sum = layer.getIf<Sum>())
      acc = emitSum(b, layer, *sum, emitInput(b, layer), multipliers, shifts,
                    inputZeroPoint);
    else
      acc = emitContraction(b, layer, std::get<Contraction>(layer.kind),
                            emitInput(b, layer), multipliers, shifts);

    // Requantize, with the epilogue's clamps as code bounds.
    int64_t low = out.range.qmin, high = out.range.qmax;
    if (layer.clampLow)
      low = std::max(low, quantmath::quantize(*layer.clampLow,
                                              out.scales.front(), out.zeroPoint,
                                              out.range, out.rounding));
    if (layer.clampHigh)
      high = std::min(
          high, quantmath::quantize(*layer.clampHigh, out.scales.front(),
                                    out.zeroPoint, out.range, out.rounding));
    QuantSpec spec;
    spec.quantMin = low - out.offset;
    spec.quantMax = high - out.offset;
    if (multipliers.size() > 1)
      spec.axis = rank - 1;
    spec.rounding = layer.output.getRounding();
    auto y = RequantizeOp::create(
        b, RankedTensorType::get(resultType.getShape(), i8), acc, multipliers,
        shifts, inputZeroPoint, out.storedZeroPoint(), spec);
    // The layer's name and output scale stay on its codes, for the
    // differential checker (qat-expose-layers).
    if (StringAttr name = QatDialect::getLayerName(layer.op)) {
      QatDialect::setLayerName(y, name);
      y->setAttr(QatDialect::kScaleAttrName,
                 b.getF32FloatAttr(out.scales.front()));
    }
    converted[layer.output] = y;

    connectOutput(layer, y);
  }
  if (mode == Mode::Deploy)
    eraseFloatLayers();
}

void Converter::connectOutput(IntegerLayer &layer, Value codes) {
  const Codes &out = layer.outputCodes;
  ImplicitLocOpBuilder b(layer.output.getLoc(), layer.output);
  b.setInsertionPointAfter(layer.output);
  auto dequantized = [&]() -> Value {
    Value scale = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                  out.scales.front()));
    Value zero = arith::ConstantOp::create(
        b,
        DenseElementsAttr::get(RankedTensorType::get({}, b.getIntegerType(32)),
                               static_cast<int32_t>(out.storedZeroPoint())));
    return DequantizeOp::create(b, layer.output.getType(), codes, scale, zero);
  };
  Value simulated = layer.output.getResult();
  if (mode == Mode::Faithful) {
    // Every user reads the integer result; gradients reach the float layer.
    Value exact = StraightThroughOp::create(b, simulated.getType(), simulated,
                                            dequantized());
    simulated.replaceAllUsesExcept(exact, exact.getDefiningOp());
    return;
  }
  // Every user reads the dequantized codes. Converted layers read the codes
  // themselves (emitCodes), so their float paths die with the float layers;
  // a path shared with float consumers (the slices of an attention's
  // projection, some of them scaled in float) keeps the deployed values.
  Value real = dequantized();
  simulated.replaceAllUsesExcept(real, real.getDefiningOp());
  outputDequantizes.push_back(real.getDefiningOp());
}

void Converter::eraseFloatLayers() {
  // Users first: a layer's output fake-quant is the next layer's input.
  llvm::SetVector<Operation *> order;
  for (IntegerLayer &layer : llvm::reverse(layers)) {
    order.insert(layer.output);
    for (Operation *op : llvm::reverse(layer.epilogue))
      order.insert(op);
    order.insert(layer.op);
    for (Operation *op : llvm::reverse(layer.path)) {
      order.insert(op);
      auto parts = concatParts.find(op);
      if (parts == concatParts.end())
        continue;
      for (const ConcatPart &part : parts->second) {
        for (Operation *partOp : llvm::reverse(part.path))
          order.insert(partOp);
        order.insert(part.fq);
      }
    }
    if (layer.other.fq) {
      for (Operation *op : llvm::reverse(layer.other.path))
        order.insert(op);
      order.insert(layer.other.fq);
    }
    if (auto *contraction = layer.getIf<Contraction>())
      order.insert(contraction->weight);
    order.insert(layer.input);
  }
  SmallVector<Operation *> dead(order.begin(), order.end());
  // Then the dequantized outputs nothing reads any more.
  dead.append(outputDequantizes.begin(), outputDequantizes.end());
  for (bool erased = true; erased;) {
    erased = false;
    for (Operation *&op : dead)
      if (op && op->use_empty()) {
        op->erase();
        op = nullptr;
        erased = true;
      }
  }
}

} // namespace mlir::qat::integer
