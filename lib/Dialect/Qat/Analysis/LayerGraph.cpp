//===- LayerGraph.cpp - Layers and activations of a graph -----------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::qat;

//===----------------------------------------------------------------------===//
// Layers
//===----------------------------------------------------------------------===//

bool mlir::qat::isLayerOp(Operation *op) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp || linalgOp.getNumDpsInputs() != 2 ||
      linalgOp.getNumDpsInits() != 1 || linalgOp.getNumReductionLoops() == 0)
    return false;
  if (!linalg::isaContractionOpInterface(linalgOp) &&
      !linalg::isaConvolutionOpInterface(linalgOp))
    return false;
  Block *body = linalgOp.getBlock();
  return !body->getArgument(0).use_empty() && !body->getArgument(1).use_empty();
}

static StringRef getLayerKind(linalg::LinalgOp op) {
  if (isa<linalg::MatmulOp>(op))
    return "matmul";
  if (isa<linalg::BatchMatmulOp>(op))
    return "batch_matmul";
  StringRef name = op->getName().getStringRef();
  if (name.starts_with("linalg.depthwise_conv"))
    return "depthwise_conv";
  if (name.starts_with("linalg.conv"))
    return "conv";
  return linalg::isaContractionOpInterface(op) ? "contraction" : "conv";
}

/// Loop dimensions that appear as plain results of `map`.
static llvm::SmallDenseSet<unsigned> getDims(AffineMap map) {
  llvm::SmallDenseSet<unsigned> dims;
  for (AffineExpr expr : map.getResults())
    expr.walk([&](AffineExpr e) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        dims.insert(dim.getPosition());
    });
  return dims;
}

static std::optional<int64_t> getResultPosition(AffineMap map, unsigned dim) {
  for (auto [i, expr] : llvm::enumerate(map.getResults()))
    if (auto d = dyn_cast<AffineDimExpr>(expr); d && d.getPosition() == dim)
      return i;
  return std::nullopt;
}

/// The output-channel loop of a layer: the parallel loop that indexes both
/// the weight and the result. When several do (batch matmul: batch and
/// columns), the one the activation does not index.
static std::optional<unsigned> getChannelLoop(linalg::LinalgOp op,
                                              unsigned weightInput) {
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  auto weightDims = getDims(maps[weightInput]);
  auto activationDims = getDims(maps[1 - weightInput]);
  auto resultDims = getDims(maps[2]);
  SmallVector<unsigned> candidates, exclusive;
  for (auto [loop, type] : llvm::enumerate(op.getIteratorTypesArray())) {
    if (type != utils::IteratorType::parallel || !weightDims.contains(loop) ||
        !resultDims.contains(loop))
      continue;
    candidates.push_back(loop);
    if (!activationDims.contains(loop))
      exclusive.push_back(loop);
  }
  if (candidates.size() == 1)
    return candidates.front();
  if (exclusive.size() == 1)
    return exclusive.front();
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// GraphAnalysis
//===----------------------------------------------------------------------===//

static std::optional<ArgRole> getRole(BlockArgument arg) {
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!func)
    return std::nullopt;
  return QatDialect::getArgRole(func, arg.getArgNumber());
}

/// The one tensor operand `op` reads data from, when it has exactly one:
/// reshapes, transposes, broadcasts, slices, padding and unary elementwise
/// ops.
static Value getSingleDataOperand(Operation *op) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    if (linalgOp.getNumDpsInputs() != 1)
      return {};
    return linalgOp.getDpsInputs().front();
  }
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::ReshapeOp,
          tensor::PadOp, tensor::ExtractSliceOp, tensor::CastOp>(op))
    return op->getOperand(0);
  return {};
}

GraphAnalysis::GraphAnalysis(func::FuncOp func) { analyze(func); }

void GraphAnalysis::analyze(func::FuncOp func) {
  if (func.isExternal())
    return;
  for (BlockArgument arg : func.getArguments())
    if (getRole(arg) == ArgRole::Input)
      inputs.insert(arg);

  // Which arguments are inputs depends on which operand of each layer is its
  // weight, which depends on which values are activations: iterate to a
  // fixed point (each round can only add inputs).
  Block &body = func.getBody().front();
  for (unsigned round = 0;; ++round) {
    activations.clear();
    layers.clear();
    layerIndex.clear();
    activations.insert(inputs.begin(), inputs.end());
    size_t numInputs = inputs.size();

    auto markInput = [&](Value value) {
      // Walk back through single-operand ops to an argument.
      while (value && !activations.contains(value)) {
        if (auto arg = dyn_cast<BlockArgument>(value)) {
          if (arg.getOwner() == &body && getRole(arg) != ArgRole::Parameter)
            inputs.insert(arg);
          return;
        }
        Operation *def = value.getDefiningOp();
        value = def ? getSingleDataOperand(def) : Value();
      }
    };

    for (Operation &op : body) {
      if (isLayerOp(&op)) {
        auto linalgOp = cast<linalg::LinalgOp>(op);
        Layer layer;
        layer.op = linalgOp;
        layer.kind = getLayerKind(linalgOp);
        Value in0 = linalgOp.getDpsInputs()[0],
              in1 = linalgOp.getDpsInputs()[1];
        if (!activations.contains(in1))
          layer.weightInput = 1;
        else if (!activations.contains(in0) &&
                 linalg::isaContractionOpInterface(linalgOp))
          layer.weightInput = 0;
        for (unsigned i = 0; i < 2; ++i)
          if (layer.weightInput != i)
            layer.activationInputs.push_back(i);
        if (layer.weightInput) {
          if (auto loop = getChannelLoop(linalgOp, *layer.weightInput)) {
            SmallVector<AffineMap> maps = linalgOp.getIndexingMapsArray();
            layer.weightAxis =
                getResultPosition(maps[*layer.weightInput], *loop);
            layer.outputChannelDim = getResultPosition(maps[2], *loop);
            if (!layer.weightAxis || !layer.outputChannelDim) {
              layer.weightAxis.reset();
              layer.outputChannelDim.reset();
            }
          }
        }
        for (unsigned i : layer.activationInputs)
          markInput(linalgOp.getDpsInputs()[i]);
        layerIndex[&op] = layers.size();
        layers.push_back(std::move(layer));
        for (unsigned i : layers.back().activationInputs)
          activations.insert(linalgOp.getDpsInputs()[i]);
        activations.insert(op.result_begin(), op.result_end());
        continue;
      }
      bool readsActivation = llvm::any_of(
          op.getOperands(), [&](Value v) { return activations.contains(v); });
      if (readsActivation)
        activations.insert(op.result_begin(), op.result_end());
    }
    if (inputs.size() == numInputs || round == 3)
      break;
  }
}

const Layer *GraphAnalysis::getLayer(Operation *op) const {
  auto it = layerIndex.find(op);
  return it == layerIndex.end() ? nullptr : &layers[it->second];
}

//===----------------------------------------------------------------------===//
// Elementwise payloads
//===----------------------------------------------------------------------===//

bool mlir::qat::isElementwiseOn(linalg::LinalgOp op, unsigned input) {
  if (op.getNumDpsInits() != 1 || op->getNumResults() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops() ||
      input >= op.getNumDpsInputs())
    return false;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  return maps[input].isIdentity() && maps.back().isIdentity() &&
         op.getDpsInputs()[input].getType() == op->getResult(0).getType();
}

bool mlir::qat::isPerChannelMap(AffineMap map, int64_t dim) {
  return llvm::all_of(map.getResults(), [&](AffineExpr expr) {
    if (auto d = dyn_cast<AffineDimExpr>(expr))
      return d.getPosition() == dim;
    auto c = dyn_cast<AffineConstantExpr>(expr);
    return c && c.getValue() == 0;
  });
}

/// "max" or "min" when `cmp` and its one user, a select, compute the max or
/// min of `x` and a value independent of it.
static std::optional<StringRef> matchCompareSelect(arith::CmpFOp cmp, Value x) {
  if (!cmp->hasOneUse() || !x.hasNUses(2))
    return std::nullopt;
  auto select = dyn_cast<arith::SelectOp>(*cmp->user_begin());
  if (!select || select.getCondition() != cmp.getResult())
    return std::nullopt;
  bool xLeft = cmp.getLhs() == x;
  Value other = xLeft ? cmp.getRhs() : cmp.getLhs();
  if (other == x)
    return std::nullopt;
  bool selectsX = select.getTrueValue() == x;
  if (!(selectsX
            ? select.getFalseValue() == other
            : select.getTrueValue() == other && select.getFalseValue() == x))
    return std::nullopt;
  using P = arith::CmpFPredicate;
  P pred = cmp.getPredicate();
  bool greater = llvm::is_contained({P::OGT, P::OGE, P::UGT, P::UGE}, pred);
  bool less = llvm::is_contained({P::OLT, P::OLE, P::ULT, P::ULE}, pred);
  if (!greater && !less)
    return std::nullopt;
  // Is "x is the larger one" the condition that selects x?
  bool xLarger = greater == xLeft;
  return StringRef(xLarger == selectsX ? "max" : "min");
}

std::optional<PayloadChain> mlir::qat::matchPayloadChain(linalg::LinalgOp op,
                                                         unsigned input) {
  Block *body = op.getBlock();
  // The init must not be read.
  for (BlockArgument init : op.getRegionOutputArgs())
    if (!init.use_empty())
      return std::nullopt;
  Value x = body->getArgument(input);
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  if (yield.getNumOperands() != 1)
    return std::nullopt;

  PayloadChain chain;
  Value current = x;
  llvm::SmallDenseSet<Value> dependent = {x};
  Operation *matchedSelect = nullptr;
  for (Operation &inner : body->without_terminator()) {
    if (&inner == matchedSelect)
      continue;
    unsigned uses = llvm::count_if(
        inner.getOperands(), [&](Value v) { return dependent.contains(v); });
    if (uses == 0)
      continue;
    // max / min written as a compare and a select: x > c ? x : c.
    if (auto cmp = dyn_cast<arith::CmpFOp>(inner)) {
      std::optional<StringRef> step = matchCompareSelect(cmp, current);
      if (!step)
        return std::nullopt;
      chain.clamps = true;
      chain.steps.push_back(*step);
      matchedSelect = *cmp->user_begin();
      current = matchedSelect->getResult(0);
      dependent.insert(current);
      continue;
    }
    // Exactly one dependent operand, the latest link, used once.
    if (uses != 1 || !current.hasOneUse() ||
        !llvm::is_contained(inner.getOperands(), current))
      return std::nullopt;
    bool isFirst = inner.getNumOperands() > 0 && inner.getOperand(0) == current;
    StringRef step = TypeSwitch<Operation *, StringRef>(&inner)
                         .Case([&](arith::AddFOp) {
                           chain.shifts = true;
                           return "add";
                         })
                         .Case([&](arith::SubFOp) {
                           chain.shifts = true;
                           chain.scales |= !isFirst; // c - x negates x
                           return "sub";
                         })
                         .Case([&](arith::MulFOp) {
                           chain.scales = true;
                           return "mul";
                         })
                         .Case([&](arith::DivFOp) -> StringRef {
                           chain.scales = true;
                           return isFirst ? "div" : "";
                         })
                         .Case([&](arith::NegFOp) {
                           chain.scales = true;
                           return "neg";
                         })
                         .Case<arith::MaximumFOp, arith::MaxNumFOp>([&](auto) {
                           chain.clamps = true;
                           return "max";
                         })
                         .Case<arith::MinimumFOp, arith::MinNumFOp>([&](auto) {
                           chain.clamps = true;
                           return "min";
                         })
                         .Default([](Operation *) { return ""; });
    if (step.empty() || inner.getNumResults() != 1)
      return std::nullopt;
    chain.steps.push_back(step);
    current = inner.getResult(0);
    dependent.insert(current);
  }
  if (yield.getOperand(0) != current)
    return std::nullopt;
  return chain;
}

FailureOr<SmallVector<std::string>>
mlir::qat::nameLayers(const GraphAnalysis &graph,
                      llvm::StringMap<unsigned> &kindCounts) {
  SmallVector<std::string> names;
  llvm::StringMap<Operation *> seen;
  for (const Layer &layer : graph.getLayers()) {
    std::string name;
    if (auto attr =
            layer.op->getAttrOfType<StringAttr>(QatDialect::kLayerAttrName)) {
      name = attr.str();
    } else if (auto loc = dyn_cast<NameLoc>(layer.op->getLoc())) {
      // A source node that became several layers: the later ones are
      // numbered (name_1, name_2, ...).
      name = loc.getName().str();
      for (unsigned i = 1; seen.contains(name); ++i)
        name = llvm::formatv("{0}_{1}", loc.getName().strref(), i);
    } else {
      name = llvm::formatv("{0}_{1}", layer.kind, kindCounts[layer.kind]++);
    }
    if (!seen.try_emplace(name, layer.op).second)
      return layer.op->emitOpError("has the same layer name '")
             << name << "' as another layer; names must be unique";
    names.push_back(std::move(name));
  }
  return names;
}

bool mlir::qat::isCommutativeStep(Operation *op) {
  return isa<arith::AddFOp, arith::MulFOp, arith::MaximumFOp, arith::MaxNumFOp,
             arith::MinimumFOp, arith::MinNumFOp>(op);
}

bool mlir::qat::isSumOp(linalg::LinalgOp op) {
  if (isa<linalg::PoolingNhwcSumOp>(op.getOperation()))
    return true;
  if (!isa<linalg::GenericOp>(op.getOperation()) || op.getNumDpsInputs() != 1 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return false;
  Block *body = op.getBlock();
  auto add =
      body->getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  return add && body->getOperations().size() == 2 &&
         llvm::is_contained(add->getOperands(), body->getArgument(0)) &&
         llvm::is_contained(add->getOperands(), body->getArgument(1));
}

bool mlir::qat::hasIntegerForm(Operation *op) {
  if (isa<tensor::ConcatOp, tensor::InsertSliceOp>(op))
    return true;
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp)
    return false;
  if (isSumOp(linalgOp))
    return true;
  // `a + b` or `a * b` of its two inputs, all loops parallel, then
  // possibly steps with values from outside the payload (a fused ReLU).
  if (!isa<linalg::GenericOp>(op) || linalgOp.getNumDpsInputs() != 2 ||
      linalgOp.getNumDpsInits() != 1 || linalgOp.getNumReductionLoops() != 0)
    return false;
  Block *body = linalgOp.getBlock();
  auto ops = body->without_terminator();
  if (ops.empty())
    return false;
  Operation &combine = *ops.begin();
  if (!isa<arith::AddFOp, arith::MulFOp>(combine) ||
      !llvm::is_contained(combine.getOperands(), body->getArgument(0)) ||
      !llvm::is_contained(combine.getOperands(), body->getArgument(1)))
    return false;
  Value value = combine.getResult(0);
  for (Operation &step : llvm::drop_begin(ops)) {
    bool commutes = isCommutativeStep(&step);
    if (!(commutes || isa<arith::SubFOp, arith::DivFOp>(step)) ||
        !value.hasOneUse() || *value.user_begin() != &step ||
        (!commutes && step.getOperand(0) != value))
      return false;
    Value other = step.getOperand(step.getOperand(0) == value ? 1 : 0);
    if (other.getParentBlock() == body && !matchPattern(other, m_Constant()))
      return false;
    value = step.getResult(0);
  }
  return body->getTerminator()->getOperand(0) == value;
}
