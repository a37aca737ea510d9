//===- Layers.cpp - Convolution, matrix products, normalization, pooling --===//
//
// Part of qat-mlir. The ops qat-instrument recognizes as layers come out as
// linalg named ops on NHWC (conv_2d_nhwc_hwcf, depthwise_conv_2d_nhwc_hwc,
// matmul), with their constant weights as parameters in that layout. A
// weight given as a graph input (ONNX's backend tests do this) is
// transposed in the function instead.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qat::onnx_import;

namespace {

/// A convolution or pooling window over N spatial dimensions.
struct Window {
  SmallVector<int64_t, 3> kernel, strides, dilations;
  /// The padding before each spatial dimension, then after each (ONNX's
  /// order: top, left, bottom, right in 2-D).
  SmallVector<int64_t, 6> pads;
  size_t rank() const { return kernel.size(); }
};

} // namespace

/// The padding of a window over `spatial` from `pads` or `auto_pad`.
static std::optional<SmallVector<int64_t, 6>>
spatialPads(Importer &im, ArrayRef<int64_t> spatial, ArrayRef<int64_t> kernel,
            ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations) {
  size_t n = spatial.size();
  std::string autoPad = im.stringAttr("auto_pad", "NOTSET");
  SmallVector<int64_t, 6> pads(2 * n, 0);
  if (autoPad == "NOTSET") {
    if (auto given = im.intsAttr("pads")) {
      if (given->size() != 2 * n) {
        (void)im.fail("pads " + formatShape(*given) + ": expected " +
                      Twine(2 * n) + " values");
        return std::nullopt;
      }
      if (llvm::any_of(*given, [](int64_t p) { return p < 0; })) {
        (void)im.fail("pads " + formatShape(*given) +
                      ": negative padding is not supported");
        return std::nullopt;
      }
      pads.assign(given->begin(), given->end());
    }
    return pads;
  }
  if (autoPad == "VALID")
    return pads;
  if (autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER") {
    (void)im.fail("auto_pad=" + autoPad +
                  "; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
    return std::nullopt;
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t out = (spatial[i] + strides[i] - 1) / strides[i];
    int64_t total = std::max<int64_t>(
        0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 -
               spatial[i]);
    int64_t low = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pads[i] = low;
    pads[i + n] = total - low;
  }
  return pads;
}

/// The window of the current node over `spatial` (its kernel_shape,
/// strides, dilations and padding).
static std::optional<Window> window(Importer &im, ArrayRef<int64_t> spatial,
                                    std::optional<std::vector<int64_t>>
                                        kernel) {
  size_t n = spatial.size();
  if (!kernel || kernel->size() != n) {
    (void)im.fail("kernel_shape must have " + Twine(n) + " values for a " +
                  Twine(n) + "-D input, found " +
                  (kernel ? formatShape(*kernel) : std::string("none")));
    return std::nullopt;
  }
  Window w;
  w.kernel.assign(kernel->begin(), kernel->end());
  std::vector<int64_t> ones(n, 1);
  auto strides = im.intsAttr("strides").value_or(ones);
  auto dilations = im.intsAttr("dilations").value_or(ones);
  if (strides.size() != n || dilations.size() != n ||
      llvm::any_of(strides, [](int64_t s) { return s < 1; }) ||
      llvm::any_of(dilations, [](int64_t d) { return d < 1; }) ||
      llvm::any_of(w.kernel, [](int64_t k) { return k < 1; })) {
    (void)im.fail("strides " + formatShape(strides) + ", dilations " +
                  formatShape(dilations) + ", kernel " +
                  formatShape(w.kernel) + ": expected " + Twine(n) +
                  " positive values each");
    return std::nullopt;
  }
  w.strides.assign(strides.begin(), strides.end());
  w.dilations.assign(dilations.begin(), dilations.end());
  auto pads = spatialPads(im, spatial, w.kernel, w.strides, w.dilations);
  if (!pads)
    return std::nullopt;
  w.pads = *pads;
  return w;
}

/// `sizes` joined by 'x' (a window, a padded input).
static std::string joinedSizes(ArrayRef<int64_t> sizes) {
  std::string s;
  for (int64_t v : sizes)
    s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

/// The map of a window's input: batch, channel `channel`, then
/// `o_i * stride_i + k_i * dilation_i` for each spatial dimension, where
/// the iteration space is (n, c-or-f, o..., extra..., k...).
static AffineMap windowInputMap(MLIRContext *ctx, const Window &w,
                                unsigned numDims, AffineExpr channel,
                                unsigned firstKernelDim) {
  SmallVector<AffineExpr> exprs{getAffineDimExpr(0, ctx), channel};
  for (size_t i = 0; i < w.rank(); ++i)
    exprs.push_back(getAffineDimExpr(2 + i, ctx) * w.strides[i] +
                    getAffineDimExpr(firstKernelDim + i, ctx) *
                        w.dilations[i]);
  return AffineMap::get(numDims, 0, exprs, ctx);
}

/// The output size of a window along one dimension, with ONNX's (and
/// PyTorch's) ceil mode for pooling: a last window must start inside the
/// input or its leading padding.
static int64_t pooledSize(int64_t in, int64_t padLow, int64_t padHigh,
                          int64_t k, int64_t stride, int64_t dilation,
                          bool ceil) {
  int64_t span = in + padLow + padHigh - dilation * (k - 1) - 1;
  if (span < 0)
    return 0;
  int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil && (out - 1) * stride >= in + padLow)
    --out;
  return out;
}

/// The output sizes of window `w` sliding over `spatial`; fails naming
/// the window and the padded input when it does not fit.
static std::optional<Shape> windowOutput(Importer &im, const Window &w,
                                         ArrayRef<int64_t> spatial,
                                         bool ceil) {
  size_t n = w.rank();
  Shape out, padded;
  for (size_t d = 0; d < n; ++d) {
    out.push_back(pooledSize(spatial[d], w.pads[d], w.pads[d + n],
                             w.kernel[d], w.strides[d], w.dilations[d],
                             ceil));
    padded.push_back(spatial[d] + w.pads[d] + w.pads[d + n]);
  }
  if (llvm::any_of(out, [](int64_t o) { return o < 1; })) {
    (void)im.fail("a " + joinedSizes(w.kernel) + " window (dilations " +
                  formatShape(w.dilations) +
                  ") does not fit the padded input (" + joinedSizes(padded) +
                  ")");
    return std::nullopt;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

/// y + bias along the channel axis (1 of NCHW / NC), a constant bias
/// becoming a parameter.
static Tensor channelAdd(Importer &im, const Tensor &y, int biasInput,
                         std::vector<float> constantBias = {},
                         bool haveConstant = false) {
  int64_t channels = y.shape.size() > 1 ? y.shape[1] : y.shape[0];
  Value bias;
  if (haveConstant || im.isConstantInput(biasInput)) {
    if (!haveConstant) {
      const Constant *c = im.constantInput(biasInput);
      constantBias.resize(c->size());
      for (int64_t i = 0; i < c->size(); ++i)
        constantBias[i] = static_cast<float>(c->at(i));
    }
    if (static_cast<int64_t>(constantBias.size()) != channels) {
      (void)im.fail("bias '" + im.inputName(biasInput) + "' has " +
                    std::to_string(constantBias.size()) + " values for " +
                    std::to_string(channels) + " channels");
      return {};
    }
    bias = im.parameter(im.inputName(biasInput), {channels},
                        std::move(constantBias));
  } else {
    Tensor t = im.input(biasInput);
    if (!t)
      return {};
    if (numElements(t.shape) != channels) {
      (void)im.fail("bias '" + im.inputName(biasInput) + "' has shape " +
                    formatShape(t.shape) + " for " + std::to_string(channels) +
                    " channels");
      return {};
    }
    bias = im.reshape(t.value, t.physical(), {channels});
  }
  Shape phys = y.physical();
  unsigned rank = phys.size();
  int64_t axis = (y.nhwc || rank == 2) ? rank - 1 : 1;
  Value out = im.generic(
      {y.value, bias},
      {im.identity(rank), im.keep(rank, {axis}), im.identity(rank)}, phys,
      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        return arith::AddFOp::create(b, loc, a[0], a[1]);
      });
  return {out, y.shape, y.nhwc};
}

LogicalResult Importer::as2d(LogicalResult (Importer::*handler)()) {
  const onnx::NodeProto *original = node;
  onnx::NodeProto copy = *original;
  // Attributes: a unit first spatial dimension.
  for (auto &a : *copy.mutable_attribute()) {
    if (a.type() != onnx::AttributeProto_AttributeType_INTS)
      continue;
    std::vector<int64_t> v(a.ints().begin(), a.ints().end());
    bool spatial = a.name() == "kernel_shape" || a.name() == "strides" ||
                   a.name() == "dilations";
    size_t expected = a.name() == "pads" ? 2 : spatial ? 1 : v.size();
    if (v.size() != expected)
      return fail("attribute '" + a.name() + "' " + formatShape(v) +
                  ": expected " + Twine(expected) +
                  (expected == 1 ? " value" : " values") +
                  " for a 1-D input");
    a.clear_ints();
    if (a.name() == "pads")
      v = {0, v[0], 0, v[1]};
    else if (spatial)
      v = {1, v[0]};
    for (int64_t i : v)
      a.add_ints(i);
  }
  // Inputs: X and (a convolution's) W with a unit height, under new names.
  for (int i = 0; i < std::min(copy.input_size(), 2); ++i) {
    const std::string &name = copy.input(i);
    std::string renamed = name + "#2d";
    if (isConstant(name)) {
      Constant c = constants[name];
      if (c.shape.size() != 3)
        return fail("expected a 3-D input '" + name + "', found " +
                    formatShape(c.shape));
      c.shape.insert(c.shape.begin() + 2, 1);
      constants[renamed] = std::move(c);
    } else {
      Tensor v = input(i);
      if (!v)
        return failure();
      v = toLogical(v);
      if (v.shape.size() != 3)
        return fail("expected a 3-D input '" + name + "', found " +
                    formatShape(v.shape));
      Shape s{v.shape[0], v.shape[1], 1, v.shape[2]};
      values[renamed] = wrap(reshape(v.value, v.shape, s), s);
    }
    copy.set_input(i, renamed);
  }
  std::string output = copy.output(0);
  copy.set_output(0, output + "#2d");
  node = &copy;
  LogicalResult result = (this->*handler)();
  node = original;
  if (mlir::failed(result) || failed())
    return failure();
  Tensor y = toLogical(values[output + "#2d"]);
  Shape s{y.shape[0], y.shape[1], y.shape[3]};
  define(0, {reshape(y.value, y.shape, s), s, false});
  return success();
}

/// A 3-D convolution (NCDHW input, OIDHW weight, any group) as one
/// linalg.generic over (n, f, o0, o1, o2, c, k0, k1, k2). qat-instrument
/// knows only 2-D convolutions as layers, so this one stays float.
static LogicalResult conv3d(Importer &im, Tensor x) {
  x = im.toLogical(x);
  Value w;
  Shape wshape;
  if (im.isConstantInput(1)) {
    const Constant *c = im.constantInput(1);
    wshape = c->shape;
    if (wshape.size() == 5)
      w = im.parameter(im.inputName(1), wshape, c->floats);
  } else {
    Tensor t = im.input(1);
    if (!t)
      return failure();
    t = im.toLogical(t);
    wshape = t.shape;
    w = t.value;
  }
  if (wshape.size() != 5)
    return im.fail("weight '" + im.inputName(1) +
                   "' must be 5-D (OIDHW) for a 5-D input, found " +
                   formatShape(wshape));
  int64_t n = x.shape[0], c = x.shape[1], f = wshape[0], cg = wshape[1];
  Shape spatial(x.shape.begin() + 2, x.shape.end());
  std::vector<int64_t> weightKernel(wshape.begin() + 2, wshape.end());
  auto kernel = im.intsAttr("kernel_shape").value_or(weightKernel);
  if (kernel != weightKernel)
    return im.fail("kernel_shape " + formatShape(kernel) +
                   " does not match the weight's " +
                   formatShape(weightKernel));
  auto win = window(im, spatial, kernel);
  if (!win)
    return failure();
  int64_t group = im.intAttr("group", 1);
  if (group < 1 || c % group || f % group || cg * group != c)
    return im.fail("group=" + Twine(group) + " does not divide " + Twine(c) +
                   " input and " + Twine(f) +
                   " output channels (weight shape " + formatShape(wshape) +
                   ")");
  auto sizes = windowOutput(im, *win, spatial, /*ceil=*/false);
  if (!sizes)
    return failure();
  Shape out{n, f};
  out.append(sizes->begin(), sizes->end());
  Value src = im.pad(x, win->pads, 0.0);
  MLIRContext *ctx = im.builder().getContext();
  auto dim = [&](unsigned d) { return getAffineDimExpr(d, ctx); };
  // Output filter f reads input channel (f floordiv F/group) * C/group + c.
  AffineExpr channel = dim(1).floorDiv(f / group) * cg + dim(5);
  SmallVector<utils::IteratorType> iterators(5, utils::IteratorType::parallel);
  iterators.append(4, utils::IteratorType::reduction);
  Value y = im.generic(
      {src, w},
      {windowInputMap(ctx, *win, 9, channel, 6),
       AffineMap::get(9, 0, {dim(1), dim(5), dim(6), dim(7), dim(8)}, ctx),
       AffineMap::get(9, 0, {dim(0), dim(1), dim(2), dim(3), dim(4)}, ctx)},
      out,
      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        Value product = arith::MulFOp::create(b, loc, a[0], a[1]);
        return arith::AddFOp::create(b, loc, a[2], product);
      },
      iterators, im.filled(out, 0.0));
  Tensor result{y, out, false};
  if (im.hasInput(2)) {
    result = channelAdd(im, result, 2);
    if (!result)
      return failure();
  }
  im.define(0, result);
  return success();
}

LogicalResult Importer::opConv() {
  Tensor x = input(0);
  if (!x)
    return failure();
  if (x.shape.size() == 3)
    return as2d(&Importer::opConv);
  if (x.shape.size() == 5)
    return conv3d(*this, x);
  if (x.shape.size() != 4)
    return fail("only 1-D, 2-D and 3-D convolutions (a 3-D, 4-D or 5-D "
                "input) are supported, found input shape " +
                formatShape(x.shape));
  x = toNhwc(x);
  // The weight: OIHW, a constant or computed.
  Shape wshape;
  const Constant *wconst = nullptr;
  Tensor wcomputed;
  if (isConstantInput(1)) {
    wconst = constantInput(1);
    wshape = wconst->shape;
  } else {
    wcomputed = toLogical(input(1));
    if (!wcomputed)
      return failure();
    wshape = wcomputed.shape;
  }
  if (wshape.size() != 4)
    return fail("weight '" + inputName(1) + "' must be 4-D (OIHW), found " +
                formatShape(wshape));
  int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  int64_t f = wshape[0], cg = wshape[1], kh = wshape[2], kw = wshape[3];
  auto kernel = intsAttr("kernel_shape").value_or(std::vector<int64_t>{kh, kw});
  if (kernel != std::vector<int64_t>{kh, kw})
    return fail("kernel_shape " + formatShape(kernel) +
                " does not match the weight's " + formatShape({kh, kw}));
  auto win = window(*this, {h, wd}, kernel);
  if (!win)
    return failure();
  int64_t group = intAttr("group", 1);
  if (group < 1 || c % group || f % group || cg * group != c)
    return fail("group=" + Twine(group) + " does not divide " + Twine(c) +
                " input and " + Twine(f) + " output channels (weight shape " +
                formatShape(wshape) + ")");
  bool depthwise = group == c && group > 1 && cg == 1 && f == c;
  Tensor padded{pad(x, win->pads, 0.0), x.shape, true};
  int64_t hp = h + win->pads[0] + win->pads[2];
  int64_t wp = wd + win->pads[1] + win->pads[3];
  int64_t oh = (hp - win->dilations[0] * (kh - 1) - 1) / win->strides[0] + 1;
  int64_t ow = (wp - win->dilations[1] * (kw - 1) - 1) / win->strides[1] + 1;
  if (oh < 1 || ow < 1)
    return fail("the window does not fit the padded input (" + Twine(hp) +
                "x" + Twine(wp) + ")");
  auto strides = b.getI64TensorAttr(win->strides);
  auto dilations = b.getI64TensorAttr(win->dilations);

  // The weight of filters [first, first + count) in HWCF (HWC if depthwise).
  auto weight = [&](int64_t first, int64_t count, StringRef tag) -> Value {
    if (wconst) {
      std::vector<float> slice(wconst->floats.begin() + first * cg * kh * kw,
                               wconst->floats.begin() +
                                   (first + count) * cg * kh * kw);
      if (depthwise) // F,1,KH,KW -> KH,KW,F
        return parameter(inputName(1), {kh, kw, c},
                         permuted(slice, {f, kh, kw}, {1, 2, 0}));
      return parameter(inputName(1), {kh, kw, cg, count},
                       permuted(slice, {count, cg, kh, kw}, {2, 3, 1, 0}),
                       tag);
    }
    Value w = wcomputed.value;
    if (count != f)
      w = tensor::ExtractSliceOp::create(
          b, currentLoc, tensorType({count, cg, kh, kw}), w,
          ArrayRef<OpFoldResult>{b.getIndexAttr(first), b.getIndexAttr(0),
                                 b.getIndexAttr(0), b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(count), b.getIndexAttr(cg),
                                 b.getIndexAttr(kh), b.getIndexAttr(kw)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                                 b.getIndexAttr(1), b.getIndexAttr(1)});
    if (depthwise)
      return transpose(reshape(w, {f, 1, kh, kw}, {f, kh, kw}), {f, kh, kw},
                       {1, 2, 0});
    return transpose(w, {count, cg, kh, kw}, {2, 3, 1, 0});
  };
  auto conv = [&](Value source, int64_t cin, Value w, int64_t cout) -> Value {
    Shape out{n, oh, ow, cout};
    Value init = filled(out, 0.0);
    if (depthwise)
      return linalg::DepthwiseConv2DNhwcHwcOp::create(
                 b, currentLoc, TypeRange{tensorType(out)},
                 ValueRange{source, w}, ValueRange{init}, strides, dilations)
          .getResult(0);
    return linalg::Conv2DNhwcHwcfOp::create(
               b, currentLoc, TypeRange{tensorType(out)}, ValueRange{source, w},
               ValueRange{init}, strides, dilations)
        .getResult(0);
  };

  Value result;
  if (group == 1 || depthwise) {
    result = conv(padded.value, c, weight(0, f, ""), f);
  } else {
    // A grouped convolution: one convolution per group on its slice of the
    // input channels, concatenated.
    int64_t fg = f / group;
    SmallVector<Value> parts;
    for (int64_t g = 0; g < group; ++g) {
      Value part = tensor::ExtractSliceOp::create(
          b, currentLoc, tensorType({n, hp, wp, cg}), padded.value,
          ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0),
                                 b.getIndexAttr(0), b.getIndexAttr(g * cg)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(n), b.getIndexAttr(hp),
                                 b.getIndexAttr(wp), b.getIndexAttr(cg)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                                 b.getIndexAttr(1), b.getIndexAttr(1)});
      parts.push_back(conv(part, cg, weight(g * fg, fg, ("group" + Twine(g)).str()),
                           fg));
    }
    result = tensor::ConcatOp::create(b, currentLoc, 3, parts);
  }
  Tensor y{result, {n, f, oh, ow}, true};
  if (hasInput(2)) {
    y = channelAdd(*this, y, 2);
    if (!y)
      return failure();
  }
  define(0, y);
  return success();
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

namespace {
Value matmul2d(Importer &im, Value a, Value w, int64_t m, int64_t k,
               int64_t n) {
  OpBuilder &b = im.builder();
  Value init = im.filled({m, n}, 0.0);
  return linalg::MatmulOp::create(b, im.loc(), TypeRange{im.tensorType({m, n})},
                                  ValueRange{a, w}, ValueRange{init})
      .getResult(0);
}
} // namespace

LogicalResult Importer::opGemm() {
  Tensor a = input(0);
  if (!a)
    return failure();
  a = toLogical(a);
  if (a.shape.size() != 2)
    return fail("input A must be 2-D, found shape " + formatShape(a.shape));
  if (intAttr("transA", 0)) {
    a = {transpose(a.value, a.shape, {1, 0}), {a.shape[1], a.shape[0]}, false};
  }
  bool transB = intAttr("transB", 0);
  float alpha = floatAttr("alpha", 1.0f), beta = floatAttr("beta", 1.0f);
  int64_t m = a.shape[0], k = a.shape[1];
  Value w;
  int64_t n;
  bool scaleResult = false;
  if (isConstantInput(1)) {
    const Constant *c = constantInput(1);
    if (c->shape.size() != 2)
      return fail("B must be 2-D, found shape " + formatShape(c->shape));
    std::vector<float> values(c->floats);
    Shape shape = c->shape;
    if (transB) {
      values = permuted(values, shape, {1, 0});
      shape = {shape[1], shape[0]};
    }
    for (float &v : values)
      v *= alpha;
    if (shape[0] != k)
      return fail("A has " + Twine(k) + " columns, B " + Twine(shape[0]) +
                  " rows");
    n = shape[1];
    w = parameter(inputName(1), shape, std::move(values));
  } else {
    Tensor bt = toLogical(input(1));
    if (!bt)
      return failure();
    if (bt.shape.size() != 2)
      return fail("B must be 2-D, found shape " + formatShape(bt.shape));
    Shape shape = bt.shape;
    w = bt.value;
    if (transB) {
      w = transpose(w, shape, {1, 0});
      shape = {shape[1], shape[0]};
    }
    if (shape[0] != k)
      return fail("A has " + Twine(k) + " columns, B " + Twine(shape[0]) +
                  " rows");
    n = shape[1];
    scaleResult = alpha != 1.0f;
  }
  Tensor y{matmul2d(*this, a.value, w, m, k, n), {m, n}, false};
  if (scaleResult) {
    Value s = scalar(alpha);
    y = map(y, [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) {
      return arith::MulFOp::create(nb, loc, v[0], s).getResult();
    });
  }
  if (hasInput(2)) {
    if (isConstantInput(2)) {
      const Constant *c = constantInput(2);
      if (c->size() == n && (c->shape.size() == 1 ||
                             (c->shape.size() == 2 && c->shape[0] == 1))) {
        std::vector<float> bias(c->size());
        for (int64_t i = 0; i < c->size(); ++i)
          bias[i] = static_cast<float>(c->at(i)) * beta;
        y = channelAdd(*this, y, 2, std::move(bias), /*haveConstant=*/true);
      } else {
        return fail("C of shape " + formatShape(c->shape) +
                    " (only a bias of N = " + Twine(n) +
                    " values, or a computed C, is supported)");
      }
    } else {
      Tensor ct = input(2);
      if (!ct)
        return failure();
      ct = toLogical(ct);
      // y + beta * C with C broadcast to [M, N].
      Shape cs(2 - std::min<size_t>(2, ct.shape.size()), 1);
      cs.append(ct.shape.begin(), ct.shape.end());
      if (cs.size() != 2 || (cs[0] != 1 && cs[0] != m) ||
          (cs[1] != 1 && cs[1] != n))
        return fail("C of shape " + formatShape(ct.shape) +
                    " does not broadcast to " + formatShape({m, n}));
      SmallVector<int64_t> kept;
      Shape stored;
      for (int64_t j = 0; j < 2; ++j)
        if (cs[j] != 1 || (j == 0 ? m : n) == 1) {
          kept.push_back(j);
          stored.push_back(cs[j]);
        }
      Value cv = reshape(ct.value, ct.shape, stored);
      Value bs = scalar(beta);
      Value out = generic(
          {y.value, cv}, {identity(2), keep(2, kept), identity(2)}, {m, n},
          [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
            Value scaled = arith::MulFOp::create(nb, loc, v[1], bs);
            return arith::AddFOp::create(nb, loc, v[0], scaled);
          });
      y = {out, {m, n}, false};
    }
    if (!y)
      return failure();
  }
  define(0, y);
  return success();
}

LogicalResult Importer::opMatMul() {
  Tensor a = input(0);
  if (!a)
    return failure();
  a = toLogical(a);
  Shape as = a.shape;
  if (as.empty())
    return fail("A is 0-D: expected at least one dimension");
  bool aVector = as.size() == 1;
  if (aVector) {
    a = {reshape(a.value, as, {1, as[0]}), {1, as[0]}, false};
    as = a.shape;
  }
  if (isConstantInput(1) && constantInput(1)->shape.size() == 2) {
    // A weight: [..., K] x [K, N] as one 2-D product.
    const Constant *c = constantInput(1);
    int64_t k = c->shape[0], n = c->shape[1];
    if (as.back() != k)
      return fail("A has " + Twine(as.back()) + " columns, B " + Twine(k) +
                  " rows");
    int64_t m = numElements(as) / k;
    Value flat = reshape(a.value, as, {m, k});
    Value w = parameter(inputName(1), {k, n}, c->floats);
    Value y = matmul2d(*this, flat, w, m, k, n);
    Shape out(as.begin(), as.end() - 1);
    if (!aVector)
      out.push_back(n);
    else
      out = {n};
    define(0, wrap(reshape(y, {m, n}, out), out));
    return success();
  }
  // Two computed tensors (attention): a batched product over the leading
  // dimensions, which must agree (or B be 2-D).
  Tensor bt = input(1);
  if (!bt)
    return failure();
  bt = toLogical(bt);
  Shape bs = bt.shape;
  if (bs.empty())
    return fail("B is 0-D: expected at least one dimension");
  bool bVector = bs.size() == 1;
  if (bVector) {
    bt = {reshape(bt.value, bs, {bs[0], 1}), {bs[0], 1}, false};
    bs = bt.shape;
  }
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  if (bs[bs.size() - 2] != k)
    return fail("A " + formatShape(as) + " and B " + formatShape(bs) +
                ": the inner dimensions differ");
  Shape batchA(as.begin(), as.end() - 2), batchB(bs.begin(), bs.end() - 2);
  Shape outShape;
  Value y;
  if (batchB.empty()) {
    int64_t rows = numElements(as) / k;
    Value flat = reshape(a.value, as, {rows, k});
    y = matmul2d(*this, flat, bt.value, rows, k, n);
    outShape = Shape(as.begin(), as.end() - 1);
    outShape.push_back(n);
    y = reshape(y, {rows, n}, outShape);
  } else {
    if (batchA != batchB)
      return fail("A " + formatShape(as) + " and B " + formatShape(bs) +
                  ": batch dimensions that differ are not supported");
    int64_t batch = numElements(batchA);
    Value a3 = reshape(a.value, as, {batch, m, k});
    Value b3 = reshape(bt.value, bs, {batch, k, n});
    Value init = filled({batch, m, n}, 0.0);
    y = linalg::BatchMatmulOp::create(b, currentLoc,
                                      TypeRange{tensorType({batch, m, n})},
                                      ValueRange{a3, b3}, ValueRange{init})
            .getResult(0);
    outShape = batchA;
    outShape.push_back(m);
    outShape.push_back(n);
    y = reshape(y, {batch, m, n}, outShape);
  }
  Shape finalShape = outShape;
  if (aVector)
    finalShape.erase(finalShape.end() - 2);
  if (bVector)
    finalShape.pop_back();
  if (finalShape != outShape)
    y = reshape(y, outShape, finalShape);
  define(0, wrap(y, finalShape));
  return success();
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

/// Input `index` as a 1-D tensor of `channels` values: a parameter if it is
/// a constant, else the computed tensor.
static Value channelVector(Importer &im, int index, int64_t channels) {
  if (im.isConstantInput(index)) {
    const Constant *c = im.constantInput(index);
    if (c->size() != channels) {
      (void)im.fail("'" + im.inputName(index) + "' has " +
                    std::to_string(c->size()) + " values for " +
                    std::to_string(channels) + " channels");
      return {};
    }
    std::vector<float> values(c->size());
    for (int64_t i = 0; i < c->size(); ++i)
      values[i] = static_cast<float>(c->at(i));
    return im.parameter(im.inputName(index), {channels}, std::move(values));
  }
  Tensor t = im.input(index);
  if (!t)
    return {};
  if (numElements(t.shape) != channels) {
    (void)im.fail("'" + im.inputName(index) + "' has shape " +
                  formatShape(t.shape) + " for " + std::to_string(channels) +
                  " channels");
    return {};
  }
  return im.reshape(t.value, t.physical(), {channels});
}

LogicalResult Importer::opBatchNormalization() {
  Tensor x = input(0);
  if (!x)
    return failure();
  if (intAttr("training_mode", 0) ||
      (currentNode().output_size() > 1 &&
       llvm::any_of(llvm::drop_begin(currentNode().output()),
                    [](const std::string &s) { return !s.empty(); })))
    return fail("training-mode batch normalization (running statistics as "
                "outputs) is not supported; export in eval mode");
  if (x.shape.size() < 2)
    return fail("expected an input of rank 2 or more, found " +
                formatShape(x.shape));
  if (x.shape.size() != 4)
    x = toLogical(x);
  int64_t channels = x.shape[1];
  SmallVector<Value> stats;
  for (int i = 1; i <= 4; ++i) {
    Value v = channelVector(*this, i, channels);
    if (!v)
      return failure();
    stats.push_back(v);
  }
  Value eps = scalar(floatAttr("epsilon", 1e-5f));
  Shape phys = x.physical();
  unsigned rank = phys.size();
  int64_t axis = x.nhwc ? rank - 1 : 1;
  AffineMap channel = keep(rank, {axis});
  Value out = generic(
      {x.value, stats[0], stats[1], stats[2], stats[3]},
      {identity(rank), channel, channel, channel, channel, identity(rank)},
      phys, [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
        Value d = arith::SubFOp::create(nb, loc, v[0], v[3]);
        Value ve = arith::AddFOp::create(nb, loc, v[4], eps);
        Value sd = math::SqrtOp::create(nb, loc, ve);
        Value norm = arith::DivFOp::create(nb, loc, d, sd);
        Value sc = arith::MulFOp::create(nb, loc, norm, v[1]);
        return arith::AddFOp::create(nb, loc, sc, v[2]);
      });
  define(0, {out, x.shape, x.nhwc});
  return success();
}

LogicalResult Importer::opLayerNormalization() {
  Tensor x = input(0);
  if (!x)
    return failure();
  x = toLogical(x);
  int64_t rank = x.shape.size();
  int64_t axis = intAttr("axis", -1);
  if (axis < -rank || axis >= rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  axis = (axis + rank) % rank;
  float epsilon = floatAttr("epsilon", 1e-5f);
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  Shape outer(x.shape.begin(), x.shape.begin() + axis);
  int64_t count = numElements(normalized);
  SmallVector<int64_t> outerDims, innerDims;
  for (int64_t d = 0; d < rank; ++d)
    (d < axis ? outerDims : innerDims).push_back(d);
  SmallVector<utils::IteratorType> reduceKinds;
  for (int64_t d = 0; d < rank; ++d)
    reduceKinds.push_back(d < axis ? utils::IteratorType::parallel
                                   : utils::IteratorType::reduction);
  AffineMap all = identity(rank), rows = keep(rank, outerDims),
            cols = keep(rank, innerDims);
  auto add = [](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
    return arith::AddFOp::create(nb, loc, v[0], v[1]);
  };
  Value sum = generic({x.value}, {all, rows}, outer, add, reduceKinds,
                      filled(outer, 0.0));
  Value inv = scalar(1.0 / static_cast<double>(count));
  Value centered = generic(
      {x.value, sum}, {all, rows, all}, x.shape,
      [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
        Value mean = arith::MulFOp::create(nb, loc, v[1], inv);
        return arith::SubFOp::create(nb, loc, v[0], mean);
      });
  Value squares = generic(
      {centered}, {all, rows}, outer,
      [](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
        Value sq = arith::MulFOp::create(nb, loc, v[0], v[0]);
        return arith::AddFOp::create(nb, loc, sq, v[1]);
      },
      reduceKinds, filled(outer, 0.0));
  // Scale and bias over the normalized dimensions.
  auto affine = [&](int index) -> Value {
    if (!hasInput(index))
      return {};
    if (isConstantInput(index)) {
      const Constant *c = constantInput(index);
      if (c->size() != count) {
        (void)fail("'" + inputName(index) + "' has shape " +
                   formatShape(c->shape) + " for normalized shape " +
                   formatShape(normalized));
        return {};
      }
      std::vector<float> values(c->size());
      for (int64_t i = 0; i < c->size(); ++i)
        values[i] = static_cast<float>(c->at(i));
      return parameter(inputName(index), normalized, std::move(values));
    }
    Tensor t = input(index);
    if (!t || numElements(t.shape) != count) {
      (void)fail("'" + inputName(index) + "' does not have the normalized "
                 "shape " + formatShape(normalized));
      return {};
    }
    t = toLogical(t);
    return reshape(t.value, t.shape, normalized);
  };
  Value scale = affine(1), bias = affine(2);
  if (failed())
    return failure();
  SmallVector<Value> operands{centered, squares};
  SmallVector<AffineMap> maps{all, rows};
  if (scale) {
    operands.push_back(scale);
    maps.push_back(cols);
  }
  if (bias) {
    operands.push_back(bias);
    maps.push_back(cols);
  }
  maps.push_back(all);
  Value eps = scalar(epsilon);
  Value out = generic(
      operands, maps, x.shape,
      [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
        Value var = arith::MulFOp::create(nb, loc, v[1], inv);
        Value sd = math::SqrtOp::create(
            nb, loc, arith::AddFOp::create(nb, loc, var, eps));
        Value r = arith::DivFOp::create(nb, loc, v[0], sd);
        size_t k = 2;
        if (scale)
          r = arith::MulFOp::create(nb, loc, r, v[k++]);
        if (bias)
          r = arith::AddFOp::create(nb, loc, r, v[k++]);
        return r;
      });
  define(0, wrap(out, x.shape));
  // The Mean and InvStdDev outputs, [outer..., 1, ...] (training exports).
  Shape kept(outer);
  kept.append(rank - axis, 1);
  auto rowsOutput = [&](int index, bool invStd) {
    if (index >= currentNode().output_size() ||
        currentNode().output(index).empty())
      return;
    Value stat = generic(
        {invStd ? squares : sum}, {identity(outer.size()),
                                   identity(outer.size())},
        outer, [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
          Value m = arith::MulFOp::create(nb, loc, v[0], inv);
          if (!invStd)
            return m;
          Value sd = math::SqrtOp::create(
              nb, loc, arith::AddFOp::create(nb, loc, m, eps));
          return arith::DivFOp::create(nb, loc, scalar(1.0), sd);
        });
    define(index, wrap(reshape(stat, outer, kept), kept));
  };
  rowsOutput(1, false);
  rowsOutput(2, true);
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//


/// How many elements of each window count for an average, per output
/// position in row-major order: those inside the input, or inside the
/// input and its declared padding (count_include_pad).
static std::vector<double> windowCounts(const Window &w,
                                        ArrayRef<int64_t> spatial,
                                        ArrayRef<int64_t> out,
                                        bool countIncludePad) {
  size_t n = w.rank();
  std::vector<double> counts{1.0};
  for (size_t d = 0; d < n; ++d) {
    int64_t lo = countIncludePad ? -w.pads[d] : 0;
    int64_t hi = countIncludePad ? spatial[d] + w.pads[d + n] : spatial[d];
    std::vector<double> next;
    next.reserve(counts.size() * out[d]);
    for (double outer : counts)
      for (int64_t i = 0; i < out[d]; ++i) {
        int64_t inside = 0;
        for (int64_t k = 0; k < w.kernel[d]; ++k) {
          int64_t at = i * w.strides[d] + k * w.dilations[d] - w.pads[d];
          inside += at >= lo && at < hi;
        }
        next.push_back(outer * static_cast<double>(inside));
      }
    counts = std::move(next);
  }
  return counts;
}

/// A max or sum pooling window over `x`: a 4-D input in NHWC as
/// linalg's pooling ops, a 5-D one (3-D pooling) as a linalg.generic over
/// NCDHW. For averages, `divisors` receives the per-position counts.
static Tensor pool(Importer &im, Tensor x, bool isMax,
                   std::optional<std::vector<int64_t>> kernel,
                   std::vector<double> *divisors, bool countIncludePad) {
  bool planar = x.shape.size() == 4;
  x = planar ? im.toNhwc(x) : im.toLogical(x);
  Shape phys = x.physical();
  int64_t n = x.shape[0], c = x.shape[1];
  Shape spatial = planar ? Shape{phys[1], phys[2]}
                         : Shape(x.shape.begin() + 2, x.shape.end());
  auto win = window(im, spatial, kernel);
  if (!win)
    return {};
  if (im.intAttr("storage_order", 0)) {
    (void)im.fail("storage_order=1 is not supported");
    return {};
  }
  bool ceil = im.intAttr("ceil_mode", 0) != 0;
  auto sizes = windowOutput(im, *win, spatial, ceil);
  if (!sizes)
    return {};
  const Shape &out = *sizes;
  size_t rank = win->rank();
  // The padding grows at the end so that every (ceil-mode) window lies
  // inside the padded tensor.
  SmallVector<int64_t, 6> pads = win->pads;
  for (size_t d = 0; d < rank; ++d) {
    int64_t need = (out[d] - 1) * win->strides[d] +
                   win->dilations[d] * (win->kernel[d] - 1) + 1;
    pads[d + rank] = std::max(pads[d + rank], need - spatial[d] - pads[d]);
  }
  if (divisors)
    *divisors = windowCounts(*win, spatial, out, countIncludePad);
  double fill = isMax ? -INFINITY : 0.0;
  Value src = im.pad(x, pads, fill);
  OpBuilder &b = im.builder();
  Value windowShape = im.empty(win->kernel);
  Shape logical{n, c};
  logical.append(out.begin(), out.end());
  if (planar) {
    Shape outPhys{n, out[0], out[1], c};
    Value init = im.filled(outPhys, fill);
    auto type = im.tensorType(outPhys);
    auto strides = b.getI64TensorAttr(win->strides);
    auto dilations = b.getI64TensorAttr(win->dilations);
    Value r;
    if (isMax)
      r = linalg::PoolingNhwcMaxOp::create(b, im.loc(), TypeRange{type},
                                           ValueRange{src, windowShape},
                                           ValueRange{init}, strides,
                                           dilations)
              .getResult(0);
    else
      r = linalg::PoolingNhwcSumOp::create(b, im.loc(), TypeRange{type},
                                           ValueRange{src, windowShape},
                                           ValueRange{init}, strides,
                                           dilations)
              .getResult(0);
    return {r, logical, true};
  }
  // (n, c, o..., k...): the kernel dimensions are reductions.
  unsigned numDims = 2 + 2 * rank;
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> kernelDims, outDims;
  for (unsigned d = 0; d < numDims; ++d)
    (d >= 2 + rank ? kernelDims : outDims).push_back(getAffineDimExpr(d, ctx));
  SmallVector<utils::IteratorType> iterators(2 + rank,
                                             utils::IteratorType::parallel);
  iterators.append(rank, utils::IteratorType::reduction);
  Value r = im.generic(
      {src, windowShape},
      {windowInputMap(ctx, *win, numDims, getAffineDimExpr(1, ctx), 2 + rank),
       AffineMap::get(numDims, 0, kernelDims, ctx),
       AffineMap::get(numDims, 0, outDims, ctx)},
      logical,
      [&](OpBuilder &nb, Location loc, ArrayRef<Value> a) -> Value {
        if (isMax)
          return arith::MaximumFOp::create(nb, loc, a[0], a[2]);
        return arith::AddFOp::create(nb, loc, a[0], a[2]);
      },
      iterators, im.filled(logical, fill));
  return {r, logical, false};
}

/// Whether the current pooling node's input `x` has a supported rank;
/// fails naming it otherwise.
static LogicalResult checkPoolRank(Importer &im, const Tensor &x) {
  if (x.shape.size() >= 3 && x.shape.size() <= 5)
    return success();
  return im.fail("only 1-D, 2-D and 3-D pooling (a 3-D, 4-D or 5-D input) is "
                 "supported, found " +
                 formatShape(x.shape));
}

LogicalResult Importer::opMaxPool() {
  if (currentNode().output_size() > 1 && !currentNode().output(1).empty())
    return fail("the Indices output is not supported");
  Tensor x = input(0);
  if (!x || mlir::failed(checkPoolRank(*this, x)))
    return failure();
  if (x.shape.size() == 3)
    return as2d(&Importer::opMaxPool);
  Tensor y = pool(*this, x, true, intsAttr("kernel_shape"), nullptr, false);
  if (!y)
    return failure();
  define(0, y);
  return success();
}

LogicalResult Importer::opAveragePool() {
  Tensor x = input(0);
  if (!x || mlir::failed(checkPoolRank(*this, x)))
    return failure();
  if (x.shape.size() == 3)
    return as2d(&Importer::opAveragePool);
  std::vector<double> divisors;
  Tensor s = pool(*this, x, false, intsAttr("kernel_shape"), &divisors,
                  intAttr("count_include_pad", 0) != 0);
  if (!s)
    return failure();
  if (llvm::all_equal(divisors)) {
    Value factor = scalar(1.0 / divisors.front());
    define(0, map(s, [&](OpBuilder &nb, Location loc, ArrayRef<Value> v) {
             return arith::MulFOp::create(nb, loc, v[0], factor).getResult();
           }));
    return success();
  }
  // Border windows count fewer elements: one factor per output position.
  Shape phys = s.physical();
  unsigned rank = phys.size();
  SmallVector<int64_t> spatialDims;
  for (unsigned d = 2; d < rank; ++d)
    spatialDims.push_back(s.physicalAxis(d));
  Constant factors;
  for (int64_t d : spatialDims)
    factors.shape.push_back(phys[d]);
  for (double d : divisors)
    factors.floats.push_back(static_cast<float>(d > 0 ? 1.0 / d : 0.0));
  Value f = denseConstant(factors, builder().getF32Type());
  Value out = generic(
      {s.value, f}, {identity(rank), keep(rank, spatialDims), identity(rank)},
      phys, [](OpBuilder &nb, Location loc, ArrayRef<Value> v) -> Value {
        return arith::MulFOp::create(nb, loc, v[0], v[1]);
      });
  define(0, {out, s.shape, s.nhwc});
  return success();
}

static LogicalResult globalPool(Importer &im, bool isMax) {
  Tensor x = im.input(0);
  if (!x)
    return failure();
  if (x.shape.size() != 4)
    return im.fail("expected a 4-D NCHW input, found " +
                   formatShape(x.shape));
  x = im.toNhwc(x);
  Shape phys = x.physical();
  int64_t n = phys[0], h = phys[1], w = phys[2], c = phys[3];
  using utils::IteratorType;
  Value s = im.generic(
      {x.value}, {im.identity(4), im.keep(4, {0, 3})}, {n, c},
      [&](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        if (isMax)
          return arith::MaximumFOp::create(b, loc, a[0], a[1]);
        return arith::AddFOp::create(b, loc, a[0], a[1]);
      },
      {IteratorType::parallel, IteratorType::reduction,
       IteratorType::reduction, IteratorType::parallel},
      im.filled({n, c}, isMax ? -INFINITY : 0.0));
  Tensor r{s, {n, c}, false};
  if (!isMax) {
    Value factor = im.scalar(1.0 / static_cast<double>(h * w));
    r = im.map(r, [&](OpBuilder &b, Location loc, ArrayRef<Value> a) {
      return arith::MulFOp::create(b, loc, a[0], factor).getResult();
    });
  }
  im.define(0, {im.reshape(r.value, {n, c}, {n, 1, 1, c}), {n, c, 1, 1},
                true});
  return success();
}

LogicalResult Importer::opGlobalAveragePool() {
  return globalPool(*this, false);
}
LogicalResult Importer::opGlobalMaxPool() { return globalPool(*this, true); }

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

LogicalResult Importer::opSoftmax() {
  Tensor x = input(0);
  if (!x)
    return failure();
  x = toLogical(x);
  int64_t rank = x.shape.size();
  int64_t axis = intAttr("axis", opset() >= 13 ? -1 : 1);
  if (axis < -rank || axis >= rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " +
                Twine(rank));
  axis = (axis + rank) % rank;
  // Opsets before 13 normalize over every dimension from `axis` on.
  SmallVector<bool> reduced(rank, false);
  for (int64_t d = axis; d < (opset() >= 13 ? axis + 1 : rank); ++d)
    reduced[d] = true;
  SmallVector<int64_t> kept;
  Shape rowShape;
  SmallVector<utils::IteratorType> kinds;
  for (int64_t d = 0; d < rank; ++d) {
    kinds.push_back(reduced[d] ? utils::IteratorType::reduction
                               : utils::IteratorType::parallel);
    if (!reduced[d]) {
      kept.push_back(d);
      rowShape.push_back(x.shape[d]);
    }
  }
  AffineMap all = identity(rank), rows = keep(rank, kept);
  Value mx = generic(
      {x.value}, {all, rows}, rowShape,
      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        return arith::MaximumFOp::create(b, loc, a[0], a[1]);
      },
      kinds, filled(rowShape, -INFINITY));
  Value ex = generic({x.value, mx}, {all, rows, all}, x.shape,
                     [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
                       Value s = arith::SubFOp::create(b, loc, a[0], a[1]);
                       return math::ExpOp::create(b, loc, s);
                     });
  Value sum = generic(
      {ex}, {all, rows}, rowShape,
      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
        return arith::AddFOp::create(b, loc, a[0], a[1]);
      },
      kinds, filled(rowShape, 0.0));
  Value out = generic({ex, sum}, {all, rows, all}, x.shape,
                      [](OpBuilder &b, Location loc, ArrayRef<Value> a) -> Value {
                        return arith::DivFOp::create(b, loc, a[0], a[1]);
                      });
  define(0, wrap(out, x.shape));
  return success();
}
