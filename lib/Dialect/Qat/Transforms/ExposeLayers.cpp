//===- ExposeLayers.cpp - qat-expose-layers -------------------------------===//
//
// Part of qat-mlir. Returns each named layer's quantized output, so that a QAT
// function and its integer conversion can be compared layer by layer.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Dialect/Qat/Transforms/Transforms.h"

#include "qat/Dialect/Qat/IR/QatOps.h"

namespace mlir::qat {
#define GEN_PASS_DEF_EXPOSELAYERS
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The fake-quant ending `layer`'s epilogue: follow single users through
/// elementwise ops.
FakeQuantOp outputFakeQuant(Operation *layer) {
  Value value = layer->getResult(0);
  while (value.hasOneUse()) {
    Operation *user = *value.user_begin();
    if (auto fq = dyn_cast<FakeQuantOp>(user))
      return fq;
    if (!isa<linalg::GenericOp>(user) || user->getNumResults() != 1)
      return {};
    value = user->getResult(0);
  }
  return {};
}

} // namespace

unsigned mlir::qat::exposeLayers(func::FuncOp func) {
  if (func.isExternal())
    return 0;
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  OpBuilder b(ret);
  SmallVector<std::pair<std::string, Value>> exposed;
  func.walk([&](Operation *op) {
    StringAttr name = QatDialect::getLayerName(op);
    if (!name)
      return;
    if (auto requantize = dyn_cast<RequantizeOp>(op)) {
      auto scale = op->getAttrOfType<FloatAttr>(QatDialect::kScaleAttrName);
      if (!scale)
        return;
      auto type = cast<RankedTensorType>(requantize.getType());
      Value s = arith::ConstantOp::create(
          b, op->getLoc(),
          DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                 static_cast<float>(scale.getValueAsDouble())));
      Value z = arith::ConstantOp::create(
          b, op->getLoc(),
          DenseElementsAttr::get(
              RankedTensorType::get({}, b.getI32Type()),
              static_cast<int32_t>(requantize.getOutputZeroPoint())));
      Value real = DequantizeOp::create(
          b, op->getLoc(),
          RankedTensorType::get(type.getShape(), b.getF32Type()),
          requantize.getResult(), s, z);
      exposed.push_back({name.str(), real});
      return;
    }
    if (FakeQuantOp fq = outputFakeQuant(op))
      exposed.push_back({name.str(), fq.getResult()});
  });
  if (exposed.empty())
    return 0;
  SmallVector<Value> results(ret.getOperands());
  unsigned first = results.size();
  for (auto &[name, value] : exposed)
    results.push_back(value);
  func::ReturnOp::create(b, ret.getLoc(), results);
  ret.erase();
  func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  for (auto [i, entry] : llvm::enumerate(exposed))
    QatDialect::setResultName(func, first + i, "layer:" + entry.first);
  return exposed.size();
}

namespace {

struct ExposeLayersPass : public qat::impl::ExposeLayersBase<ExposeLayersPass> {
  void runOnOperation() override { (void)exposeLayers(getOperation()); }
};

} // namespace
