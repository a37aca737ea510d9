//===- MatmulKernels.h - Shared pieces of the matmul kernels ----*- C++ -*-===//
//
// Part of qat-mlir. Used by qat-vectorize-matmul and qat-x86-vnni-matmul.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_TRANSFORMS_MATMULKERNELS_H
#define QAT_LIB_TRANSFORMS_MATMULKERNELS_H

#include "VectorizeBody.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qat {

/// The narrowest panel of qat-vectorize-matmul's f32 kernel: C's of fewer
/// columns take the dot-product kernel (which reads an implicit GEMM's A
/// only when its channels come in 16s).
constexpr int64_t kMinPanel = 8;

/// A linalg.matmul on statically shaped tensors with the default indexing
/// maps (no transposition or broadcast), inputs of element type `input` and
/// the output of element type `output`.
inline bool isStaticMatmul(linalg::MatmulOp op, Type input, Type output) {
  if (!op.hasPureTensorSemantics())
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand.get().getType());
    Type expected = op.isDpsInit(&operand) ? output : input;
    if (!type || !type.hasStaticShape() || type.getElementType() != expected)
      return false;
  }
  return op.getIndexingMapsArray() ==
         op.getDefaultIndexingMaps(op->getContext());
}

/// The matmuls under `root` that `accept` takes, in program order.
inline SmallVector<linalg::MatmulOp>
collectMatmuls(Operation *root, function_ref<bool(linalg::MatmulOp)> accept) {
  SmallVector<linalg::MatmulOp> matmuls;
  root->walk([&](linalg::MatmulOp op) {
    if (accept(op))
      matmuls.push_back(op);
  });
  return matmuls;
}

/// The value of a constant matrix, also through a collapse_shape (a
/// convolution's filter as a matmul's B), or null.
inline DenseElementsAttr getConstantMatrix(Value matrix) {
  DenseElementsAttr value;
  if (matchPattern(matrix, m_Constant(&value)))
    return value;
  auto collapse = matrix.getDefiningOp<tensor::CollapseShapeOp>();
  if (collapse && matchPattern(collapse.getSrc(), m_Constant(&value)))
    return value.reshape(cast<ShapedType>(matrix.getType()));
  return {};
}

/// An elementwise op applied to a kernel's result (a matmul's, a depthwise
/// convolution's), fused into the kernel so that each accumulator vector is
/// finished in registers (bias, activation) before it is stored.
class Epilogue {
public:
  /// The single elementwise consumer of `result` the kernels can fuse: an
  /// all-parallel linalg.generic of the result's shape (any element type
  /// of whole bytes, so requantization to int8 fuses too), reading the
  /// result through the identity map and its other inputs per element, per
  /// column (the last dimension only) or as scalars, with a body of scalar
  /// elementwise ops that does not read its output.
  static std::optional<Epilogue> find(Value result) {
    auto type = cast<ShapedType>(result.getType());
    int64_t rank = type.getRank();
    if (!result.hasOneUse() || rank < 2)
      return std::nullopt;
    auto generic = dyn_cast<linalg::GenericOp>(*result.getUsers().begin());
    if (!generic || generic.getNumDpsInits() != 1 ||
        generic.getNumLoops() != rank ||
        generic.getNumParallelLoops() != rank ||
        cast<ShapedType>(generic.getResult(0).getType()).getShape() !=
            type.getShape())
      return std::nullopt;
    MLIRContext *ctx = result.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap columns =
        AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);
    AffineMap scalar = AffineMap::get(rank, 0, ctx);
    std::optional<unsigned> resultInput;
    for (OpOperand *input : generic.getDpsInputOperands()) {
      AffineMap map = generic.getMatchingIndexingMap(input);
      if (input->get() == result) {
        if (map != identity || resultInput)
          return std::nullopt;
        resultInput = input->getOperandNumber();
      } else if (map != identity && map != columns && map != scalar) {
        return std::nullopt;
      }
    }
    if (!resultInput ||
        !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0))
             .isIdentity())
      return std::nullopt;
    // (A pruning mask as i1 stays a loop of its own.)
    for (Value operand : generic->getOperands())
      if (!hasWholeByteElements(operand.getType()))
        return std::nullopt;
    Block &body = generic.getRegion().front();
    if (!body.getArgument(generic.getNumDpsInputs()).use_empty())
      return std::nullopt;
    for (Operation &op : body.without_terminator()) {
      bool scalarTypes =
          llvm::all_of(op.getOperandTypes(),
                       [](Type t) { return t.isIntOrIndexOrFloat(); }) &&
          llvm::all_of(op.getResultTypes(),
                       [](Type t) { return t.isIntOrIndexOrFloat(); });
      bool elementwise = op.hasTrait<OpTrait::Elementwise>() ||
                         op.hasTrait<OpTrait::ConstantLike>();
      if (!scalarTypes || !elementwise || op.getNumRegions() != 0 ||
          isa<IndexType>(op.getResultTypes().front()))
        return std::nullopt;
    }
    return Epilogue(generic, *resultInput);
  }

  linalg::GenericOp getOp() { return op; }

  /// Where the fused kernel writes: the epilogue's output tensor. The
  /// matmul's own output is then only read (for the accumulators' start).
  Value getDestination() { return op.getDpsInitOperand(0)->get(); }

  /// The epilogue inputs that do not depend on the row (per column or
  /// scalar: biases, scales), loaded once for the columns at `column0`.
  IRMapping loadColumnInputs(ImplicitLocOpBuilder &b, Value column0,
                             VectorType type, ArrayRef<bool> inBounds) {
    IRMapping mapping;
    Block &body = op.getRegion().front();
    for (OpOperand *input : op.getDpsInputOperands()) {
      unsigned rank = op.getMatchingIndexingMap(input).getNumResults();
      if (input->getOperandNumber() == resultInput || rank == op.getNumLoops())
        continue;
      Value source = input->get();
      auto vectorType = VectorType::get(
          type.getShape(), cast<ShapedType>(source.getType()).getElementType());
      Value value =
          rank == 0 ? vector::BroadcastOp::create(
                          b, vectorType,
                          tensor::ExtractOp::create(b, source, ValueRange{}))
                          .getResult()
                    : readVector(b, source, vectorType, {column0}, inBounds);
      mapping.map(body.getArgument(input->getOperandNumber()), value);
    }
    return mapping;
  }

  /// The epilogue of one accumulator vector `acc` of type `type`, the
  /// elements C[row...][column0 : column0 + lanes] (`row`: the indices of
  /// every dimension but the last); `inBounds` as for C; `columnInputs`
  /// from loadColumnInputs for the same columns.
  Value apply(ImplicitLocOpBuilder &b, Value acc, ValueRange row, Value column0,
              VectorType type, ArrayRef<bool> inBounds,
              const IRMapping &columnInputs) {
    IRMapping mapping = columnInputs;
    Block &body = op.getRegion().front();
    for (OpOperand *input : op.getDpsInputOperands()) {
      BlockArgument arg = body.getArgument(input->getOperandNumber());
      if (input->getOperandNumber() == resultInput) {
        mapping.map(arg, acc);
      } else if (op.getMatchingIndexingMap(input).getNumResults() ==
                 op.getNumLoops()) {
        Value source = input->get();
        auto vectorType = VectorType::get(
            type.getShape(),
            cast<ShapedType>(source.getType()).getElementType());
        SmallVector<Value> indices(row);
        indices.push_back(column0);
        mapping.map(arg, readVector(b, source, vectorType, indices, inBounds));
      }
    }
    return vectorizeBody(b, body, mapping, type.getShape());
  }

private:
  static Value readVector(ImplicitLocOpBuilder &b, Value source,
                          VectorType type, ValueRange indices,
                          ArrayRef<bool> inBounds) {
    Value padding =
        arith::ConstantOp::create(b, b.getZeroAttr(type.getElementType()));
    return vector::TransferReadOp::create(b, type, source, indices, padding,
                                          inBounds);
  }

  Epilogue(linalg::GenericOp op, unsigned resultInput)
      : op(op), resultInput(resultInput) {}

  linalg::GenericOp op;
  unsigned resultInput;
};

/// What a matmul's C holds when a linalg.fill or a row broadcast computes
/// it, so that the kernels start their accumulators from it without
/// reading C: the fill's value, or the 1-D input of a linalg.broadcast
/// along the rows (C[i][j] = columns[j]: a bias), both also seen through
/// collapse_shapes (a convolution's output as a matrix).
class AccumulatorStart {
public:
  static std::optional<AccumulatorStart> find(Value c) {
    AccumulatorStart start;
    int64_t n = cast<ShapedType>(c.getType()).getShape().back();
    Value value = c;
    while (auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>()) {
      start.collapses.push_back(collapse);
      value = collapse.getSrc();
    }
    if (auto fill = value.getDefiningOp<linalg::FillOp>()) {
      start.scalar = fill.value();
      start.init = fill.getOutputs()[0];
      return start;
    }
    // The output's last dimension is C's columns (any dimensions collapsed
    // with it are 1), and the broadcast adds every other dimension.
    auto broadcast = value.getDefiningOp<linalg::BroadcastOp>();
    if (!broadcast)
      return std::nullopt;
    auto inputType = cast<ShapedType>(broadcast.getInput().getType());
    auto outputType = cast<ShapedType>(broadcast.getInit().getType());
    int64_t rank = outputType.getRank();
    if (inputType.getRank() != 1 || inputType.getShape()[0] != n ||
        outputType.getShape().back() != n ||
        broadcast.getDimensions() !=
            ArrayRef<int64_t>(llvm::to_vector(llvm::seq<int64_t>(0, rank - 1))))
      return std::nullopt;
    start.columns = broadcast.getInput();
    start.init = broadcast.getInit();
    return start;
  }

  /// The accumulators' start for the columns from `column0`, as a vector
  /// of `type` (`inBounds` as for C).
  Value load(ImplicitLocOpBuilder &b, VectorType type, Value column0,
             ArrayRef<bool> inBounds) const {
    if (scalar)
      return vector::BroadcastOp::create(b, type, scalar);
    Value padding =
        arith::ConstantOp::create(b, b.getZeroAttr(type.getElementType()));
    return vector::TransferReadOp::create(b, type, columns, ValueRange{column0},
                                          padding, inBounds);
  }

  /// The tensor the fill or broadcast writes, seen as C: where a kernel
  /// that never reads C can write its result instead.
  Value destination(ImplicitLocOpBuilder &b) const {
    Value destination = init;
    for (tensor::CollapseShapeOp collapse : llvm::reverse(collapses))
      destination = tensor::CollapseShapeOp::create(
          b, collapse.getResultType(), destination,
          collapse.getReassociationIndices());
    return destination;
  }

  /// The fill's value, or null.
  Value getScalar() const { return scalar; }
  /// The broadcast's 1-D input (C[i][j] = columns[j]), or null.
  Value getColumns() const { return columns; }

  /// Whether nothing but `c`'s one user reads the fill or broadcast (nor
  /// any collapse_shape on the way to `c`).
  static bool isOnlyUse(Value c) {
    for (Value value = c;;) {
      if (!value.hasOneUse())
        return false;
      auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
      if (!collapse)
        return true;
      value = collapse.getSrc();
    }
  }

private:
  Value scalar, columns, init;
  SmallVector<tensor::CollapseShapeOp> collapses; // the outermost first
};

/// `c` threaded through `for iv = first; iv < last; iv += step`, each
/// iteration returning the updated value from `body`. No loop (and `c`
/// unchanged) when the range is empty.
inline Value updateInLoop(
    ImplicitLocOpBuilder &b, Value c, int64_t first, int64_t last, int64_t step,
    function_ref<Value(ImplicitLocOpBuilder &, Value c, Value iv)> body) {
  if (first >= last)
    return c;
  auto bound = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, v).getResult();
  };
  auto loop = scf::ForOp::create(
      b, bound(first), bound(last), bound(step), ValueRange{c},
      [&](OpBuilder &nested, Location loc, Value iv, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nested);
        scf::YieldOp::create(ib, body(ib, iter[0], iv));
      });
  return loop.getResult(0);
}

/// The offsets and sizes of the slice of a destination that one parallel
/// iteration `t` writes (unit strides).
using SliceFn = function_ref<
    std::pair<SmallVector<OpFoldResult>, SmallVector<OpFoldResult>>(
        ImplicitLocOpBuilder &, Value t)>;
/// The new value of an iteration's `slice`, at `offsets` in the destination.
using SliceUpdateFn = function_ref<Value(ImplicitLocOpBuilder &, Value slice,
                                         ArrayRef<OpFoldResult> offsets)>;

/// `dest` updated by an scf.forall of `count` iterations (an OpenMP loop
/// later), each computing its own slice (`sliceOf`) by `update` and writing
/// it through tensor.parallel_insert_slice.
inline Value updateSlicesInParallel(ImplicitLocOpBuilder &b, Value dest,
                                    int64_t count, SliceFn sliceOf,
                                    SliceUpdateFn update) {
  auto forall =
      scf::ForallOp::create(b, ArrayRef<OpFoldResult>{b.getIndexAttr(count)},
                            ValueRange{dest}, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  auto [offsets, sizes] = sliceOf(b, forall.getInductionVar(0));
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  Value shared = forall.getRegionIterArgs()[0];
  Value slice =
      tensor::ExtractSliceOp::create(b, shared, offsets, sizes, strides);
  Value updated = update(b, slice, offsets);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, updated, shared, offsets, sizes,
                                        strides);
  return forall.getResult(0);
}

/// Computes `rows` rows of C: A rows from aRow0, C rows from cRow0 of `c`
/// (all of C, or a strip of it); returns the updated `c`.
using RowStripFn = function_ref<Value(ImplicitLocOpBuilder &, Value c,
                                      Value aRow0, Value cRow0, int64_t rows)>;

/// All m rows of the m x n matrix `c`: strips of `stripRows` rows, then one
/// strip of the rows that remain. With `parallel`, the strips are the
/// iterations of an scf.forall (each writing its own rows through
/// tensor.parallel_insert_slice), which becomes an OpenMP loop later.
inline Value computeRowStrips(ImplicitLocOpBuilder &b, Value c, int64_t m,
                              int64_t n, int64_t stripRows, bool parallel,
                              RowStripFn strip) {
  int64_t strips = m / stripRows, full = strips * stripRows;
  auto rowStrip = [&](ImplicitLocOpBuilder &ib, Value c, Value i0,
                      int64_t rows) { return strip(ib, c, i0, i0, rows); };
  if (parallel && strips >= 2) {
    // Strip t writes rows [t * stripRows, (t + 1) * stripRows) of c, as rows
    // 0.. of its slice.
    c = updateSlicesInParallel(
        b, c, strips,
        [&](ImplicitLocOpBuilder &ib, Value t) {
          Value i0 = arith::MulIOp::create(
              ib, t, arith::ConstantIndexOp::create(ib, stripRows));
          return std::make_pair(
              SmallVector<OpFoldResult>{i0, ib.getIndexAttr(0)},
              SmallVector<OpFoldResult>{ib.getIndexAttr(stripRows),
                                        ib.getIndexAttr(n)});
        },
        [&](ImplicitLocOpBuilder &ib, Value slice,
            ArrayRef<OpFoldResult> offsets) {
          return strip(ib, slice, cast<Value>(offsets[0]),
                       arith::ConstantIndexOp::create(ib, 0), stripRows);
        });
  } else {
    c = updateInLoop(b, c, 0, full, stripRows,
                     [&](ImplicitLocOpBuilder &ib, Value c, Value i0) {
                       return rowStrip(ib, c, i0, stripRows);
                     });
  }
  if (full == m)
    return c;
  return rowStrip(b, c, arith::ConstantIndexOp::create(b, full), m - full);
}

/// Rows of C computed over the whole reduction, or over the block of it a
/// kernel has set up (see WholeReduction).
using RowsFn = function_ref<Value(ImplicitLocOpBuilder &, Value c)>;

/// What a kernel that runs each strip over the whole reduction inherits:
/// all rows, once (replaceWithKernel).
struct WholeReduction {
  Value overReductionBlocks(ImplicitLocOpBuilder &b, Value c, RowsFn rows) {
    return rows(b, c);
  }
};

/// Replaces `matmul`, and its fused epilogue when it has one, by a kernel:
/// `makeKernel(builder, epilogue)` returns an object whose
/// `strip(builder, c, aRow0, cRow0, rows)` computes rows of the result, run
/// over all rows by computeRowStrips (in parallel when `parallel` and the
/// matmul has at least `parallelMinMacs` multiply-accumulates), once for
/// each block of the reduction that its `overReductionBlocks(builder, c,
/// rows)` sets up (WholeReduction: one). With
/// `startsFromInit`, the kernel starts its accumulators from the
/// AccumulatorStart of C when it has one (never reading C), so the result
/// is written into the fill's or broadcast's own destination and the fill
/// or broadcast is dead.
template <typename MakeKernel>
void replaceWithKernel(RewriterBase &rewriter, linalg::MatmulOp matmul,
                       int64_t stripRows, bool parallel,
                       int64_t parallelMinMacs, bool startsFromInit,
                       MakeKernel makeKernel) {
  // With an epilogue, the kernel goes at the epilogue's place (after all it
  // reads) and writes into the epilogue's output.
  std::optional<Epilogue> epilogue = Epilogue::find(matmul.getResult(0));
  Operation *replaced =
      epilogue ? epilogue->getOp().getOperation() : matmul.getOperation();
  rewriter.setInsertionPoint(replaced);
  ImplicitLocOpBuilder b(matmul.getLoc(), rewriter);
  auto kernel = makeKernel(b, epilogue);
  auto type = cast<RankedTensorType>(matmul.getOutputs()[0].getType());
  int64_t m = type.getDimSize(0), n = type.getDimSize(1);
  int64_t k =
      cast<RankedTensorType>(matmul.getInputs()[0].getType()).getDimSize(1);
  Value destination =
      epilogue ? epilogue->getDestination() : matmul.getOutputs()[0];
  if (std::optional<AccumulatorStart> start =
          AccumulatorStart::find(destination);
      start && startsFromInit && !epilogue)
    destination = start->destination(b);
  Value result = kernel.overReductionBlocks(
      b, destination, [&](ImplicitLocOpBuilder &rb, Value c) {
        return computeRowStrips(
            rb, c, m, n, stripRows,
            /*parallel=*/parallel && m * n * k >= parallelMinMacs,
            [&](ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
                int64_t rows) {
              return kernel.strip(sb, c, aRow0, cRow0, rows);
            });
      });
  rewriter.replaceOp(replaced, result);
  if (epilogue)
    rewriter.eraseOp(matmul);
}

} // namespace mlir::qat

#endif // QAT_LIB_TRANSFORMS_MATMULKERNELS_H
