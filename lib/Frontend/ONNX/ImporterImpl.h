//===- ImporterImpl.h - The ONNX importer's state ---------------*- C++ -*-===//
//
// Part of qat-mlir. One Importer translates one graph. Importer.cpp holds
// the driver, the values and the layout; the op handlers are grouped by
// family: Layers.cpp (convolution, matrix products, normalization, pooling,
// softmax), Elementwise.cpp (broadcasting arithmetic, activations,
// reductions) and Shapes.cpp (shape arithmetic evaluated at import, and the
// ops that move data: reshape, transpose, concat, slice, split, pad, gather).
//
// Errors are sticky: `fail` records the first message (prefixed with the
// node) and returns failure; the driver stops after the node.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_FRONTEND_ONNX_IMPORTERIMPL_H
#define QAT_LIB_FRONTEND_ONNX_IMPORTERIMPL_H

#include "qat/Frontend/ONNX/Importer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mlir::qat::onnx_import {

using Shape = SmallVector<int64_t>;

int64_t numElements(ArrayRef<int64_t> shape);

/// The most elements one tensor may have (16 GiB of f32): a larger shape is
/// refused as absurd, never allocated.
constexpr int64_t kMaxElements = int64_t{1} << 32;

/// The number of elements of `shape`; std::nullopt when a dimension is
/// negative or the count exceeds kMaxElements (overflow included).
std::optional<int64_t> boundedNumElements(ArrayRef<int64_t> shape);

/// `values` (row-major in `shape`) with their dimensions permuted by `perm`
/// (a weight brought to the layout the function takes).
std::vector<float> permuted(const std::vector<float> &values,
                            ArrayRef<int64_t> shape, ArrayRef<int64_t> perm);

/// "[2, 3]", for messages.
std::string formatShape(ArrayRef<int64_t> shape);

/// A tensor known while importing: an initializer, a Constant node, or the
/// result of shape arithmetic. Floats (any ONNX float type) are held as
/// float, integers and booleans as int64.
struct Constant {
  Shape shape;
  bool isFloat = true;
  /// Booleans are integers 0/1 with this flag set.
  bool isBool = false;
  std::vector<float> floats;
  std::vector<int64_t> ints;

  int64_t size() const { return numElements(shape); }
  double at(int64_t i) const {
    return isFloat ? static_cast<double>(floats[i])
                   : static_cast<double>(ints[i]);
  }
  int64_t intAt(int64_t i) const {
    return isFloat ? static_cast<int64_t>(floats[i]) : ints[i];
  }
  std::vector<int64_t> toInts() const;
  static Constant ofInts(Shape shape, std::vector<int64_t> values);
  static Constant ofFloats(Shape shape, std::vector<float> values);
};

/// A computed tensor: its SSA value, its logical (ONNX) shape, and whether a
/// 4-D value is stored N, H, W, C (the layout convolutions compute in).
struct Tensor {
  Value value;
  Shape shape;
  bool nhwc = false;

  Shape physical() const;
  /// The physical dimension of logical `axis` (NCHW order).
  int64_t physicalAxis(int64_t axis) const;
  Type elementType() const;
  explicit operator bool() const { return static_cast<bool>(value); }
};

/// Builds the body of an elementwise linalg.generic from its scalar
/// arguments (one per operand, in order; constants of one element come as
/// values defined outside).
/// An initializer or a Constant node's tensor, decoded; std::nullopt with
/// `why` set when it cannot be.
std::optional<Constant> decode(const onnx::TensorProto &t, std::string &why);

/// The element type a computed tensor of ONNX data type `type` has (MLIR's
/// integers are signless: UINT8 is i8), or null for a type the runtime has
/// no tensors of (FLOAT16, BFLOAT16, STRING...).
Type elementTypeOf(MLIRContext *context, int64_t type);
/// Whether ONNX data type `type` is UINT8, UINT16, UINT32 or UINT64.
bool isUnsignedDataType(int64_t type);

using ScalarBody =
    llvm::function_ref<Value(OpBuilder &, Location, ArrayRef<Value>)>;

class Importer {
public:
  Importer(onnx::ModelProto &model, int64_t opset, MLIRContext *context,
           const OnnxImportOptions &options);

  llvm::Expected<OwningOpRef<ModuleOp>> run(OnnxImportSummary *summary);

  //===--------------------------------------------------------------------===//
  // Used by the op handlers
  //===--------------------------------------------------------------------===//

  /// Records `why` for the current node (the first error wins).
  LogicalResult fail(const Twine &why);
  /// Fails, naming `what`, unless boundedNumElements(shape) has a value.
  LogicalResult checkSize(ArrayRef<int64_t> shape, const Twine &what);
  bool failed() const { return !error.empty(); }

  const onnx::NodeProto &currentNode() const { return *node; }
  int64_t opset() const { return opsetVersion; }
  OpBuilder &builder() { return b; }
  Location loc() const { return currentLoc; }

  // Inputs and outputs of the current node.
  int numInputs() const;
  bool hasInput(int index) const;
  const std::string &inputName(int index) const;
  bool isConstant(StringRef name) const;
  bool isConstantInput(int index) const {
    return hasInput(index) && isConstant(inputName(index));
  }
  /// Input `index` as a constant; fails (and returns null) if it is computed.
  const Constant *constantInput(int index);
  /// Input `index` as a computed tensor; fails if it is a constant or
  /// undefined.
  Tensor input(int index);
  /// Defines output `output`. An integer result of the element type of an
  /// unsigned input is unsigned too (Cast says so itself: markUnsigned).
  void define(int output, Tensor value);
  void defineConstant(int output, Constant value);
  /// A computed logical-layout value; 4-D ones are moved to NHWC.
  Tensor wrap(Value value, ArrayRef<int64_t> shape);

  /// Whether input `index` holds unsigned integers: MLIR's integers are
  /// signless, so the importer records which values came from UINT8-64
  /// and picks the unsigned division, remainder, extrema, comparisons and
  /// conversions for them.
  bool isUnsignedInput(int index) const;
  void markUnsigned(int output, bool isUnsigned);

  // Attributes of the current node.
  const onnx::AttributeProto *attribute(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t otherwise);
  float floatAttr(StringRef name, float otherwise);
  std::string stringAttr(StringRef name, StringRef otherwise);
  std::optional<std::vector<int64_t>> intsAttr(StringRef name);
  /// An attribute or, from the opset where it became one, an input (axes,
  /// pads, split...): the input's values when given, else the attribute's.
  std::optional<std::vector<int64_t>> intsAttrOrInput(StringRef name,
                                                      int inputIndex);

  // Shapes the model declares.
  /// The static shape the model declares for `name` (a graph output or a
  /// value_info entry); std::nullopt when it declares none or a symbolic
  /// dimension.
  std::optional<Shape> declaredShape(StringRef name) const;
  /// Whether input `index` is given and computed at run time.
  bool isRuntimeInput(int index) const {
    return hasInput(index) && !isConstant(inputName(index));
  }
  /// For an operand that only sets the shape of the result (Reshape's
  /// shape, Squeeze's axes, Expand's shape, Split's sizes...) and is
  /// computed at run time: the static shape the model declares for output
  /// `output`, which the program is specialized to as it is to every other
  /// shape (the operand's values are not read). Fails naming the operand
  /// when the model declares none.
  std::optional<Shape> declaredResultShape(int operand, int output = 0);

  // Layout.
  Tensor toLogical(const Tensor &v);
  Tensor toNhwc(const Tensor &v);
  Value reshape(Value source, ArrayRef<int64_t> shape,
                ArrayRef<int64_t> target);
  Value transpose(Value source, ArrayRef<int64_t> shape,
                  ArrayRef<int64_t> perm);

  // Building blocks.
  RankedTensorType tensorType(ArrayRef<int64_t> shape, Type element = {});
  Value scalar(double value, Type type = {});
  Value empty(ArrayRef<int64_t> shape, Type element = {});
  Value filled(ArrayRef<int64_t> shape, double value);
  /// A linalg.generic over `iterators` (all parallel if empty) with one
  /// result of `resultShape` (`init` if given, else an empty tensor).
  Value generic(ArrayRef<Value> operands, ArrayRef<AffineMap> maps,
                ArrayRef<int64_t> resultShape, ScalarBody body,
                ArrayRef<utils::IteratorType> iterators = {},
                Value init = {}, Type resultElement = {});
  /// The identity map and the maps keeping `dims` of a `rank`-D space.
  AffineMap identity(unsigned rank);
  AffineMap keep(unsigned rank, ArrayRef<int64_t> dims);
  /// `x` padded with `value`: `pads` holds the padding before each spatial
  /// dimension (all but batch and channel), then after each.
  Value pad(const Tensor &x, ArrayRef<int64_t> pads, double value);
  /// A weight: a function argument with qat.role = "parameter" holding
  /// `values` in `shape` (the layout the function takes), once per
  /// (name, tag).
  Value parameter(StringRef name, ArrayRef<int64_t> shape,
                  std::vector<float> values, StringRef tag = "");
  /// The element type constant `c` has once materialized: f32, i1 or i64.
  Type constantElement(const Constant &c);
  /// A constant tensor (int, bool or float) as arith.constant.
  Value denseConstant(const Constant &c, Type element);

  /// Elementwise over the node's inputs `inputs` with numpy broadcasting;
  /// the result has `resultElement` (f32 if null).
  LogicalResult elementwise(ArrayRef<int> inputs, ScalarBody body,
                            Type resultElement = {});
  /// The element type input `index` has (or will have once materialized).
  Type inputElement(int index);
  /// If every input in `inputs` is a constant, defines output 0 as `fn`
  /// applied elementwise with numpy broadcasting (integers when every input
  /// is an integer, booleans when `predicate`) and returns true.
  bool foldConstants(ArrayRef<int> inputs,
                     llvm::function_ref<double(ArrayRef<double>)> fn,
                     bool predicate = false);
  /// Elementwise over one computed tensor.
  Tensor map(const Tensor &x, ScalarBody body, Type resultElement = {});

  /// A 1-D convolution or pooling node (3-D input) run as its 2-D form on
  /// [N, C, 1, L], its attributes and weight given a unit height.
  LogicalResult as2d(LogicalResult (Importer::*handler)());

  // Op handlers (one per ONNX op type; see the .cpp files).
#define QAT_ONNX_OP(name) LogicalResult op##name();
#include "Ops.def"

private:
  LogicalResult importGraph();
  LogicalResult importInitializers();
  LogicalResult importInputs();
  LogicalResult normalizeInputs();
  LogicalResult importNode(const onnx::NodeProto &n);
  /// Runs ONNX's shape inference and compares every node's outputs.
  LogicalResult checkInferredShapes();
  LogicalResult finish();

  /// Mutable only for shape inference, after the graph is imported.
  onnx::ModelProto &model;
  int64_t opsetVersion;
  MLIRContext *context;
  OnnxImportOptions options;
  OpBuilder b;
  OwningOpRef<ModuleOp> module;
  func::FuncOp function;
  Block *entry = nullptr;
  Location currentLoc;
  const onnx::NodeProto *node = nullptr;
  std::string error;
  std::string functionName;

  std::map<std::string, Tensor> values;
  /// Names of the values that hold unsigned integers.
  std::set<std::string> unsignedValues;
  /// A value's other layout, made once (a graph input that several
  /// convolutions read is transposed once).
  DenseMap<Value, Value> otherLayout;
  std::map<std::string, Constant> constants;
  /// f32 constants at the top of the function, by bit pattern.
  std::map<uint32_t, Value> scalars;
  llvm::StringMap<int64_t> opCounts;

  struct Parameter {
    std::string name;
    Shape shape;
    std::vector<float> values;
    Value argument;
  };
  std::vector<Parameter> parameters;
  std::map<std::pair<std::string, std::string>, Value> parameterByKey;
  llvm::StringMap<int> parameterNames;
  std::vector<std::string> inputNames;
};

} // namespace mlir::qat::onnx_import

#endif // QAT_LIB_FRONTEND_ONNX_IMPORTERIMPL_H
