//===- RowLoops.h - Loops over rows, each in vector chunks ------*- C++ -*-===//
//
// Part of qat-mlir. Used by qat-vectorize-rows (on tensors) and
// qat-expand-strided-copies (on memrefs).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CODEGEN_CPU_ROWLOOPS_H
#define QAT_LIB_CODEGEN_CPU_ROWLOOPS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>

namespace mlir::qat {

/// `chunk(builder, ivs, column, size, iters)` handles the elements
/// [column, column + size) of the row at the outer indices `ivs`; it returns
/// the updated `iters` (the tensors the loops thread, possibly none).
using RowChunkFn = function_ref<SmallVector<Value>(
    ImplicitLocOpBuilder &, ArrayRef<Value>, Value column, int64_t size,
    ValueRange iters)>;

/// scf.for loops over the dimensions `outer` (outermost first), and in
/// them the row of `row` elements in chunks of `width` (a loop), then the
/// rest (one shorter chunk). The loops thread `inits` (possibly none); the
/// result is their final values.
inline SmallVector<Value> buildRowLoops(ImplicitLocOpBuilder &b,
                                        ArrayRef<int64_t> outer, int64_t row,
                                        int64_t width, ValueRange inits,
                                        RowChunkFn chunk) {
  using Values = SmallVector<Value>;
  SmallVector<Value> ivs;
  auto loop =
      [&](ImplicitLocOpBuilder &lb, int64_t upper, int64_t step,
          ValueRange iters,
          function_ref<Values(ImplicitLocOpBuilder &, Value, ValueRange)> fn)
      -> Values {
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(lb, v);
    };
    auto forOp = scf::ForOp::create(
        lb, index(0), index(upper), index(step), iters,
        [&](OpBuilder &nested, Location l, Value iv, ValueRange args) {
          ImplicitLocOpBuilder ib(l, nested);
          scf::YieldOp::create(ib, fn(ib, iv, args));
        });
    return Values(forOp.getResults());
  };
  std::function<Values(ImplicitLocOpBuilder &, ValueRange)> nest =
      [&](ImplicitLocOpBuilder &lb, ValueRange iters) -> Values {
    Values current = llvm::to_vector(iters);
    if (ivs.size() == outer.size()) {
      int64_t full = row - row % width;
      if (full > 0)
        current =
            loop(lb, full, width, current,
                 [&](ImplicitLocOpBuilder &ib, Value column, ValueRange its) {
                   return chunk(ib, ivs, column, width, its);
                 });
      if (full < row)
        current = chunk(lb, ivs, arith::ConstantIndexOp::create(lb, full),
                        row - full, current);
      return current;
    }
    return loop(lb, outer[ivs.size()], 1, current,
                [&](ImplicitLocOpBuilder &ib, Value iv, ValueRange its) {
                  ivs.push_back(iv);
                  Values updated = nest(ib, its);
                  ivs.pop_back();
                  return updated;
                });
  };
  return nest(b, inits);
}

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_ROWLOOPS_H
