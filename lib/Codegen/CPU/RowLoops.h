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

/// `chunk(builder, ivs, column, size, iter)` handles the elements
/// [column, column + size) of the row at the outer indices `ivs`; it returns
/// the updated `iter` (a tensor the loops thread), or a null value when the
/// loops thread none.
using RowChunkFn = function_ref<Value(ImplicitLocOpBuilder &, ArrayRef<Value>,
                                      Value column, int64_t size, Value iter)>;

/// scf.for loops over the dimensions `outer` (outermost first), and in
/// them the row of `row` elements in chunks of `width` (a loop), then the
/// rest (one shorter chunk). With a non-null `init`, the loops thread it
/// and the result is its final value; without, they thread nothing and the
/// result is null.
inline Value buildRowLoops(ImplicitLocOpBuilder &b, ArrayRef<int64_t> outer,
                           int64_t row, int64_t width, Value init,
                           RowChunkFn chunk) {
  SmallVector<Value> ivs;
  auto loop = [&](ImplicitLocOpBuilder &lb, int64_t upper, int64_t step,
                  Value iter,
                  function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> fn)
      -> Value {
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(lb, v);
    };
    auto forOp = scf::ForOp::create(
        lb, index(0), index(upper), index(step),
        iter ? ValueRange{iter} : ValueRange{},
        [&](OpBuilder &nested, Location l, Value iv, ValueRange args) {
          ImplicitLocOpBuilder ib(l, nested);
          Value updated = fn(ib, iv, args.empty() ? Value() : args[0]);
          scf::YieldOp::create(ib, updated ? ValueRange{updated}
                                           : ValueRange{});
        });
    return iter ? forOp.getResult(0) : Value();
  };
  std::function<Value(ImplicitLocOpBuilder &, Value)> nest =
      [&](ImplicitLocOpBuilder &lb, Value iter) -> Value {
    if (ivs.size() == outer.size()) {
      int64_t full = row - row % width;
      if (full > 0)
        iter = loop(lb, full, width, iter,
                    [&](ImplicitLocOpBuilder &ib, Value column, Value it) {
                      return chunk(ib, ivs, column, width, it);
                    });
      if (full < row)
        iter = chunk(lb, ivs, arith::ConstantIndexOp::create(lb, full),
                     row - full, iter);
      return iter;
    }
    return loop(lb, outer[ivs.size()], 1, iter,
                [&](ImplicitLocOpBuilder &ib, Value iv, Value it) {
                  ivs.push_back(iv);
                  Value updated = nest(ib, it);
                  ivs.pop_back();
                  return updated;
                });
  };
  return nest(b, init);
}

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_ROWLOOPS_H
