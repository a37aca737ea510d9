//===- QatDialect.cpp - The qat dialect -----------------------------------===//
//
// Part of qat-mlir. The dialect, its constant materializer, and the
// accessors and verifiers of its discardable attributes.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include "qat/Dialect/Qat/IR/QatOps.h"

using namespace mlir;
using namespace mlir::qat;

#include "qat/Dialect/Qat/IR/QatOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "qat/Dialect/Qat/IR/QatAttrs.cpp.inc"

void QatDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "qat/Dialect/Qat/IR/QatAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "qat/Dialect/Qat/IR/QatOps.cpp.inc"
      >();
}

Operation *QatDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  auto typed = dyn_cast<TypedAttr>(value);
  if (!typed || typed.getType() != type)
    return nullptr;
  return arith::ConstantOp::create(builder, loc, type, typed);
}

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

std::optional<ArgRole> QatDialect::getArgRole(FunctionOpInterface func,
                                              unsigned index) {
  auto role = func.getArgAttrOfType<StringAttr>(index, kRoleAttrName);
  if (!role)
    return std::nullopt;
  return symbolizeArgRole(role.getValue());
}

ElementsAttr QatDialect::getArgValue(FunctionOpInterface func,
                                    unsigned index) {
  return func.getArgAttrOfType<ElementsAttr>(index, kValueAttrName);
}

void QatDialect::setArgRole(FunctionOpInterface func, unsigned index,
                            ArgRole role) {
  func.setArgAttr(index, kRoleAttrName,
                  StringAttr::get(func->getContext(), stringifyArgRole(role)));
}

StringAttr QatDialect::getArgName(FunctionOpInterface func, unsigned index) {
  return func.getArgAttrOfType<StringAttr>(index, kNameAttrName);
}

StringAttr QatDialect::getResultName(FunctionOpInterface func, unsigned index) {
  return func.getResultAttrOfType<StringAttr>(index, kNameAttrName);
}

std::string QatDialect::getArgNameOrIndex(FunctionOpInterface func,
                                          unsigned index) {
  StringAttr name = getArgName(func, index);
  return name ? name.str() : "arg" + std::to_string(index);
}

std::string QatDialect::getResultNameOrIndex(FunctionOpInterface func,
                                             unsigned index) {
  StringAttr name = getResultName(func, index);
  return name ? name.str() : "result" + std::to_string(index);
}

void QatDialect::setArgName(FunctionOpInterface func, unsigned index,
                            StringRef name) {
  func.setArgAttr(index, kNameAttrName,
                  StringAttr::get(func->getContext(), name));
}

void QatDialect::setResultName(FunctionOpInterface func, unsigned index,
                               StringRef name) {
  func.setResultAttr(index, kNameAttrName,
                     StringAttr::get(func->getContext(), name));
}

// The keys of qat.qparam, used only here.
static constexpr StringLiteral kQParamRoleKey = "role";
static constexpr StringLiteral kQParamLayerKey = "layer";
static constexpr StringLiteral kQParamInitKey = "init";
static constexpr StringLiteral kQParamNumBitsKey = "num_bits";

std::optional<QParamInfo> QatDialect::getQParamInfo(FunctionOpInterface func,
                                                    unsigned index) {
  auto dict = func.getArgAttrOfType<DictionaryAttr>(index, kQParamAttrName);
  if (!dict)
    return std::nullopt;
  QParamInfo info;
  if (auto role = dict.getAs<StringAttr>(kQParamRoleKey))
    if (std::optional<QParamRole> parsed = symbolizeQParamRole(role))
      info.role = *parsed;
  if (auto layer = dict.getAs<StringAttr>(kQParamLayerKey))
    info.layer = layer.str();
  if (auto init = dict.getAs<StringAttr>(kQParamInitKey))
    info.init = init.str();
  if (auto bits = dict.getAs<IntegerAttr>(kQParamNumBitsKey))
    info.numBits = bits.getInt();
  return info;
}

DictionaryAttr QatDialect::getQParamInfoAttr(MLIRContext *ctx,
                                             const QParamInfo &info) {
  Builder b(ctx);
  SmallVector<NamedAttribute> entries = {
      b.getNamedAttr(kQParamRoleKey,
                     b.getStringAttr(stringifyQParamRole(info.role))),
      b.getNamedAttr(kQParamLayerKey, b.getStringAttr(info.layer))};
  if (!info.init.empty())
    entries.push_back(
        b.getNamedAttr(kQParamInitKey, b.getStringAttr(info.init)));
  if (info.numBits)
    entries.push_back(
        b.getNamedAttr(kQParamNumBitsKey, b.getI64IntegerAttr(*info.numBits)));
  return b.getDictionaryAttr(entries);
}

StringAttr QatDialect::getLayerName(Operation *op) {
  return op->getAttrOfType<StringAttr>(kLayerAttrName);
}

void QatDialect::setLayerName(Operation *op, StringRef name) {
  op->setAttr(kLayerAttrName, StringAttr::get(op->getContext(), name));
}

void QatDialect::setFrozenAttr(Operation *func) {
  func->setAttr(kFrozenAttrName, UnitAttr::get(func->getContext()));
}

void QatDialect::setFaithfulAttr(Operation *func) {
  func->setAttr(kFaithfulAttrName, UnitAttr::get(func->getContext()));
}

namespace {

/// What an op-level attribute must be (a phrase for messages) and whether
/// `value` is that; std::nullopt for a name that is no op attribute.
struct OpAttrCheck {
  StringRef expected;
  bool ok;
};
std::optional<OpAttrCheck> checkOpAttr(StringRef name, Attribute value) {
  auto string = dyn_cast<StringAttr>(value);
  return llvm::StringSwitch<std::optional<OpAttrCheck>>(name)
      .Case(QatDialect::kLayerAttrName,
            OpAttrCheck{"a non-empty string", string && !string.empty()})
      .Case(QatDialect::kScaleAttrName,
            OpAttrCheck{"a float", isa<FloatAttr>(value)})
      .Case(QatDialect::kMaskAttrName,
            OpAttrCheck{"an i1 elements attribute",
                        isa<DenseIntElementsAttr>(value) &&
                            cast<DenseIntElementsAttr>(value)
                                .getElementType()
                                .isInteger(1)})
      .Cases({QatDialect::kFrozenAttrName, QatDialect::kFaithfulAttrName,
              QatDialect::kUnpackCodesAttrName},
             OpAttrCheck{"a unit attribute", isa<UnitAttr>(value)})
      .Case(
          QatDialect::kInitQParamsForAttrName,
          OpAttrCheck{"a flat symbol reference", isa<FlatSymbolRefAttr>(value)})
      .Default(std::nullopt);
}

LogicalResult verifyNonEmptyString(Operation *op, NamedAttribute attr,
                                   StringRef where) {
  auto string = dyn_cast<StringAttr>(attr.getValue());
  if (!string || string.getValue().empty())
    return op->emitOpError("expected '")
           << attr.getName().getValue() << "' " << where
           << " to be a non-empty string, found " << attr.getValue();
  return success();
}

/// qat.qparam = {role = ..., layer = ..., init = ..., num_bits = ...}.
LogicalResult verifyQParamInfo(Operation *op, NamedAttribute attr,
                               StringRef where) {
  auto dict = dyn_cast<DictionaryAttr>(attr.getValue());
  auto fail = [&]() {
    return op->emitOpError("expected '")
           << QatDialect::kQParamAttrName << "' " << where << " to be ";
  };
  if (!dict)
    return fail() << "a dictionary, found " << attr.getValue();
  auto role = dict.getAs<StringAttr>(kQParamRoleKey);
  if (!role || !symbolizeQParamRole(role.getValue()))
    return fail() << "a dictionary whose 'role' is weight_scale, act_scale "
                     "or act_zero_point, found "
                  << dict;
  auto layer = dict.getAs<StringAttr>(kQParamLayerKey);
  if (!layer || layer.getValue().empty())
    return fail() << "a dictionary with a non-empty string 'layer', found "
                  << dict;
  if (Attribute init = dict.get(kQParamInitKey); init && !isa<StringAttr>(init))
    return fail() << "a dictionary whose 'init' is a string, found " << dict;
  if (Attribute bits = dict.get(kQParamNumBitsKey);
      bits && !isa<IntegerAttr>(bits))
    return fail() << "a dictionary whose 'num_bits' is an integer, found "
                  << dict;
  return success();
}

} // namespace

LogicalResult QatDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  std::optional<OpAttrCheck> check = checkOpAttr(name, attr.getValue());
  if (!check) {
    if (name == kNameAttrName || name == kRoleAttrName ||
        name == kQParamAttrName)
      return op->emitOpError("expected '")
             << name << "' on a function argument or result, not on an op";
    return op->emitOpError("unknown attribute '")
           << name << "'; the qat dialect defines qat.name, qat.role, "
           << "qat.qparam, qat.layer, qat.frozen, qat.faithful, "
           << "qat.init_qparams_for, qat.scale, qat.mask and "
           << "qat.unpack_codes";
  }
  if (!check->ok)
    return op->emitOpError("expected '")
           << name << "' to be " << check->expected << ", found "
           << attr.getValue();
  if ((name == kFrozenAttrName || name == kFaithfulAttrName ||
       name == kInitQParamsForAttrName) &&
      !isa<FunctionOpInterface>(op))
    return op->emitOpError("expected '") << name << "' on a function";
  if (name == kMaskAttrName) {
    auto fakeQuant = dyn_cast<FakeQuantOp>(op);
    auto maskType = cast<DenseIntElementsAttr>(attr.getValue()).getType();
    if (!fakeQuant)
      return op->emitOpError("expected '") << name << "' on a qat.fake_quant";
    if (cast<ShapedType>(fakeQuant.getInput().getType()).getShape() !=
        maskType.getShape())
      return op->emitOpError("expected '")
             << name << "' of the weight's shape "
             << fakeQuant.getInput().getType() << ", found " << maskType;
  }
  return success();
}

LogicalResult QatDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  std::string where = ("on argument " + Twine(argIndex)).str();
  if (name == kNameAttrName)
    return verifyNonEmptyString(op, attr, where);
  if (name == kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || !symbolizeArgRole(role.getValue()))
      return op->emitOpError("expected '")
             << name << "' " << where
             << " to be \"input\", \"parameter\" or \"qparam\", found "
             << attr.getValue();
    return success();
  }
  if (name == kQParamAttrName) {
    if (failed(verifyQParamInfo(op, attr, where)))
      return failure();
    auto func = dyn_cast<FunctionOpInterface>(op);
    if (func && getArgRole(func, argIndex) != ArgRole::QParam)
      return op->emitOpError("expected '")
             << kRoleAttrName << " = \"qparam\"' " << where << ", which has '"
             << name << "'";
    return success();
  }
  if (name == kValueAttrName) {
    auto value = dyn_cast<ElementsAttr>(attr.getValue());
    auto func = dyn_cast<FunctionOpInterface>(op);
    if (!value)
      return op->emitOpError("expected '")
             << name << "' " << where << " to be an elements attribute, found "
             << attr.getValue();
    if (func && argIndex < func.getNumArguments() &&
        value.getType() != func.getArgumentTypes()[argIndex])
      return op->emitOpError("expected '")
             << name << "' " << where << " of the argument's type "
             << func.getArgumentTypes()[argIndex] << ", found "
             << value.getType();
    if (func && getArgRole(func, argIndex) != ArgRole::Parameter)
      return op->emitOpError("expected '")
             << kRoleAttrName << " = \"parameter\"' " << where
             << ", which has '" << name << "'";
    return success();
  }
  return op->emitOpError("expected only qat.name, qat.role, qat.qparam and "
                         "qat.value on function arguments, found '")
         << name << "' " << where;
}

LogicalResult QatDialect::verifyRegionResultAttribute(Operation *op,
                                                      unsigned regionIndex,
                                                      unsigned resultIndex,
                                                      NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  std::string where = ("on result " + Twine(resultIndex)).str();
  if (name == kNameAttrName)
    return verifyNonEmptyString(op, attr, where);
  return op->emitOpError("expected only qat.name on function results, "
                         "found '")
         << name << "' " << where;
}
