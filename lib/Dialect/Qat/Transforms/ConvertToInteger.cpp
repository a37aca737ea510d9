//===- ConvertToInteger.cpp - qat-convert-to-integer ----------------------===//
//
// Part of qat-mlir. Replaces the layers of a frozen QAT graph by their
// integer form (IntegerLayers.h): int8 codes, int32 accumulation,
// fixed-point requantization.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"

#include "IntegerLayers.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVERTTOINTEGER
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

struct ConvertToIntegerPass
    : public qat::impl::ConvertToIntegerBase<ConvertToIntegerPass> {
  using ConvertToIntegerBase::ConvertToIntegerBase;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || !func->hasAttr("qat.frozen"))
      return;
    integer::Converter converter(func, integer::Converter::Mode::Deploy,
                                 packInt4);
    if (failed(converter.match()))
      return signalPassFailure();
    converter.rewrite();
  }
};

} // namespace
