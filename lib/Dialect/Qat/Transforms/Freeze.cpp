//===- Freeze.cpp - qat-freeze --------------------------------------------===//
//
// Part of qat-mlir. Replaces named function arguments (learned quantization
// parameters, weights) by constants read from a JSON file.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/Passes.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdio>

namespace mlir::qat {
#define GEN_PASS_DEF_FREEZE
#include "qat/Dialect/Qat/Transforms/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// Appends the numbers of `value` (a number or nested lists) to `out`.
bool flatten(const llvm::json::Value &value, SmallVectorImpl<double> &out) {
  if (std::optional<double> number = value.getAsNumber()) {
    out.push_back(*number);
    return true;
  }
  const llvm::json::Array *array = value.getAsArray();
  if (!array)
    return false;
  for (const llvm::json::Value &element : *array)
    if (!flatten(element, out))
      return false;
  return true;
}

/// `numbers` as a dense attribute of `type`, or a message.
FailureOr<DenseElementsAttr>
toAttr(RankedTensorType type, ArrayRef<double> numbers, std::string &message) {
  Type element = type.getElementType();
  if (auto floatType = dyn_cast<FloatType>(element)) {
    SmallVector<APFloat> values;
    for (double v : numbers) {
      APFloat f(v);
      bool lost;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      values.push_back(f);
    }
    return DenseElementsAttr::get(type, values);
  }
  if (auto intType = dyn_cast<IntegerType>(element)) {
    SmallVector<APInt> values;
    unsigned width = intType.getWidth();
    for (double v : numbers) {
      int64_t i = static_cast<int64_t>(v);
      bool fits = width >= 64 || (i >= -(int64_t(1) << (width - 1)) &&
                                  i < (int64_t(1) << width));
      if (static_cast<double>(i) != v || !fits) {
        char text[32];
        snprintf(text, sizeof(text), "%g", v);
        message = llvm::formatv("{0} is not an integer of {1} bits",
                                StringRef(text), width);
        return failure();
      }
      values.push_back(APInt(width, i, /*isSigned=*/true));
    }
    return DenseElementsAttr::get(type, values);
  }
  message = "unsupported element type";
  return failure();
}

struct FreezePass : public qat::impl::FreezeBase<FreezePass> {
  using FreezeBase::FreezeBase;

  /// The argument's qat.name, else "arg<i>" (as qat-build-train-step
  /// names it).
  static std::string argName(func::FuncOp func, unsigned i) {
    if (auto name = func.getArgAttrOfType<StringAttr>(i, "qat.name"))
      return name.str();
    return "arg" + std::to_string(i);
  }
  static bool isQParam(func::FuncOp func, unsigned i) {
    auto role = func.getArgAttrOfType<StringAttr>(i, "qat.role");
    return role && role.getValue() == "qparam";
  }

  FailureOr<func::FuncOp> findFunction() {
    ModuleOp module = getOperation();
    if (!function.empty()) {
      auto func = module.lookupSymbol<func::FuncOp>(function);
      if (!func || func.isExternal())
        return module.emitError("qat-freeze: no function @")
               << function << " with a body";
      return func;
    }
    SmallVector<func::FuncOp> candidates;
    for (auto func : module.getOps<func::FuncOp>())
      for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
        if (isQParam(func, i)) {
          candidates.push_back(func);
          break;
        }
    if (candidates.size() == 1)
      return candidates.front();
    return module.emitError("qat-freeze: ")
           << (candidates.empty()
                   ? "no function has quantization parameter arguments"
                   : "several functions have quantization parameter "
                     "arguments")
           << "; name one with function=";
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      emitError(module.getLoc(), "qat-freeze: " + message);
      signalPassFailure();
    };
    if (valuesFile.empty())
      return fail("values=<file.json> is required");
    auto buffer = llvm::MemoryBuffer::getFile(valuesFile, /*IsText=*/true);
    if (!buffer)
      return fail("cannot read '" + valuesFile +
                  "': " + buffer.getError().message());
    llvm::Expected<llvm::json::Value> json =
        llvm::json::parse((*buffer)->getBuffer());
    if (!json)
      return fail("'" + valuesFile +
                  "': invalid JSON: " + llvm::toString(json.takeError()));
    const llvm::json::Object *object = json->getAsObject();
    if (!object)
      return fail("'" + valuesFile + "': expected a JSON object");
    FailureOr<func::FuncOp> found = findFunction();
    if (failed(found))
      return signalPassFailure();
    func::FuncOp func = *found;

    // Argument names, with the train-step prefixes accepted.
    llvm::StringMap<unsigned> byName;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      byName[argName(func, i)] = i;
    llvm::DenseMap<unsigned, DenseElementsAttr> values;
    for (const auto &[key, value] : *object) {
      StringRef name = key;
      for (StringRef prefix : {"param:", "qparam:"})
        name.consume_front(prefix);
      auto it = byName.find(name);
      if (it == byName.end())
        return fail(llvm::formatv("'{0}' names no argument of @{1}",
                                  StringRef(key), func.getSymName()));
      unsigned index = it->second;
      auto type = dyn_cast<RankedTensorType>(func.getArgumentTypes()[index]);
      if (!type || !type.hasStaticShape())
        return fail(llvm::formatv("'{0}': the argument is not a statically "
                                  "shaped tensor",
                                  name));
      SmallVector<double> numbers;
      if (!flatten(value, numbers))
        return fail(llvm::formatv("'{0}': expected a number or a list of "
                                  "numbers",
                                  name));
      if (static_cast<int64_t>(numbers.size()) != type.getNumElements())
        return fail(llvm::formatv("'{0}': {1} values for {2} ({3} elements)",
                                  name, numbers.size(), type,
                                  type.getNumElements()));
      std::string message;
      FailureOr<DenseElementsAttr> attr = toAttr(type, numbers, message);
      if (failed(attr))
        return fail(llvm::formatv("'{0}': {1}", name, message));
      values[index] = *attr;
    }
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isQParam(func, i) && !values.count(i))
        return fail(llvm::formatv("quantization parameter '{0}' of @{1} has "
                                  "no value",
                                  argName(func, i), func.getSymName()));

    // Rewrite: constants at the entry, arguments erased.
    OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
    llvm::BitVector erase(func.getNumArguments());
    for (unsigned index = 0, e = func.getNumArguments(); index < e; ++index) {
      auto it = values.find(index);
      if (it == values.end())
        continue;
      Value constant = arith::ConstantOp::create(
          b, func.getArgument(index).getLoc(), it->second);
      func.getArgument(index).replaceAllUsesWith(constant);
      erase.set(index);
    }
    if (failed(func.eraseArguments(erase)))
      return fail("cannot erase the frozen arguments");
    func->setAttr("qat.frozen", b.getUnitAttr());
  }
};

} // namespace
