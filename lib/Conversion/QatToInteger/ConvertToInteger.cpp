//===- ConvertToInteger.cpp - qat-convert-to-integer, qat-faithful --------===//
//
// Part of qat-mlir. The public entry points over the layer converter
// (IntegerLayers.cpp) and the two thin passes that call them.
//
//===----------------------------------------------------------------------===//

#include "qat/Conversion/QatToInteger/QatToInteger.h"

#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Support/QuantMath.h"

#include <tuple>

#include "IntegerLayers.h"

namespace mlir::qat {
#define GEN_PASS_DEF_CONVERTTOINTEGER
#define GEN_PASS_DEF_FAITHFUL
#include "qat/Conversion/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

LogicalResult
mlir::qat::convertToInteger(func::FuncOp func,
                            const IntegerConversionOptions &options) {
  integer::Converter converter(func, integer::Converter::Mode::Deploy,
                               options.packInt4);
  if (failed(converter.match()))
    return failure();
  if (!options.allowCollapsedRanges)
    for (const integer::IntegerLayer &layer : converter.matched())
      for (auto [fq, codes, what] :
           {std::make_tuple(layer.input, &layer.inputCodes, "input"),
            std::make_tuple(layer.output, &layer.outputCodes, "output")}) {
        if (!fq || codes->scales.empty() ||
            codes->scales.front() > quantmath::kDefaultScaleEps)
          continue;
        StringAttr name = QatDialect::getLayerName(layer.op);
        return fq.emitError("layer '")
               << (name ? name.getValue() : StringRef("?")) << "': its "
               << what << " range collapsed to a point (scale "
               << codes->scales.front()
               << ", the floor), so it would deploy as a constant; "
               << "calibrate on data that reaches it, or convert with "
               << "allow-collapsed-ranges";
      }
  converter.rewrite();
  return success();
}

LogicalResult mlir::qat::simulateFaithfully(func::FuncOp func) {
  integer::Converter converter(func, integer::Converter::Mode::Faithful);
  if (failed(converter.match()))
    return failure();
  converter.rewrite();
  QatDialect::setFaithfulAttr(func);
  return success();
}

namespace {

/// Bodies of functions frozen by qat-freeze; others are left alone.
bool isFrozen(func::FuncOp func) {
  return !func.isExternal() && QatDialect::isFrozen(func);
}

struct ConvertToIntegerPass
    : public qat::impl::ConvertToIntegerBase<ConvertToIntegerPass> {
  using Base::Base;
  void runOnOperation() override {
    IntegerConversionOptions options;
    options.packInt4 = packInt4;
    options.allowCollapsedRanges = allowCollapsedRanges;
    if (isFrozen(getOperation()) &&
        failed(convertToInteger(getOperation(), options)))
      signalPassFailure();
  }
};

struct FaithfulPass : public qat::impl::FaithfulBase<FaithfulPass> {
  void runOnOperation() override {
    if (isFrozen(getOperation()) && failed(simulateFaithfully(getOperation())))
      signalPassFailure();
  }
};

} // namespace
