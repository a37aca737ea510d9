//===- QatDialect.cpp - The qat dialect -----------------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
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
