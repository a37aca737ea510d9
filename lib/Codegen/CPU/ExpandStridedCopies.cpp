//===- ExpandStridedCopies.cpp - qat-expand-strided-copies ----------------===//
//
// Part of qat-mlir. Copies between strided memrefs as loops of vector
// copies (or linalg.copy), never a call into MLIR's runner library.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"

#include "RowLoops.h"
#include "VectorWidth.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_EXPANDSTRIDEDCOPIES
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// LLVM lowering uses memcpy exactly when both sides have the identity layout.
bool isContiguous(Value memref) {
  auto type = dyn_cast<MemRefType>(memref.getType());
  return type && type.getLayout().isIdentity();
}

/// The first of the trailing dimensions that are contiguous in every one of
/// `types` (static shapes and strides), or std::nullopt when the innermost
/// stride is not 1 in all of them.
std::optional<int64_t> contiguousSuffix(ArrayRef<MemRefType> types) {
  ArrayRef<int64_t> shape = types.front().getShape();
  int64_t first = 0;
  for (MemRefType type : types) {
    SmallVector<int64_t> strides;
    int64_t offset;
    if (!type.hasStaticShape() ||
        failed(type.getStridesAndOffset(strides, offset)) ||
        llvm::any_of(strides, ShapedType::isDynamic) || strides.back() != 1)
      return std::nullopt;
    int64_t d = shape.size() - 1;
    while (d > 0 && strides[d - 1] == strides[d] * shape[d])
      --d;
    first = std::max(first, d);
  }
  return first;
}

} // namespace

LogicalResult mlir::qat::expandStridedCopy(RewriterBase &rewriter,
                                           memref::CopyOp copy,
                                           bool vectorize) {
  Value source = copy.getSource(), target = copy.getTarget();
  if (isContiguous(source) && isContiguous(target))
    return rewriter.notifyMatchFailure(copy, "a memcpy already");
  rewriter.setInsertionPoint(copy);
  auto sourceType = dyn_cast<MemRefType>(source.getType());
  auto targetType = dyn_cast<MemRefType>(target.getType());
  std::optional<int64_t> suffix;
  if (vectorize && sourceType && targetType &&
      sourceType.getElementType().isIntOrFloat() &&
      sourceType.getElementTypeBitWidth() % 8 == 0)
    suffix = contiguousSuffix({sourceType, targetType});
  ArrayRef<int64_t> shape =
      sourceType ? sourceType.getShape() : ArrayRef<int64_t>();
  int64_t row = 1;
  if (suffix)
    for (int64_t size : shape.drop_front(*suffix))
      row *= size;
  int64_t elementBytes = suffix ? sourceType.getElementTypeBitWidth() / 8 : 1;
  if (!suffix || row * elementBytes < 16) {
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, source, target);
    return success();
  }
  // Rows of the contiguous trailing dimensions, copied a vector at a time
  // (the last vector shorter), in loops over the other dimensions.
  ImplicitLocOpBuilder b(copy.getLoc(), rewriter);
  SmallVector<ReassociationIndices> groups;
  for (int64_t d = 0; d < *suffix; ++d)
    groups.push_back({d});
  ReassociationIndices tail;
  for (int64_t d = *suffix; d < static_cast<int64_t>(shape.size()); ++d)
    tail.push_back(d);
  groups.push_back(tail);
  // The trailing dimensions as one: the outer sizes and strides, then the
  // row with stride 1.
  auto collapsed = [&](MemRefType type) -> MemRefType {
    SmallVector<int64_t> sizes(shape.take_front(*suffix));
    sizes.push_back(row);
    if (type.getLayout().isIdentity())
      return MemRefType::get(sizes, type.getElementType());
    SmallVector<int64_t> strides;
    int64_t offset;
    (void)type.getStridesAndOffset(strides, offset);
    strides.resize(*suffix);
    strides.push_back(1);
    return MemRefType::get(
        sizes, type.getElementType(),
        StridedLayoutAttr::get(type.getContext(), offset, strides),
        type.getMemorySpace());
  };
  Value from =
      memref::CollapseShapeOp::create(b, collapsed(sourceType), source, groups);
  Value to =
      memref::CollapseShapeOp::create(b, collapsed(targetType), target, groups);
  Type element = sourceType.getElementType();
  int64_t width = std::min(row, kVectorBytes / elementBytes);
  buildRowLoops(b, shape.take_front(*suffix), row, width, /*inits=*/{},
                [&](ImplicitLocOpBuilder &ib, ArrayRef<Value> ivs, Value column,
                    int64_t size, ValueRange) -> SmallVector<Value> {
                  SmallVector<Value> indices(ivs);
                  indices.push_back(column);
                  Value padding =
                      arith::ConstantOp::create(ib, ib.getZeroAttr(element));
                  Value data = vector::TransferReadOp::create(
                      ib, VectorType::get({size}, element), from, indices,
                      padding, ArrayRef<bool>{true});
                  vector::TransferWriteOp::create(ib, data, to, indices,
                                                  ArrayRef<bool>{true});
                  return {};
                });
  rewriter.eraseOp(copy);
  return success();
}

namespace {

struct ExpandStridedCopiesPass
    : mlir::qat::impl::ExpandStridedCopiesBase<ExpandStridedCopiesPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      if (!isContiguous(copy.getSource()) || !isContiguous(copy.getTarget()))
        copies.push_back(copy);
    });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp copy : copies)
      (void)expandStridedCopy(rewriter, copy, vectorize);
  }
};

} // namespace
