//===- PackedCodes.cpp - Weights stored several codes per byte -----------===//
//
// Part of qat-mlir. The one builder of packed 2- and 4-bit constants and
// their run-time unpacking, shared by qat-convert-to-integer (weights) and
// qat-x86-vnni-matmul (its packed weight layout); the bit arithmetic is
// quantmath::packCodes / unpackCodes.
//
//===----------------------------------------------------------------------===//

#include "qat/Utils/PackedCodes.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"

#include "qat/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qat;

static constexpr StringLiteral kUnpackMarker = QatDialect::kUnpackCodesAttrName;

unsigned mlir::qat::choosePackedBits(int64_t qmin, int64_t qmax,
                                     int64_t count) {
  for (unsigned bits : {2u, 4u}) {
    int64_t half = int64_t{1} << (bits - 1);
    if (qmin >= -half && qmax < half && count % (8 / bits) == 0)
      return bits;
  }
  return 0;
}

Value mlir::qat::buildPackedCodes(ImplicitLocOpBuilder &b,
                                  ArrayRef<int8_t> codes,
                                  RankedTensorType codesType, unsigned bits) {
  assert((bits == 2 || bits == 4) && "2- or 4-bit codes");
  MLIRContext *ctx = b.getContext();
  Type i8 = b.getIntegerType(8);
  int64_t perByte = 8 / bits;
  int64_t count = codesType.getNumElements();
  assert(static_cast<int64_t>(codes.size()) == count && count % perByte == 0 &&
         "whole bytes");
  SmallVector<int8_t> packed(count / perByte);
  quantmath::packCodes(codes.data(), count, bits, packed.data());
  Value bytes = arith::ConstantOp::create(
      b, DenseElementsAttr::get(RankedTensorType::get({count / perByte}, i8),
                                ArrayRef<int8_t>(packed)));

  // The codes in row-major order, whatever the shape: [c/p] -> [c/p, p],
  // code h of each byte (bits h*w .. h*w+w-1, the first code lowest) moved
  // to the top of the byte by a left shift of 8 - w - h*w and shifted back
  // arithmetically by 8 - w, which sign-extends it.
  SmallVector<int64_t> groupShape = {count / perByte, perByte};
  unsigned rank = groupShape.size();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  auto unpack = linalg::GenericOp::create(
      b, TypeRange{RankedTensorType::get(groupShape, i8)}, ValueRange{bytes},
      ValueRange{tensor::EmptyOp::create(b, groupShape, i8).getResult()},
      ArrayRef<AffineMap>{id.dropResult(rank - 1), id},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        Value index = arith::IndexCastOp::create(
            nested, loc, i8, linalg::IndexOp::create(nested, loc, rank - 1));
        Value width = arith::ConstantIntOp::create(nested, loc, bits, 8);
        Value rest = arith::ConstantIntOp::create(nested, loc, 8 - bits, 8);
        Value up = arith::SubIOp::create(
            nested, loc, rest,
            arith::MulIOp::create(nested, loc, index, width));
        Value top = arith::ShLIOp::create(nested, loc, args[0], up);
        linalg::YieldOp::create(
            nested, loc, Value(arith::ShRSIOp::create(nested, loc, top, rest)));
      });
  unpack->setAttr(kUnpackMarker, UnitAttr::get(ctx));
  Value flat = tensor::CollapseShapeOp::create(
      b, RankedTensorType::get({count}, i8), unpack.getResult(0),
      SmallVector<ReassociationIndices>{{0, 1}});
  if (codesType.getRank() == 1)
    return flat;
  ReassociationIndices all;
  for (int64_t d = 0; d < codesType.getRank(); ++d)
    all.push_back(d);
  return tensor::ExpandShapeOp::create(b, codesType, flat,
                                       SmallVector<ReassociationIndices>{all});
}

/// The unpacking generic of buildPackedCodes behind `value` (through
/// reshapes, which keep the row-major order), and its bytes.
static linalg::GenericOp getUnpack(Value value, DenseIntElementsAttr &bytes) {
  while (isa_and_nonnull<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(
      value.getDefiningOp()))
    value = value.getDefiningOp()->getOperand(0);
  auto unpack = value.getDefiningOp<linalg::GenericOp>();
  if (!unpack || !unpack->hasAttr(kUnpackMarker) ||
      !matchPattern(unpack.getDpsInputs()[0], m_Constant(&bytes)))
    return {};
  return unpack;
}

bool mlir::qat::isPackedCodes(Value value) {
  DenseIntElementsAttr bytes;
  return static_cast<bool>(getUnpack(value, bytes));
}

std::optional<PackedCodes> mlir::qat::getPackedCodes(Value value) {
  DenseIntElementsAttr bytes;
  linalg::GenericOp unpack = getUnpack(value, bytes);
  if (!unpack)
    return std::nullopt;
  // The unpacked shape ends in the codes per byte.
  int64_t perByte =
      cast<RankedTensorType>(unpack.getResult(0).getType()).getShape().back();
  if (perByte != 2 && perByte != 4)
    return std::nullopt;
  SmallVector<int8_t> packed;
  for (const APInt &v : bytes.getValues<APInt>())
    packed.push_back(static_cast<int8_t>(v.getSExtValue()));
  PackedCodes result{SmallVector<int8_t>(packed.size() * perByte),
                     static_cast<unsigned>(8 / perByte)};
  quantmath::unpackCodes(packed.data(), result.codes.size(), result.bits,
                         result.codes.data());
  return result;
}
