//===- PackedInt4.cpp - Weights stored two codes per byte
//------------------===//
//
// Part of qat-mlir. The one builder of packed 4-bit constants and their
// run-time unpacking, shared by qat-convert-to-integer (weights) and
// qat-x86-vnni-matmul (its packed weight layout); the nibble arithmetic is
// quantmath::packNibbles / unpackNibbles.
//
//===----------------------------------------------------------------------===//

#include "qat/Utils/PackedInt4.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "qat/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qat;

static constexpr StringLiteral kUnpackMarker = QatDialect::kUnpackInt4AttrName;

Value mlir::qat::buildPackedInt4(ImplicitLocOpBuilder &b,
                                 ArrayRef<int8_t> codes,
                                 RankedTensorType codesType) {
  MLIRContext *ctx = b.getContext();
  Type i8 = b.getIntegerType(8);
  SmallVector<int64_t> packedShape(codesType.getShape());
  assert(packedShape.back() % 2 == 0 && "pairs along the last dimension");
  packedShape.back() /= 2;
  SmallVector<int8_t> packed(codes.size() / 2);
  quantmath::packNibbles(codes.data(), codes.size(), packed.data());
  Value bytes = arith::ConstantOp::create(
      b, DenseElementsAttr::get(RankedTensorType::get(packedShape, i8),
                                ArrayRef<int8_t>(packed)));

  // [..., n/2] -> [..., n/2, 2]: nibble h of each byte, moved to the top of
  // the byte (shift left by 4 for the low one) and shifted back
  // arithmetically, which sign-extends it.
  SmallVector<int64_t> pairShape(packedShape);
  pairShape.push_back(2);
  unsigned rank = pairShape.size();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  auto unpack = linalg::GenericOp::create(
      b, TypeRange{RankedTensorType::get(pairShape, i8)}, ValueRange{bytes},
      ValueRange{tensor::EmptyOp::create(b, pairShape, i8).getResult()},
      ArrayRef<AffineMap>{id.dropResult(rank - 1), id},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        Value half = arith::IndexCastOp::create(
            nested, loc, i8, linalg::IndexOp::create(nested, loc, rank - 1));
        Value four = arith::ConstantIntOp::create(nested, loc, 4, 8);
        Value up = arith::SubIOp::create(
            nested, loc, four, arith::MulIOp::create(nested, loc, half, four));
        Value top = arith::ShLIOp::create(nested, loc, args[0], up);
        linalg::YieldOp::create(
            nested, loc, Value(arith::ShRSIOp::create(nested, loc, top, four)));
      });
  unpack->setAttr(kUnpackMarker, UnitAttr::get(ctx));
  SmallVector<ReassociationIndices> groups;
  for (unsigned d = 0; d + 2 < rank; ++d)
    groups.push_back({d});
  groups.push_back({rank - 2, rank - 1});
  return tensor::CollapseShapeOp::create(b, codesType, unpack.getResult(0),
                                         groups);
}

/// The unpacking generic of buildPackedInt4 behind `value`, and its bytes.
static linalg::GenericOp getUnpack(Value value, DenseIntElementsAttr &bytes) {
  while (auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>())
    value = collapse.getSrc();
  auto unpack = value.getDefiningOp<linalg::GenericOp>();
  if (!unpack || !unpack->hasAttr(kUnpackMarker) ||
      !matchPattern(unpack.getDpsInputs()[0], m_Constant(&bytes)))
    return {};
  return unpack;
}

bool mlir::qat::isPackedInt4(Value value) {
  DenseIntElementsAttr bytes;
  return static_cast<bool>(getUnpack(value, bytes));
}

std::optional<SmallVector<int8_t>> mlir::qat::getPackedInt4Codes(Value value) {
  DenseIntElementsAttr bytes;
  if (!getUnpack(value, bytes))
    return std::nullopt;
  SmallVector<int8_t> packed;
  for (const APInt &v : bytes.getValues<APInt>())
    packed.push_back(static_cast<int8_t>(v.getSExtValue()));
  SmallVector<int8_t> codes(packed.size() * 2);
  quantmath::unpackNibbles(packed.data(), codes.size(), codes.data());
  return codes;
}
