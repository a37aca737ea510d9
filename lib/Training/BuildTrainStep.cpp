//===- BuildTrainStep.cpp - qat-build-train-step --------------------------===//
//
// Part of qat-mlir. Generates @train_step, @eval_step and @gradients from a
// forward function: the forward is cloned, a loss appended, its gradients
// built by reverse mode (Autodiff.h) and an optimizer update applied, all as
// linalg on tensors that qat-compile compiles like any other function.
//
//===----------------------------------------------------------------------===//

#include "qat/Training/TrainStep.h"

#include "qat/Training/Passes.h"

#include "qat/Dialect/Qat/Analysis/LayerGraph.h"
#include "qat/Dialect/Qat/IR/QatOps.h"
#include "qat/Training/Autodiff.h"

#include "TrainStepImpl.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/SourceMgr.h"

namespace mlir::qat {
#define GEN_PASS_DEF_BUILDTRAINSTEP
#include "qat/Training/Passes.h.inc"
} // namespace mlir::qat

#include "qat/Training/TrainingEnums.cpp.inc"

using namespace mlir;
using namespace mlir::qat;
using namespace mlir::qat::train;

namespace {

//===----------------------------------------------------------------------===//
// The forward's signature
//===----------------------------------------------------------------------===//

enum class Role { Param, QParam, Input };

struct Argument {
  unsigned index;
  Role role;
  std::string name;
  bool trained; ///< gets a gradient and an update
  /// For qparams: what it is, and the activation group (the `layer` of
  /// qat.qparam) it belongs to.
  QParamRole qparamRole = QParamRole::ActScale;
  std::string group;
};

struct Signature {
  SmallVector<Argument> args;
  SmallVector<std::string> outputNames;

  auto withRole(Role role) const {
    return llvm::make_filter_range(
        args, [role](const Argument &a) { return a.role == role; });
  }
};

FailureOr<Signature> readSignature(func::FuncOp forward, bool learnScales) {
  Signature sig;
  GraphAnalysis graph(forward);
  for (BlockArgument arg : forward.getArguments()) {
    unsigned i = arg.getArgNumber();
    Argument a{i, Role::Param, "", false, QParamRole::ActScale, ""};
    a.name = QatDialect::getArgNameOrIndex(forward, i);
    std::optional<ArgRole> role = QatDialect::getArgRole(forward, i);
    if (role == ArgRole::QParam) {
      a.role = Role::QParam;
      if (std::optional<QParamInfo> info =
              QatDialect::getQParamInfo(forward, i)) {
        a.qparamRole = info->role;
        a.group = info->layer;
      }
    } else if (role ? *role == ArgRole::Input : graph.isInput(arg))
      a.role = Role::Input;
    bool isFloat = isa<FloatType>(getElementTypeOrSelf(arg.getType()));
    if (a.role == Role::Param && !isFloat)
      return forward.emitOpError("argument #")
             << i << " ('" << a.name << "') is a parameter but not a float "
             << "tensor; mark inputs with qat.role = \"input\"";
    a.trained = isFloat && (a.role == Role::Param ||
                            (a.role == Role::QParam && learnScales));
    if (a.trained && !cast<ShapedType>(arg.getType()).hasStaticShape())
      return forward.emitOpError("argument #")
             << i << " ('" << a.name << "') is trained but has a dynamic "
             << "shape; parameters need static shapes";
    sig.args.push_back(std::move(a));
  }
  for (unsigned i = 0, e = forward.getNumResults(); i < e; ++i) {
    sig.outputNames.push_back(QatDialect::getResultNameOrIndex(forward, i));
  }
  return sig;
}

/// The settings of one generation: the options, and what their range
/// learning implies.
struct StepSettings : TrainStepOptions {
  explicit StepSettings(const TrainStepOptions &options)
      : TrainStepOptions(options),
        ema(options.rangeLearning == RangeLearning::EMA),
        learnScales(options.rangeLearning == RangeLearning::LSQ) {}
  bool ema, learnScales;
};

/// The labels' type for the forward's first result, or a diagnostic.
FailureOr<Type> getLabelType(func::FuncOp forward, Loss loss) {
  if (forward.getNumResults() == 0)
    return forward.emitOpError("has no result to compute a loss on");
  auto type = dyn_cast<RankedTensorType>(forward.getResultTypes()[0]);
  if (!type || !type.hasStaticShape() || !type.getElementType().isF32())
    return forward.emitOpError("result #0 must be a static f32 tensor to "
                               "compute a loss on, got ")
           << forward.getResultTypes()[0];
  if (loss == Loss::MeanSquaredError)
    return Type(type);
  if (type.getRank() != 2)
    return forward.emitOpError("cross-entropy expects logits "
                               "tensor<NxCxf32> as result #0, got ")
           << type;
  return Type(RankedTensorType::get(
      {type.getDimSize(0)}, IntegerType::get(forward.getContext(), 32)));
}

/// Emits the training functions of one forward function into its module.
class TrainStepGenerator {
public:
  TrainStepGenerator(func::FuncOp forward, Signature signature, Type labelType,
                     const StepSettings &options);

  /// Distillation: the teacher's frozen forward, whose body every loss
  /// inlines (checked by checkTeacher).
  void setTeacher(func::FuncOp teacherFunc) { teacher = teacherFunc; }
  /// Whether `teacher` takes the forward's inputs and returns its result
  /// #0's type; else a diagnostic on the forward.
  LogicalResult checkTeacher(func::FuncOp teacherFunc, StringRef path) const;

  /// @eval_step: the loss and the outputs; nothing is updated.
  LogicalResult emitEvaluation();
  /// @gradients: the loss and the trained tensors' gradients, observers
  /// read only. With `advanceObservers` (ema), @train_gradients: the first
  /// half of @train_step, which also returns the observers it advanced.
  LogicalResult emitGradients(bool advanceObservers);
  LogicalResult emitTrainStep();
  /// @apply_update: the second half of @train_step, the optimizer step of
  /// every trained tensor from given gradients.
  void emitApplyUpdate();
  /// Whether the forward has activation quantization parameters (then
  /// @calibrate and @qparams exist).
  bool hasObservers() const { return !groups.empty(); }
  void emitCalibrate();
  void emitQParams();
  /// Whether masks are training state (a sparsity schedule).
  bool scheduled() const { return !masks.empty(); }
  /// Whether each mask reads a parameter directly (and a constant target
  /// sparsity), so that @advance_masks can compute them apart.
  bool canAdvanceMasksAlone() const;
  /// @advance_masks: the masks @train_step computes at `step`, from the
  /// masked parameters and the masks; with it, @gradients and
  /// @apply_update split @train_step under a schedule too.
  void emitAdvanceMasks();

private:
  /// Where each tensor sits in a generated function's arguments.
  struct Layout {
    SmallVector<Type> types;
    SmallVector<std::string> names;
    /// Per forward argument: its position, or -1 (computed in the body).
    SmallVector<int> forwardPosition;
    unsigned labels = 0, states = 0, ranges = 0, masks = 0, lr = 0, step = 0;
    bool observers = false, hasMasks = false;
    /// Appends an argument; returns its position.
    unsigned add(Type type, std::string name) {
      types.push_back(type);
      names.push_back(std::move(name));
      return types.size() - 1;
    }
  };
  /// The parts a function takes, in the order of docs/Training.md.
  struct Parts {
    bool scales = true; ///< the forward's scale arguments
    bool state = false; ///< optimizer state
    bool observers = false;
    bool masks = false; ///< the scheduled pruning masks
    bool inputs = true;
    bool labels = true;
    bool rate = false; ///< the learning rate
    bool step = false; ///< the 1-based step number
  };
  /// Parameters, [scales], [optimizer state], [observers], [masks],
  /// [inputs], [labels], [lr], [step].
  Layout layout(const Parts &parts) const;
  /// The parts of the step functions: scales as arguments with lsq and
  /// none, observers with ema; an update takes the learning rate, and the
  /// step number when Adam or ema reads it.
  Parts stepParts(bool update) const {
    Parts parts;
    parts.scales = !options.ema;
    parts.observers = options.ema;
    parts.masks = scheduled();
    parts.state = update;
    parts.rate = update;
    parts.step = update && (options.optimizer == Optimizer::Adam ||
                            options.ema || scheduled());
    return parts;
  }

  std::string nameOf(const Argument &a) const;
  Type typeOf(const Argument &a) const {
    return func::FuncOp(forward).getArgumentTypes()[a.index];
  }
  SmallVector<StringRef> stateKinds() const;

  /// A new function after the forward and the functions generated before it,
  /// with `l`'s arguments; the builder is
  /// left at the end of its entry block.
  func::FuncOp createFunction(StringRef name, const Layout &l);
  /// Returns `results`, named `names`, from `func`.
  void finish(func::FuncOp func, ArrayRef<Value> results,
              ArrayRef<std::string> names);
  /// Clones the forward with its arguments mapped to `args` (recorded in
  /// `mapping`); returns its results.
  SmallVector<Value> cloneForward(ValueRange args, IRMapping &mapping);
  /// Under a schedule, replaces each cloned prune_mask by its mask state
  /// (`advance`: recomputed from the weights at the schedule's steps),
  /// leaving the masks in `currentMasks`.
  void emitMasks(const Layout &l, ValueRange args, const IRMapping &mapping,
                 bool advance);
  /// Whether this step recomputes the masks (an i1) and the scheduled
  /// sparsity's decay factor (1 - p)^3 (a 0-D tensor), from the 1-based
  /// `step`.
  std::pair<Value, Value> emitSchedule(Value step);
  /// The mask state after this step: recomputed like `like` from `weight`
  /// (a magnitude mask at the scheduled sparsity from `targetSparsity`)
  /// when `recompute`, else `state`.
  Value advanceMask(PruneMaskOp like, Value weight, Value targetSparsity,
                    Value state, Value recompute, Value decay);
  /// `value` with zeros where `mask` prunes (a pruned weight and its
  /// optimizer state stay exactly 0).
  Value applyMask(Value mask, Value value);
  /// Clones the forward into `func`; with ema, computes its scales from the
  /// weights and the observers (as `use` says), leaving the final observers
  /// in `ranges` and, if asked, each computed scale in `computed`. Returns the
  /// forward's arguments as mapped.
  SmallVector<Value>
  emitForward(func::FuncOp func, const Layout &l, RangeUse use,
              SmallVector<Value> &outputs, SmallVector<Observer> &ranges,
              DenseMap<const Argument *, Value> *computed = nullptr,
              bool advanceMasks = false);
  /// Forward, loss and, with `withGradients`, the trained tensors'
  /// gradients.
  LogicalResult emitCore(func::FuncOp func, const Layout &l, bool withGradients,
                         RangeUse use, Value &loss, SmallVector<Value> &outputs,
                         SmallVector<Value> &gradients,
                         SmallVector<Observer> &ranges,
                         bool advanceMasks = false);
  /// The optimizer step of tensor `p` with gradient `g`: the new tensor,
  /// then the new states.
  SmallVector<Value> update(Value p, Value g, ArrayRef<Value> states, Value lr,
                            Value step, bool isScale);
  /// The optimizer step of every trained tensor: `tensors` and `gradients`
  /// in the order of `trained`, `states` kind by kind. Appends the updated
  /// tensors, then the new states, as @train_step returns them.
  void emitUpdates(ValueRange tensors, ValueRange gradients, ValueRange states,
                   Value lr, Value step, SmallVector<Value> &results,
                   SmallVector<std::string> &names);
  /// Appends the masks `currentMasks` as results `mask:<layer>`.
  void appendMasks(SmallVector<Value> &results,
                   SmallVector<std::string> &names) const {
    for (auto [m, v] : llvm::zip(masks, currentMasks)) {
      results.push_back(v);
      names.push_back(m.name);
    }
  }
  /// Appends the observers `ranges` (one per group) as results, named
  /// `act_min:<group>`, `act_max:<group>`.
  void appendObservers(ArrayRef<Observer> ranges, SmallVector<Value> &results,
                       SmallVector<std::string> &names) const {
    for (auto [g, range] : llvm::zip(groups, ranges)) {
      results.append({range.min, range.max});
      names.append({"act_min:" + g, "act_max:" + g});
    }
  }

  func::FuncOp forward;
  func::FuncOp teacher;
  /// The function generated last: the next one follows it.
  func::FuncOp lastFunction;
  Signature sig;
  Type labelType;
  const StepSettings &options;
  ImplicitLocOpBuilder b;
  SmallVector<const Argument *> params, scales, inputs, trained;
  /// The activation parameter groups, each with an observer pair.
  SmallVector<std::string> groups;
  /// A pruned weight's mask under a sparsity schedule: training state, f32
  /// 1 (kept) or 0 (pruned), in the forward's shape of the weight.
  struct Mask {
    PruneMaskOp op;                  ///< in the forward
    std::string name;                ///< mask:<layer>
    const Argument *param = nullptr; ///< the forward argument it masks
    RankedTensorType stateType;      ///< the weight's shape, f32
  };
  SmallVector<Mask> masks;
  /// The masks of the function being generated (after emitForward).
  SmallVector<Value> currentMasks;
};

TrainStepGenerator::TrainStepGenerator(func::FuncOp forward,
                                       Signature signature, Type labelType,
                                       const StepSettings &options)
    : forward(forward), sig(std::move(signature)), labelType(labelType),
      options(options), b(forward.getLoc(), forward) {
  for (const Argument &a : sig.withRole(Role::Param))
    params.push_back(&a);
  for (const Argument &a : sig.withRole(Role::QParam)) {
    scales.push_back(&a);
    if (a.qparamRole == QParamRole::ActScale &&
        !llvm::is_contained(groups, a.group))
      groups.push_back(a.group);
  }
  for (const Argument &a : sig.withRole(Role::Input))
    inputs.push_back(&a);
  for (ArrayRef<const Argument *> list : {ArrayRef(params), ArrayRef(scales)})
    for (const Argument *a : list)
      if (a->trained)
        trained.push_back(a);
  if (options.pruneEnd >= 0) {
    forward.walk([&](PruneMaskOp op) {
      Mask m;
      m.op = op;
      m.stateType =
          cast<RankedTensorType>(op.getInput().getType()).clone(b.getF32Type());
      StringAttr layer = QatDialect::getLayerName(op);
      m.name = "mask:" +
               (layer ? layer.str() : "mask_" + std::to_string(masks.size()));
      if (auto arg = dyn_cast<BlockArgument>(op.getInput()))
        if (arg.getOwner()->getParentOp() == forward &&
            sig.args[arg.getArgNumber()].role == Role::Param)
          m.param = &sig.args[arg.getArgNumber()];
      masks.push_back(std::move(m));
    });
  }
}

std::string TrainStepGenerator::nameOf(const Argument &a) const {
  switch (a.role) {
  case Role::Param:
    return "param:" + a.name;
  case Role::QParam:
    return "qparam:" + a.name;
  case Role::Input:
    return "input:" + a.name;
  }
  llvm_unreachable("role");
}

SmallVector<StringRef> TrainStepGenerator::stateKinds() const {
  if (options.optimizer == Optimizer::Adam)
    return {"adam_m", "adam_v"};
  if (options.momentum != 0.0)
    return {"momentum"};
  return {};
}

TrainStepGenerator::Layout
TrainStepGenerator::layout(const Parts &parts) const {
  Layout l;
  l.forwardPosition.assign(sig.args.size(), -1);
  auto add = [&](Type type, std::string name) {
    return l.add(type, std::move(name));
  };
  Type scalar = RankedTensorType::get({}, Float32Type::get(b.getContext()));
  for (const Argument *a : params)
    l.forwardPosition[a->index] = add(typeOf(*a), nameOf(*a));
  if (parts.scales)
    for (const Argument *a : scales)
      l.forwardPosition[a->index] = add(typeOf(*a), nameOf(*a));
  l.states = l.types.size();
  if (parts.state)
    for (StringRef kind : stateKinds())
      for (const Argument *a : trained)
        add(typeOf(*a), (kind + ":" + a->name).str());
  l.ranges = l.types.size();
  l.observers = parts.observers;
  if (parts.observers)
    for (const std::string &g : groups) {
      add(scalar, "act_min:" + g);
      add(scalar, "act_max:" + g);
    }
  l.masks = l.types.size();
  l.hasMasks = parts.masks;
  if (parts.masks)
    for (const Mask &m : masks)
      add(m.stateType, m.name);
  if (parts.inputs)
    for (const Argument *a : inputs)
      l.forwardPosition[a->index] = add(typeOf(*a), nameOf(*a));
  if (parts.labels)
    l.labels = add(labelType, "labels");
  if (parts.rate)
    l.lr = add(scalar, "lr");
  if (parts.step)
    l.step = add(scalar, "step");
  return l;
}

func::FuncOp TrainStepGenerator::createFunction(StringRef name,
                                                const Layout &l) {
  b.setInsertionPointAfter(lastFunction ? lastFunction : forward);
  auto func = func::FuncOp::create(
      b, name, FunctionType::get(b.getContext(), l.types, {}));
  lastFunction = func;
  for (auto [i, n] : llvm::enumerate(l.names))
    QatDialect::setArgName(func, i, n);
  b.setInsertionPointToEnd(func.addEntryBlock());
  return func;
}

void TrainStepGenerator::finish(func::FuncOp func, ArrayRef<Value> results,
                                ArrayRef<std::string> names) {
  b.setInsertionPointToEnd(&func.getBody().front());
  func::ReturnOp::create(b, results);
  func.setType(FunctionType::get(b.getContext(), func.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  for (auto [i, n] : llvm::enumerate(names))
    QatDialect::setResultName(func, i, n);
}

SmallVector<Value> TrainStepGenerator::cloneForward(ValueRange args,
                                                    IRMapping &mapping) {
  mapping.map(forward.getArguments(), args);
  for (Operation &op : forward.getBody().front().without_terminator())
    b.clone(op, mapping);
  auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
  return llvm::map_to_vector(
      ret.getOperands(), [&](Value v) { return mapping.lookupOrDefault(v); });
}

SmallVector<Value> TrainStepGenerator::emitForward(
    func::FuncOp func, const Layout &l, RangeUse use,
    SmallVector<Value> &outputs, SmallVector<Observer> &ranges,
    DenseMap<const Argument *, Value> *computed, bool advanceMasks) {
  Block &entry = func.getBody().front();
  b.setInsertionPointToEnd(&entry);
  ValueRange args = entry.getArguments();
  SmallVector<Value> forwardArgs;
  DenseMap<Value, QParamSlot> placeholders;
  DenseMap<Value, const Argument *> argumentOf;
  for (auto [i, position] : llvm::enumerate(l.forwardPosition)) {
    if (position >= 0) {
      forwardArgs.push_back(args[position]);
      continue;
    }
    // Computed in the body (a scale) or unused (an input of @qparams):
    // zeros until computeRanges replaces the scales.
    auto type = cast<RankedTensorType>(forward.getArgumentTypes()[i]);
    Value placeholder = arith::ConstantOp::create(
        b, DenseElementsAttr::get(type, b.getZeroAttr(type.getElementType())));
    const Argument &arg = sig.args[i];
    if (arg.role == Role::QParam) {
      QParamSlot::Kind kind =
          arg.qparamRole == QParamRole::WeightScale ? QParamSlot::WeightScale
          : arg.qparamRole == QParamRole::ActScale  ? QParamSlot::ActScale
                                                    : QParamSlot::ActZeroPoint;
      placeholders[placeholder] = {kind, arg.group};
      argumentOf[placeholder] = &arg;
    }
    forwardArgs.push_back(placeholder);
  }
  IRMapping mapping;
  outputs = cloneForward(forwardArgs, mapping);
  emitMasks(l, args, mapping, advanceMasks);
  if (!l.observers)
    return forwardArgs;
  llvm::StringMap<Observer> byGroup;
  for (auto [k, g] : llvm::enumerate(groups))
    byGroup[g] = {args[l.ranges + 2 * k], args[l.ranges + 2 * k + 1]};
  DenseMap<Value, Value> replaced;
  computeRanges(entry, placeholders, byGroup,
                {use, l.step ? args[l.step] : Value(),
                 options.averagingConstant, options.freezeObserversAfter},
                &replaced);
  if (computed)
    for (auto [placeholder, value] : replaced)
      (*computed)[argumentOf.lookup(placeholder)] = value;
  for (auto [value, arg] : placeholders)
    if (value.use_empty())
      value.getDefiningOp()->erase();
  ranges.clear();
  for (const std::string &g : groups)
    ranges.push_back(byGroup[g]);
  b.setInsertionPointToEnd(&entry);
  return forwardArgs;
}

/// Whether an element of a mask state (f32 1 kept, 0 pruned) is kept.
static Value isKept(OpBuilder &b, Location loc, Value mask) {
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, mask,
                               cst(b, loc, 0.5));
}

std::pair<Value, Value> TrainStepGenerator::emitSchedule(Value step) {
  auto scalar = RankedTensorType::get({}, b.getF32Type());
  double begin = options.pruneBegin, end = options.pruneEnd,
         every = options.pruneEvery;
  SmallVector<Value> schedule = emitMap(
      b, scalar, {step}, 2, [&](OpBuilder &nb, Location loc, ValueRange a) {
        Value t = a[0];
        auto cmp = [&](arith::CmpFPredicate pred, Value x, double y) {
          return arith::CmpFOp::create(nb, loc, pred, x, cst(nb, loc, y));
        };
        Value since = arith::SubFOp::create(nb, loc, t, cst(nb, loc, begin));
        Value onGrid = cmp(
            arith::CmpFPredicate::OEQ,
            arith::RemFOp::create(nb, loc, since, cst(nb, loc, every)), 0.0);
        Value atEnd = cmp(arith::CmpFPredicate::OEQ, t, end);
        Value within = arith::AndIOp::create(
            nb, loc, cmp(arith::CmpFPredicate::OGE, t, begin),
            cmp(arith::CmpFPredicate::OLE, t, end));
        Value yes = arith::AndIOp::create(
            nb, loc, within, arith::OrIOp::create(nb, loc, onGrid, atEnd));
        Value flag = arith::SelectOp::create(nb, loc, yes, cst(nb, loc, 1.0),
                                             cst(nb, loc, 0.0));
        // p = clip((t - begin) / (end - begin), 0, 1); 1 from the end on.
        Value p = end > begin
                      ? arith::DivFOp::create(nb, loc, since,
                                              cst(nb, loc, end - begin))
                            .getResult()
                      : arith::SelectOp::create(
                            nb, loc, cmp(arith::CmpFPredicate::OGE, t, end),
                            cst(nb, loc, 1.0), cst(nb, loc, 0.0))
                            .getResult();
        p = arith::MinimumFOp::create(
            nb, loc, arith::MaximumFOp::create(nb, loc, p, cst(nb, loc, 0.0)),
            cst(nb, loc, 1.0));
        Value q = arith::SubFOp::create(nb, loc, cst(nb, loc, 1.0), p);
        Value q3 = arith::MulFOp::create(
            nb, loc, arith::MulFOp::create(nb, loc, q, q), q);
        return SmallVector<Value>{flag, q3};
      });
  Value recompute = arith::CmpFOp::create(
      b, arith::CmpFPredicate::OGT,
      tensor::ExtractOp::create(b, schedule[0], ValueRange{}),
      cst(b, b.getLoc(), 0.5));
  return {recompute, schedule[1]};
}

Value TrainStepGenerator::advanceMask(PruneMaskOp like, Value weight,
                                      Value targetSparsity, Value state,
                                      Value recompute, Value decay) {
  auto scalar = RankedTensorType::get({}, b.getF32Type());
  auto maskType = cast<RankedTensorType>(state.getType());
  auto branch = scf::IfOp::create(b, TypeRange{maskType}, recompute,
                                  /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(branch.thenBlock());
  Value sparsity = targetSparsity;
  if (sparsity) {
    // s(t) = s_f + (s_i - s_f) (1 - p)^3
    double initial = options.pruneInitialSparsity;
    sparsity = emitMap(
        b, scalar, {sparsity, decay}, 1,
        [&](OpBuilder &nb, Location loc, ValueRange a) {
          Value gap =
              arith::SubFOp::create(nb, loc, cst(nb, loc, initial), a[0]);
          return SmallVector<Value>{arith::AddFOp::create(
              nb, loc, a[0], arith::MulFOp::create(nb, loc, gap, a[1]))};
        })[0];
  }
  Value keep = PruneMaskOp::create(b, like.getType(), weight, sparsity,
                                   like.getNAttr(), like.getMAttr(),
                                   like.getAxisAttr(), like.getBlockAttr());
  Value ones = emitMap(
      b, maskType, {keep}, 1, [&](OpBuilder &nb, Location loc, ValueRange a) {
        return SmallVector<Value>{arith::SelectOp::create(
            nb, loc, a[0], cst(nb, loc, 1.0), cst(nb, loc, 0.0))};
      })[0];
  scf::YieldOp::create(b, ones);
  b.setInsertionPointToStart(branch.elseBlock());
  scf::YieldOp::create(b, state);
  return branch.getResult(0);
}

void TrainStepGenerator::emitMasks(const Layout &l, ValueRange args,
                                   const IRMapping &mapping, bool advance) {
  currentMasks.clear();
  if (!l.hasMasks)
    return;
  // Everything is built where the cloned masks were (before their users),
  // the schedule before the first.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(
      mapping.lookup(masks.front().op.getResult()).getDefiningOp());
  Value recompute, decay;
  if (advance)
    std::tie(recompute, decay) = emitSchedule(args[l.step]);
  for (auto [k, m] : llvm::enumerate(masks)) {
    auto cloned =
        cast<PruneMaskOp>(mapping.lookup(m.op.getResult()).getDefiningOp());
    b.setInsertionPoint(cloned);
    Value current = args[l.masks + k];
    if (advance)
      current = advanceMask(cloned, cloned.getInput(), cloned.getSparsity(),
                            current, recompute, decay);
    Value keep = emitMap(b, cast<RankedTensorType>(cloned.getType()), {current},
                         1, [&](OpBuilder &nb, Location loc, ValueRange a) {
                           return SmallVector<Value>{isKept(nb, loc, a[0])};
                         })[0];
    cloned.getResult().replaceAllUsesWith(keep);
    cloned.erase();
    currentMasks.push_back(current);
  }
}

bool TrainStepGenerator::canAdvanceMasksAlone() const {
  return scheduled() && llvm::all_of(masks, [](const Mask &m) {
           Value sparsity = PruneMaskOp(m.op).getSparsity();
           return m.param &&
                  (!sparsity || sparsity.getDefiningOp<arith::ConstantOp>());
         });
}

void TrainStepGenerator::emitAdvanceMasks() {
  // The masked parameters, the masks, the step.
  Layout l;
  auto add = [&](Type type, std::string name) { l.add(type, std::move(name)); };
  for (const Mask &m : masks)
    add(typeOf(*m.param), nameOf(*m.param));
  for (const Mask &m : masks)
    add(m.stateType, m.name);
  add(RankedTensorType::get({}, b.getF32Type()), "step");
  func::FuncOp func = createFunction("advance_masks", l);
  ValueRange args = func.getBody().front().getArguments();
  auto [recompute, decay] = emitSchedule(args.back());
  SmallVector<Value> results;
  SmallVector<std::string> names;
  for (auto [k, m] : llvm::enumerate(masks)) {
    Value sparsity;
    if (Value s = m.op.getSparsity())
      sparsity = b.clone(*s.getDefiningOp())->getResult(0);
    results.push_back(advanceMask(m.op, args[k], sparsity,
                                  args[masks.size() + k], recompute, decay));
    names.push_back(m.name);
  }
  finish(func, results, names);
}

Value TrainStepGenerator::applyMask(Value mask, Value value) {
  return emitMap(b, cast<RankedTensorType>(value.getType()), {mask, value}, 1,
                 [&](OpBuilder &nb, Location loc, ValueRange a) {
                   return SmallVector<Value>{
                       arith::SelectOp::create(nb, loc, isKept(nb, loc, a[0]),
                                               a[1], cst(nb, loc, 0.0))};
                 })[0];
}

LogicalResult TrainStepGenerator::emitCore(
    func::FuncOp func, const Layout &l, bool withGradients, RangeUse use,
    Value &loss, SmallVector<Value> &outputs, SmallVector<Value> &gradients,
    SmallVector<Observer> &ranges, bool advanceMasks) {
  Block &entry = func.getBody().front();
  SmallVector<Value> forwardArgs =
      emitForward(func, l, use, outputs, ranges, nullptr, advanceMasks);
  Value labels = entry.getArgument(l.labels);
  LossValue lossAndGradient;
  if (options.loss == Loss::MeanSquaredError) {
    lossAndGradient = emitMeanSquaredError(b, outputs[0], labels);
  } else if (teacher) {
    // The teacher's body on this function's inputs: its logits are the
    // soft targets (nothing flows back into it).
    IRMapping mapping;
    for (auto [arg, input] : llvm::zip(teacher.getArguments(), inputs))
      mapping.map(arg, entry.getArgument(l.forwardPosition[input->index]));
    Block &body = teacher.getBody().front();
    for (Operation &op : body.without_terminator())
      b.clone(op, mapping);
    Value target = mapping.lookup(body.getTerminator()->getOperand(0));
    lossAndGradient =
        emitDistillation(b, outputs[0], labels, target,
                         options.distillTemperature, options.distillWeight);
  } else {
    lossAndGradient = emitCrossEntropy(b, outputs[0], labels);
  }
  loss = lossAndGradient.value;
  if (!withGradients)
    return success();
  SmallVector<Value> wrt;
  for (const Argument *a : trained)
    wrt.push_back(forwardArgs[a->index]);
  AutodiffOptions autodiff;
  autodiff.lsqGradScale = true;
  autodiff.batchShards = options.batchShards;
  if (options.batchShards != 1) {
    // The fake-quants downstream of the data see one shard of the batch.
    SetVector<Operation *> downstream;
    for (const Argument *a : inputs)
      getForwardSlice(forwardArgs[a->index], &downstream);
    for (Operation *op : downstream)
      if (isa<FakeQuantOp>(op))
        autodiff.shardedActivations.insert(op);
  }
  FailureOr<SmallVector<Value>> grads = buildGradients(
      b, entry, {{outputs[0], lossAndGradient.gradient}}, wrt, autodiff);
  if (failed(grads))
    return failure();
  gradients = std::move(*grads);
  return success();
}

LogicalResult TrainStepGenerator::emitEvaluation() {
  Layout l = layout(stepParts(/*update=*/false));
  func::FuncOp func = createFunction("eval_step", l);
  Value loss;
  SmallVector<Value> outputs, gradients;
  SmallVector<Observer> ranges;
  if (failed(emitCore(func, l, /*withGradients=*/false, RangeUse::Frozen, loss,
                      outputs, gradients, ranges)))
    return failure();
  SmallVector<Value> results = {loss};
  SmallVector<std::string> names = {"loss"};
  for (auto [v, n] : llvm::zip(outputs, sig.outputNames)) {
    results.push_back(v);
    names.push_back("output:" + n);
  }
  finish(func, results, names);
  return success();
}

LogicalResult TrainStepGenerator::emitGradients(bool advanceObservers) {
  Parts parts = stepParts(/*update=*/false);
  parts.step = advanceObservers;
  Layout l = layout(parts);
  func::FuncOp func =
      createFunction(advanceObservers ? "train_gradients" : "gradients", l);
  Value loss;
  SmallVector<Value> outputs, gradients;
  SmallVector<Observer> ranges;
  if (failed(emitCore(func, l, /*withGradients=*/true,
                      advanceObservers ? RangeUse::Update : RangeUse::Frozen,
                      loss, outputs, gradients, ranges)))
    return failure();
  SmallVector<Value> results = {loss};
  SmallVector<std::string> names = {"loss"};
  for (auto [a, g] : llvm::zip(trained, gradients)) {
    results.push_back(g);
    names.push_back("grad:" + a->name);
  }
  if (advanceObservers)
    appendObservers(ranges, results, names);
  finish(func, results, names);
  return success();
}

LogicalResult TrainStepGenerator::emitTrainStep() {
  Layout l = layout(stepParts(/*update=*/true));
  func::FuncOp func = createFunction("train_step", l);
  Value loss;
  SmallVector<Value> outputs, gradients;
  SmallVector<Observer> ranges;
  if (failed(emitCore(func, l, true, RangeUse::Update, loss, outputs, gradients,
                      ranges, /*advanceMasks=*/true)))
    return failure();
  b.setInsertionPointToEnd(&func.getBody().front());
  ValueRange args = func.getBody().front().getArguments();
  SmallVector<Value> tensors;
  for (const Argument *a : trained)
    tensors.push_back(args[l.forwardPosition[a->index]]);
  unsigned numStates = stateKinds().size() * trained.size();
  Value step = options.optimizer == Optimizer::Adam ? args[l.step] : Value();
  SmallVector<Value> results;
  SmallVector<std::string> names;
  emitUpdates(tensors, gradients, args.slice(l.states, numStates), args[l.lr],
              step, results, names);
  appendObservers(ranges, results, names);
  appendMasks(results, names);
  results.push_back(loss);
  names.push_back("loss");
  finish(func, results, names);
  return success();
}

void TrainStepGenerator::emitApplyUpdate() {
  // The trained tensors, their optimizer state, their gradients, lr, step.
  Layout l;
  auto add = [&](Type type, std::string name) { l.add(type, std::move(name)); };
  for (const Argument *a : trained)
    add(typeOf(*a), nameOf(*a));
  for (StringRef kind : stateKinds())
    for (const Argument *a : trained)
      add(typeOf(*a), (kind + ":" + a->name).str());
  for (const Argument *a : trained)
    add(typeOf(*a), "grad:" + a->name);
  for (const Mask &m : masks)
    add(m.stateType, m.name);
  Type scalar = RankedTensorType::get({}, Float32Type::get(b.getContext()));
  add(scalar, "lr");
  bool adam = options.optimizer == Optimizer::Adam;
  if (adam)
    add(scalar, "step");
  func::FuncOp func = createFunction("apply_update", l);
  ValueRange args = func.getBody().front().getArguments();
  unsigned n = trained.size(), numStates = stateKinds().size() * n;
  currentMasks.assign(args.begin() + 2 * n + numStates,
                      args.begin() + 2 * n + numStates + masks.size());
  SmallVector<Value> results;
  SmallVector<std::string> names;
  emitUpdates(args.take_front(n), args.slice(n + numStates, n),
              args.slice(n, numStates), args[2 * n + numStates + masks.size()],
              adam ? args.back() : Value(), results, names);
  finish(func, results, names);
}

void TrainStepGenerator::emitUpdates(ValueRange tensors, ValueRange gradients,
                                     ValueRange states, Value lr, Value step,
                                     SmallVector<Value> &results,
                                     SmallVector<std::string> &names) {
  SmallVector<StringRef> kinds = stateKinds();
  SmallVector<SmallVector<Value>> newStates(kinds.size());
  for (auto [t, a] : llvm::enumerate(trained)) {
    SmallVector<Value> old;
    for (unsigned k = 0; k < kinds.size(); ++k)
      old.push_back(states[k * trained.size() + t]);
    SmallVector<Value> updated = update(tensors[t], gradients[t], old, lr, step,
                                        a->role == Role::QParam);
    // A pruned weight and its optimizer state stay exactly 0: momentum or
    // weight decay never revive it.
    for (auto [m, mask] : llvm::zip(masks, currentMasks))
      if (m.param == a)
        for (Value &v : updated)
          v = applyMask(mask, v);
    results.push_back(updated[0]);
    names.push_back(nameOf(*a));
    for (unsigned k = 0; k < kinds.size(); ++k)
      newStates[k].push_back(updated[k + 1]);
  }
  for (auto [k, kind] : llvm::enumerate(kinds))
    for (auto [a, v] : llvm::zip(trained, newStates[k])) {
      results.push_back(v);
      names.push_back((kind + ":" + a->name).str());
    }
}

void TrainStepGenerator::emitCalibrate() {
  Parts parts;
  parts.scales = false;
  parts.observers = true;
  parts.labels = false;
  parts.masks = scheduled();
  Layout l = layout(parts);
  func::FuncOp func = createFunction("calibrate", l);
  SmallVector<Value> outputs;
  SmallVector<Observer> ranges;
  emitForward(func, l, RangeUse::Calibrate, outputs, ranges);
  SmallVector<Value> results;
  SmallVector<std::string> names;
  appendObservers(ranges, results, names);
  finish(func, results, names);
}

void TrainStepGenerator::emitQParams() {
  Parts parts;
  parts.scales = false;
  parts.observers = true;
  parts.inputs = false;
  parts.labels = false;
  parts.masks = scheduled();
  Layout l = layout(parts);
  func::FuncOp func = createFunction("qparams", l);
  SmallVector<Value> outputs;
  SmallVector<Observer> ranges;
  DenseMap<const Argument *, Value> computed;
  emitForward(func, l, RangeUse::Frozen, outputs, ranges, &computed);
  SmallVector<Value> results;
  SmallVector<std::string> names;
  for (const Argument &a : sig.withRole(Role::QParam)) {
    Value value = computed.lookup(&a);
    if (!value) {
      auto type = cast<RankedTensorType>(typeOf(a));
      value = arith::ConstantOp::create(
          b,
          DenseElementsAttr::get(type, b.getZeroAttr(type.getElementType())));
    }
    results.push_back(value);
    names.push_back(a.name);
  }
  finish(func, results, names);
}

/// The updated tensor and states for tensor `p` with gradient `g`.
SmallVector<Value> TrainStepGenerator::update(Value p, Value g,
                                              ArrayRef<Value> states, Value lr,
                                              Value step, bool isScale) {
  auto type = cast<RankedTensorType>(p.getType());
  double wd = options.weightDecay, mu = options.momentum, b1 = options.beta1,
         b2 = options.beta2, eps = options.epsilon;
  // A learned scale stays positive (at least binary32 epsilon, as
  // choose_qparams guarantees).
  auto clampScale = [&](OpBuilder &nb, Location loc, Value v) -> Value {
    if (!isScale)
      return v;
    return arith::MaximumFOp::create(nb, loc, v,
                                     cst(nb, loc, 1.1920928955078125e-07));
  };
  auto decayed = [&](OpBuilder &nb, Location loc, Value pv, Value gv) {
    if (wd == 0.0 || isScale)
      return gv;
    return arith::AddFOp::create(
               nb, loc, gv,
               arith::MulFOp::create(nb, loc, pv, cst(nb, loc, wd)))
        .getResult();
  };
  if (options.optimizer == Optimizer::Adam) {
    return emitMap(
        b, type, {p, g, states[0], states[1], lr, step}, 3,
        [&](OpBuilder &nb, Location loc, ValueRange a) {
          Value gv = decayed(nb, loc, a[0], a[1]);
          auto lerp = [&](Value old, Value x, double beta) {
            return arith::AddFOp::create(
                nb, loc,
                arith::MulFOp::create(nb, loc, old, cst(nb, loc, beta)),
                arith::MulFOp::create(nb, loc, x, cst(nb, loc, 1.0 - beta)));
          };
          Value m = lerp(a[2], gv, b1);
          Value v = lerp(a[3], arith::MulFOp::create(nb, loc, gv, gv), b2);
          auto correction = [&](double beta) {
            Value power =
                math::PowFOp::create(nb, loc, cst(nb, loc, beta), a[5]);
            return arith::SubFOp::create(nb, loc, cst(nb, loc, 1.0), power);
          };
          Value mHat = arith::DivFOp::create(nb, loc, m, correction(b1));
          Value vHat = arith::DivFOp::create(nb, loc, v, correction(b2));
          Value den = arith::AddFOp::create(
              nb, loc, math::SqrtOp::create(nb, loc, vHat), cst(nb, loc, eps));
          Value stepSize = arith::MulFOp::create(
              nb, loc, a[4], arith::DivFOp::create(nb, loc, mHat, den));
          Value next = arith::SubFOp::create(nb, loc, a[0], stepSize);
          return SmallVector<Value>{clampScale(nb, loc, next), m, v};
        });
  }
  if (mu != 0.0) {
    return emitMap(
        b, type, {p, g, states[0], lr}, 2,
        [&](OpBuilder &nb, Location loc, ValueRange a) {
          Value gv = decayed(nb, loc, a[0], a[1]);
          Value buf = arith::AddFOp::create(
              nb, loc, arith::MulFOp::create(nb, loc, a[2], cst(nb, loc, mu)),
              gv);
          Value next = arith::SubFOp::create(
              nb, loc, a[0], arith::MulFOp::create(nb, loc, a[3], buf));
          return SmallVector<Value>{clampScale(nb, loc, next), buf};
        });
  }
  return emitMap(b, type, {p, g, lr}, 1,
                 [&](OpBuilder &nb, Location loc, ValueRange a) {
                   Value gv = decayed(nb, loc, a[0], a[1]);
                   Value next = arith::SubFOp::create(
                       nb, loc, a[0], arith::MulFOp::create(nb, loc, a[2], gv));
                   return SmallVector<Value>{clampScale(nb, loc, next)};
                 });
}

//===----------------------------------------------------------------------===//
// Entry point and pass
//===----------------------------------------------------------------------===//

/// The forward function `options.forward` names, else the only function
/// with layers (else the only function; never an initialiser).
FailureOr<func::FuncOp> findForward(ModuleOp module, StringRef forward) {
  if (!forward.empty()) {
    auto func = module.lookupSymbol<func::FuncOp>(forward);
    if (!func || func.isExternal())
      return module.emitError("qat-build-train-step: no function @")
             << forward << " with a body";
    return func;
  }
  SmallVector<func::FuncOp> withLayers, all;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() || func->hasAttr(QatDialect::kInitQParamsForAttrName))
      continue;
    all.push_back(func);
    if (llvm::any_of(func.getBody().front(),
                     [](Operation &op) { return isLayerOp(&op); }))
      withLayers.push_back(func);
  }
  SmallVector<func::FuncOp> &candidates = withLayers.empty() ? all : withLayers;
  if (candidates.size() == 1)
    return candidates.front();
  auto names = llvm::map_range(
      candidates, [](func::FuncOp f) { return f.getSymName().str(); });
  return module.emitError("qat-build-train-step: ")
         << (candidates.empty() ? "the module has no function"
                                : "several candidate functions (" +
                                      llvm::join(names, ", ") + ")")
         << "; name the forward function with forward=";
}

} // namespace

namespace {
/// The functions qat-build-train-step may generate.
constexpr StringLiteral kGenerated[] = {
    "train_step", "train_gradients", "advance_masks", "apply_update",
    "gradients",  "eval_step",       "calibrate",     "qparams"};

/// Fails, naming the option, on a name that is not a generated function.
LogicalResult checkGeneratedNames(ModuleOp module, StringRef option,
                                  ArrayRef<std::string> names) {
  for (const std::string &name : names)
    if (!llvm::is_contained(kGenerated, name))
      return module.emitError("qat-build-train-step: ")
             << option << "=" << name << " is not a generated function ("
             << llvm::join(ArrayRef<StringLiteral>(kGenerated), ", ") << ")";
  return success();
}

/// With a non-empty `keep`, the module keeps just the generated functions
/// it names (each must have been generated: a calibration program compiles
/// @calibrate and @qparams alone); with a non-empty `omit`, those it does
/// not name. Either way the forward and its initializer are erased.
LogicalResult keepFunctions(ModuleOp module, func::FuncOp forward,
                            ArrayRef<std::string> keep,
                            ArrayRef<std::string> omit) {
  if (keep.empty() && omit.empty())
    return success();
  if (!keep.empty() && !omit.empty())
    return module.emitError("qat-build-train-step: expected functions= or "
                            "omit-functions=, got both");
  if (failed(checkGeneratedNames(module, "functions", keep)) ||
      failed(checkGeneratedNames(module, "omit-functions", omit)))
    return failure();
  for (const std::string &name : keep)
    if (!module.lookupSymbol(name))
      return module.emitError("qat-build-train-step: functions=")
             << name << " was not generated for this model"
             << (name == "calibrate" || name == "qparams"
                     ? " (it has no activation observers)"
                     : "");
  for (StringRef name : kGenerated) {
    bool kept = keep.empty() ? !llvm::is_contained(omit, name.str())
                             : llvm::is_contained(keep, name.str());
    if (!kept)
      if (Operation *func = module.lookupSymbol(name))
        func->erase();
  }
  for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
    if (auto of = func->getAttrOfType<FlatSymbolRefAttr>(
            QatDialect::kInitQParamsForAttrName);
        of && of.getValue() == forward.getSymName())
      func.erase();
  forward.erase();
  return success();
}
} // namespace

LogicalResult TrainStepGenerator::checkTeacher(func::FuncOp teacherFunc,
                                               StringRef path) const {
  auto describe = [](TypeRange types) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "(";
    llvm::interleaveComma(types, os);
    os << ")";
    return text;
  };
  func::FuncOp fwd = forward;
  SmallVector<Type> want;
  for (const Argument *input : inputs)
    want.push_back(fwd.getArgumentTypes()[input->index]);
  if (TypeRange(teacherFunc.getArgumentTypes()) != TypeRange(want))
    return fwd.emitOpError("teacher @")
           << teacherFunc.getSymName() << " in '" << path
           << "' must take the forward's inputs " << describe(want) << ", got "
           << describe(teacherFunc.getArgumentTypes());
  if (teacherFunc.getNumResults() == 0 ||
      teacherFunc.getResultTypes()[0] != fwd.getResultTypes()[0])
    return fwd.emitOpError("teacher @")
           << teacherFunc.getSymName() << " in '" << path
           << "' must return the forward's logits " << fwd.getResultTypes()[0]
           << " first, got " << describe(teacherFunc.getResultTypes());
  return success();
}

/// The one function with a body in the MLIR file at `path`, parsed into
/// `holder`; a diagnostic on `module` when the file cannot be read or
/// parsed or holds another number of functions.
static FailureOr<func::FuncOp> loadTeacher(ModuleOp module, StringRef path,
                                           OwningOpRef<ModuleOp> &holder) {
  auto fail = [&](const Twine &what) {
    return module.emitError("qat-build-train-step: teacher '")
           << path << "': " << what;
  };
  if (!llvm::sys::fs::exists(path))
    return fail("no such file");
  llvm::SourceMgr sourceMgr;
  holder = parseSourceFile<ModuleOp>(path, sourceMgr,
                                     ParserConfig(module.getContext()));
  if (!holder)
    return fail("expected an MLIR module (the teacher's frozen forward), "
                "which does not parse");
  SmallVector<func::FuncOp> functions;
  for (auto func : holder->getOps<func::FuncOp>())
    if (!func.isExternal())
      functions.push_back(func);
  if (functions.size() != 1)
    return fail("expected one function, found " + Twine(functions.size()));
  if (!functions[0].getBody().hasOneBlock())
    return fail("expected a single-block function");
  return functions[0];
}

LogicalResult mlir::qat::buildTrainStep(ModuleOp module,
                                        const TrainStepOptions &trainOptions) {
  FailureOr<func::FuncOp> found = findForward(module, trainOptions.forward);
  if (failed(found))
    return failure();
  func::FuncOp fwd = *found;
  if (!fwd.getBody().hasOneBlock())
    return fwd.emitOpError("expected a single-block body to differentiate");
  for (StringRef name : kGenerated)
    if (module.lookupSymbol(name))
      return module.emitError("qat-build-train-step: the module already has @")
             << name;
  if (trainOptions.batchShards < 1)
    return module.emitError("qat-build-train-step: batch-shards must be at "
                            "least 1, got ")
           << trainOptions.batchShards;
  if (trainOptions.pruneEnd >= 0) {
    auto bad = [&](const Twine &what) {
      return module.emitError("qat-build-train-step: ") << what;
    };
    if (trainOptions.pruneBegin < 0 ||
        trainOptions.pruneEnd < trainOptions.pruneBegin)
      return bad("expected 0 <= prune-begin <= prune-end, got prune-begin=" +
                 Twine(trainOptions.pruneBegin) +
                 " and prune-end=" + Twine(trainOptions.pruneEnd));
    if (trainOptions.pruneEvery < 1)
      return bad("prune-every must be at least 1, got " +
                 Twine(trainOptions.pruneEvery));
    if (!(trainOptions.pruneInitialSparsity >= 0.0 &&
          trainOptions.pruneInitialSparsity < 1.0))
      return bad("prune-initial-sparsity must be in [0, 1), got " +
                 Twine(std::to_string(trainOptions.pruneInitialSparsity)));
    bool pruned = false;
    fwd.walk([&](PruneMaskOp) { pruned = true; });
    if (!pruned)
      return bad("a sparsity schedule (prune-end) needs pruned weights; the "
                 "forward has no qat.prune_mask (run qat-prune first)");
  }
  FailureOr<Type> labelType = getLabelType(fwd, trainOptions.loss);
  if (failed(labelType))
    return failure();
  StepSettings options(trainOptions);
  FailureOr<Signature> sig = readSignature(fwd, options.learnScales);
  if (failed(sig))
    return failure();
  if (llvm::none_of(sig->args, [](const Argument &a) { return a.trained; }))
    return fwd.emitOpError("has no parameter to train (every argument is an "
                           "input)");
  TrainStepGenerator generator(fwd, std::move(*sig), *labelType, options);
  OwningOpRef<ModuleOp> teacherModule;
  if (!trainOptions.teacher.empty()) {
    auto bad = [&](const Twine &what) {
      return module.emitError("qat-build-train-step: ") << what;
    };
    if (trainOptions.loss != Loss::CrossEntropy)
      return bad("distillation (teacher) needs the cross-entropy loss");
    if (!(trainOptions.distillTemperature > 0.0))
      return bad("distill-temperature must be positive, got " +
                 Twine(std::to_string(trainOptions.distillTemperature)));
    if (!(trainOptions.distillWeight >= 0.0 &&
          trainOptions.distillWeight <= 1.0))
      return bad("distill-weight must be in [0, 1], got " +
                 Twine(std::to_string(trainOptions.distillWeight)));
    FailureOr<func::FuncOp> teacher =
        loadTeacher(module, trainOptions.teacher, teacherModule);
    if (failed(teacher) ||
        failed(generator.checkTeacher(*teacher, trainOptions.teacher)))
      return failure();
    generator.setTeacher(*teacher);
  }
  // In this order in the module, after the forward.
  if (failed(generator.emitTrainStep()))
    return failure();
  if (options.ema && failed(generator.emitGradients(/*advanceObservers=*/true)))
    return failure();
  if (generator.canAdvanceMasksAlone())
    generator.emitAdvanceMasks();
  generator.emitApplyUpdate();
  if (failed(generator.emitGradients(/*advanceObservers=*/false)) ||
      failed(generator.emitEvaluation()))
    return failure();
  if (generator.hasObservers()) {
    generator.emitCalibrate();
    generator.emitQParams();
  }
  return keepFunctions(module, fwd, trainOptions.functions,
                       trainOptions.omitFunctions);
}

namespace {

struct BuildTrainStepPass
    : public qat::impl::BuildTrainStepBase<BuildTrainStepPass> {
  using Base::Base;

  void runOnOperation() override {
    // The generated options are protected members: copied by name here.
    TrainStepOptions options;
    options.forward = forward;
    options.loss = loss;
    options.optimizer = optimizer;
    options.momentum = momentum;
    options.weightDecay = weightDecay;
    options.beta1 = beta1;
    options.beta2 = beta2;
    options.epsilon = epsilon;
    options.rangeLearning = rangeLearning;
    options.averagingConstant = averagingConstant;
    options.freezeObserversAfter = freezeObserversAfter;
    options.batchShards = batchShards;
    options.pruneBegin = pruneBegin;
    options.pruneEnd = pruneEnd;
    options.pruneEvery = pruneEvery;
    options.pruneInitialSparsity = pruneInitialSparsity;
    options.teacher = teacher;
    options.distillTemperature = distillTemperature;
    options.distillWeight = distillWeight;
    options.functions.assign(functions.begin(), functions.end());
    options.omitFunctions.assign(omitFunctions.begin(), omitFunctions.end());
    if (failed(buildTrainStep(getOperation(), options)))
      signalPassFailure();
  }
};

} // namespace
