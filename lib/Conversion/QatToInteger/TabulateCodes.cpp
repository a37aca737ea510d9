//===- TabulateCodes.cpp - qat-tabulate-codes -----------------------------===//
//
// Part of qat-mlir. In an integer program, an int8 tensor computed
// elementwise from one other int8 tensor (a float island between a
// dequantize and a quantize: GELU, SiLU, a sigmoid or hard-swish gate, and
// the integer product that follows) is a function of that tensor's code
// alone: 256 possible inputs. The chain is evaluated once per call on the
// 256 codes, by the same ops, and every element becomes a table lookup.
//
//===----------------------------------------------------------------------===//

#include "qat/Conversion/QatToInteger/QatToInteger.h"

#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/IR/QatOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qat {
#define GEN_PASS_DEF_TABULATECODES
#include "qat/Conversion/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// Codes a table can be indexed by: statically shaped int8 tensors.
bool isCodes(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.hasStaticShape() && type.getRank() > 0 &&
         type.getElementType().isInteger(8);
}

/// A tensor with one element (a per-tensor scale or zero point).
bool isScalarTensor(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.hasStaticShape() && type.getNumElements() == 1;
}

/// The operands through which `op` computes each element of its one result
/// from the same element of each (its other operands are the same for every
/// element), if it does: per-tensor qat.quantize / dequantize / requantize /
/// fake_quant (a float island's own, left in the integer program),
/// and all-parallel linalg.generic ops reading tensors of the result's shape
/// through identity maps and scalars, without reading their output or the
/// element's position.
std::optional<SmallVector<Value>> elementwiseOperands(Operation *op) {
  if (op->getNumResults() != 1)
    return std::nullopt;
  auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!resultType || !resultType.hasStaticShape())
    return std::nullopt;
  if (isa<QuantizeOp, DequantizeOp, FakeQuantOp>(op)) {
    if (!isScalarTensor(op->getOperand(1)) ||
        !isScalarTensor(op->getOperand(2)))
      return std::nullopt;
    return SmallVector<Value>{op->getOperand(0)};
  }
  if (auto requantize = dyn_cast<RequantizeOp>(op)) {
    if (requantize.getMultiplier().size() != 1)
      return std::nullopt;
    return SmallVector<Value>{requantize.getInput()};
  }
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || !generic.hasPureTensorSemantics() ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic.getMatchingIndexingMap(generic.getDpsInitOperand(0))
           .isIdentity() ||
      !generic.getBody()->getArguments().back().use_empty() ||
      !generic.getBody()->getOps<linalg::IndexOp>().empty())
    return std::nullopt;
  SmallVector<Value> elementwise;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    AffineMap map = generic.getMatchingIndexingMap(input);
    if (map.getNumResults() == 0)
      continue; // a scalar, the same for every element
    if (!map.isIdentity() ||
        input->get().getType() !=
            RankedTensorType::get(resultType.getShape(),
                                  getElementTypeOrSelf(input->get())))
      return std::nullopt;
    elementwise.push_back(input->get());
  }
  return elementwise;
}

/// The operands whose elements `op` carries to its result's elements one to
/// one: elementwiseOperands, or the source of a reshape (the same elements
/// in the same row-major order).
std::optional<SmallVector<Value>> chainOperands(Operation *op) {
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op) &&
      cast<RankedTensorType>(op->getResult(0).getType()).hasStaticShape())
    return SmallVector<Value>{op->getOperand(0)};
  return elementwiseOperands(op);
}

/// The chain from `source` (an int8 tensor) to `root`, in program order.
struct Chain {
  Value source, root;
  SmallVector<Operation *> ops;
};

/// Rebuilds `op` on one-dimensional tensors of `count` elements, its
/// elementwise operands mapped by `mapping`.
Value rebuildFlat(ImplicitLocOpBuilder &b, Operation *op, IRMapping &mapping,
                  int64_t count) {
  auto flatType = [&](Value v) {
    return RankedTensorType::get({count}, getElementTypeOrSelf(v));
  };
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op))
    return mapping.lookup(op->getOperand(0)); // already flat
  if (isa<QuantizeOp, DequantizeOp, FakeQuantOp, RequantizeOp>(op)) {
    Operation *clone = b.clone(*op, mapping);
    clone->getResult(0).setType(flatType(op->getResult(0)));
    return clone->getResult(0);
  }
  auto generic = cast<linalg::GenericOp>(op);
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    bool scalar = generic.getMatchingIndexingMap(input).getNumResults() == 0;
    inputs.push_back(mapping.lookupOrDefault(input->get()));
    maps.push_back(scalar ? AffineMap::get(1, 0, {}, ctx)
                          : AffineMap::getMultiDimIdentityMap(1, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(1, ctx));
  Value init = tensor::EmptyOp::create(
      b, ArrayRef<int64_t>{count}, getElementTypeOrSelf(generic.getResult(0)));
  auto flat = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel});
  IRMapping body;
  generic.getRegion().cloneInto(&flat.getRegion(), body);
  return flat.getResult(0);
}

/// `root`'s elements looked up by the code of `source`'s: each chain
/// evaluated on the 256 codes, then indexed by `code + 128`.
Value tabulate(ImplicitLocOpBuilder &b, const Chain &chain) {
  SmallVector<int8_t> codes(256);
  for (int i = 0; i < 256; ++i)
    codes[i] = static_cast<int8_t>(i - 128);
  auto codesType = RankedTensorType::get({256}, b.getI8Type());
  IRMapping mapping;
  mapping.map(chain.source, arith::ConstantOp::create(
                                b, DenseElementsAttr::get(
                                       codesType, ArrayRef<int8_t>(codes))));
  for (Operation *op : chain.ops)
    mapping.map(op->getResult(0), rebuildFlat(b, op, mapping, 256));
  Value table = mapping.lookup(chain.root);

  // The source's codes in the root's shape (reshapes in the chain).
  auto type = cast<RankedTensorType>(chain.root.getType());
  Value source = chain.source;
  auto sourceType = cast<RankedTensorType>(source.getType());
  if (sourceType.getShape() != type.getShape()) {
    auto all = [](int64_t rank) {
      return SmallVector<ReassociationIndices>{
          llvm::to_vector(llvm::seq<int64_t>(0, rank))};
    };
    auto flat =
        RankedTensorType::get({type.getNumElements()}, type.getElementType());
    source = tensor::CollapseShapeOp::create(b, flat, source,
                                             all(sourceType.getRank()));
    source =
        tensor::ExpandShapeOp::create(b, type, source, all(type.getRank()));
  }
  AffineMap id =
      AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext());
  return linalg::GenericOp::create(
             b, TypeRange{type}, ValueRange{source},
             ValueRange{tensor::EmptyOp::create(b, type.getShape(),
                                                type.getElementType())},
             ArrayRef<AffineMap>{id, id},
             SmallVector<utils::IteratorType>(type.getRank(),
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               Value wide = arith::ExtSIOp::create(
                   nested, loc, nested.getI32Type(), args[0]);
               Value shifted = arith::AddIOp::create(
                   nested, loc, wide,
                   arith::ConstantIntOp::create(nested, loc,
                                                nested.getI32Type(), 128));
               Value index = arith::IndexCastOp::create(
                   nested, loc, nested.getIndexType(), shifted);
               linalg::YieldOp::create(
                   nested, loc,
                   Value(tensor::ExtractOp::create(nested, loc, table, index)));
             })
      .getResult(0);
}

} // namespace

int64_t mlir::qat::tabulateCodes(func::FuncOp func, int64_t minElements) {
  if (func.isExternal() || !func.getBody().hasOneBlock())
    return 0;
  Block &block = func.getBody().front();
  // The one int8 tensor each value is computed from elementwise, where
  // there is one: itself for an int8 tensor computed otherwise.
  DenseMap<Value, Value> sourceOf;
  for (BlockArgument arg : block.getArguments())
    if (isCodes(arg))
      sourceOf[arg] = arg;
  for (Operation &op : block) {
    std::optional<SmallVector<Value>> operands = chainOperands(&op);
    Value source;
    if (operands && !operands->empty()) {
      for (Value operand : *operands) {
        Value s = sourceOf.lookup(operand);
        if (!s || (source && s != source)) {
          source = {};
          break;
        }
        source = s;
      }
    }
    for (Value result : op.getResults())
      if (source)
        sourceOf[result] = source;
      else if (isCodes(result))
        sourceOf[result] = result;
  }

  // Roots: int8 results of a chain with a float island in it (anything
  // else is as cheap as a lookup), read by something outside their chain.
  SmallVector<Chain> chains;
  for (Operation &op : block) {
    if (op.getNumResults() != 1 || !isCodes(op.getResult(0)))
      continue;
    Value root = op.getResult(0);
    Value source = sourceOf.lookup(root);
    if (!source || source == root ||
        cast<RankedTensorType>(root.getType()).getNumElements() < minElements)
      continue;
    bool inChain = !root.use_empty() &&
                   llvm::all_of(root.getUsers(), [&](Operation *user) {
                     return user->getNumResults() == 1 && chainOperands(user) &&
                            sourceOf.lookup(user->getResult(0)) == source;
                   });
    if (inChain)
      continue;
    Chain chain{source, root, {}};
    llvm::SetVector<Operation *> ops;
    SmallVector<Value> worklist = {root};
    while (!worklist.empty()) {
      Value value = worklist.pop_back_val();
      if (value == source)
        continue;
      Operation *def = value.getDefiningOp();
      if (!ops.insert(def))
        continue;
      std::optional<SmallVector<Value>> operands = chainOperands(def);
      worklist.append(operands->begin(), operands->end());
    }
    if (llvm::none_of(ops,
                      [](Operation *o) { return isa<linalg::GenericOp>(o); }))
      continue;
    chain.ops = ops.takeVector();
    llvm::sort(chain.ops, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    chains.push_back(std::move(chain));
  }

  for (const Chain &chain : chains) {
    ImplicitLocOpBuilder b(chain.root.getLoc(), chain.root.getDefiningOp());
    b.setInsertionPointAfter(chain.root.getDefiningOp());
    Value lookedUp = tabulate(b, chain), root = chain.root;
    root.replaceAllUsesExcept(lookedUp, lookedUp.getDefiningOp());
  }
  // The chains' own ops are dead now, unless something else reads them.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
    if (isOpTriviallyDead(&op))
      op.erase();
  return static_cast<int64_t>(chains.size());
}

namespace {

struct TabulateCodesPass
    : public qat::impl::TabulateCodesBase<TabulateCodesPass> {
  using Base::Base;
  void runOnOperation() override {
    (void)tabulateCodes(getOperation(), minElements);
  }
};

} // namespace
