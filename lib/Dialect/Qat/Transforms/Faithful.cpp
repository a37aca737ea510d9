//===- Faithful.cpp - qat-faithful ----------------------------------------===//
//
// Part of qat-mlir. The faithful simulation: each layer's output becomes the
// integer result deployment computes (IntegerLayers.h), through
// qat.straight_through so that gradients still follow the float layer.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"

#include "IntegerLayers.h"

namespace mlir::qat {
#define GEN_PASS_DEF_FAITHFUL
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

struct FaithfulPass : public qat::impl::FaithfulBase<FaithfulPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func->hasAttr("qat.frozen"))
      return;
    integer::Converter converter(func, integer::Converter::Mode::Faithful);
    if (failed(converter.match()))
      return signalPassFailure();
    converter.rewrite();
    func->setAttr("qat.faithful", UnitAttr::get(func.getContext()));
  }
};

} // namespace
