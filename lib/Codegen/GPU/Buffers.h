//===- Buffers.h - Buffers behind views and globals (internal) --*- C++ -*-===//
//
// Part of qat-mlir. What the GPU passes ask of a memref value: the buffer it
// views, and the global a memref.get_global names.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CODEGEN_GPU_BUFFERS_H
#define QAT_LIB_CODEGEN_GPU_BUFFERS_H

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::qat {

/// The buffer `value` views (through subviews, reshapes, casts).
inline Value getRootBuffer(Value value) {
  while (auto view = value.getDefiningOp<ViewLikeOpInterface>())
    value = view.getViewSource();
  return value;
}

/// The global `getGlobal` names, or null.
inline memref::GlobalOp getGlobalOf(memref::GetGlobalOp getGlobal) {
  return SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
      getGlobal, getGlobal.getNameAttr());
}

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_GPU_BUFFERS_H
