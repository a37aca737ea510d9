//===- OutlineKernels.cpp - qat-outline-kernels ---------------------------===//
//
// Part of qat-mlir. One private function per matmul signature, a patch
// matrix's gather included.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Utils/PackedCodes.h"

#include "ImplicitGemm.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
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

std::string typeName(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
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
      SmallVector<Operation *> ops = kernelOps(op);
      // The values the ops read from outside: the kernel's arguments.
      llvm::SetVector<Value> arguments;
      for (Operation *inner : ops)
        for (Value operand : inner->getOperands())
          if (!llvm::is_contained(ops, operand.getDefiningOp()))
            arguments.insert(operand);
      // The signature: every op's name, attributes (indexing maps, casts)
      // and types.
      std::string key;
      {
        llvm::raw_string_ostream os(key);
        for (Operation *inner : ops)
          os << inner->getName() << inner->getAttrDictionary()
             << typeName(b.getFunctionType(inner->getOperandTypes(),
                                           inner->getResultTypes()));
      }
      std::string name = kernelName(op) + (ops.size() > 1 ? "_gathered" : "");
      func::FuncOp &kernel = kernels[key];
      if (!kernel) {
        b.setInsertionPointToEnd(module.getBody());
        auto type = b.getFunctionType(
            llvm::to_vector(llvm::map_range(
                arguments, [](Value v) { return v.getType(); })),
            op->getResultTypes());
        kernel = func::FuncOp::create(b, op.getLoc(), name, type);
        kernel.setPrivate();
        kernel->setAttr("no_inline", b.getUnitAttr());
        symbols.insert(kernel); // renames on a clash
        Block *body = kernel.addEntryBlock();
        b.setInsertionPointToStart(body);
        IRMapping map;
        map.map(arguments.getArrayRef(), body->getArguments());
        for (Operation *inner : ops)
          b.clone(*inner, map);
        func::ReturnOp::create(b, op.getLoc(), map.lookup(op->getResult(0)));
      }
      b.setInsertionPoint(op);
      auto call =
          func::CallOp::create(b, op.getLoc(), kernel, arguments.getArrayRef());
      op->replaceAllUsesWith(call.getResults());
      for (Operation *inner : llvm::reverse(ops))
        if (inner->use_empty())
          inner->erase();
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
