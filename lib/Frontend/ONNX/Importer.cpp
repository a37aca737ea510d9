//===- Importer.cpp - ONNX models to linalg on tensors --------------------===//
//
// Part of qat-mlir. The driver (inputs, initializers, nodes, results), the
// values and constants, the NHWC layout, and the building blocks the op
// handlers share.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OnnxModel.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <numeric>

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::onnx_import;

//===----------------------------------------------------------------------===//
// Constants and tensors
//===----------------------------------------------------------------------===//

int64_t mlir::qat::onnx_import::numElements(ArrayRef<int64_t> shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

std::optional<int64_t>
mlir::qat::onnx_import::boundedNumElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || llvm::MulOverflow(n, d, n) || n > kMaxElements)
      return std::nullopt;
  return n;
}

std::vector<float>
mlir::qat::onnx_import::permuted(const std::vector<float> &values,
                                 ArrayRef<int64_t> shape,
                                 ArrayRef<int64_t> perm) {
  size_t rank = shape.size();
  if (rank == 2 && perm[0] == 1) {
    // A matrix transposed in tiles (a large Gemm weight: cache-friendly).
    int64_t rows = shape[0], cols = shape[1];
    constexpr int64_t kTile = 64;
    std::vector<float> result(values.size());
    for (int64_t i0 = 0; i0 < rows; i0 += kTile)
      for (int64_t j0 = 0; j0 < cols; j0 += kTile)
        for (int64_t i = i0; i < std::min(rows, i0 + kTile); ++i)
          for (int64_t j = j0; j < std::min(cols, j0 + kTile); ++j)
            result[j * rows + i] = values[i * cols + j];
    return result;
  }
  Shape out, strides(rank, 1);
  for (int64_t p : perm)
    out.push_back(shape[p]);
  for (int j = static_cast<int>(rank) - 2; j >= 0; --j)
    strides[j] = strides[j + 1] * shape[j + 1];
  std::vector<float> result(values.size());
  Shape index(rank, 0);
  for (size_t e = 0; e < values.size(); ++e) {
    int64_t src = 0;
    for (size_t j = 0; j < rank; ++j)
      src += index[j] * strides[perm[j]];
    result[e] = values[src];
    for (int j = static_cast<int>(rank) - 1; j >= 0; --j) {
      if (++index[j] < out[j])
        break;
      index[j] = 0;
    }
  }
  return result;
}

std::vector<int64_t> Constant::toInts() const {
  std::vector<int64_t> result(size());
  for (int64_t i = 0, e = size(); i < e; ++i)
    result[i] = intAt(i);
  return result;
}

Constant Constant::ofInts(Shape shape, std::vector<int64_t> values) {
  Constant c;
  c.shape = std::move(shape);
  c.isFloat = false;
  c.ints = std::move(values);
  return c;
}

Constant Constant::ofFloats(Shape shape, std::vector<float> values) {
  Constant c;
  c.shape = std::move(shape);
  c.floats = std::move(values);
  return c;
}

namespace {
/// The transposes between ONNX's NCHW and the NHWC convolutions compute
/// in. kNhwcToNchw[a] is also where NCHW dimension a sits in NHWC.
constexpr int64_t kNchwToNhwc[] = {0, 2, 3, 1};
constexpr int64_t kNhwcToNchw[] = {0, 3, 1, 2};
} // namespace

Shape Tensor::physical() const {
  if (!nhwc)
    return shape;
  return {shape[0], shape[2], shape[3], shape[1]};
}

int64_t Tensor::physicalAxis(int64_t axis) const {
  return nhwc && axis >= 0 && axis < 4 ? kNhwcToNchw[axis] : axis;
}

Type Tensor::elementType() const {
  return cast<RankedTensorType>(value.getType()).getElementType();
}

namespace {

std::string dataTypeName(int type) {
  return onnx::TensorProto_DataType_Name(
      static_cast<onnx::TensorProto_DataType>(type));
}

float halfToFloat(uint16_t bits, bool brain) {
  if (brain) {
    uint32_t word = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &word, sizeof value);
    return value;
  }
  llvm::APFloat half(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
  bool lost;
  half.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
               &lost);
  return half.convertToFloat();
}

} // namespace

Type mlir::qat::onnx_import::elementTypeOf(MLIRContext *context,
                                           int64_t type) {
  switch (type) {
  case onnx::TensorProto_DataType_FLOAT:
    return Float32Type::get(context);
  case onnx::TensorProto_DataType_DOUBLE:
    return Float64Type::get(context);
  case onnx::TensorProto_DataType_BOOL:
    return IntegerType::get(context, 1);
  case onnx::TensorProto_DataType_INT8:
  case onnx::TensorProto_DataType_UINT8:
    return IntegerType::get(context, 8);
  case onnx::TensorProto_DataType_INT16:
  case onnx::TensorProto_DataType_UINT16:
    return IntegerType::get(context, 16);
  case onnx::TensorProto_DataType_INT32:
  case onnx::TensorProto_DataType_UINT32:
    return IntegerType::get(context, 32);
  case onnx::TensorProto_DataType_INT64:
  case onnx::TensorProto_DataType_UINT64:
    return IntegerType::get(context, 64);
  default:
    return {};
  }
}

bool mlir::qat::onnx_import::isUnsignedDataType(int64_t type) {
  return type == onnx::TensorProto_DataType_UINT8 ||
         type == onnx::TensorProto_DataType_UINT16 ||
         type == onnx::TensorProto_DataType_UINT32 ||
         type == onnx::TensorProto_DataType_UINT64;
}

namespace {

/// An initializer or a Constant node's tensor, decoded; std::nullopt with
/// `why` set when it cannot be.
std::optional<Constant> decodeTensor(const onnx::TensorProto &t,
                                     std::string &why) {
  Constant c;
  for (int64_t d : t.dims()) {
    if (d < 0) {
      why = "has a negative dimension";
      return std::nullopt;
    }
    c.shape.push_back(d);
  }
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    why = "stores its data in an external file (not supported; save the "
          "model with its weights inside)";
    return std::nullopt;
  }
  std::optional<int64_t> bounded = boundedNumElements(c.shape);
  if (!bounded) {
    why = "has shape " + formatShape(c.shape) +
          ": expected at most 2^32 elements";
    return std::nullopt;
  }
  int64_t n = *bounded;
  const std::string &raw = t.raw_data();
  bool hasRaw = t.has_raw_data();
  auto rawElement = [&](size_t bytes) -> bool {
    if (raw.size() != static_cast<size_t>(n) * bytes) {
      why = "has " + std::to_string(raw.size()) + " bytes of raw data for " +
            std::to_string(n) + " elements of " + std::to_string(bytes) +
            " bytes";
      return false;
    }
    return true;
  };
  auto fieldSize = [&](int64_t size) -> bool {
    if (size != n) {
      why = "has " + std::to_string(size) + " values for shape of " +
            std::to_string(n) + " elements";
      return false;
    }
    return true;
  };
  using llvm::support::endian::read;
  using llvm::endianness;
  const char *p = raw.data();
  switch (t.data_type()) {
  case onnx::TensorProto_DataType_FLOAT:
    c.floats.resize(n);
    if (hasRaw) {
      if (!rawElement(4))
        return std::nullopt;
      for (int64_t i = 0; i < n; ++i)
        c.floats[i] = llvm::bit_cast<float>(
            read<uint32_t, endianness::little>(p + 4 * i));
    } else {
      if (!fieldSize(t.float_data_size()))
        return std::nullopt;
      std::copy(t.float_data().begin(), t.float_data().end(),
                c.floats.begin());
    }
    return c;
  case onnx::TensorProto_DataType_DOUBLE:
    c.floats.resize(n);
    if (hasRaw) {
      if (!rawElement(8))
        return std::nullopt;
      for (int64_t i = 0; i < n; ++i)
        c.floats[i] = static_cast<float>(llvm::bit_cast<double>(
            read<uint64_t, endianness::little>(p + 8 * i)));
    } else {
      if (!fieldSize(t.double_data_size()))
        return std::nullopt;
      for (int64_t i = 0; i < n; ++i)
        c.floats[i] = static_cast<float>(t.double_data(i));
    }
    return c;
  case onnx::TensorProto_DataType_FLOAT16:
  case onnx::TensorProto_DataType_BFLOAT16: {
    bool brain = t.data_type() == onnx::TensorProto_DataType_BFLOAT16;
    c.floats.resize(n);
    if (hasRaw) {
      if (!rawElement(2))
        return std::nullopt;
      for (int64_t i = 0; i < n; ++i)
        c.floats[i] =
            halfToFloat(read<uint16_t, endianness::little>(p + 2 * i), brain);
    } else {
      if (!fieldSize(t.int32_data_size()))
        return std::nullopt;
      for (int64_t i = 0; i < n; ++i)
        c.floats[i] = halfToFloat(static_cast<uint16_t>(t.int32_data(i)),
                                  brain);
    }
    return c;
  }
  default:
    break;
  }
  // Integers and booleans.
  c.isFloat = false;
  c.ints.resize(n);
  unsigned bytes = 0;
  bool isSigned = true;
  switch (t.data_type()) {
  case onnx::TensorProto_DataType_BOOL:
    c.isBool = true;
    bytes = 1;
    isSigned = false;
    break;
  case onnx::TensorProto_DataType_INT8:
    bytes = 1;
    break;
  case onnx::TensorProto_DataType_UINT8:
    bytes = 1;
    isSigned = false;
    break;
  case onnx::TensorProto_DataType_INT16:
    bytes = 2;
    break;
  case onnx::TensorProto_DataType_UINT16:
    bytes = 2;
    isSigned = false;
    break;
  case onnx::TensorProto_DataType_INT32:
    bytes = 4;
    break;
  case onnx::TensorProto_DataType_UINT32:
    bytes = 4;
    isSigned = false;
    break;
  case onnx::TensorProto_DataType_INT64:
    bytes = 8;
    break;
  case onnx::TensorProto_DataType_UINT64:
    bytes = 8;
    isSigned = false;
    break;
  default:
    why = "has element type " + dataTypeName(t.data_type()) +
          " (not supported)";
    return std::nullopt;
  }
  if (hasRaw) {
    if (!rawElement(bytes))
      return std::nullopt;
    for (int64_t i = 0; i < n; ++i) {
      const char *q = p + bytes * i;
      uint64_t u = 0;
      switch (bytes) {
      case 1:
        u = static_cast<uint8_t>(*q);
        c.ints[i] = isSigned ? static_cast<int8_t>(u) : int64_t(u);
        break;
      case 2:
        u = read<uint16_t, endianness::little>(q);
        c.ints[i] = isSigned ? static_cast<int16_t>(u) : int64_t(u);
        break;
      case 4:
        u = read<uint32_t, endianness::little>(q);
        c.ints[i] = isSigned ? static_cast<int32_t>(u) : int64_t(u);
        break;
      default:
        c.ints[i] = static_cast<int64_t>(read<uint64_t, endianness::little>(q));
        break;
      }
    }
    return c;
  }
  if (bytes == 8 && isSigned) {
    if (!fieldSize(t.int64_data_size()))
      return std::nullopt;
    std::copy(t.int64_data().begin(), t.int64_data().end(), c.ints.begin());
  } else if (!isSigned && bytes >= 4) {
    if (!fieldSize(t.uint64_data_size()))
      return std::nullopt;
    for (int64_t i = 0; i < n; ++i)
      c.ints[i] = static_cast<int64_t>(t.uint64_data(i));
  } else {
    if (!fieldSize(t.int32_data_size()))
      return std::nullopt;
    std::copy(t.int32_data().begin(), t.int32_data().end(), c.ints.begin());
  }
  return c;
}

/// `name` as an identifier: letters, digits and '_' kept, others '_'.
std::string identifier(StringRef name, StringRef otherwise) {
  std::string result;
  for (char ch : name)
    result += (llvm::isAlnum(ch) || ch == '_') ? ch : '_';
  if (result.empty())
    return otherwise.str();
  if (!llvm::isAlpha(result[0]) && result[0] != '_')
    result = otherwise.str() + "_" + result;
  return result;
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(shape, os);
  os << "]";
  return text;
}

} // namespace

namespace mlir::qat::onnx_import {
std::optional<Constant> decode(const onnx::TensorProto &t, std::string &why) {
  return decodeTensor(t, why);
}
std::string formatShape(ArrayRef<int64_t> shape) { return shapeString(shape); }
} // namespace mlir::qat::onnx_import

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

Importer::Importer(onnx::ModelProto &model, int64_t opset,
                   MLIRContext *context, const OnnxImportOptions &options)
    : model(model), opsetVersion(opset), context(context), options(options),
      b(context), currentLoc(UnknownLoc::get(context)) {}

LogicalResult Importer::checkSize(ArrayRef<int64_t> shape,
                                  const Twine &what) {
  if (boundedNumElements(shape))
    return success();
  return fail(what + " " + formatShape(shape) +
              ": expected non-negative dimensions and at most 2^32 elements");
}

LogicalResult Importer::fail(const Twine &why) {
  if (!error.empty())
    return failure();
  if (node)
    error = ("node '" + Twine(nodeName(*node)) + "' (" + node->op_type() +
             "): " + why)
                .str();
  else
    error = (options.sourceName + ": " + why).str();
  return failure();
}

llvm::Expected<OwningOpRef<ModuleOp>>
Importer::run(OnnxImportSummary *summary) {
  functionName = !options.functionName.empty()
                     ? identifier(options.functionName, "model")
                     : identifier(model.graph().name().empty()
                                      ? StringRef(options.sourceName)
                                      : StringRef(model.graph().name()),
                                  "model");
  module = ModuleOp::create(UnknownLoc::get(context));
  b.setInsertionPointToEnd(module->getBody());
  function = func::FuncOp::create(b, FileLineColLoc::get(
                                         context, options.sourceName, 0, 0),
                                  functionName,
                                  FunctionType::get(context, {}, {}));
  entry = function.addEntryBlock();
  b.setInsertionPointToEnd(entry);
  if (llvm::failed(importGraph()))
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  if (llvm::failed(mlir::verify(*module))) {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        options.sourceName +
            ": the imported module does not verify (a bug in qat-import; "
            "the diagnostic above names the op)");
  }
  if (summary) {
    summary->functionName = functionName;
    summary->opCounts = opCounts;
    summary->opset = opsetVersion;
  }
  return std::move(module);
}

LogicalResult Importer::importGraph() {
  if (llvm::failed(importInitializers()) || llvm::failed(importInputs()) ||
      llvm::failed(normalizeInputs()))
    return failure();
  for (const onnx::NodeProto &n : model.graph().node())
    if (llvm::failed(importNode(n)))
      return failure();
  node = nullptr;
  if (llvm::failed(finish()))
    return failure();
  return checkInferredShapes();
}

LogicalResult Importer::importInitializers() {
  for (const onnx::TensorProto &init : model.graph().initializer()) {
    std::string why;
    std::optional<Constant> c = decodeTensor(init, why);
    if (!c)
      return fail("initializer '" + init.name() + "' " + why);
    constants[init.name()] = std::move(*c);
  }
  return success();
}

LogicalResult Importer::importInputs() {
  SmallVector<Type> types;
  for (const onnx::ValueInfoProto &in : model.graph().input()) {
    if (constants.count(in.name()))
      continue; // An initializer listed as an input (IR version < 4).
    const std::string where = "graph input '" + in.name() + "'";
    if (!in.type().has_tensor_type() || !in.type().tensor_type().has_shape())
      return fail(where + ": expected a tensor with a shape, found none");
    const auto &t = in.type().tensor_type();
    Type element = elementTypeOf(context, t.elem_type());
    if (!element)
      return fail(where + ": element type " + dataTypeName(t.elem_type()) +
                  "; supported: FLOAT, DOUBLE, INT8-64, UINT8-64, BOOL");
    if (isUnsignedDataType(t.elem_type()))
      unsignedValues.insert(in.name());
    Shape shape;
    for (int i = 0; i < t.shape().dim_size(); ++i) {
      const auto &d = t.shape().dim(i);
      if (d.has_dim_value() && d.dim_value() >= 0) {
        shape.push_back(d.dim_value());
        continue;
      }
      return fail(where + ": dimension " + Twine(i) + " is dynamic ('" +
                  d.dim_param() +
                  "'); only the batch dimension may be (it becomes --batch)");
    }
    if (mlir::failed(checkSize(shape, where + " has shape")))
      return failure();
    Value arg = entry->addArgument(tensorType(shape, element),
                                   NameLoc::get(b.getStringAttr(in.name())));
    inputNames.push_back(in.name());
    if (numElements(shape) == 0) {
      // An empty input holds no values to read: a constant (an empty list
      // of axes, say) that the caller still passes.
      Constant empty;
      empty.shape = shape;
      empty.isFloat = isa<FloatType>(element);
      empty.isBool = element.isInteger(1);
      constants[in.name()] = std::move(empty);
      continue;
    }
    // Kept in ONNX's layout; a convolution moves it to NHWC when it reads
    // it (once).
    values[in.name()] = Tensor{arg, shape, false};
  }
  return success();
}

LogicalResult Importer::normalizeInputs() {
  const std::vector<float> &mean = options.mean, &stddev = options.std;
  if (mean.empty() && stddev.empty())
    return success();
  if (mean.size() != stddev.size())
    return fail("--mean has " + Twine(mean.size()) + " values and --std " +
                Twine(stddev.size()) + ": expected as many");
  for (float s : stddev)
    if (!(s > 0) || !std::isfinite(s))
      return fail("--std: expected positive finite values, found " +
                  llvm::formatv("{0}", s).str());
  for (float m : mean)
    if (!std::isfinite(m))
      return fail("--mean: expected finite values, found " +
                  llvm::formatv("{0}", m).str());
  bool any = false;
  for (const std::string &name : inputNames) {
    Tensor &x = values[name];
    if (!x.elementType().isF32())
      continue;
    int64_t channels = x.shape.size() >= 2 ? x.shape[1] : 0;
    size_t n = mean.size();
    if (channels == 0 || (n != 1 && static_cast<int64_t>(n) != channels))
      return fail("--mean and --std have " + Twine(n) +
                  " values; graph input '" + name + "' of shape " +
                  formatShape(x.shape) +
                  " has " + Twine(channels) + " channels (dimension 1)");
    auto perChannel = [&](const std::vector<float> &v) {
      std::vector<float> all(channels, v[0]);
      if (n != 1)
        all = v;
      return denseConstant(Constant::ofFloats({channels}, std::move(all)),
                           b.getF32Type());
    };
    unsigned rank = x.shape.size();
    Value normalized = generic(
        {x.value, perChannel(mean), perChannel(stddev)},
        {identity(rank), keep(rank, {1}), keep(rank, {1}), identity(rank)},
        x.shape, [](OpBuilder &nb, Location loc, ArrayRef<Value> args) {
          Value centered = arith::SubFOp::create(nb, loc, args[0], args[1]);
          return arith::DivFOp::create(nb, loc, centered, args[2]).getResult();
        });
    x = Tensor{normalized, x.shape, false};
    any = true;
  }
  if (!any)
    return fail("--mean/--std: the model has no float graph input to "
                "normalize");
  return success();
}

LogicalResult Importer::importNode(const onnx::NodeProto &n) {
  node = &n;
  // A named node's ops carry its name (the passes name layers after it); an
  // unnamed one's carry the model file's location, and its layers get
  // generated names (conv_0, ...).
  currentLoc = n.name().empty() ? function.getLoc()
                                : Location(NameLoc::get(
                                      b.getStringAttr(n.name())));
  ++opCounts[n.op_type()];
  using Handler = LogicalResult (Importer::*)();
  static const llvm::StringMap<Handler> handlers = {
#define QAT_ONNX_OP(name) {#name, &Importer::op##name},
#include "Ops.def"
  };
  auto it = handlers.find(n.op_type());
  if (!(n.domain().empty() || n.domain() == "ai.onnx") ||
      it == handlers.end()) {
    std::string list;
    llvm::raw_string_ostream os(list);
    llvm::interleaveComma(supportedOnnxOps(), os);
    return fail(
        Twine("unsupported op type") +
        (n.domain().empty() ? "" : " (domain '" + n.domain() + "')") +
        "; supported: " + list);
  }
  // The ops that know unsigned integers; any other refuses them rather than
  // computing them as signed.
  static const llvm::StringSet<> unsignedOps = {
      "Add",   "Sub",      "Mul",     "Div",       "Mod",     "Max",
      "Min",   "Sum",      "Clip",    "Equal",     "Less",    "Greater",
      "Cast",  "Identity", "Reshape", "Transpose", "Concat",  "Slice",
      "Squeeze", "Unsqueeze", "Flatten", "Expand", "Split",   "Gather",
      "Where", "Pow",      "Shape"};
  for (int i = 0; i < numInputs(); ++i)
    if (isUnsignedInput(i) && !unsignedOps.contains(n.op_type()))
      return fail("input '" + inputName(i) +
                  "' holds unsigned integers, which this op does not take");
  if (llvm::failed((this->*(it->second))()) || failed())
    return fail("failed");
  return success();
}

/// The importer computes every shape itself; where ONNX's shape inference
/// knows one statically, the two must agree (a disagreement would be a
/// silently wrong import).
LogicalResult Importer::checkInferredShapes() {
  inferShapes(model, opsetVersion);
  std::map<std::string, Shape> inferred;
  for (const auto &info : model.graph().value_info()) {
    if (!info.type().has_tensor_type() ||
        !info.type().tensor_type().has_shape())
      continue;
    Shape shape;
    bool known = true;
    for (const auto &d : info.type().tensor_type().shape().dim()) {
      known &= d.has_dim_value();
      shape.push_back(d.dim_value());
    }
    if (known)
      inferred[info.name()] = shape;
  }
  for (const onnx::NodeProto &n : model.graph().node()) {
    node = &n;
    for (const std::string &out : n.output()) {
      auto expected = inferred.find(out);
      if (out.empty() || expected == inferred.end())
        continue;
      Shape got;
      if (auto v = values.find(out); v != values.end())
        got = v->second.shape;
      else if (auto c = constants.find(out); c != constants.end())
        got = c->second.shape;
      else
        continue;
      if (got != expected->second)
        return fail("output '" + out + "' has shape " + shapeString(got) +
                    " where ONNX infers " + shapeString(expected->second) +
                    " (an importer bug; please report it)");
    }
  }
  node = nullptr;
  return success();
}

LogicalResult Importer::finish() {
  SmallVector<Value> results;
  SmallVector<std::string> resultNames;
  for (const onnx::ValueInfoProto &out : model.graph().output()) {
    if (auto c = constants.find(out.name()); c != constants.end()) {
      Constant &k = c->second;
      results.push_back(denseConstant(k, constantElement(k)));
    } else if (auto v = values.find(out.name()); v != values.end()) {
      std::optional<Shape> declared = declaredShape(out.name());
      if (declared && *declared != v->second.shape)
        return fail("graph output '" + out.name() + "' has shape " +
                    formatShape(v->second.shape) +
                    " where the model declares " + formatShape(*declared));
      results.push_back(toLogical(v->second).value);
    } else {
      return fail("graph output '" + out.name() +
                  "' is not produced by any node or graph input");
    }
    resultNames.push_back(out.name());
  }
  func::ReturnOp::create(b, function.getLoc(), results);
  function.setType(FunctionType::get(context, entry->getArgumentTypes(),
                                     TypeRange(ValueRange(results))));
  auto fn = cast<FunctionOpInterface>(function.getOperation());
  unsigned numInputs = inputNames.size();
  for (unsigned i = 0; i < numInputs; ++i) {
    QatDialect::setArgName(fn, i, inputNames[i]);
    QatDialect::setArgRole(fn, i, ArgRole::Input);
  }
  auto &blobs = DenseResourceElementsHandle::getManagerInterface(context);
  (void)blobs;
  for (Parameter &p : parameters) {
    unsigned index = cast<BlockArgument>(p.argument).getArgNumber();
    QatDialect::setArgName(fn, index, p.name);
    QatDialect::setArgRole(fn, index, ArgRole::Parameter);
    auto type = tensorType(p.shape);
    AsmResourceBlob blob =
        HeapAsmResourceBlob::allocateAndCopyInferAlign<float>(p.values);
    std::vector<float>().swap(p.values);
    auto value = DenseResourceElementsAttr::get(
        type, identifier(p.name, "param"), std::move(blob));
    fn.setArgAttr(index, QatDialect::kValueAttrName, value);
  }
  for (unsigned i = 0; i < resultNames.size(); ++i)
    QatDialect::setResultName(fn, i, resultNames[i]);
  return success();
}

//===----------------------------------------------------------------------===//
// Inputs, outputs and attributes of the current node
//===----------------------------------------------------------------------===//

int Importer::numInputs() const { return node->input_size(); }

bool Importer::hasInput(int index) const {
  return index < node->input_size() && !node->input(index).empty();
}

const std::string &Importer::inputName(int index) const {
  return node->input(index);
}

bool Importer::isConstant(StringRef name) const {
  return constants.count(name.str()) && !values.count(name.str());
}

const Constant *Importer::constantInput(int index) {
  if (!hasInput(index)) {
    (void)fail("input " + Twine(index) + " is required");
    return nullptr;
  }
  auto it = constants.find(inputName(index));
  if (it == constants.end()) {
    (void)fail("input '" + inputName(index) +
               "' must be a constant (an initializer or a Constant node), "
               "found a computed tensor");
    return nullptr;
  }
  return &it->second;
}

Tensor Importer::input(int index) {
  if (!hasInput(index)) {
    (void)fail("input " + Twine(index) + " is required");
    return {};
  }
  const std::string &name = inputName(index);
  if (auto it = values.find(name); it != values.end())
    return it->second;
  if (auto it = constants.find(name); it != constants.end()) {
    // A constant where a computed tensor is expected: materialized.
    const Constant &c = it->second;
    return Tensor{denseConstant(c, constantElement(c)), c.shape, false};
  }
  (void)fail("input '" + name +
             "' is not produced by any node, initializer or graph input");
  return {};
}

void Importer::define(int output, Tensor value) {
  if (mlir::failed(checkSize(value.shape, "the result has shape")))
    return;
  if (numElements(value.shape) == 0) {
    (void)fail("the result has shape " + formatShape(value.shape) +
               " (empty tensors are not supported)");
    return;
  }
  if (output >= node->output_size() || node->output(output).empty())
    return;
  Type element = value.elementType();
  bool fromUnsigned = false;
  if (node->op_type() != "Cast" && isa<IntegerType>(element) &&
      !element.isInteger(1))
    for (int i = 0; i < numInputs(); ++i)
      fromUnsigned |= isUnsignedInput(i) && inputElement(i) == element;
  markUnsigned(output, fromUnsigned);
  values[node->output(output)] = std::move(value);
}

bool Importer::isUnsignedInput(int index) const {
  return hasInput(index) && unsignedValues.count(inputName(index));
}

void Importer::markUnsigned(int output, bool isUnsigned) {
  if (output >= node->output_size())
    return;
  if (isUnsigned)
    unsignedValues.insert(node->output(output));
  else
    unsignedValues.erase(node->output(output));
}

void Importer::defineConstant(int output, Constant value) {
  if (output < node->output_size() && !node->output(output).empty())
    constants[node->output(output)] = std::move(value);
}

Tensor Importer::wrap(Value value, ArrayRef<int64_t> shape) {
  Tensor v{value, Shape(shape), false};
  return (shape.size() == 4 && v.elementType().isF32()) ? toNhwc(v) : v;
}

const onnx::AttributeProto *Importer::attribute(StringRef name) const {
  for (const auto &a : node->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::intAttr(StringRef name, int64_t otherwise) {
  const auto *a = attribute(name);
  if (!a)
    return otherwise;
  if (a->type() != onnx::AttributeProto_AttributeType_INT) {
    (void)fail("attribute '" + name + "' must be an integer, found " +
               onnx::AttributeProto_AttributeType_Name(a->type()));
    return otherwise;
  }
  return a->i();
}

float Importer::floatAttr(StringRef name, float otherwise) {
  const auto *a = attribute(name);
  if (!a)
    return otherwise;
  if (a->type() != onnx::AttributeProto_AttributeType_FLOAT) {
    (void)fail("attribute '" + name + "' must be a float, found " +
               onnx::AttributeProto_AttributeType_Name(a->type()));
    return otherwise;
  }
  return a->f();
}

std::string Importer::stringAttr(StringRef name, StringRef otherwise) {
  const auto *a = attribute(name);
  if (!a)
    return otherwise.str();
  if (a->type() != onnx::AttributeProto_AttributeType_STRING) {
    (void)fail("attribute '" + name + "' must be a string, found " +
               onnx::AttributeProto_AttributeType_Name(a->type()));
    return otherwise.str();
  }
  return a->s();
}

std::optional<std::vector<int64_t>> Importer::intsAttr(StringRef name) {
  const auto *a = attribute(name);
  if (!a)
    return std::nullopt;
  if (a->type() != onnx::AttributeProto_AttributeType_INTS) {
    (void)fail("attribute '" + name + "' must be a list of integers, found " +
               onnx::AttributeProto_AttributeType_Name(a->type()));
    return std::nullopt;
  }
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<std::vector<int64_t>>
Importer::intsAttrOrInput(StringRef name, int inputIndex) {
  if (hasInput(inputIndex)) {
    const Constant *c = constantInput(inputIndex);
    if (!c)
      return std::nullopt;
    return c->toInts();
  }
  return intsAttr(name);
}

//===----------------------------------------------------------------------===//
// Shapes the model declares
//===----------------------------------------------------------------------===//

std::optional<Shape> Importer::declaredShape(StringRef name) const {
  auto staticShape =
      [](const onnx::ValueInfoProto &info) -> std::optional<Shape> {
    if (!info.type().has_tensor_type() ||
        !info.type().tensor_type().has_shape())
      return std::nullopt;
    Shape shape;
    for (const auto &d : info.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value() || d.dim_value() < 0)
        return std::nullopt;
      shape.push_back(d.dim_value());
    }
    return shape;
  };
  for (const auto &out : model.graph().output())
    if (out.name() == name)
      return staticShape(out);
  for (const auto &info : model.graph().value_info())
    if (info.name() == name)
      return staticShape(info);
  return std::nullopt;
}

std::optional<Shape> Importer::declaredResultShape(int operand, int output) {
  const std::string &result =
      output < node->output_size() ? node->output(output) : "";
  if (std::optional<Shape> shape = declaredShape(result))
    return shape;
  (void)fail("input '" + inputName(operand) +
             "' must be a constant (an initializer or a Constant node), or "
             "the model must declare a static shape for output '" +
             result + "'; found a computed tensor and no declared shape");
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

Tensor Importer::toLogical(const Tensor &v) {
  if (!v.nhwc)
    return v;
  Value cached = otherLayout.lookup(v.value);
  if (!cached) {
    int64_t c = v.shape[1], h = v.shape[2], w = v.shape[3];
    Value moved = (h * w == 1 || c == 1) // The same element order either way.
                      ? reshape(v.value, v.physical(), v.shape)
                      : transpose(v.value, v.physical(), kNhwcToNchw);
    otherLayout[v.value] = moved;
    otherLayout[moved] = v.value;
    return {moved, v.shape, false};
  }
  return {cached, v.shape, false};
}

Tensor Importer::toNhwc(const Tensor &v) {
  if (v.nhwc)
    return v;
  if (v.shape.size() != 4) {
    (void)fail("expected a 4-D NCHW tensor, found shape " +
               shapeString(v.shape));
    return {};
  }
  Value cached = otherLayout.lookup(v.value);
  if (!cached) {
    int64_t n = v.shape[0], c = v.shape[1], h = v.shape[2], w = v.shape[3];
    Value moved = (h * w == 1 || c == 1)
                      ? reshape(v.value, v.shape, {n, h, w, c})
                      : transpose(v.value, v.shape, kNchwToNhwc);
    otherLayout[v.value] = moved;
    otherLayout[moved] = v.value;
    return {moved, v.shape, true};
  }
  return {cached, v.shape, true};
}

namespace {
/// Groups of `big`'s dimensions whose products are `small`'s, in order (the
/// reassociation of collapse_shape big -> small); std::nullopt if none.
std::optional<SmallVector<ReassociationIndices>>
reassociation(ArrayRef<int64_t> big, ArrayRef<int64_t> small) {
  if (small.empty())
    return std::nullopt;
  SmallVector<ReassociationIndices> groups;
  size_t i = 0;
  for (size_t t = 0; t < small.size(); ++t) {
    ReassociationIndices group;
    int64_t product = 1;
    while (i < big.size() && (group.empty() || product < small[t])) {
      group.push_back(i);
      product *= big[i];
      ++i;
    }
    if (product != small[t])
      return std::nullopt;
    // Unit dimensions after the last group join it; elsewhere they begin
    // the next group, so that a leading batch dimension stays alone
    // ([N, 1, H, W] -> [N, H*W] is [[0], [1, 2, 3]]).
    if (t + 1 == small.size())
      while (i < big.size() && big[i] == 1)
        group.push_back(i++);
    groups.push_back(group);
  }
  if (i != big.size())
    return std::nullopt;
  return groups;
}
} // namespace

Value Importer::reshape(Value source, ArrayRef<int64_t> shape,
                        ArrayRef<int64_t> target) {
  assert(numElements(shape) == numElements(target) &&
         "a reshape must keep the number of elements");
  if (shape == target)
    return source;
  Type element = cast<RankedTensorType>(source.getType()).getElementType();
  auto type = tensorType(target, element);
  if (target.size() < shape.size())
    if (auto groups = reassociation(shape, target))
      return tensor::CollapseShapeOp::create(b, currentLoc, type, source,
                                             *groups);
  if (target.size() > shape.size())
    if (auto groups = reassociation(target, shape))
      return tensor::ExpandShapeOp::create(b, currentLoc, type, source,
                                           *groups);
  if (shape.empty() || target.empty()) {
    // To or from a 0-D tensor: through a 1-element 1-D one.
    if (shape.empty())
      return reshape(tensor::ExpandShapeOp::create(
                         b, currentLoc, tensorType({1}, element), source,
                         ArrayRef<ReassociationIndices>{}),
                     {1}, target);
    Value one = reshape(source, shape, {1});
    return tensor::CollapseShapeOp::create(b, currentLoc, type, one,
                                           ArrayRef<ReassociationIndices>{});
  }
  // Through the dimensions both begin with (the batch, which then stays a
  // dimension of its own: qat-set-batch can change it) and the rest
  // flattened.
  size_t common = 0;
  while (common + 1 < std::min(shape.size(), target.size()) &&
         shape[common] == target[common])
    ++common;
  Shape flat(shape.begin(), shape.begin() + common);
  flat.push_back(numElements(ArrayRef<int64_t>(shape).drop_front(common)));
  return reshape(reshape(source, shape, flat), flat, target);
}

Value Importer::transpose(Value source, ArrayRef<int64_t> shape,
                          ArrayRef<int64_t> perm) {
  Shape out;
  for (int64_t p : perm)
    out.push_back(shape[p]);
  Type element = cast<RankedTensorType>(source.getType()).getElementType();
  return linalg::TransposeOp::create(b, currentLoc, source,
                                     empty(out, element), perm)
      .getResult()[0];
}

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

RankedTensorType Importer::tensorType(ArrayRef<int64_t> shape, Type element) {
  return RankedTensorType::get(shape, element ? element : b.getF32Type());
}

Value Importer::scalar(double value, Type type) {
  type = type ? type : b.getF32Type();
  // Constants live at the top of the function, as one value each.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  if (type.isF32()) {
    float f = static_cast<float>(value);
    uint32_t bits = llvm::bit_cast<uint32_t>(f);
    auto it = scalars.find(bits);
    if (it != scalars.end())
      return it->second;
    Value c = arith::ConstantOp::create(b, function.getLoc(),
                                        b.getF32FloatAttr(f));
    scalars[bits] = c;
    return c;
  }
  if (isa<IndexType>(type))
    return arith::ConstantIndexOp::create(b, function.getLoc(),
                                          static_cast<int64_t>(value));
  if (isa<FloatType>(type))
    return arith::ConstantOp::create(b, function.getLoc(),
                                     b.getFloatAttr(type, value));
  return arith::ConstantOp::create(
      b, function.getLoc(),
      b.getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value Importer::empty(ArrayRef<int64_t> shape, Type element) {
  return tensor::EmptyOp::create(b, currentLoc, shape,
                                 element ? element : b.getF32Type());
}

Value Importer::filled(ArrayRef<int64_t> shape, double value) {
  return linalg::FillOp::create(b, currentLoc, ValueRange{scalar(value)},
                                ValueRange{empty(shape)})
      .getResult(0);
}

AffineMap Importer::identity(unsigned rank) {
  return AffineMap::getMultiDimIdentityMap(rank, context);
}

AffineMap Importer::keep(unsigned rank, ArrayRef<int64_t> dims) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d : dims)
    exprs.push_back(b.getAffineDimExpr(d));
  return AffineMap::get(rank, 0, exprs, context);
}

Value Importer::generic(ArrayRef<Value> operands, ArrayRef<AffineMap> maps,
                        ArrayRef<int64_t> resultShape, ScalarBody body,
                        ArrayRef<utils::IteratorType> iterators, Value init,
                        Type resultElement) {
  SmallVector<utils::IteratorType> kinds(iterators);
  if (kinds.empty())
    kinds.assign(resultShape.size(), utils::IteratorType::parallel);
  Type element = resultElement ? resultElement : b.getF32Type();
  if (!init)
    init = empty(resultShape, element);
  auto op = linalg::GenericOp::create(
      b, currentLoc, TypeRange{init.getType()}, operands, ValueRange{init},
      maps, kinds,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        linalg::YieldOp::create(nb, loc,
                                body(nb, loc, SmallVector<Value>(args)));
      });
  return op.getResult(0);
}

Value Importer::pad(const Tensor &x, ArrayRef<int64_t> pads, double value) {
  if (llvm::all_of(pads, [](int64_t p) { return p == 0; }))
    return x.value;
  Shape phys = x.physical();
  // The spatial dimensions: logical 2 onwards.
  int64_t rank = phys.size(), spatial = rank - 2;
  assert(static_cast<int64_t>(pads.size()) == 2 * spatial &&
         "one pad per side");
  Shape out(phys);
  SmallVector<OpFoldResult> low(rank, b.getIndexAttr(0)),
      high(rank, b.getIndexAttr(0));
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t d = x.physicalAxis(2 + i);
    low[d] = b.getIndexAttr(pads[i]);
    high[d] = b.getIndexAttr(pads[i + spatial]);
    out[d] += pads[i] + pads[i + spatial];
  }
  return tensor::PadOp::create(b, currentLoc, tensorType(out), x.value, low,
                               high, scalar(value));
}

Value Importer::parameter(StringRef name, ArrayRef<int64_t> shape,
                          std::vector<float> values, StringRef tag) {
  auto key = std::make_pair(name.str(), tag.str());
  if (auto it = parameterByKey.find(key); it != parameterByKey.end())
    return it->second;
  std::string pname = tag.empty() ? name.str() : (name + "." + tag).str();
  if (parameterNames.count(pname))
    pname += "." + std::to_string(parameters.size());
  parameterNames[pname] = 1;
  Value arg = entry->addArgument(tensorType(shape),
                                 NameLoc::get(b.getStringAttr(pname)));
  parameters.push_back({pname, Shape(shape), std::move(values), arg});
  parameterByKey[key] = arg;
  return arg;
}

Value Importer::denseConstant(const Constant &c, Type element) {
  auto type = tensorType(c.shape, element);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  DenseElementsAttr attr;
  if (isa<FloatType>(element)) {
    std::vector<float> data(c.size());
    for (int64_t i = 0; i < c.size(); ++i)
      data[i] = static_cast<float>(c.at(i));
    attr = DenseElementsAttr::get(type, ArrayRef<float>(data));
  } else {
    unsigned width = element.getIntOrFloatBitWidth();
    SmallVector<APInt> data;
    data.reserve(c.size());
    for (int64_t i = 0; i < c.size(); ++i)
      data.push_back(APInt(width, static_cast<uint64_t>(c.intAt(i)),
                           /*isSigned=*/width > 1, /*implicitTrunc=*/true));
    attr = DenseElementsAttr::get(type, data);
  }
  return arith::ConstantOp::create(b, function.getLoc(), type, attr);
}

Type Importer::inputElement(int index) {
  const std::string &name = inputName(index);
  if (auto v = values.find(name); v != values.end())
    return v->second.elementType();
  if (auto c = constants.find(name); c != constants.end())
    return constantElement(c->second);
  return b.getF32Type();
}

Type Importer::constantElement(const Constant &c) {
  if (c.isFloat)
    return b.getF32Type();
  return c.isBool ? b.getI1Type() : b.getI64Type();
}

bool Importer::foldConstants(ArrayRef<int> inputs,
                             llvm::function_ref<double(ArrayRef<double>)> fn,
                             bool predicate) {
  SmallVector<const Constant *> operands;
  for (int i : inputs) {
    if (!isConstantInput(i))
      return false;
    operands.push_back(&constants.find(inputName(i))->second);
  }
  size_t rank = 0;
  bool allInts = true;
  for (const Constant *c : operands) {
    rank = std::max(rank, c->shape.size());
    allInts &= !c->isFloat;
  }
  Shape shape(rank, 1);
  for (const Constant *c : operands)
    for (size_t j = 0; j < c->shape.size(); ++j) {
      int64_t &d = shape[rank - c->shape.size() + j];
      if (c->shape[j] != 1 && d != 1 && c->shape[j] != d) {
        (void)fail("constant shapes do not broadcast");
        return true;
      }
      if (c->shape[j] != 1)
        d = c->shape[j];
    }
  if (mlir::failed(checkSize(shape, "the folded result has shape")))
    return true;
  int64_t n = numElements(shape);
  Constant out;
  out.shape = shape;
  out.isFloat = !predicate && !allInts;
  out.isBool = predicate;
  if (out.isFloat)
    out.floats.resize(n);
  else
    out.ints.resize(n);
  Shape index(rank, 0);
  SmallVector<double> args(operands.size());
  for (int64_t e = 0; e < n; ++e) {
    for (size_t k = 0; k < operands.size(); ++k) {
      const Constant *c = operands[k];
      int64_t offset = 0;
      size_t lead = rank - c->shape.size();
      for (size_t j = 0; j < c->shape.size(); ++j)
        offset = offset * c->shape[j] +
                 (c->shape[j] == 1 ? 0 : index[lead + j]);
      args[k] = c->at(offset);
    }
    double r = fn(args);
    if (out.isFloat)
      out.floats[e] = static_cast<float>(r);
    else
      out.ints[e] = predicate ? (r != 0) : static_cast<int64_t>(r);
    for (int j = static_cast<int>(rank) - 1; j >= 0; --j) {
      if (++index[j] < shape[j])
        break;
      index[j] = 0;
    }
  }
  defineConstant(0, std::move(out));
  return true;
}

Tensor Importer::map(const Tensor &x, ScalarBody body, Type resultElement) {
  Shape phys = x.physical();
  AffineMap id = identity(phys.size());
  Value out = generic({x.value}, {id, id}, phys, body, {}, {}, resultElement);
  return {out, x.shape, x.nhwc};
}

LogicalResult Importer::elementwise(ArrayRef<int> inputs, ScalarBody body,
                                    Type resultElement) {
  // The broadcast shape.
  SmallVector<Shape> shapes;
  bool anyNhwc = false;
  for (int i : inputs) {
    if (!hasInput(i))
      return fail("input " + Twine(i) + " is required");
    const std::string &name = inputName(i);
    if (auto v = values.find(name); v != values.end()) {
      shapes.push_back(v->second.shape);
      anyNhwc |= v->second.nhwc;
    } else if (auto c = constants.find(name); c != constants.end()) {
      shapes.push_back(c->second.shape);
    } else {
      return fail("input '" + name +
                  "' is not produced by any node, initializer or graph input");
    }
  }
  size_t rank = 0;
  for (const Shape &s : shapes)
    rank = std::max(rank, s.size());
  Shape shape(rank, 1);
  for (const Shape &s : shapes)
    for (size_t j = 0; j < s.size(); ++j) {
      int64_t &d = shape[rank - s.size() + j];
      if (s[j] != 1 && d != 1 && s[j] != d) {
        std::string list;
        for (const Shape &t : shapes)
          list += (list.empty() ? "" : " and ") + shapeString(t);
        return fail("shapes " + list + " do not broadcast");
      }
      if (s[j] != 1)
        d = s[j];
    }
  bool nhwc = rank == 4 && anyNhwc;
  SmallVector<int64_t> perm;
  if (nhwc)
    perm.assign(std::begin(kNchwToNhwc), std::end(kNchwToNhwc));
  else
    for (size_t j = 0; j < rank; ++j)
      perm.push_back(j);
  Shape phys;
  for (int64_t p : perm)
    phys.push_back(shape[p]);

  SmallVector<Value> operands;
  SmallVector<AffineMap> maps;
  SmallVector<std::optional<Value>> scalarArgs;
  for (int i : inputs) {
    const std::string &name = inputName(i);
    auto c = constants.find(name);
    bool isConst = c != constants.end() && !values.count(name);
    if (isConst && c->second.size() == 1) {
      const Constant &k = c->second;
      scalarArgs.push_back(scalar(k.at(0), constantElement(k)));
      continue;
    }
    scalarArgs.push_back(std::nullopt);
    if (isConst && c->second.isFloat) {
      // A weight: stored with the broadcast dimensions dropped.
      const Constant &k = c->second;
      Shape full(rank - k.shape.size(), 1);
      full.append(k.shape.begin(), k.shape.end());
      Shape permutedShape;
      for (int64_t p : perm)
        permutedShape.push_back(full[p]);
      SmallVector<int64_t> kept;
      Shape stored;
      for (size_t j = 0; j < rank; ++j)
        if (permutedShape[j] != 1 || phys[j] == 1) {
          kept.push_back(j);
          stored.push_back(permutedShape[j]);
        }
      operands.push_back(
          parameter(name, stored, permuted(k.floats, full, perm)));
      maps.push_back(keep(rank, kept));
      continue;
    }
    Tensor v = input(i);
    if (!v)
      return failure();
    if (v.shape.size() < rank) {
      v = toLogical(v);
      Shape full(rank - v.shape.size(), 1);
      full.append(v.shape.begin(), v.shape.end());
      v = {reshape(v.value, v.shape, full), full, false};
    }
    v = nhwc ? toNhwc(v) : toLogical(v);
    if (!v)
      return failure();
    Shape src = v.physical();
    SmallVector<int64_t> kept;
    Shape stored;
    for (size_t j = 0; j < rank; ++j)
      if (src[j] == phys[j]) {
        kept.push_back(j);
        stored.push_back(src[j]);
      }
    operands.push_back(reshape(v.value, src, stored));
    maps.push_back(keep(rank, kept));
  }
  maps.push_back(identity(rank));
  Value out = generic(
      operands, maps, phys,
      [&](OpBuilder &nb, Location loc, ArrayRef<Value> args) {
        SmallVector<Value> all;
        size_t k = 0;
        for (const auto &s : scalarArgs)
          all.push_back(s ? *s : args[k++]);
        return body(nb, loc, all);
      },
      {}, {}, resultElement);
  define(0, {out, shape, nhwc});
  return success();
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

ArrayRef<StringRef> mlir::qat::supportedOnnxOps() {
  static const StringRef ops[] = {
#define QAT_ONNX_OP(name) #name,
#include "Ops.def"
  };
  return ops;
}

void mlir::qat::registerOnnxImportDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect,
                  linalg::LinalgDialect, math::MathDialect,
                  tensor::TensorDialect, QatDialect>();
}

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::qat::importOnnxModel(StringRef bytes, MLIRContext *context,
                           const OnnxImportOptions &options,
                           OnnxImportSummary *summary) {
  if (options.batch < 1)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "batch must be a positive integer, found " +
            std::to_string(options.batch));
  auto loaded = loadModel(bytes, options.sourceName, options.batch);
  if (!loaded)
    return loaded.takeError();
  DialectRegistry registry;
  registerOnnxImportDialects(registry);
  context->appendDialectRegistry(registry);
  context->loadAllAvailableDialects();
  Importer importer(*loaded->model, loaded->opset, context, options);
  auto module = importer.run(summary);
  if (module && summary && loaded->originalOpset != loaded->opset)
    summary->originalOpset = loaded->originalOpset;
  return module;
}
