//===- ProtectArguments.cpp - qat-protect-arguments -----------------------===//
//
// Part of qat-mlir. Entry points never write through their arguments: every
// argument of a public function is marked not writable, so one-shot
// bufferization copies it where the program updates it in place.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

namespace mlir::qat {
#define GEN_PASS_DEF_PROTECTARGUMENTS
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

void mlir::qat::protectArguments(ModuleOp module) {
  Builder b(module.getContext());
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal() || !func.isPublic())
      continue;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isa<TensorType>(func.getArgument(i).getType()))
        func.setArgAttr(i,
                        bufferization::BufferizationDialect::kWritableAttrName,
                        b.getBoolAttr(false));
  }
}

namespace {

struct ProtectArgumentsPass
    : public qat::impl::ProtectArgumentsBase<ProtectArgumentsPass> {
  void runOnOperation() override { protectArguments(getOperation()); }
};

} // namespace
