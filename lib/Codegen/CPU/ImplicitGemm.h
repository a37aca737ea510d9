//===- ImplicitGemm.h - A matmul's A read from a gather's input -*- C++ -*-===//
//
// Part of qat-mlir. Used by qat-vectorize-matmul and qat-x86-vnni-matmul:
// when A is a patch matrix that a copying gather writes (im2col), the
// kernels read each element where the gather would have copied it from.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CODEGEN_CPU_IMPLICITGEMM_H
#define QAT_LIB_CODEGEN_CPU_IMPLICITGEMM_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace mlir::qat {

/// A that a gather computes (a PatchMatrix), read straight from the
/// gather's input: element (i, k) of A sits
/// at rowOffset(i) + columnOffset(k) of the input flattened, both linear in
/// the gather's indices. Each group of `group` consecutive k is contiguous
/// there (the innermost column index runs over the input's innermost
/// dimension, a multiple of `group` long), so a kernel reads the group at
/// rowOffset(i) + groupOffsets[k / group]: an implicit GEMM, with no patch
/// matrix written or read.
struct GatheredA {
  Value input;                       // the gather's input (any rank, static)
  int64_t group = 1;                 // consecutive k read together
  AffineMap rowOffset;               // (i) -> offset of row i's first element
  SmallVector<int32_t> groupOffsets; // column offset of each group
  /// rowOffset without its divisions, when the rows delinearize to more
  /// than one dimension: rowOffset(i) = (i / imageRows) * imageStride +
  /// rowTable[i % imageRows], and rowTable runs on past imageRows (it is
  /// rowOffset itself) by a strip's rows, so that the rows r of a strip
  /// from i0 read rowTable[i0 % imageRows + r]. imageRows is 0 without a
  /// table.
  int64_t imageRows = 0, imageStride = 0;
  SmallVector<int32_t> rowTable;
};

/// A patch matrix: a collapse_shape into rows and columns of P, where P is
/// what a copying gather computes (an all-parallel linalg.generic that
/// copies its one input, at any indices, to its output: im2col) or the
/// transpose of that (linalg.transpose: a convolution's weight gradient
/// reads the patches transposed); each read by nothing else.
struct PatchMatrix {
  tensor::CollapseShapeOp collapse;
  linalg::TransposeOp transpose; // null when P is the gather's output
  linalg::GenericOp gather;
  /// Where P's element at indices (d0, ...) is in the gather's input.
  AffineMap inputMap;
};

/// `a` as a PatchMatrix, or nullopt.
std::optional<PatchMatrix> getPatchMatrix(Value a);

/// `a` as a GatheredA read in groups of `group` columns by kernels whose
/// strips have at most `stripRows` rows, when a copying gather that nothing
/// else reads computes it; nullopt otherwise.
std::optional<GatheredA> matchGatheredA(Value a, int64_t group,
                                        int64_t stripRows);

/// A GatheredA in a kernel: its input flattened, and its offsets as
/// constants, built once where the kernel starts.
class GatheredReader {
public:
  /// `input` is what the kernel reads in place of the gather's input: that
  /// input itself, or a value computed from it of the same shape.
  GatheredReader(ImplicitLocOpBuilder &b, const GatheredA &gathered,
                 Value input);

  /// Where each of the `rows` rows from aRow0 starts in the flattened
  /// input, once per strip: from the row table when there is one (no
  /// division but aRow0's by the image's rows), else from rowOffset.
  SmallVector<Value> rowBases(ImplicitLocOpBuilder &b, Value aRow0,
                              int64_t rows) const;

  /// The offset of column group `groupIndex` (k / group) from a row's base.
  Value columnOffset(ImplicitLocOpBuilder &b, Value groupIndex) const;

  /// The `type.getNumElements()` elements of A from the row at `rowBase`,
  /// starting at the column at `columnOffset`.
  Value read(ImplicitLocOpBuilder &b, VectorType type, Value rowBase,
             Value columnOffset) const;

  /// One element of A, as read().
  Value readElement(ImplicitLocOpBuilder &b, Value rowBase,
                    Value columnOffset) const;

private:
  AffineMap rowOffset;
  int64_t imageRows, imageStride;
  Value flatInput, groupOffsets, rowTable;
};

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_IMPLICITGEMM_H
