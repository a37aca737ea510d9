//===- ConvertToInteger.cpp - qat-convert-to-integer ----------------------===//
//
// Part of qat-mlir. Lowers the layers of a frozen QAT graph to integer
// arithmetic: int8 codes, int32 accumulation, fixed-point requantization.
// Each layer is matched completely (input fake-quant, weight fake-quant,
// epilogue, output fake-quant) before anything is rewritten.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"

#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Dialect/Qat/Transforms/Graph.h"
#include "qat/Support/QuantMath.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVERTTOINTEGER
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// Constant quantization parameters of a fake-quant, and how its codes are
/// stored: signed 8-bit, shifted by `offset` (128 for unsigned ranges).
struct Codes {
  SmallVector<float> scales; ///< one per tensor or per channel
  int64_t zeroPoint = 0;     ///< per-tensor zero point (0 for weights)
  quantmath::QuantRange range;
  int64_t offset = 0;
  quantmath::RoundingMode rounding = quantmath::RoundingMode::HalfToEven;

  int64_t storedZeroPoint() const { return zeroPoint - offset; }
};

/// One matched layer.
struct IntegerLayer {
  linalg::MatmulOp matmul;
  FakeQuantOp input, weight, output;
  SmallVector<float> weights; ///< row-major [K][N]
  SmallVector<float> bias;    ///< per column, zeros when none
  std::optional<float> clampLow, clampHigh;
  Codes inputCodes, weightCodes, outputCodes;
  SmallVector<Operation *> epilogue;
};

template <typename T> FailureOr<SmallVector<T>> constantValues(Value value) {
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

class Converter {
public:
  explicit Converter(func::FuncOp func) : func(func) {}

  /// Matches every layer; fails with a diagnostic at the first one that
  /// cannot be converted.
  LogicalResult match();
  void rewrite();

private:
  FailureOr<IntegerLayer> matchLayer(linalg::MatmulOp matmul);
  LogicalResult matchEpilogue(IntegerLayer &layer);

  func::FuncOp func;
  std::vector<IntegerLayer> layers;
  /// Output fake-quant -> its layer's int8 result, once rewritten.
  DenseMap<Operation *, Value> converted;
};

LogicalResult Converter::matchEpilogue(IntegerLayer &layer) {
  Value value = layer.matmul->getResult(0);
  auto matmulType = cast<RankedTensorType>(value.getType());
  int64_t n = matmulType.getDimSize(1);
  layer.bias.assign(n, 0.0f);
  while (true) {
    if (!value.hasOneUse())
      return layer.matmul.emitOpError("cannot be converted to integers: its "
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
    if (!chain || !isElementwiseOn(generic, input) || chain->scales)
      return user->emitOpError("cannot be converted to integers: expected a "
                               "bias add, ReLU, ReLU6 or clamp after the "
                               "layer, or its output fake-quant");
    // The payload's steps, with their constant operands.
    Block *body = generic.getBlock();
    for (Operation &inner : body->without_terminator()) {
      if (inner.getNumOperands() != 2)
        continue;
      Value other = inner.getOperand(1);
      std::optional<float> c = scalarConstant(other);
      if (isa<arith::AddFOp>(inner)) {
        auto arg = dyn_cast<BlockArgument>(other);
        if (!arg || arg.getOwner() != body || layer.clampLow || layer.clampHigh)
          return generic.emitOpError("cannot be converted to integers: "
                                     "expected a per-column bias before any "
                                     "clamp");
        Value bias = generic.getDpsInputs()[arg.getArgNumber()];
        FailureOr<SmallVector<float>> values = constantValues<float>(bias);
        AffineMap map = generic.getIndexingMapsArray()[arg.getArgNumber()];
        if (failed(values) || !isPerChannelMap(map, 1) ||
            static_cast<int64_t>(values->size()) != n)
          return generic.emitOpError("cannot be converted to integers: the "
                                     "bias is not a constant per column");
        for (int64_t j = 0; j < n; ++j)
          layer.bias[j] += (*values)[j];
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

FailureOr<IntegerLayer> Converter::matchLayer(linalg::MatmulOp matmul) {
  IntegerLayer layer;
  layer.matmul = matmul;
  auto fail = [&](Operation *at, const Twine &why) {
    at->emitOpError("cannot be converted to integers: ") << why;
    return failure();
  };
  if (matmul.hasUserDefinedMaps() || !matmul.hasPureTensorSemantics())
    return fail(matmul, "expected a plain matmul on tensors");
  layer.input = matmul.getDpsInputs()[0].getDefiningOp<FakeQuantOp>();
  layer.weight = matmul.getDpsInputs()[1].getDefiningOp<FakeQuantOp>();
  if (!layer.input || !layer.weight)
    return fail(matmul, "both operands must be fake-quantized");
  std::string why;
  FailureOr<Codes> in = readCodes(layer.input, /*perTensor=*/true, why);
  if (failed(in))
    return fail(layer.input, "input: " + why);
  FailureOr<Codes> w = readCodes(layer.weight, /*perTensor=*/false, why);
  if (failed(w))
    return fail(layer.weight, "weight: " + why);
  if (w->zeroPoint != 0 || w->offset != 0)
    return fail(layer.weight, "weights must be signed and symmetric");
  if (w->scales.size() > 1 && layer.weight.getAxis() != 1u)
    return fail(layer.weight, "per-channel weights must use the columns "
                              "(axis 1)");
  FailureOr<SmallVector<float>> weights =
      constantValues<float>(layer.weight.getInput());
  if (failed(weights))
    return fail(layer.weight, "the weight is not a constant (freeze it)");
  layer.weights = *weights;
  layer.inputCodes = *in;
  layer.weightCodes = *w;
  if (failed(matchEpilogue(layer)))
    return failure();
  FailureOr<Codes> out = readCodes(layer.output, /*perTensor=*/true, why);
  if (failed(out))
    return fail(layer.output, "output: " + why);
  layer.outputCodes = *out;

  // Every rescale must have a fixed-point form.
  for (size_t j = 0; j < std::max<size_t>(1, w->scales.size()); ++j) {
    double real = static_cast<double>(in->scales.front()) *
                  w->scales[std::min(j, w->scales.size() - 1)] /
                  out->scales.front();
    if (!quantmath::decomposeMultiplier(real))
      return fail(matmul, "the rescale s_in * s_w / s_out = " +
                              Twine(std::to_string(real)) +
                              " has no fixed-point form");
  }

  // int32 must hold every accumulator, bias included.
  auto type = cast<RankedTensorType>(matmul.getDpsInputs()[1].getType());
  int64_t depth = type.getDimSize(0);
  quantmath::QuantRange stored{in->range.qmin - in->offset,
                               in->range.qmax - in->offset};
  int64_t bound = quantmath::accumulatorBound(depth, stored,
                                              in->storedZeroPoint(), w->range);
  if (!quantmath::fitsInt32(bound))
    return fail(matmul, "an int32 accumulator could overflow (depth " +
                            Twine(depth) + ", bound " + Twine(bound) + ")");
  return layer;
}

LogicalResult Converter::match() {
  for (Operation &op : func.getBody().front()) {
    if (!isLayerOp(&op))
      continue;
    auto matmul = dyn_cast<linalg::MatmulOp>(op);
    if (!matmul)
      return op.emitOpError("cannot be converted to integers yet (only "
                            "linalg.matmul layers are)");
    FailureOr<IntegerLayer> layer = matchLayer(matmul);
    if (failed(layer))
      return failure();
    layers.push_back(std::move(*layer));
  }
  if (layers.empty())
    return func.emitOpError("has no layer to convert to integers");
  return success();
}

void Converter::rewrite() {
  MLIRContext *ctx = func.getContext();
  Type i8 = IntegerType::get(ctx, 8), i32 = IntegerType::get(ctx, 32);
  for (IntegerLayer &layer : layers) {
    ImplicitLocOpBuilder b(layer.matmul.getLoc(), layer.matmul);
    const Codes &in = layer.inputCodes, &w = layer.weightCodes,
                &out = layer.outputCodes;
    auto xType = cast<RankedTensorType>(layer.input.getType());
    auto wType = cast<RankedTensorType>(layer.weight.getType());
    int64_t m = xType.getDimSize(0), k = wType.getDimSize(0),
            n = wType.getDimSize(1);
    auto scaleOf = [&](const Codes &c, int64_t j) {
      return c.scales.size() == 1 ? c.scales.front() : c.scales[j];
    };

    // Input codes: the previous layer's, or quantized here.
    Value x;
    if (Value previous = converted.lookup(layer.input)) {
      x = previous;
    } else {
      Value scale = arith::ConstantOp::create(
          b, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                    in.scales.front()));
      Value zero = arith::ConstantOp::create(
          b,
          DenseElementsAttr::get(RankedTensorType::get({}, i32),
                                 static_cast<int32_t>(in.storedZeroPoint())));
      x = QuantizeOp::create(
          b, RankedTensorType::get(xType.getShape(), i8),
          ValueRange{layer.input.getInput(), scale, zero},
          {b.getNamedAttr("num_bits", b.getI64IntegerAttr(8)),
           b.getNamedAttr("quant_min",
                          b.getI64IntegerAttr(in.range.qmin - in.offset)),
           b.getNamedAttr("quant_max",
                          b.getI64IntegerAttr(in.range.qmax - in.offset)),
           b.getNamedAttr(
               "rounding",
               layer.input.getRoundingAttr()
                   ? Attribute(layer.input.getRoundingAttr())
                   : RoundingModeAttr::get(ctx, RoundingMode::half_to_even))});
    }

    // Weight codes, the accumulator's constant term and the multipliers.
    SmallVector<int8_t> codes(k * n);
    SmallVector<int32_t> constant(n), multipliers(n), shifts(n);
    for (int64_t j = 0; j < n; ++j) {
      int64_t columnSum = 0;
      for (int64_t i = 0; i < k; ++i) {
        int64_t q = quantmath::quantize(layer.weights[i * n + j], scaleOf(w, j),
                                        0, w.range, w.rounding);
        codes[i * n + j] = static_cast<int8_t>(q);
        columnSum += q;
      }
      int64_t bias = quantmath::quantizeBias(layer.bias[j], in.scales.front(),
                                             scaleOf(w, j), in.rounding);
      int64_t c = bias - in.storedZeroPoint() * columnSum;
      constant[j] = static_cast<int32_t>(
          std::clamp<int64_t>(c, std::numeric_limits<int32_t>::min(),
                              std::numeric_limits<int32_t>::max()));
      double real = static_cast<double>(in.scales.front()) * scaleOf(w, j) /
                    out.scales.front();
      // Representable: checked when the layer was matched.
      quantmath::FixedPointMultiplier fixed =
          *quantmath::decomposeMultiplier(real);
      multipliers[j] = fixed.multiplier;
      shifts[j] = fixed.shift;
    }
    auto weightType = RankedTensorType::get({k, n}, i8);
    Value weights = arith::ConstantOp::create(
        b, DenseElementsAttr::get(weightType, ArrayRef<int8_t>(codes)));
    auto accType = RankedTensorType::get({m, n}, i32);
    Value bias = arith::ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({n}, i32),
                                  ArrayRef<int32_t>(constant)));
    Value init =
        linalg::BroadcastOp::create(
            b, bias, tensor::EmptyOp::create(b, accType.getShape(), i32),
            ArrayRef<int64_t>{0})
            .getResult()[0];
    Value acc =
        linalg::MatmulOp::create(b, TypeRange{accType}, ValueRange{x, weights},
                                 ValueRange{init})
            .getResult(0);

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
    if (w.scales.size() == 1) {
      multipliers.resize(1);
      shifts.resize(1);
    }
    SmallVector<NamedAttribute> attrs = {
        b.getNamedAttr("multiplier", b.getDenseI32ArrayAttr(multipliers)),
        b.getNamedAttr("shift", b.getDenseI32ArrayAttr(shifts)),
        b.getNamedAttr("output_zero_point",
                       b.getI32IntegerAttr(out.storedZeroPoint())),
        b.getNamedAttr("num_bits", b.getI64IntegerAttr(8)),
        b.getNamedAttr("quant_min", b.getI64IntegerAttr(low - out.offset)),
        b.getNamedAttr("quant_max", b.getI64IntegerAttr(high - out.offset))};
    if (w.scales.size() > 1)
      attrs.push_back(b.getNamedAttr("axis", b.getI64IntegerAttr(1)));
    if (auto rounding = layer.output.getRoundingAttr())
      attrs.push_back(b.getNamedAttr("rounding", rounding));
    Value y = RequantizeOp::create(b, RankedTensorType::get({m, n}, i8),
                                   ValueRange{acc}, attrs);
    converted[layer.output] = y;

    // Float users of the output (not the next layer) get dequantized codes.
    // Users of the output that are not a converted layer reading it as input.
    auto isFloatUser = [&](Operation *user) {
      return llvm::none_of(layers, [&](IntegerLayer &next) {
        return next.input == layer.output && next.matmul.getOperation() == user;
      });
    };
    bool floatUsers = llvm::any_of(layer.output->getUsers(), isFloatUser);
    if (floatUsers) {
      ImplicitLocOpBuilder after(layer.output.getLoc(), layer.output);
      after.setInsertionPointAfter(layer.output);
      Value scale = arith::ConstantOp::create(
          after,
          DenseElementsAttr::get(RankedTensorType::get({}, after.getF32Type()),
                                 out.scales.front()));
      Value zero = arith::ConstantOp::create(
          after,
          DenseElementsAttr::get(RankedTensorType::get({}, i32),
                                 static_cast<int32_t>(out.storedZeroPoint())));
      Value real = DequantizeOp::create(
          after, layer.output.getType(), ValueRange{y, scale, zero},
          {after.getNamedAttr("num_bits", after.getI64IntegerAttr(8))});
      layer.output.getResult().replaceUsesWithIf(
          real, [&](OpOperand &use) { return isFloatUser(use.getOwner()); });
    }
  }
  // The float layers are dead now: erase them, users first (a layer's
  // output fake-quant is the next layer's input).
  llvm::SetVector<Operation *> order;
  for (IntegerLayer &layer : llvm::reverse(layers)) {
    order.insert(layer.output);
    for (Operation *op : llvm::reverse(layer.epilogue))
      order.insert(op);
    order.insert(layer.matmul);
    order.insert(layer.weight);
    order.insert(layer.input);
  }
  SmallVector<Operation *> dead(order.begin(), order.end());
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

struct ConvertToIntegerPass
    : public qat::impl::ConvertToIntegerBase<ConvertToIntegerPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func->hasAttr("qat.frozen"))
      return;
    Converter converter(func);
    if (failed(converter.match()))
      return signalPassFailure();
    converter.rewrite();
  }
};

} // namespace
