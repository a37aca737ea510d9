//===- LayerGraph.h - Layers and activations of a graph ---------*- C++ -*-===//
//
// Part of qat-mlir. What the graph-level passes (batch-norm folding,
// instrumentation) need to know about a function of linalg on tensors: which
// ops are layers, which operand of a layer is its weight and along which
// dimension its output channels run, which values are activations (computed
// from the inputs) rather than parameters, and what an elementwise op does to
// its one activation input.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_ANALYSIS_LAYERGRAPH_H
#define QAT_DIALECT_QAT_ANALYSIS_LAYERGRAPH_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

#include <optional>

namespace mlir::qat {

/// A layer: a linalg contraction or convolution whose payload multiplies its
/// two inputs (pooling ops, whose window operand carries no data, are not
/// layers).
struct Layer {
  linalg::LinalgOp op;
  /// "matmul", "batch_matmul", "conv", "depthwise_conv" or "contraction".
  StringRef kind;
  /// The DPS input that is a parameter (computed from constants and
  /// parameter arguments only); none when both inputs are activations.
  std::optional<unsigned> weightInput;
  /// The DPS inputs that are activations.
  SmallVector<unsigned, 2> activationInputs;
  /// The weight dimension that indexes output channels, when the weight has
  /// exactly one (the quantization axis of per-channel weights).
  std::optional<int64_t> weightAxis;
  /// The result dimension of the same channels.
  std::optional<int64_t> outputChannelDim;

  Value getWeight() const {
    linalg::LinalgOp linalgOp = op;
    return weightInput ? linalgOp.getDpsInputs()[*weightInput] : Value();
  }
};

/// True when `op` is a layer.
bool isLayerOp(Operation *op);

class GraphAnalysis;

/// The names of `graph`'s layers, in program order: the layer's `qat.layer`
/// attribute, else its NameLoc (the ONNX node's name; a repeated one is
/// numbered `_1`, `_2`, ...), else `<kind>_<i>` numbered per kind in
/// `kindCounts` (which the caller may go on using for other ops). Every
/// pass that names layers (qat-instrument, qat-prune) calls this, so a
/// config's patterns mean the same layers in each. Fails on a duplicate.
FailureOr<SmallVector<std::string>>
nameLayers(const GraphAnalysis &graph, llvm::StringMap<unsigned> &kindCounts);

/// Layers and activations of a function's body (its top-level block).
///
/// A function argument is an input when it has `qat.role = "input"`, or when
/// it reaches an activation operand of a layer directly or through ops with a
/// single tensor operand (reshapes, transposes, padding, elementwise ops);
/// `qat.role = "parameter"` forces the other reading. Activations are the
/// inputs, the results of layers and everything computed from them; all other
/// values are parameters. A layer's weight is its second input (the first
/// for a contraction whose second input alone is an activation) unless that
/// is an activation.
class GraphAnalysis {
public:
  explicit GraphAnalysis(func::FuncOp func);

  bool isActivation(Value value) const { return activations.contains(value); }
  bool isInput(BlockArgument arg) const { return inputs.contains(arg); }
  /// The layer `op` is, if any.
  const Layer *getLayer(Operation *op) const;
  /// The layers in program order.
  ArrayRef<Layer> getLayers() const { return layers; }

private:
  void analyze(func::FuncOp func);

  llvm::DenseSet<Value> inputs;
  llvm::DenseSet<Value> activations;
  SmallVector<Layer> layers;
  llvm::DenseMap<Operation *, unsigned> layerIndex;
};

/// What an elementwise payload computes from one of its inputs `x`, the
/// other inputs held fixed: a chain of single-use steps, each of which adds,
/// subtracts, multiplies or divides by a value independent of `x`, negates,
/// or takes the max/min with such a value (ReLU, ReLU6, clamp).
struct PayloadChain {
  bool shifts = false; ///< adds or subtracts
  bool scales = false; ///< multiplies, divides or negates
  bool clamps = false; ///< max / min
  /// Names of the steps in order, for reports ("add", "mul", "max", ...).
  SmallVector<StringRef> steps;
};

/// The chain `op`'s payload applies to its DPS input `input`, or std::nullopt
/// when the payload is anything else (uses `x` twice, reads its init, calls a
/// transcendental on `x`, ...). `op` must be elementwise with one result.
std::optional<PayloadChain> matchPayloadChain(linalg::LinalgOp op,
                                              unsigned input);

/// True when `op` is elementwise: all loops parallel, one init, and the init
/// map and input `input`'s map both the identity.
bool isElementwiseOn(linalg::LinalgOp op, unsigned input);

/// True when `op` is a float step whose two operands may be swapped (add,
/// multiply, max, min): an epilogue's value may be either operand.
bool isCommutativeStep(Operation *op);

/// True when `op` sums its one data input: sum pooling, or a reduction
/// whose payload is `acc + x`.
bool isSumOp(linalg::LinalgOp op);

/// True when `op`, an op on activations that is not a layer, has a form on
/// integer codes in qat-convert-to-integer: sums (`isSumOp`), elementwise
/// sums and products of two tensors (residual adds, gates), and
/// concatenations. Every other op on activations (exp, division, sigmoid,
/// the statistics of softmax and layer norm) is a float island.
bool hasIntegerForm(Operation *op);

/// True when every result of `map` is either loop dimension `dim` or the
/// constant 0: the operand is constant across all other loops (a per-channel
/// parameter along `dim`, or a scalar).
bool isPerChannelMap(AffineMap map, int64_t dim);

} // namespace mlir::qat

#endif // QAT_DIALECT_QAT_ANALYSIS_LAYERGRAPH_H
