//===- ImplicitGemm.cpp - A matmul's A read from a gather's input ---------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "ImplicitGemm.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The largest rowTable built: 64 KiB, a 128x128 output image.
constexpr int64_t kMaxRowTable = 16384;

/// Whether `expr` is a sum of dimensions times constants (no division,
/// modulo or symbol).
bool isLinear(AffineExpr expr) {
  bool linear = true;
  expr.walk([&](AffineExpr e) {
    if (auto binary = dyn_cast<AffineBinaryOpExpr>(e)) {
      if (e.getKind() == AffineExprKind::Mul)
        linear &= isa<AffineConstantExpr>(binary.getLHS()) ||
                  isa<AffineConstantExpr>(binary.getRHS());
      else if (e.getKind() != AffineExprKind::Add)
        linear = false;
    } else if (isa<AffineSymbolExpr>(e)) {
      linear = false;
    }
  });
  return linear;
}

/// The offset in `type` (row-major) of the element the indexing map `map`
/// gives, as one affine expression of the map's dimensions.
AffineExpr linearOffset(AffineMap map, RankedTensorType type) {
  AffineExpr offset = getAffineConstantExpr(0, map.getContext());
  for (auto [result, size] : llvm::zip(map.getResults(), type.getShape()))
    offset = offset * size + result;
  return offset;
}

/// `offset` (linear in dims [first, first + sizes.size())) at the index
/// that delinearizes to those dims, as a map of that one index.
AffineMap delinearized(AffineExpr offset, unsigned numDims, unsigned first,
                       ArrayRef<int64_t> sizes) {
  MLIRContext *ctx = offset.getContext();
  AffineExpr index = getAffineDimExpr(0, ctx);
  SmallVector<AffineExpr> replacements(numDims, getAffineConstantExpr(0, ctx));
  int64_t stride = 1;
  for (int64_t d = sizes.size() - 1; d >= 0; --d) {
    replacements[first + d] = index.floorDiv(stride) % sizes[d];
    stride *= sizes[d];
  }
  return AffineMap::get(1, 0, offset.replaceDims(replacements));
}

Value constantInt32s(ImplicitLocOpBuilder &b, ArrayRef<int32_t> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getI32Type());
  return arith::ConstantOp::create(b, DenseElementsAttr::get(type, values));
}

/// An int32 element of a 1-D tensor, as an index.
Value loadIndex(ImplicitLocOpBuilder &b, Value tensor, Value position) {
  return arith::IndexCastOp::create(
      b, b.getIndexType(),
      tensor::ExtractOp::create(b, tensor, ValueRange{position}));
}

Value addConstant(ImplicitLocOpBuilder &b, Value x, int64_t v) {
  return v == 0
             ? x
             : arith::AddIOp::create(b, x, arith::ConstantIndexOp::create(b, v))
                   .getResult();
}

} // namespace

std::optional<PatchMatrix> mlir::qat::getPatchMatrix(Value a) {
  auto collapse = a.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || !a.hasOneUse() ||
      collapse.getReassociationIndices().size() != 2 ||
      !collapse.getSrc().hasOneUse())
    return std::nullopt;
  PatchMatrix patches;
  patches.collapse = collapse;
  Value gathered = collapse.getSrc();
  patches.transpose = gathered.getDefiningOp<linalg::TransposeOp>();
  if (patches.transpose) {
    gathered = patches.transpose.getInput();
    if (!gathered.hasOneUse())
      return std::nullopt;
  }
  auto gather = gathered.getDefiningOp<linalg::GenericOp>();
  if (!gather || gather.getNumDpsInputs() != 1 ||
      gather->getNumResults() != 1 ||
      gather.getNumParallelLoops() != gather.getNumLoops() ||
      !gather.getMatchingIndexingMap(gather.getDpsInitOperand(0)).isIdentity())
    return std::nullopt;
  Block &body = gather.getRegion().front();
  if (!body.without_terminator().empty() ||
      body.getTerminator()->getOperand(0) != body.getArgument(0))
    return std::nullopt;
  patches.gather = gather;
  patches.inputMap =
      gather.getMatchingIndexingMap(gather.getDpsInputOperand(0));
  if (patches.transpose) {
    // Element o of the transpose is element x of the gather's output, with
    // x[permutation[i]] = o[i].
    ArrayRef<int64_t> permutation = patches.transpose.getPermutation();
    SmallVector<unsigned> inverse(permutation.size());
    for (auto [i, p] : llvm::enumerate(permutation))
      inverse[p] = i;
    patches.inputMap = patches.inputMap.compose(
        AffineMap::getPermutationMap(inverse, a.getContext()));
  }
  return patches;
}

std::optional<GatheredA> mlir::qat::matchGatheredA(Value a, int64_t group,
                                                   int64_t stripRows) {
  std::optional<PatchMatrix> patches = getPatchMatrix(a);
  if (!patches)
    return std::nullopt;
  SmallVector<ReassociationIndices> groups =
      patches->collapse.getReassociationIndices();
  linalg::GenericOp gather = patches->gather;
  Value input = gather.getDpsInputs()[0];
  auto inputType = dyn_cast<RankedTensorType>(input.getType());
  AffineMap map = patches->inputMap;
  if (!inputType || !inputType.hasStaticShape() ||
      !llvm::all_of(map.getResults(), isLinear))
    return std::nullopt;
  SmallVector<int64_t> sizes(patches->collapse.getSrcType().getShape());
  unsigned numDims = sizes.size(), firstColumn = groups[1].front();
  AffineExpr offset = linearOffset(map, inputType);
  // The innermost index moves through memory one element at a time, over
  // a multiple of the group: groups of columns are contiguous.
  AffineMap offsetMap = AffineMap::get(numDims, 0, offset);
  SmallVector<int64_t> origin(numDims, 0), next(numDims, 0);
  next.back() = 1;
  if (sizes.back() % group != 0 ||
      (group > 1 &&
       offsetMap.compose(next).front() - offsetMap.compose(origin).front() !=
           1))
    return std::nullopt;
  ArrayRef<int64_t> rowSizes = ArrayRef<int64_t>(sizes).take_front(firstColumn);
  ArrayRef<int64_t> columnSizes =
      ArrayRef<int64_t>(sizes).drop_front(firstColumn);
  GatheredA gathered;
  gathered.input = input;
  gathered.group = group;
  gathered.rowOffset = delinearized(offset, numDims, 0, rowSizes);
  int64_t imageRows = 1;
  for (int64_t size : rowSizes.drop_front())
    imageRows *= size;
  if (rowSizes.size() > 1 && imageRows + stripRows - 1 <= kMaxRowTable) {
    SmallVector<int64_t> nextImage(numDims, 0);
    nextImage.front() = 1;
    int64_t stride = offsetMap.compose(nextImage).front() -
                     offsetMap.compose(origin).front();
    SmallVector<int32_t> table;
    for (int64_t q = 0; q < imageRows + stripRows - 1; ++q) {
      int64_t value =
          q / imageRows * stride +
          gathered.rowOffset.compose(ArrayRef<int64_t>{q % imageRows}).front();
      if (value > std::numeric_limits<int32_t>::max())
        break;
      table.push_back(static_cast<int32_t>(value));
    }
    if (static_cast<int64_t>(table.size()) == imageRows + stripRows - 1) {
      gathered.imageRows = imageRows;
      gathered.imageStride = stride;
      gathered.rowTable = std::move(table);
    }
  }
  // Column offsets without the rows' part (the row dims at 0).
  AffineMap columns = delinearized(offset, numDims, firstColumn, columnSizes);
  int64_t k = 1;
  for (int64_t size : columnSizes)
    k *= size;
  for (int64_t c = 0; c < k; c += group) {
    SmallVector<int64_t> value = columns.compose(ArrayRef<int64_t>{c});
    if (value.front() > std::numeric_limits<int32_t>::max())
      return std::nullopt;
    gathered.groupOffsets.push_back(static_cast<int32_t>(value.front()));
  }
  return gathered;
}

GatheredReader::GatheredReader(ImplicitLocOpBuilder &b,
                               const GatheredA &gathered, Value input)
    : rowOffset(gathered.rowOffset), imageRows(gathered.imageRows),
      imageStride(gathered.imageStride) {
  auto type = cast<RankedTensorType>(input.getType());
  ReassociationIndices all;
  for (unsigned d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  flatInput = tensor::CollapseShapeOp::create(
      b, RankedTensorType::get({type.getNumElements()}, type.getElementType()),
      input, ArrayRef<ReassociationIndices>{all});
  groupOffsets = constantInt32s(b, gathered.groupOffsets);
  if (!gathered.rowTable.empty())
    rowTable = constantInt32s(b, gathered.rowTable);
}

SmallVector<Value> GatheredReader::rowBases(ImplicitLocOpBuilder &b,
                                            Value aRow0, int64_t rows) const {
  SmallVector<Value> bases;
  if (!rowTable) {
    for (int64_t r = 0; r < rows; ++r)
      bases.push_back(affine::AffineApplyOp::create(
          b, rowOffset, ValueRange{addConstant(b, aRow0, r)}));
    return bases;
  }
  Value rowsPerImage = arith::ConstantIndexOp::create(b, imageRows);
  Value image = arith::DivUIOp::create(b, aRow0, rowsPerImage);
  Value first = arith::RemUIOp::create(b, aRow0, rowsPerImage);
  Value imageBase = arith::MulIOp::create(
      b, image, arith::ConstantIndexOp::create(b, imageStride));
  for (int64_t r = 0; r < rows; ++r)
    bases.push_back(arith::AddIOp::create(
        b, imageBase, loadIndex(b, rowTable, addConstant(b, first, r))));
  return bases;
}

Value GatheredReader::columnOffset(ImplicitLocOpBuilder &b,
                                   Value groupIndex) const {
  return loadIndex(b, groupOffsets, groupIndex);
}

Value GatheredReader::read(ImplicitLocOpBuilder &b, VectorType type,
                           Value rowBase, Value columnOffset) const {
  Value padding =
      arith::ConstantOp::create(b, b.getZeroAttr(type.getElementType()));
  return vector::TransferReadOp::create(
      b, type, flatInput,
      ValueRange{arith::AddIOp::create(b, rowBase, columnOffset)}, padding,
      ArrayRef<bool>{true});
}

Value GatheredReader::readElement(ImplicitLocOpBuilder &b, Value rowBase,
                                  Value columnOffset) const {
  return tensor::ExtractOp::create(
      b, flatInput,
      ValueRange{arith::AddIOp::create(b, rowBase, columnOffset)});
}
