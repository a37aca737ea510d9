//===- IntegerLayers.h - The integer form of QAT layers ---------*- C++ -*-===//
//
// Part of qat-mlir. Shared by qat-convert-to-integer (which replaces a
// frozen graph's float layers by their integer form) and qat-faithful
// (which computes each layer's output with that same integer arithmetic
// while the float layers stay for gradients). Internal to the QatToInteger
// library.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CONVERSION_QATTOINTEGER_INTEGERLAYERS_H
#define QAT_LIB_CONVERSION_QATTOINTEGER_INTEGERLAYERS_H

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"
#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Support/QuantMath.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>
#include <variant>
#include <vector>

namespace mlir::qat::integer {

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

/// A layer with weights: a matmul (weights [K][N]), an NHWC convolution
/// (HWCF weights, or FHWC permuted to HWCF) or a depthwise convolution; the
/// weights are row-major with the output channels last.
struct Contraction {
  FakeQuantOp weight;
  /// Products summed per output (K, or KH * KW * C).
  int64_t depth = 0;
  SmallVector<float> weights; ///< empty when not constant (faithful mode)
  /// How the weight's dimensions are permuted to put the output channels
  /// last (an FHWC filter), or empty.
  SmallVector<int64_t> filterPermutation;
  Codes weightCodes;
};

/// A sum of the input's codes (sum pooling, a sum reduction): `count`
/// terms, scaled by `factor` (an average's 1/count) before the output
/// fake-quant.
struct Sum {
  int64_t count = 0;
  double factor = 1.0;
};

/// The second quantized operand of an op on two activations, through its
/// grid-preserving path.
struct SecondOperand {
  FakeQuantOp fq;
  SmallVector<Operation *> path;
  Codes codes;
};

/// A residual add of two quantized tensors: the layer's input + the second
/// operand (each through its path), rescaled to a common int32 grid and
/// added.
struct ResidualAdd {};

/// An elementwise product of two quantized tensors (a gate: SiLU's
/// `x * sigmoid(x)`, a squeeze-and-excitation scale read through a
/// broadcasting map): `(qa - za) (qb - zb)` in int32, requantized by
/// `sa sb / sy`.
struct Product {};

/// A matmul of two activations (attention's scores and weighted values):
/// int8 x int8 codes accumulated in int32 from an initial value that
/// removes both zero points, requantized by `sa sb / sy`.
struct ActivationMatmul {
  int64_t depth = 0; ///< products summed per output
};

/// One matched integer layer: what every kind has (an input on a grid, an
/// epilogue, an output fake-quant) and the kind with its own data.
struct IntegerLayer {
  linalg::LinalgOp op;
  FakeQuantOp input, output;
  /// Grid-preserving ops from the input fake-quant to the layer's activation
  /// operand (padding, max pooling, reshapes), in order.
  SmallVector<Operation *> path;
  /// Output channels (per-channel requantization); 1 for sums and adds.
  int64_t channels = 0;
  SmallVector<float> bias; ///< per column, zeros when none
  /// A bias that is not a constant (a trained parameter, faithful mode):
  /// one value per column.
  Value biasValue;
  std::optional<float> clampLow, clampHigh;
  /// A contraction's epilogue scale before its clamps (hard sigmoid's 1/6):
  /// y = scale * (acc + bias); folded into the requantization multiplier.
  double scale = 1.0;
  /// Constant shifts of the epilogue (hard sigmoid's 0.5), in the
  /// accumulator's units: added to the bias, constant or trained.
  float biasShift = 0.0f;
  Codes inputCodes, outputCodes;
  SmallVector<Operation *> epilogue;
  /// The second quantized operand of an add, a product or a matmul of two
  /// activations; its fake-quant is null for the other kinds.
  SecondOperand other;
  std::variant<Contraction, Sum, ResidualAdd, Product, ActivationMatmul> kind;

  template <typename Kind> Kind *getIf() { return std::get_if<Kind>(&kind); }
  template <typename Kind> const Kind *getIf() const {
    return std::get_if<Kind>(&kind);
  }
};

/// An input of a concatenation other than the first, whose codes are
/// concatenated with the first input's.
struct ConcatPart {
  FakeQuantOp fq;
  SmallVector<Operation *> path;
  Codes codes;
};

/// Matches and rewrites the layers of one function.
class Converter {
public:
  enum class Mode {
    /// Replace the float layers: weights and biases must be constants.
    Deploy,
    /// Keep the float layers for gradients; each layer's output value
    /// becomes its integer result (`qat.straight_through`). Weights and
    /// biases may be arguments (quantized at run time); scales are
    /// constants.
    Faithful,
  };

  Converter(func::FuncOp func, Mode mode, bool packInt4 = false)
      : func(func), graph(func), mode(mode), packInt4(packInt4) {}

  /// Matches every layer; fails with a diagnostic at the first one that
  /// cannot be converted.
  LogicalResult match();
  void rewrite();
  /// The layers match() found.
  ArrayRef<IntegerLayer> matched() const { return layers; }

private:
  FailureOr<IntegerLayer> matchLayer(linalg::LinalgOp op);
  /// A sum of quantized codes (sum pooling, a reduction), with its scale
  /// and output fake-quant; failure (no diagnostic) leaves it in float.
  FailureOr<IntegerLayer> matchSum(linalg::LinalgOp op);
  /// A residual add or an elementwise product of two quantized tensors
  /// with its epilogue and output fake-quant; failure (no diagnostic)
  /// leaves it in float.
  FailureOr<IntegerLayer> matchBinary(linalg::GenericOp op);
  /// A matmul of two quantized activations (linalg.batch_matmul, or a
  /// linalg.matmul whose B is computed); fails with a diagnostic.
  FailureOr<IntegerLayer> matchActivationMatmul(linalg::LinalgOp op);
  /// Both operands of `layer.op` through their paths, per-tensor codes;
  /// false (no diagnostic) when either is not quantized.
  bool matchTwoOperands(IntegerLayer &layer, std::string &why);
  /// The fake-quant `value`'s codes come from, through grid-preserving ops
  /// (appended to `path` in order; concatenations record their other
  /// inputs in `concatParts`), or null.
  FakeQuantOp quantizedSource(Value value, SmallVectorImpl<Operation *> &path);
  LogicalResult matchEpilogue(IntegerLayer &layer);
  /// The accumulator's initial value: zero, or a per-channel bias (added to
  /// the layer's bias).
  LogicalResult matchInit(IntegerLayer &layer);
  /// The epilogue and per-tensor output of a sum or add, whose failure
  /// leaves the op in float without a diagnostic.
  LogicalResult matchOptionalOutput(IntegerLayer &layer);
  /// The codes of `layer`'s activation operand: the input's codes carried
  /// through the layer's path.
  Value emitInput(ImplicitLocOpBuilder &b, IntegerLayer &layer);
  /// The codes of `fq` (converted already, or quantized here once), carried
  /// through `path`.
  Value emitCodes(ImplicitLocOpBuilder &b, FakeQuantOp fq,
                  ArrayRef<Operation *> path, const Codes &in);
  /// The int32 accumulator of a layer with weights (bias and zero-point
  /// correction in its init), and its per-channel multipliers.
  Value emitContraction(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                        Contraction &contraction, Value x,
                        SmallVectorImpl<int32_t> &multipliers,
                        SmallVectorImpl<int32_t> &shifts);
  /// The accumulator's initial value per column, computed at run time from
  /// weights and a bias that are not constants: quantizeBias(b) - z_x *
  /// colsum(Wq), with `weightCodes` the run-time int8 weights.
  Value emitRuntimeInit(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                        Contraction &contraction, Value weightCodes);
  /// The int32 sum of a sum layer's codes; its zero-point share goes to the
  /// requantization's input zero point.
  Value emitSum(ImplicitLocOpBuilder &b, IntegerLayer &layer, Sum &sum, Value x,
                SmallVectorImpl<int32_t> &multipliers,
                SmallVectorImpl<int32_t> &shifts, int32_t &inputZeroPoint);
  /// The int32 sum of an add's operands, each rescaled exactly enough to a
  /// common grid 2^-20 finer than the coarser operand's.
  Value emitAdd(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                SmallVectorImpl<int32_t> &multipliers,
                SmallVectorImpl<int32_t> &shifts);
  /// The int32 product `(qa - za) (qb - zb)` of a product's operands, each
  /// read through the op's indexing map.
  Value emitProduct(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                    SmallVectorImpl<int32_t> &multipliers,
                    SmallVectorImpl<int32_t> &shifts);
  /// The int32 accumulator of a matmul of two activations: int8 codes
  /// multiplied from `K za zb - zb rowsum(A) - za colsum(B)`.
  Value emitActivationMatmul(ImplicitLocOpBuilder &b, IntegerLayer &layer,
                             ActivationMatmul &matmul,
                             SmallVectorImpl<int32_t> &multipliers,
                             SmallVectorImpl<int32_t> &shifts);
  /// The second operand's codes, carried through its path.
  Value emitOther(ImplicitLocOpBuilder &b, IntegerLayer &layer);
  /// Float users of a layer's output read its integer result: dequantized,
  /// replacing the float layer (Deploy) or as the value of a
  /// straight-through (Faithful).
  void connectOutput(IntegerLayer &layer, Value codes);
  /// Deploy: erases the float layers, now dead.
  void eraseFloatLayers();

  func::FuncOp func;
  /// Which values are activations (a matmul of two is not a layer with
  /// weights).
  GraphAnalysis graph;
  Mode mode;
  bool packInt4;
  std::vector<IntegerLayer> layers;
  /// Output fake-quant -> its layer's int8 result, once rewritten.
  DenseMap<Operation *, Value> converted;
  /// tensor.concat on a layer's path -> its inputs after the first.
  DenseMap<Operation *, SmallVector<ConcatPart>> concatParts;
  /// Deploy: the dequantize of each converted layer's output.
  SmallVector<Operation *> outputDequantizes;
};

} // namespace mlir::qat::integer

#endif // QAT_LIB_CONVERSION_QATTOINTEGER_INTEGERLAYERS_H
