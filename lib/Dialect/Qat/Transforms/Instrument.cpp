//===- Instrument.cpp - qat-instrument ------------------------------------===//
//
// Part of qat-mlir. Places qat.fake_quant on the weights and activations of a
// float graph where an integer deployment quantizes them. Planning (which
// values, which settings, which values share parameters) is separate from
// rewriting, so that dry-run prints exactly the plan the rewrite carries out.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"
#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Dialect/Qat/Transforms/InstrumentConfig.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

namespace mlir::qat {
#define GEN_PASS_DEF_INSTRUMENT
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

/// How an activation is quantized.
struct ActSpec {
  unsigned bits = 8;
  bool symmetric = false;
  RoundingMode rounding = RoundingMode::half_to_even;

  bool operator==(const ActSpec &other) const {
    return bits == other.bits && symmetric == other.symmetric &&
           rounding == other.rounding;
  }
  std::string str() const {
    return llvm::formatv("{0}-bit {1}{2}", bits,
                         symmetric ? "signed symmetric" : "unsigned affine",
                         rounding == RoundingMode::half_to_even
                             ? ""
                             : " " + stringifyRoundingMode(rounding).str())
        .str();
  }
};

ActSpec getActSpec(const LayerQuantSpec &spec) {
  return {spec.actBits, spec.symmetricActivations, spec.rounding};
}

struct LayerPlan {
  const Layer *layer;
  std::string name;
  LayerQuantSpec spec;
  std::string skipReason;
};

/// A fake-quant on a layer's weight operand.
struct WeightPoint {
  Value value;
  std::string layer;
  Location loc;
  std::optional<int64_t> axis;
  unsigned bits;
  RoundingMode rounding;
  SmallVector<OpOperand *> uses;
};

/// A fake-quant on an activation. `allUses`: the value's producer is
/// quantized, so every user reads the quantized value; otherwise only `uses`
/// (the integer consumers of a float value) do.
struct ActPoint {
  Value value;
  unsigned group;
  std::string what;
  bool allUses;
  SmallVector<OpOperand *> uses;
};

/// Activations that share one scale and zero point.
struct Group {
  ActSpec spec;
  std::string name;
  Location loc;
};

/// A layer (or integer elementwise op) output waiting for its epilogue to end.
struct Pending {
  std::string producer;
  ActSpec spec;
  SmallVector<StringRef> steps;
};

/// A new function argument: a weight's scale, or a group's scale and zero
/// point.
struct Slot {
  bool isWeight;
  unsigned index;
};

std::string describePending(const Pending &pending) {
  std::string text = pending.producer + " output";
  if (!pending.steps.empty())
    text += " after " + llvm::join(pending.steps, ", ");
  return text;
}

/// The data operand of ops whose result holds (a subset of) that operand's
/// values, so that a quantized input gives a quantized result: reshapes,
/// slices, transposes, broadcasts, copies, max pooling and padding with 0 or
/// -inf.
OpOperand *getTransparentInput(Operation *op, const GraphAnalysis &graph) {
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tensor::ReshapeOp,
          tensor::ExtractSliceOp, tensor::CastOp>(op))
    return &op->getOpOperand(0);
  if (auto pad = dyn_cast<tensor::PadOp>(op)) {
    Value padding = pad.getConstantPaddingValue();
    auto constant =
        padding ? padding.getDefiningOp<arith::ConstantOp>() : nullptr;
    auto attr = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
    if (attr && (attr.getValue().isZero() || (attr.getValue().isNegative() &&
                                              (attr.getValue().isInfinity() ||
                                               attr.getValue().isLargest()))))
      return &pad.getSourceMutable();
    return nullptr;
  }
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp || linalgOp.getNumDpsInits() != 1 ||
      graph.isActivation(linalgOp.getDpsInits()[0]))
    return nullptr;
  Block *body = linalgOp.getBlock();
  Value yielded = body->getTerminator()->getOperand(0);
  // A copy, transpose or broadcast: yields its input.
  if (linalgOp.getNumDpsInputs() == 1 && yielded == body->getArgument(0) &&
      linalgOp.getNumLoops() == linalgOp.getNumParallelLoops())
    return linalgOp.getDpsInputOperand(0);
  // Max pooling: max of the accumulator and the input; the window operand
  // carries no data.
  StringRef name = op->getName().getStringRef();
  if (name.starts_with("linalg.pooling_") && name.contains("_max") &&
      !name.contains("unsigned"))
    return linalgOp.getDpsInputOperand(0);
  return nullptr;
}

/// The activation operand `op` extends an epilogue on, when it is an
/// elementwise step with per-channel or scalar parameters (bias, scale,
/// ReLU, clamp) on exactly one activation (its steps in `chain` if given);
/// null otherwise.
OpOperand *getEpilogueInput(Operation *op, const GraphAnalysis &graph,
                            PayloadChain *chain = nullptr) {
  auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
  if (!linalgOp || !linalgOp.hasPureTensorSemantics())
    return nullptr;
  OpOperand *input = nullptr;
  for (OpOperand &operand : op->getOpOperands()) {
    if (!graph.isActivation(operand.get()))
      continue;
    if (input || !linalgOp.isDpsInput(&operand))
      return nullptr;
    input = &operand;
  }
  if (!input || !isElementwiseOn(linalgOp, input->getOperandNumber()))
    return nullptr;
  std::optional<PayloadChain> steps =
      matchPayloadChain(linalgOp, input->getOperandNumber());
  if (!steps)
    return nullptr;
  if (chain)
    *chain = std::move(*steps);
  return input;
}

/// A short name of a non-layer op that produces a quantized value.
StringRef getOpKind(Operation *op) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    StringRef name = op->getName().getStringRef();
    if (name.starts_with("linalg.pooling_"))
      return name.contains("_sum") ? "sum_pool" : "pool";
    if (linalgOp.getNumReductionLoops() > 0)
      return "reduce";
    for (Operation &inner : linalgOp.getBlock()->without_terminator()) {
      if (isa<arith::AddFOp>(inner))
        return "add";
      if (isa<arith::MulFOp>(inner))
        return "mul";
      if (isa<arith::SubFOp>(inner))
        return "sub";
    }
    return "elementwise";
  }
  if (isa<tensor::ConcatOp, tensor::InsertSliceOp>(op))
    return "concat";
  return op->getName().stripDialect();
}

class Planner {
public:
  Planner(func::FuncOp func, InstrumentConfig &config)
      : func(func), graph(func), config(config) {}

  LogicalResult plan();
  void print(raw_ostream &os) const;

  func::FuncOp func;
  GraphAnalysis graph;
  SmallVector<LayerPlan> layers;
  SmallVector<WeightPoint> weights;
  SmallVector<ActPoint> acts;
  SmallVector<Group> groups;
  llvm::EquivalenceClasses<unsigned> sharing;
  SmallVector<Slot> slots;

  unsigned getRoot(unsigned group) const {
    return sharing.getLeaderValue(group);
  }

private:
  LogicalResult nameLayers();
  /// Finds the ops that read their activations as integer codes (see
  /// readsCodes).
  void findIntegerReaders();
  std::string nameOp(Operation *op);
  unsigned newGroup(ActSpec spec, std::string name, Location loc);
  void finalize(Value value);
  void ensure(OpOperand &use, ActSpec spec);
  std::optional<unsigned> getGroup(Value value) const;
  void addWeight(OpOperand &use, const LayerPlan &plan);
  LogicalResult visit(Operation &op);

  InstrumentConfig &config;
  llvm::StringMap<unsigned> kindCounts;
  llvm::DenseMap<Operation *, unsigned> layerPlans;
  /// Ops that run on integer codes: the quantized layers, and the ops with
  /// an integer form (hasIntegerForm), views and epilogue steps whose result
  /// such an op or the function's return reads. Other ops on activations
  /// are float islands: their operands and results are not quantized for
  /// them (so a layer norm's or softmax's statistics stay in float).
  llvm::DenseSet<Operation *> readsCodes;
  llvm::DenseMap<Value, Pending> pending;
  llvm::DenseMap<Value, unsigned> quantized; // value -> group
  llvm::DenseMap<Value, unsigned> ensured;   // float value -> act point
  llvm::DenseMap<std::pair<Value, unsigned>, unsigned> weightPoints;
};

std::string Planner::nameOp(Operation *op) {
  StringRef kind = getOpKind(op);
  return llvm::formatv("{0}_{1}", kind, kindCounts[kind]++).str();
}

LogicalResult Planner::nameLayers() {
  FailureOr<SmallVector<std::string>> names =
      mlir::qat::nameLayers(graph, kindCounts);
  if (failed(names))
    return failure();
  ArrayRef<Layer> all = graph.getLayers();
  for (auto [layer, name] : llvm::zip(all, *names)) {
    LayerPlan plan{&layer, name,
                   config.resolve(name, /*last=*/&layer == &all.back()), ""};
    if (plan.spec.skip)
      plan.skipReason = "config";
    else if (config.skipFirstLast &&
             (&layer == &all.front() || &layer == &all.back()))
      plan.skipReason = "skip-first-last";
    if (!plan.skipReason.empty())
      plan.spec.skip = true;
    layerPlans[layer.op] = layers.size();
    layers.push_back(std::move(plan));
  }
  return success();
}

void Planner::findIntegerReaders() {
  // Backwards: an op's readers are decided before it.
  for (Operation &op : llvm::reverse(func.getBody().front())) {
    if (auto it = layerPlans.find(&op); it != layerPlans.end()) {
      if (!layers[it->second].spec.skip)
        readsCodes.insert(&op);
      continue;
    }
    bool readInIntegers = llvm::any_of(op.getUsers(), [&](Operation *user) {
      return isa<func::ReturnOp>(user) || readsCodes.contains(user);
    });
    if (readInIntegers &&
        (hasIntegerForm(&op) || getTransparentInput(&op, graph) ||
         getEpilogueInput(&op, graph)))
      readsCodes.insert(&op);
  }
}

unsigned Planner::newGroup(ActSpec spec, std::string name, Location loc) {
  unsigned id = groups.size();
  groups.push_back({spec, std::move(name), loc});
  sharing.insert(id);
  slots.push_back({false, id});
  return id;
}

std::optional<unsigned> Planner::getGroup(Value value) const {
  if (auto it = quantized.find(value); it != quantized.end())
    return it->second;
  if (auto it = ensured.find(value); it != ensured.end())
    return acts[it->second].group;
  return std::nullopt;
}

void Planner::finalize(Value value) {
  auto it = pending.find(value);
  assert(it != pending.end() && "not pending");
  Pending p = std::move(it->second);
  pending.erase(it);
  unsigned group = newGroup(p.spec, p.producer, value.getLoc());
  acts.push_back({value, group, describePending(p), true, {}});
  quantized[value] = group;
}

void Planner::ensure(OpOperand &use, ActSpec spec) {
  Value value = use.get();
  if (quantized.contains(value))
    return;
  if (pending.contains(value))
    return finalize(value);
  if (auto it = ensured.find(value); it != ensured.end()) {
    acts[it->second].uses.push_back(&use);
    return;
  }
  // A reshape, slice, pad, ... of a float activation: quantize the source
  // instead, so that one tensor gets one set of parameters however it is
  // viewed.
  if (Operation *def = value.getDefiningOp()) {
    OpOperand *source = getTransparentInput(def, graph);
    if (source && graph.isActivation(source->get())) {
      ensure(*source, spec);
      quantized[value] = *getGroup(source->get());
      return;
    }
  }
  std::string name, what;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    name = QatDialect::getArgNameOrIndex(func, arg.getArgNumber());
    what = "input " + name;
  } else {
    Operation *def = value.getDefiningOp();
    auto plan = layerPlans.find(def);
    name = plan != layerPlans.end() ? layers[plan->second].name : nameOp(def);
    what = name + " output (float)";
  }
  unsigned group = newGroup(spec, name, value.getLoc());
  ensured[value] = acts.size();
  acts.push_back({value, group, what, false, {&use}});
}

void Planner::addWeight(OpOperand &use, const LayerPlan &plan) {
  const LayerQuantSpec &spec = plan.spec;
  std::optional<int64_t> axis =
      spec.perChannel ? plan.layer->weightAxis : std::nullopt;
  // A weight shared by layers with the same settings is quantized once.
  unsigned key = spec.weightBits * 64 + (axis ? *axis + 1 : 0) * 4 +
                 static_cast<unsigned>(spec.rounding);
  auto [it, inserted] =
      weightPoints.try_emplace({use.get(), key}, weights.size());
  if (!inserted) {
    weights[it->second].uses.push_back(&use);
    return;
  }
  weights.push_back({use.get(),
                     plan.name,
                     plan.layer->op->getLoc(),
                     axis,
                     spec.weightBits,
                     spec.rounding,
                     {&use}});
  slots.push_back({true, static_cast<unsigned>(weights.size() - 1)});
}

LogicalResult Planner::visit(Operation &op) {
  // Layers.
  if (auto it = layerPlans.find(&op); it != layerPlans.end()) {
    const LayerPlan &plan = layers[it->second];
    auto linalgOp = plan.layer->op;
    if (!linalgOp.hasPureTensorSemantics())
      return op.emitOpError("expected a layer on tensors");
    if (plan.spec.skip) {
      for (Value operand : op.getOperands())
        if (pending.contains(operand))
          finalize(operand);
      return success();
    }
    ActSpec spec = getActSpec(plan.spec);
    if (plan.layer->weightInput)
      addWeight(*linalgOp.getDpsInputOperand(*plan.layer->weightInput), plan);
    for (unsigned i : plan.layer->activationInputs)
      ensure(*linalgOp.getDpsInputOperand(i), spec);
    OpOperand &init = linalgOp.getDpsInitsMutable()[0];
    if (graph.isActivation(init.get()))
      ensure(init, spec);
    pending[op.getResult(0)] = {plan.name, spec, {}};
    return success();
  }

  // The values `op` reads that are activations.
  SmallVector<OpOperand *> operands;
  for (OpOperand &operand : op.getOpOperands())
    if (graph.isActivation(operand.get()))
      operands.push_back(&operand);
  if (operands.empty())
    return success();
  if (isa<func::ReturnOp>(op)) {
    for (OpOperand *operand : operands)
      if (pending.contains(operand->get()))
        finalize(operand->get());
    return success();
  }

  // The epilogue of a pending value grows by an elementwise step with
  // per-channel or scalar parameters (bias, scale, ReLU, clamp).
  PayloadChain chain;
  if (OpOperand *input = getEpilogueInput(&op, graph, &chain)) {
    Value value = input->get();
    auto it = pending.find(value);
    if (it != pending.end() && value.hasOneUse()) {
      Pending extended = std::move(it->second);
      pending.erase(it);
      extended.steps.append(chain.steps);
      pending[op.getResult(0)] = std::move(extended);
      return success();
    }
  }

  // Ops that keep their input's quantization.
  if (OpOperand *operand = getTransparentInput(&op, graph)) {
    Value input = operand->get();
    if (pending.contains(input))
      finalize(input);
    if (auto it = quantized.find(input); it != quantized.end())
      quantized[op.getResult(0)] = it->second;
    return success();
  }

  // Everything else runs on integers when it has an integer form, integer
  // code reads its result and any of its activation operands is quantized:
  // all of them are quantized, and the result is pending. Otherwise it is a
  // float island, reading a pending layer output once that is quantized.
  bool integer =
      readsCodes.contains(&op) &&
      llvm::any_of(operands, [&](OpOperand *operand) {
        return getGroup(operand->get()) || pending.contains(operand->get());
      });
  if (!integer) {
    for (OpOperand *operand : operands)
      if (pending.contains(operand->get()))
        finalize(operand->get());
    return success();
  }
  ActSpec spec = getActSpec(config.defaults);
  for (OpOperand *operand : operands)
    ensure(*operand, spec);

  // A concatenation shares one scale among its inputs and its result.
  if (isa<tensor::ConcatOp, tensor::InsertSliceOp>(op)) {
    std::optional<unsigned> root;
    for (OpOperand *operand : operands) {
      unsigned group = getRoot(*getGroup(operand->get()));
      if (!root) {
        root = group;
        continue;
      }
      if (!(groups[group].spec == groups[*root].spec))
        return op.emitOpError("concatenates activations quantized as ")
               << groups[*root].spec.str() << " and "
               << groups[group].spec.str()
               << "; give their producers the same activation settings";
      sharing.unionSets(*root, group);
    }
    root = getRoot(*root);
    groups[*root].name = nameOp(&op);
    quantized[op.getResult(0)] = *root;
    return success();
  }
  if (op.getNumResults() == 1 &&
      isa<FloatType>(getElementTypeOrSelf(op.getResult(0).getType())))
    pending[op.getResult(0)] = {nameOp(&op), spec, {}};
  return success();
}

LogicalResult Planner::plan() {
  if (!func.getBody().hasOneBlock())
    return func.emitOpError("expected a single-block body to instrument");
  if (failed(nameLayers()))
    return failure();
  findIntegerReaders();
  WalkResult nested = func.getBody().walk([&](Operation *op) {
    if (op->getParentOp() != func && isLayerOp(op)) {
      op->emitWarning("layer inside a region is not instrumented");
    }
    return WalkResult::advance();
  });
  (void)nested;
  for (Operation &op : func.getBody().front())
    if (failed(visit(op)))
      return failure();
  return success();
}

void Planner::print(raw_ostream &os) const {
  unsigned skipped = llvm::count_if(
      layers, [](const LayerPlan &plan) { return plan.spec.skip; });
  unsigned numSlots = 0;
  for (const Slot &slot : slots)
    if (slot.isWeight || getRoot(slot.index) == slot.index)
      numSlots += slot.isWeight || groups[slot.index].spec.symmetric ? 1 : 2;
  os << llvm::formatv("func @{0}: {1} layers ({2} skipped), {3} weight and {4} "
                      "activation fake-quants, {5} new arguments\n",
                      func::FuncOp(func).getSymName(), layers.size(), skipped,
                      weights.size(), acts.size(), numSlots);
  for (const LayerPlan &plan : layers) {
    os << llvm::formatv("  layer {0} ({1})", plan.name,
                        plan.layer->op->getName().getStringRef());
    if (plan.spec.skip) {
      os << ": skipped (" << plan.skipReason << ")\n";
      continue;
    }
    if (!plan.layer->weightInput) {
      os << ": no weight (both operands are activations)\n";
      continue;
    }
    bool perChannel = plan.spec.perChannel && plan.layer->weightAxis;
    os << llvm::formatv(": weight {0}-bit signed symmetric narrow {1}",
                        plan.spec.weightBits,
                        perChannel ? llvm::formatv("per-channel (axis {0})",
                                                   *plan.layer->weightAxis)
                                         .str()
                                   : std::string("per-tensor"));
    if (plan.spec.rounding != RoundingMode::half_to_even)
      os << " " << stringifyRoundingMode(plan.spec.rounding);
    os << "\n";
  }
  for (const ActPoint &act : acts) {
    const Group &group = groups[getRoot(act.group)];
    os << llvm::formatv("  activation {0}: {1}, parameters {2}.act_*\n",
                        act.what, group.spec.str(), group.name);
  }
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

class Rewriter {
public:
  Rewriter(Planner &plan) : plan(plan), func(plan.func) {}
  LogicalResult run(ModuleOp module);

private:
  void annotateArguments();
  void finishInitFunction(func::FuncOp init, IRMapping &mapping);
  void addArguments();
  Value getZeroPoint(RankedTensorType scaleType);
  void insertFakeQuants();

  Planner &plan;
  func::FuncOp func;
  /// Per slot: the new scale and zero-point arguments (no zero point for
  /// symmetric ones).
  llvm::DenseMap<unsigned, std::pair<Value, Value>> weightArgs, groupArgs;
  llvm::DenseMap<Type, Value> zeroPoints;
};

NamedAttribute qparamAttr(MLIRContext *ctx, QParamRole role, StringRef layer,
                          StringRef init, unsigned bits) {
  QParamInfo info{role, layer.str(), init.str(), bits};
  return NamedAttribute(QatDialect::kQParamAttrName,
                        QatDialect::getQParamInfoAttr(ctx, info));
}

RankedTensorType getScaleType(Value weight, std::optional<int64_t> axis) {
  Type f32 = Float32Type::get(weight.getContext());
  if (!axis)
    return RankedTensorType::get({}, f32);
  auto type = cast<RankedTensorType>(weight.getType());
  return RankedTensorType::get({type.getDimSize(*axis)}, f32);
}

void Rewriter::annotateArguments() {
  for (BlockArgument arg : func.getArguments()) {
    if (QatDialect::getArgRole(func, arg.getArgNumber()))
      continue;
    QatDialect::setArgRole(func, arg.getArgNumber(),
                           plan.graph.isInput(arg) ? ArgRole::Input
                                                   : ArgRole::Parameter);
  }
  for (const LayerPlan &layer : plan.layers)
    QatDialect::setLayerName(layer.layer->op, layer.name);
}

void Rewriter::addArguments() {
  MLIRContext *ctx = func.getContext();
  Type f32 = Float32Type::get(ctx);
  Type i32 = IntegerType::get(ctx, 32);
  Builder b(ctx);
  auto add = [&](Type type, StringRef name, NamedAttribute qparam,
                 Location loc) {
    unsigned index = func.getNumArguments();
    DictionaryAttr attrs = b.getDictionaryAttr(
        {b.getNamedAttr(QatDialect::kNameAttrName, b.getStringAttr(name)),
         b.getNamedAttr(QatDialect::kRoleAttrName,
                        b.getStringAttr(stringifyArgRole(ArgRole::QParam))),
         qparam});
    (void)func.insertArgument(index, type, attrs, loc);
    return func.getArgument(index);
  };
  for (const Slot &slot : plan.slots) {
    if (slot.isWeight) {
      const WeightPoint &w = plan.weights[slot.index];
      Value scale =
          add(getScaleType(w.value, w.axis), w.layer + ".weight_scale",
              qparamAttr(ctx, QParamRole::WeightScale, w.layer, "weight_minmax",
                         w.bits),
              w.loc);
      weightArgs[slot.index] = {scale, Value()};
      continue;
    }
    if (plan.getRoot(slot.index) != slot.index)
      continue;
    const Group &g = plan.groups[slot.index];
    auto scalar = [&](Type t) { return RankedTensorType::get({}, t); };
    Value scale = add(scalar(f32), g.name + ".act_scale",
                      qparamAttr(ctx, QParamRole::ActScale, g.name,
                                 "calibration", g.spec.bits),
                      g.loc);
    Value zeroPoint;
    if (!g.spec.symmetric)
      zeroPoint = add(scalar(i32), g.name + ".act_zero_point",
                      qparamAttr(ctx, QParamRole::ActZeroPoint, g.name,
                                 "calibration", g.spec.bits),
                      g.loc);
    groupArgs[slot.index] = {scale, zeroPoint};
  }
}

Value Rewriter::getZeroPoint(RankedTensorType scaleType) {
  auto type = RankedTensorType::get(scaleType.getShape(),
                                    IntegerType::get(func.getContext(), 32));
  Value &zero = zeroPoints[type];
  if (!zero) {
    OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
    zero = arith::ConstantOp::create(
        b, func.getLoc(), DenseElementsAttr::get(type, b.getI32IntegerAttr(0)));
  }
  return zero;
}

/// A builder placed right after `value`'s definition; fake-quants of
/// arguments go, in plan order, before the entry block's first original op.
OpBuilder builderAfter(Value value, Block &entry, Operation *firstOriginal) {
  if (Operation *def = value.getDefiningOp())
    return OpBuilder(def->getBlock(), std::next(Block::iterator(def)));
  return OpBuilder(&entry, Block::iterator(firstOriginal));
}

void Rewriter::insertFakeQuants() {
  MLIRContext *ctx = func.getContext();
  Block &entry = func.getBody().front();
  Operation *firstOriginal = &entry.front();
  // Zero points of symmetric tensors first, so argument fake-quants can
  // follow them.
  for (auto [i, w] : llvm::enumerate(plan.weights))
    getZeroPoint(getScaleType(w.value, w.axis));
  for (const Group &g : plan.groups)
    if (g.spec.symmetric)
      getZeroPoint(RankedTensorType::get({}, Float32Type::get(ctx)));

  for (auto [i, w] : llvm::enumerate(plan.weights)) {
    OpBuilder b = builderAfter(w.value, entry, firstOriginal);
    QuantSpec spec;
    spec.numBits = w.bits;
    spec.narrowRange = true;
    if (w.axis)
      spec.axis = *w.axis;
    spec.rounding = w.rounding;
    Value scale = weightArgs[i].first;
    Value zero = getZeroPoint(cast<RankedTensorType>(scale.getType()));
    auto fq = FakeQuantOp::create(b, w.value.getLoc(), w.value.getType(),
                                  w.value, scale, zero, spec);
    for (OpOperand *use : w.uses)
      use->set(fq.getResult());
  }

  for (const ActPoint &act : plan.acts) {
    unsigned root = plan.getRoot(act.group);
    const Group &g = plan.groups[root];
    auto [scale, zeroPoint] = groupArgs[root];
    if (!zeroPoint)
      zeroPoint = getZeroPoint(cast<RankedTensorType>(scale.getType()));
    OpBuilder b = builderAfter(act.value, entry, firstOriginal);
    QuantSpec spec;
    spec.numBits = g.spec.bits;
    spec.isSigned = g.spec.symmetric;
    spec.rounding = g.spec.rounding;
    auto fq = FakeQuantOp::create(b, act.value.getLoc(), act.value.getType(),
                                  act.value, scale, zeroPoint, spec);
    if (act.allUses)
      Value(act.value).replaceAllUsesExcept(fq.getResult(), fq.getOperation());
    else
      for (OpOperand *use : act.uses)
        use->set(fq.getResult());
  }
}

/// Min and max of `values` (0-D tensors each), as 0-D tensors.
std::pair<Value, Value> observeAll(ImplicitLocOpBuilder &b,
                                   ArrayRef<Value> values) {
  auto scalarType = RankedTensorType::get({}, b.getF32Type());
  if (values.size() == 1) {
    auto observe =
        ObserveOp::create(b, TypeRange{scalarType, scalarType}, values.front());
    return {observe.getMin(), observe.getMax()};
  }
  Value lo, hi;
  for (Value value : values) {
    auto observe = ObserveOp::create(b, TypeRange{scalarType, scalarType},
                                     ValueRange{value});
    Value min = tensor::ExtractOp::create(b, observe.getMin(), ValueRange{});
    Value max = tensor::ExtractOp::create(b, observe.getMax(), ValueRange{});
    lo = lo ? arith::MinimumFOp::create(b, lo, min).getResult() : min;
    hi = hi ? arith::MaximumFOp::create(b, hi, max).getResult() : max;
  }
  return {tensor::FromElementsOp::create(b, scalarType, lo),
          tensor::FromElementsOp::create(b, scalarType, hi)};
}

/// Turns `init`, a copy of the float function, into `@f_init_qparams`: the
/// same arguments, returning the initial value of each new argument.
void Rewriter::finishInitFunction(func::FuncOp init, IRMapping &mapping) {
  init.setSymName((func.getSymName() + "_init_qparams").str());
  init->setAttr(QatDialect::kInitQParamsForAttrName,
                FlatSymbolRefAttr::get(func));
  Block &body = init.getBody().front();
  Operation *terminator = body.getTerminator();
  ImplicitLocOpBuilder b(func.getLoc(), terminator);
  Builder attrs(func.getContext());
  SmallVector<Value> results;
  SmallVector<Attribute> resultAttrs;
  auto result = [&](Value value, BlockArgument arg) {
    results.push_back(value);
    resultAttrs.push_back(attrs.getDictionaryAttr(attrs.getNamedAttr(
        QatDialect::kNameAttrName,
        func.getArgAttr(arg.getArgNumber(), QatDialect::kNameAttrName))));
  };
  auto choose = [&](Value min, Value max, unsigned bits, bool isSigned,
                    bool narrow, Type zeroPointElement) {
    auto scaleType = cast<RankedTensorType>(min.getType());
    auto zeroPointType =
        RankedTensorType::get(scaleType.getShape(), zeroPointElement);
    QuantSpec spec;
    spec.numBits = bits;
    spec.isSigned = isSigned;
    spec.narrowRange = narrow;
    return ChooseQParamsOp::create(b, min, max, zeroPointType, spec,
                                   /*symmetric=*/isSigned);
  };
  Type i32 = b.getI32Type();
  for (const Slot &slot : plan.slots) {
    if (slot.isWeight) {
      const WeightPoint &w = plan.weights[slot.index];
      Value weight = mapping.lookup(w.value);
      RankedTensorType type = getScaleType(w.value, w.axis);
      std::optional<uint64_t> axis;
      if (w.axis)
        axis = *w.axis;
      auto observe = ObserveOp::create(b, type, weight, axis);
      auto qparams =
          choose(observe.getMin(), observe.getMax(), w.bits, true, true, i32);
      result(qparams.getScale(),
             cast<BlockArgument>(weightArgs[slot.index].first));
      continue;
    }
    if (plan.getRoot(slot.index) != slot.index)
      continue;
    SmallVector<Value> members;
    for (const ActPoint &act : plan.acts)
      if (plan.getRoot(act.group) == slot.index)
        members.push_back(mapping.lookup(act.value));
    const Group &g = plan.groups[slot.index];
    auto [min, max] = observeAll(b, members);
    auto qparams = choose(min, max, g.spec.bits, g.spec.symmetric, false, i32);
    auto [scale, zeroPoint] = groupArgs[slot.index];
    result(qparams.getScale(), cast<BlockArgument>(scale));
    if (zeroPoint)
      result(qparams.getZeroPoint(), cast<BlockArgument>(zeroPoint));
  }
  func::ReturnOp::create(b, results);
  terminator->erase();
  init.setType(FunctionType::get(func.getContext(), init.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  init.setAllResultAttrs(resultAttrs);
}

LogicalResult Rewriter::run(ModuleOp module) {
  std::string initName = (func.getSymName() + "_init_qparams").str();
  if (module.lookupSymbol(initName))
    return func.emitOpError("cannot add '@")
           << initName << "': the module already has a symbol of that name";
  annotateArguments();
  // The initialiser observes the float function, so it is cloned before the
  // rewrite; it returns the new arguments, so it is finished after they
  // exist.
  IRMapping mapping;
  auto init = cast<func::FuncOp>(func->clone(mapping));
  func->getBlock()->getOperations().insert(std::next(Block::iterator(func)),
                                           init);
  addArguments();
  finishInitFunction(init, mapping);
  insertFakeQuants();
  return success();
}

} // namespace

//===----------------------------------------------------------------------===//
// Public entry points and the pass
//===----------------------------------------------------------------------===//

struct InstrumentationPlan::Impl {
  SmallVector<std::unique_ptr<Planner>> plans;
};

InstrumentationPlan::InstrumentationPlan() : impl(std::make_unique<Impl>()) {}
InstrumentationPlan::InstrumentationPlan(InstrumentationPlan &&) = default;
InstrumentationPlan &
InstrumentationPlan::operator=(InstrumentationPlan &&) = default;
InstrumentationPlan::~InstrumentationPlan() = default;

SmallVector<std::string> InstrumentationPlan::getLayerNames() const {
  SmallVector<std::string> names;
  for (const auto &plan : impl->plans)
    for (const LayerPlan &layer : plan->layers)
      names.push_back(layer.name);
  return names;
}

bool InstrumentationPlan::empty() const { return impl->plans.empty(); }

void InstrumentationPlan::print(raw_ostream &os) const {
  for (const auto &plan : impl->plans)
    plan->print(os);
}

LogicalResult InstrumentationPlan::apply(ModuleOp module) {
  for (const auto &plan : impl->plans)
    if (failed(Rewriter(*plan).run(module)))
      return failure();
  impl->plans.clear();
  return success();
}

FailureOr<InstrumentationPlan>
mlir::qat::planInstrumentation(ModuleOp module, InstrumentConfig &config) {
  InstrumentationPlan result;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() || func->hasAttr(QatDialect::kInitQParamsForAttrName))
      continue;
    bool hasLayers = llvm::any_of(func.getBody().front(),
                                  [](Operation &op) { return isLayerOp(&op); });
    if (!hasLayers)
      continue;
    if (func.walk([](FakeQuantOp) { return WalkResult::interrupt(); })
            .wasInterrupted())
      return func.emitOpError(
          "is already instrumented (it has qat.fake_quant ops)");
    auto planner = std::make_unique<Planner>(func, config);
    if (failed(planner->plan()))
      return failure();
    result.impl->plans.push_back(std::move(planner));
  }
  for (const LayerOverride &override : config.overrides) {
    if (override.used)
      continue;
    SmallVector<std::string> names = result.getLayerNames();
    return mlir::emitError(module.getLoc(), "qat-instrument: config '")
           << config.source << "': layer pattern '" << override.pattern
           << "' matches no layer (layers: "
           << (names.empty() ? std::string("none") : llvm::join(names, ", "))
           << ")";
  }
  return result;
}

LogicalResult mlir::qat::instrument(ModuleOp module, InstrumentConfig &config) {
  FailureOr<InstrumentationPlan> plan = planInstrumentation(module, config);
  return failed(plan) ? failure() : plan->apply(module);
}

namespace {

struct InstrumentPass : public qat::impl::InstrumentBase<InstrumentPass> {
  using Base::Base;

  /// The settings from the options and the config file.
  FailureOr<InstrumentConfig> getConfig() {
    ModuleOp module = getOperation();
    InstrumentConfig config;
    for (auto [key, bits] :
         {std::pair<StringRef, unsigned>{"weight-bits", weightBits},
          {"act-bits", actBits},
          {"last-act-bits", lastActBits}})
      if (llvm::Error error = (key == "last-act-bits" && bits == 0)
                                  ? llvm::Error::success()
                                  : checkBitWidth(key, bits))
        return mlir::emitError(module.getLoc(), "qat-instrument: ")
               << llvm::toString(std::move(error));
    config.defaults.weightBits = weightBits;
    config.defaults.actBits = actBits;
    config.defaults.perChannel = perChannel;
    config.defaults.symmetricActivations = symmetricActivations;
    config.defaults.rounding = rounding;
    config.skipFirstLast = skipFirstLast;
    config.lastActBits = lastActBits;
    if (configFile.empty())
      return config;
    if (llvm::Error error = config.loadFile(configFile))
      return mlir::emitError(module.getLoc(), "qat-instrument: ")
             << llvm::toString(std::move(error));
    return config;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<InstrumentConfig> config = getConfig();
    if (failed(config))
      return signalPassFailure();
    // Plan every function first: nothing changes unless all plans succeed.
    FailureOr<InstrumentationPlan> plan = planInstrumentation(module, *config);
    if (failed(plan))
      return signalPassFailure();
    if (plan->empty())
      mlir::emitWarning(module.getLoc(),
                        "qat-instrument: no function has a layer (a linalg "
                        "matmul or convolution) to instrument");

    std::string reportPath = reportFile;
    if (reportPath.empty() && dryRun)
      reportPath = "-";
    if (!reportPath.empty()) {
      std::error_code error;
      std::unique_ptr<llvm::raw_fd_ostream> file;
      if (reportPath != "-") {
        file = std::make_unique<llvm::raw_fd_ostream>(reportPath, error);
        if (error) {
          mlir::emitError(module.getLoc(),
                          "qat-instrument: cannot write report '")
              << reportPath << "': " << error.message();
          return signalPassFailure();
        }
      }
      raw_ostream &os = file ? *file : llvm::outs();
      plan->print(os);
      os.flush();
    }
    if (!dryRun && failed(plan->apply(module)))
      signalPassFailure();
  }
};

} // namespace
