//===- OutlineKernels.cpp - qat-outline-kernels ---------------------------===//
//
// Part of qat-mlir. One private function per distinct matmul kernel: a
// patch matrix's gather, C's start and the epilogue included.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Utils/PackedCodes.h"

#include "ImplicitGemm.h"
#include "MatmulKernels.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::qat {
#define GEN_PASS_DEF_OUTLINEKERNELS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;

namespace {

/// A constant, also seen through reshapes (a filter as a matrix) or as
/// packed 2- or 4-bit codes unpacked at run time (which qat-x86-vnni-matmul
/// repacks at compile time).
bool isConstantOperand(Value value) {
  if (qat::isPackedCodes(value))
    return true;
  while (Operation *op = value.getDefiningOp()) {
    if (matchPattern(value, m_Constant()))
      return true;
    if (!isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op))
      return false;
    value = op->getOperand(0);
  }
  return false;
}

/// "qat_matmul_<M>x<K>x<N>_<a>_<b>_<c>", from the operand types.
std::string kernelName(linalg::MatmulOp op) {
  auto a = cast<RankedTensorType>(op.getInputs()[0].getType());
  auto b = cast<RankedTensorType>(op.getInputs()[1].getType());
  auto c = cast<RankedTensorType>(op.getOutputs()[0].getType());
  std::string name;
  llvm::raw_string_ostream os(name);
  os << "qat_matmul_" << a.getDimSize(0) << "x" << a.getDimSize(1) << "x"
     << b.getDimSize(1) << "_" << a.getElementType() << "_"
     << b.getElementType() << "_" << c.getElementType();
  return name;
}

/// What one matmul's kernel computes: the ops that make A (a patch
/// matrix's gather) and the matmul, cloned as they are; C's start, made
/// in the kernel when a fill or a row broadcast that nothing else reads
/// computes it; and the matmul's elementwise epilogue (bias, activation,
/// requantization) with a fresh output. The kernel passes then start the
/// accumulators from the fill or broadcast without reading C and finish
/// them in registers, and the kernel returns a tensor it allocates, which
/// bufferization turns into the caller's out-parameter: the caller neither
/// fills C nor copies the kernel's result, nor reads it again for its
/// epilogue.
struct KernelContents {
  SmallVector<Operation *> aOps; // ends with the matmul
  linalg::MatmulOp matmul;
  std::optional<qat::AccumulatorStart> start;
  std::optional<qat::Epilogue> epilogue;
  /// The values the ops' regions use from outside them (an epilogue's
  /// constants, say): constants are cloned into the kernel, the others are
  /// arguments.
  llvm::SetVector<Value> captured;

  /// The op whose result the kernel returns, and before which it is
  /// called (after everything the epilogue reads).
  Operation *last() {
    return epilogue ? epilogue->getOp().getOperation() : matmul.getOperation();
  }

  /// The values the kernel reads from outside, in a fixed order: its
  /// arguments.
  llvm::SetVector<Value> arguments() {
    llvm::SetVector<Value> arguments;
    for (Operation *op : aOps)
      for (OpOperand &operand : op->getOpOperands())
        if (!llvm::is_contained(aOps, operand.get().getDefiningOp()) &&
            !(start && op == matmul && matmul.isDpsInit(&operand)))
          arguments.insert(operand.get());
    if (start)
      arguments.insert(start->getScalar() ? start->getScalar()
                                          : start->getColumns());
    if (epilogue)
      for (Value input : epilogue->getOp().getDpsInputs())
        if (input != matmul.getResult(0))
          arguments.insert(input);
    for (Value value : captured)
      if (!matchPattern(value, m_Constant()))
        arguments.insert(value);
    return arguments;
  }

  /// The kernel's body at `b`, its arguments mapped by `map`; returns the
  /// kernel's result.
  Value build(OpBuilder &b, IRMapping &map) {
    Location loc = matmul.getLoc();
    for (Value value : captured)
      if (!map.contains(value))
        b.clone(*value.getDefiningOp(), map);
    if (start) {
      auto type = cast<RankedTensorType>(matmul.getOutputs()[0].getType());
      Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                            type.getElementType());
      Value c =
          start->getScalar()
              ? linalg::FillOp::create(b, loc, map.lookup(start->getScalar()),
                                       empty)
                    .getResult(0)
              : linalg::BroadcastOp::create(b, loc,
                                            map.lookup(start->getColumns()),
                                            empty, ArrayRef<int64_t>{0})
                    ->getResult(0);
      map.map(matmul.getOutputs()[0], c);
    }
    for (Operation *op : aOps)
      b.clone(*op, map);
    Value result = map.lookup(matmul.getResult(0));
    if (!epilogue)
      return result;
    linalg::GenericOp generic = epilogue->getOp();
    auto type = cast<RankedTensorType>(generic.getResult(0).getType());
    map.map(generic.getDpsInits()[0],
            tensor::EmptyOp::create(b, loc, type.getShape(),
                                    type.getElementType()));
    return b.clone(*generic, map)->getResult(0);
  }
};

/// The text of a kernel (all named "kernel" until then): kernels with the
/// same text are one.
std::string kernelKey(func::FuncOp kernel) {
  std::string key;
  llvm::raw_string_ostream os(key);
  kernel->print(os, OpPrintingFlags().printGenericOpForm());
  return key;
}

struct OutlineKernelsPass
    : mlir::qat::impl::OutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    llvm::StringMap<func::FuncOp> kernels;
    SmallVector<linalg::MatmulOp> matmuls;
    module.walk([&](linalg::MatmulOp op) {
      auto parent = op->getParentOfType<func::FuncOp>();
      if (!parent || !op.hasPureTensorSemantics() || op->getNumResults() != 1 ||
          !op->getDiscardableAttrDictionary().empty() ||
          llvm::any_of(op->getOperands(), isConstantOperand) ||
          llvm::any_of(op->getOperandTypes(), [](Type t) {
            return !cast<ShapedType>(t).hasStaticShape();
          }))
        return;
      matmuls.push_back(op);
    });
    OpBuilder b(&getContext());
    for (linalg::MatmulOp op : matmuls) {
      KernelContents contents = kernelContents(op);
      llvm::SetVector<Value> arguments = contents.arguments();
      Operation *last = contents.last();
      // The kernel, detached until its text is known to be new.
      b.clearInsertionPoint();
      auto kernel = func::FuncOp::create(
          b, op.getLoc(), "kernel",
          b.getFunctionType(
              llvm::to_vector(llvm::map_range(
                  arguments, [](Value v) { return v.getType(); })),
              last->getResultTypes()));
      Block *body = kernel.addEntryBlock();
      b.setInsertionPointToStart(body);
      IRMapping map;
      map.map(arguments.getArrayRef(), body->getArguments());
      func::ReturnOp::create(b, op.getLoc(), contents.build(b, map));
      func::FuncOp &existing = kernels[kernelKey(kernel)];
      if (existing) {
        kernel.erase();
      } else {
        std::string name = kernelName(op);
        if (contents.aOps.size() > 1)
          name += "_gathered";
        if (contents.epilogue)
          name += "_epilogue";
        kernel.setSymName(name);
        kernel.setPrivate();
        kernel->setAttr("no_inline", b.getUnitAttr());
        symbols.insert(kernel); // at the end; renames on a clash
        existing = kernel;
      }
      b.setInsertionPoint(last);
      auto call = func::CallOp::create(b, op.getLoc(), existing,
                                       arguments.getArrayRef());
      last->replaceAllUsesWith(call.getResults());
      // What only the kernel read: the epilogue, the matmul, A's and C's
      // ops, their outputs' tensor.empty.
      eraseUnused(last);
    }
  }

private:
  static KernelContents kernelContents(linalg::MatmulOp op) {
    KernelContents contents;
    contents.matmul = op;
    contents.aOps = kernelOps(op);
    Value c = op.getOutputs()[0];
    if (qat::AccumulatorStart::isOnlyUse(c))
      contents.start = qat::AccumulatorStart::find(c);
    contents.epilogue = qat::Epilogue::find(op.getResult(0));
    // An epilogue in a loop the matmul is outside of stays there: the
    // kernel would run the matmul on every iteration.
    if (contents.epilogue &&
        contents.epilogue->getOp()->getBlock() != op->getBlock())
      contents.epilogue.reset();
    for (Operation *inner : contents.aOps)
      for (Region &region : inner->getRegions())
        getUsedValuesDefinedAbove(region, contents.captured);
    if (contents.epilogue)
      getUsedValuesDefinedAbove(contents.epilogue->getOp().getRegion(),
                                contents.captured);
    return contents;
  }

  /// Erases `root` if it is trivially dead, and then every op that erasing
  /// the others left trivially dead.
  static void eraseUnused(Operation *root) {
    SmallVector<Operation *> worklist = {root};
    while (!worklist.empty()) {
      Operation *op = worklist.pop_back_val();
      if (!isOpTriviallyDead(op))
        continue;
      llvm::SetVector<Operation *> producers;
      for (Value operand : op->getOperands())
        if (Operation *producer = operand.getDefiningOp())
          producers.insert(producer);
      op->erase();
      // (An op that other ops still use is looked at again when the last
      // of them is erased.)
      for (Operation *producer : producers)
        if (!llvm::is_contained(worklist, producer))
          worklist.push_back(producer);
    }
  }

private:
  /// The ops a kernel computes: the matmul, and when its A is a patch
  /// matrix (getPatchMatrix) whose tensors start as tensor.empty, the ops
  /// that compute A from the gather's input too, so that the kernel can
  /// read that input in place (an implicit GEMM).
  static SmallVector<Operation *> kernelOps(linalg::MatmulOp op) {
    std::optional<qat::PatchMatrix> patches =
        qat::getPatchMatrix(op.getInputs()[0]);
    if (!patches)
      return {op};
    SmallVector<Operation *> ops;
    if (!appendEmpty(patches->gather.getDpsInits()[0], ops))
      return {op};
    ops.push_back(patches->gather);
    if (linalg::TransposeOp transpose = patches->transpose) {
      if (!appendEmpty(transpose.getInit(), ops))
        return {op};
      ops.push_back(transpose);
    }
    ops.append({patches->collapse, op});
    return ops;
  }

  /// Appends the ops that make `init`, a tensor.empty seen through an
  /// expand_shape or not, that nothing else reads; false otherwise.
  static bool appendEmpty(Value init, SmallVectorImpl<Operation *> &ops) {
    if (!init.hasOneUse())
      return false;
    if (auto expand = init.getDefiningOp<tensor::ExpandShapeOp>()) {
      if (!appendEmpty(expand.getSrc(), ops))
        return false;
      ops.push_back(expand);
      return true;
    }
    auto empty = init.getDefiningOp<tensor::EmptyOp>();
    if (!empty)
      return false;
    ops.push_back(empty);
    return true;
  }
};

} // namespace
