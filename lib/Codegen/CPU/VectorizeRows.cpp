//===- VectorizeRows.cpp - qat-vectorize-rows -----------------------------===//
//
// Part of qat-mlir. Elementwise generics (activations, bias adds, requantize,
// and gathers such as im2col) become loops over their rows whose body
// computes a row a vector at a time.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "RowLoops.h"
#include "VectorWidth.h"
#include "VectorizeBody.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"

namespace mlir::qat {
#define GEN_PASS_DEF_VECTORIZEROWS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The shortest innermost row worth vectors: shorter rows stay scalar
/// loops (LLVM unrolls them as well as a vector would do).
constexpr int64_t kMinRow = 4;

/// How an operand of a row-wise generic is read.
enum class Access {
  Row,       // its innermost index is the innermost loop, alone
  Broadcast, // no index depends on the innermost loop: one scalar per row
};

std::optional<Access> getAccess(AffineMap map) {
  unsigned last = map.getNumDims() - 1;
  AffineExpr innermost = getAffineDimExpr(last, map.getContext());
  if (map.getNumResults() > 0 && map.getResults().back() == innermost &&
      llvm::none_of(map.getResults().drop_back(),
                    [&](AffineExpr e) { return e.isFunctionOfDim(last); }))
    return Access::Row;
  if (llvm::none_of(map.getResults(),
                    [&](AffineExpr e) { return e.isFunctionOfDim(last); }))
    return Access::Broadcast;
  return std::nullopt;
}

/// A static tensor of whole bytes (hasWholeByteElements).
bool isStaticBytes(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.hasStaticShape() && hasWholeByteElements(type);
}

/// The element bits of the widest type `op` computes with.
int64_t widestBits(linalg::GenericOp op) {
  int64_t bits = 8;
  auto widen = [&](Type type) {
    if (type.isIntOrFloat())
      bits = std::max<int64_t>(bits, type.getIntOrFloatBitWidth());
  };
  for (Type type : op.getRegion().front().getArgumentTypes())
    widen(type);
  for (Operation &inner : op.getRegion().front())
    for (Type type : inner.getResultTypes())
      widen(type);
  return bits;
}

/// The parallel loops of `op`, in order, when its output is indexed by
/// exactly them in that order (the identity without reductions) and the
/// innermost loop is one of them; empty otherwise.
SmallVector<unsigned> outputLoops(linalg::GenericOp op) {
  SmallVector<unsigned> parallel;
  op.getParallelDims(parallel);
  unsigned numLoops = op.getNumLoops();
  AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (parallel.empty() || parallel.back() != numLoops - 1 ||
      map.getNumResults() != parallel.size())
    return {};
  for (auto [result, loop] : llvm::zip(map.getResults(), parallel))
    if (result != getAffineDimExpr(loop, op.getContext()))
      return {};
  return parallel;
}

} // namespace

bool mlir::qat::isRowWise(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumLoops() < 1 ||
      outputLoops(op).empty() ||
      !llvm::all_of(op->getOperands(), isStaticBytes))
    return false;
  // Several outputs, all indexed alike.
  AffineMap outputMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (llvm::any_of(op.getDpsInitsMutable(), [&](OpOperand &init) {
        return op.getMatchingIndexingMap(&init) != outputMap;
      }))
    return false;
  auto outType = cast<RankedTensorType>(op.getDpsInits()[0].getType());
  if (outType.getShape().back() < kMinRow)
    return false;
  bool readsARow = false;
  for (OpOperand *input : op.getDpsInputOperands()) {
    std::optional<Access> access = getAccess(op.getMatchingIndexingMap(input));
    if (!access)
      return false;
    readsARow |= *access == Access::Row;
  }
  // A generic that only broadcasts (a fill) is left to memset.
  if (!readsARow)
    return false;
  // The body: elementwise ops on the row's values, and positions (indices
  // of the outer loops, through affine.apply and elementwise ops), which
  // are the same for the whole row and stay scalars.
  Block &body = op.getRegion().front();
  unsigned innermost = op.getNumLoops() - 1;
  DenseSet<Value> positions;
  auto isPosition = [&](Value v) {
    return positions.contains(v) || v.getParentBlock() != &body;
  };
  for (Operation &inner : body.without_terminator()) {
    if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
      // The innermost index only where nothing depends on it (an
      // affine.apply that ignores it).
      if (index.getDim() == innermost &&
          !llvm::all_of(index->getUses(), [](OpOperand &use) {
            auto apply = dyn_cast<affine::AffineApplyOp>(use.getOwner());
            if (!apply)
              return false;
            AffineMap map = apply.getAffineMap();
            unsigned position = use.getOperandNumber();
            return position < map.getNumDims()
                       ? !map.isFunctionOfDim(position)
                       : !map.isFunctionOfSymbol(position - map.getNumDims());
          }))
        return false;
      positions.insert(index);
      continue;
    }
    bool onPositions = llvm::all_of(inner.getOperands(), isPosition);
    if (isa<affine::AffineApplyOp>(inner) && onPositions) {
      positions.insert(inner.getResult(0));
      continue;
    }
    if (inner.getNumRegions() != 0 ||
        !(inner.hasTrait<OpTrait::Elementwise>() ||
          inner.hasTrait<OpTrait::ConstantLike>()))
      return false;
    if (onPositions) {
      positions.insert(inner.result_begin(), inner.result_end());
      continue;
    }
    if (!llvm::all_of(inner.getResultTypes(),
                      [](Type t) { return t.isIntOrFloat(); }))
      return false;
  }
  return true;
}

LogicalResult mlir::qat::vectorizeRows(RewriterBase &rewriter,
                                       linalg::GenericOp op) {
  if (!isRowWise(op))
    return rewriter.notifyMatchFailure(op, "not a row-wise generic");
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  ValueRange outputs = op.getDpsInits();
  ArrayRef<int64_t> shape =
      cast<RankedTensorType>(outputs[0].getType()).getShape();
  int64_t row = shape.back();
  int64_t width = std::min(row, kVectorBits / widestBits(op));
  Block &body = op.getRegion().front();
  unsigned numLoops = op.getNumLoops();
  SmallVector<unsigned> parallel = outputLoops(op), reductions;
  op.getReductionDims(reductions);
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  AffineMap outputMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  auto outArgs = body.getArguments().drop_front(op.getNumDpsInputs());

  // The elements [column, column + size) of the row at `ivs` (outer loop
  // indices) of `outs`, computed and written. With reduction loops, each
  // output's row is read once, the body applied for each of their
  // iterations in order (as the scalar loops would), and the results
  // written once.
  auto chunk = [&](ImplicitLocOpBuilder &cb, ArrayRef<Value> ivs, Value column,
                   int64_t size, ValueRange outs) -> SmallVector<Value> {
    SmallVector<Value> dims(numLoops);
    for (auto [loop, iv] : llvm::zip(ArrayRef(parallel).drop_back(), ivs))
      dims[loop] = iv;
    dims[numLoops - 1] = column;
    SmallVector<Value> outIndices(ivs);
    outIndices.push_back(column);
    auto read = [&](ImplicitLocOpBuilder &rb, Value source, AffineMap map,
                    bool broadcast) -> Value {
      SmallVector<Value> indices;
      if (map == outputMap)
        indices = outIndices;
      else
        for (AffineExpr e : map.getResults())
          indices.push_back(affine::AffineApplyOp::create(
              rb, AffineMap::get(numLoops, 0, e), dims));
      Type element = cast<ShapedType>(source.getType()).getElementType();
      if (broadcast)
        return tensor::ExtractOp::create(rb, source, indices);
      Value padding = arith::ConstantOp::create(rb, rb.getZeroAttr(element));
      return vector::TransferReadOp::create(
          rb, VectorType::get({size}, element), source, indices, padding,
          ArrayRef<bool>{true});
    };
    // The body on this chunk; `accs`: the outputs' rows so far, when
    // reducing.
    auto apply = [&](ImplicitLocOpBuilder &ab,
                     ValueRange accs) -> SmallVector<Value> {
      IRMapping mapping;
      body.walk([&](linalg::IndexOp index) {
        mapping.map(index.getResult(), dims[index.getDim()]);
      });
      for (OpOperand *input : op.getDpsInputOperands()) {
        AffineMap map = op.getMatchingIndexingMap(input);
        mapping.map(
            body.getArgument(input->getOperandNumber()),
            read(ab, input->get(), map, *getAccess(map) == Access::Broadcast));
      }
      for (auto [i, arg, out] : llvm::enumerate(outArgs, outs))
        if (!accs.empty())
          mapping.map(arg, accs[i]);
        else if (!arg.use_empty())
          mapping.map(arg, read(ab, out, outputMap, /*broadcast=*/false));
      return vectorizeBodyResults(ab, body, mapping, {size});
    };
    SmallVector<Value> results;
    if (reductions.empty()) {
      results = apply(cb, ValueRange());
    } else {
      // The reduction loops, outermost first, threading the rows.
      std::function<SmallVector<Value>(ImplicitLocOpBuilder &, unsigned,
                                       ValueRange)>
          reduce = [&](ImplicitLocOpBuilder &rb, unsigned level,
                       ValueRange accs) -> SmallVector<Value> {
        if (level == reductions.size())
          return apply(rb, accs);
        auto index = [&](int64_t v) -> Value {
          return arith::ConstantIndexOp::create(rb, v);
        };
        auto loop = scf::ForOp::create(
            rb, index(0), index(ranges[reductions[level]]), index(1), accs,
            [&](OpBuilder &nested, Location loc, Value iv, ValueRange args) {
              ImplicitLocOpBuilder ib(loc, nested);
              dims[reductions[level]] = iv;
              scf::YieldOp::create(ib, reduce(ib, level + 1, args));
            });
        return SmallVector<Value>(loop.getResults());
      };
      SmallVector<Value> rows = llvm::map_to_vector(outs, [&](Value out) {
        return read(cb, out, outputMap, /*broadcast=*/false);
      });
      results = reduce(cb, 0, rows);
    }
    return llvm::map_to_vector(
        llvm::zip(results, outs), [&](auto pair) -> Value {
          auto [result, out] = pair;
          return vector::TransferWriteOp::create(cb, result, out, outIndices,
                                                 ArrayRef<bool>{true})
              .getResult();
        });
  };

  // Loops over the outer dimensions, threading the outputs; each row in
  // chunks of `width`, the last chunk shorter when `width` does not divide.
  rewriter.replaceOp(
      op, buildRowLoops(b, shape.drop_back(), row, width, outputs, chunk));
  return success();
}

namespace {

struct VectorizeRowsPass
    : public qat::impl::VectorizeRowsBase<VectorizeRowsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](linalg::GenericOp op) {
      if (isRowWise(op))
        generics.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : generics)
      (void)vectorizeRows(rewriter, op);
  }
};

} // namespace
