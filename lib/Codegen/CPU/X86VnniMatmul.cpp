//===- X86VnniMatmul.cpp - qat-x86-vnni-matmul
//-----------------------------===//
//
// Part of qat-mlir. Rewrites int8 x int8 -> int32 matmuls into AVX-512 VNNI
// code: vpdpbusd multiplies 64 unsigned bytes by 64 signed bytes and adds
// groups of four products into 16 int32 lanes. The dot product is emitted as
// plain vector arithmetic (buildDotProduct), which qat-x86-lower-vnni-dot
// turns into the instruction after bufferization. The signed A is made unsigned
// by adding 128 (a xor 0x80 per byte), which adds 128 * colsum(B)[j] to every
// C[i][j]; the accumulators start at C - 128 * colsum(B) to cancel it. B is
// packed so that each 64-byte vector holds 4 consecutive k of 16 columns.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Utils/PackedInt4.h"

#include "MatmulKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qat {
#define GEN_PASS_DEF_X86VNNIMATMUL
#include "qat/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

constexpr int64_t kLanes = 16;  // int32 lanes of a zmm register
constexpr int64_t kGroup = 4;   // bytes summed per lane by vpdpbusd
constexpr int64_t kRows = 8;    // rows of a register block
constexpr int64_t kVectors = 2; // 16-column vectors of a register block

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// B[K][N] packed to [ceil(N/16)][ceil(K/4)][64] (zero padded), and the
/// correction -128 * colsum(B) as [ceil(N/16) * 16] int32.
struct PackedB {
  Value packed;
  Value correction;
};

/// The value of a constant matrix, also through a collapse_shape (a
/// convolution filter seen as a matrix).
DenseIntElementsAttr getConstantMatrix(Value matrix) {
  DenseIntElementsAttr value;
  if (matchPattern(matrix, m_Constant(&value)))
    return value;
  auto collapse = matrix.getDefiningOp<tensor::CollapseShapeOp>();
  if (collapse && matchPattern(collapse.getSrc(), m_Constant(&value)))
    return cast<DenseIntElementsAttr>(
        value.reshape(cast<ShapedType>(matrix.getType())));
  return {};
}

/// Packs a constant B ([k][n] row-major codes) at compile time. Codes that
/// came packed two per byte stay that way: the packed layout is stored as
/// nibbles too and unpacked at run time, straight into that layout.
PackedB packConstant(ImplicitLocOpBuilder &b, ArrayRef<int8_t> source,
                     int64_t k, int64_t n, bool nibbles) {
  int64_t nb = ceilDiv(n, kLanes), kb = ceilDiv(k, kGroup);
  std::vector<int8_t> packed(nb * kb * kLanes * kGroup, 0);
  std::vector<int32_t> correction(nb * kLanes, 0);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t j = 0; j < n; ++j) {
      int8_t v = source[kk * n + j];
      int64_t index = ((j / kLanes) * kb + kk / kGroup) * kLanes * kGroup +
                      (j % kLanes) * kGroup + kk % kGroup;
      packed[index] = v;
      correction[j] -= 128 * v;
    }
  auto packedType =
      RankedTensorType::get({nb, kb, kLanes * kGroup}, b.getI8Type());
  auto correctionType = RankedTensorType::get({nb * kLanes}, b.getI32Type());
  Value packedB = nibbles ? buildPackedInt4(b, packed, packedType)
                          : arith::ConstantOp::create(
                                b, DenseElementsAttr::get(
                                       packedType, ArrayRef<int8_t>(packed)));
  return {packedB, arith::ConstantOp::create(
                       b, DenseElementsAttr::get(
                              correctionType, ArrayRef<int32_t>(correction)))};
}

/// Packs B at run time: pad, gather into the packed layout, sum columns.
PackedB packAtRunTime(ImplicitLocOpBuilder &b, Value bMat, int64_t k,
                      int64_t n) {
  int64_t nb = ceilDiv(n, kLanes), kb = ceilDiv(k, kGroup);
  MLIRContext *ctx = b.getContext();
  Value zero8 = arith::ConstantIntOp::create(b, 0, 8);
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> high = {b.getIndexAttr(kb * kGroup - k),
                                    b.getIndexAttr(nb * kLanes - n)};
  auto paddedType =
      RankedTensorType::get({kb * kGroup, nb * kLanes}, b.getI8Type());
  Value padded = tensor::PadOp::create(b, paddedType, bMat, low, high, zero8);

  // packed[jb][kq][t] = padded[4 * kq + t mod 4][16 * jb + t floordiv 4]
  AffineExpr jb, kq, t;
  bindDims(ctx, jb, kq, t);
  auto gather = AffineMap::get(
      3, 0, {kq * kGroup + t % kGroup, jb * kLanes + t.floorDiv(kGroup)}, ctx);
  auto packedType =
      RankedTensorType::get({nb, kb, kLanes * kGroup}, b.getI8Type());
  Value packedInit =
      tensor::EmptyOp::create(b, packedType.getShape(), b.getI8Type());
  Value packed =
      linalg::GenericOp::create(
          b, TypeRange{packedType}, ValueRange{padded}, ValueRange{packedInit},
          ArrayRef<AffineMap>{gather,
                              AffineMap::getMultiDimIdentityMap(3, ctx)},
          SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
          [](OpBuilder &nb, Location loc, ValueRange args) {
            linalg::YieldOp::create(nb, loc, args[0]);
          })
          .getResult(0);

  // correction[j] = -128 * sum_k padded[k][j]
  auto correctionType = RankedTensorType::get({nb * kLanes}, b.getI32Type());
  Value zero32 = arith::ConstantIntOp::create(b, 0, 32);
  Value init =
      linalg::FillOp::create(
          b, zero32,
          tensor::EmptyOp::create(b, correctionType.getShape(), b.getI32Type())
              .getResult())
          .getResult(0);
  AffineExpr r, c;
  bindDims(ctx, r, c);
  Value correction =
      linalg::GenericOp::create(
          b, TypeRange{correctionType}, ValueRange{padded}, ValueRange{init},
          ArrayRef<AffineMap>{AffineMap::get(2, 0, {r, c}, ctx),
                              AffineMap::get(2, 0, {c}, ctx)},
          {utils::IteratorType::reduction, utils::IteratorType::parallel},
          [](OpBuilder &nb, Location loc, ValueRange args) {
            ImplicitLocOpBuilder ib(loc, nb);
            Value wide = arith::ExtSIOp::create(ib, ib.getI32Type(), args[0]);
            Value scaled = arith::MulIOp::create(
                ib, wide, arith::ConstantIntOp::create(ib, -128, 32));
            linalg::YieldOp::create(
                ib, ValueRange{arith::AddIOp::create(ib, args[1], scaled)});
          })
          .getResult(0);
  return {packed, correction};
}

} // namespace

Value mlir::qat::buildDotProduct(ImplicitLocOpBuilder &b, Value acc,
                                 Value unsignedBytes, Value signedBytes) {
  auto groups = VectorType::get({kLanes, kGroup}, b.getI8Type());
  auto wide = VectorType::get({kLanes, kGroup}, b.getI32Type());
  Value lhs = arith::ExtUIOp::create(
      b, wide, vector::ShapeCastOp::create(b, groups, unsignedBytes));
  Value rhs = arith::ExtSIOp::create(
      b, wide, vector::ShapeCastOp::create(b, groups, signedBytes));
  Value products = arith::MulIOp::create(b, lhs, rhs);
  return vector::MultiDimReductionOp::create(b, products, acc,
                                             ArrayRef<bool>{false, true},
                                             vector::CombiningKind::ADD);
}

namespace {

class VnniBuilder {
public:
  VnniBuilder(ImplicitLocOpBuilder &b, Value a, PackedB packedB, Value cStart,
              int64_t k, int64_t n, std::optional<Epilogue> epilogue)
      : b(b), a(a), cStart(cStart), packedB(packedB), k(k), n(n),
        epilogue(epilogue), accType(VectorType::get({kLanes}, b.getI32Type())),
        bytesType(VectorType::get({kLanes * kGroup}, b.getI8Type())),
        groupType(VectorType::get({kGroup}, b.getI8Type())) {
    zero8 = arith::ConstantIntOp::create(b, 0, 8);
    zero32 = arith::ConstantIntOp::create(b, 0, 32);
    biasA();
  }

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, v); }

  /// `rows` rows of C (A rows from aRow0, C rows from cRow0 of `c`): panels
  /// of kVectors 16-column vectors, then a last single-vector panel.
  Value strip(ImplicitLocOpBuilder &sb, Value c, Value aRow0, Value cRow0,
              int64_t rows) {
    int64_t nb = ceilDiv(n, kLanes);
    int64_t fullPanels = nb - nb % kVectors;
    auto panels = [&](int64_t first, int64_t last, int64_t vectors, Value c) {
      return updateInLoop(sb, c, first, last, vectors,
                          [&](ImplicitLocOpBuilder &jb, Value c, Value jv) {
                            return block(jb, c, aRow0, cRow0, jv, vectors,
                                         rows);
                          });
    };
    return panels(fullPanels, nb, 1, panels(0, fullPanels, kVectors, c));
  }

private:
  /// A made unsigned once, up front: a xor 0x80 = a + 128 as u8.
  void biasA() {
    MLIRContext *ctx = b.getContext();
    auto type = cast<RankedTensorType>(a.getType());
    Value init = tensor::EmptyOp::create(b, type.getShape(), b.getI8Type());
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    a = linalg::GenericOp::create(
            b, TypeRange{type}, ValueRange{a}, ValueRange{init},
            ArrayRef<AffineMap>{id, id},
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [](OpBuilder &nb, Location loc, ValueRange args) {
              ImplicitLocOpBuilder ib(loc, nb);
              Value flip = arith::ConstantIntOp::create(ib, -128, 8);
              linalg::YieldOp::create(
                  ib, ValueRange{arith::XOrIOp::create(ib, args[0], flip)});
            })
            .getResult(0);
  }

  Value add(ImplicitLocOpBuilder &ib, Value x, int64_t v) {
    return v == 0 ? x : arith::AddIOp::create(ib, x, index(v)).getResult();
  }

  Value block(ImplicitLocOpBuilder &ib, Value c, Value aRow0, Value cRow0,
              Value jv, int64_t vectors, int64_t rows) {
    SmallVector<bool> columnsInBounds = {n % kLanes == 0};
    SmallVector<Value> rowIndex, cRows, columns, accumulators;
    for (int64_t v = 0; v < vectors; ++v)
      columns.push_back(
          arith::MulIOp::create(ib, add(ib, jv, v), index(kLanes)));
    SmallVector<Value> corrections;
    for (int64_t v = 0; v < vectors; ++v)
      corrections.push_back(vector::TransferReadOp::create(
          ib, accType, packedB.correction, ValueRange{columns[v]}, zero32,
          ArrayRef<bool>{true}));
    for (int64_t r = 0; r < rows; ++r) {
      rowIndex.push_back(add(ib, aRow0, r));
      cRows.push_back(add(ib, cRow0, r));
      for (int64_t v = 0; v < vectors; ++v) {
        // With an epilogue, `c` is the epilogue's output and the
        // accumulators start from the matmul's own (never written) output.
        Value init = vector::TransferReadOp::create(
            ib, accType, epilogue ? cStart : c,
            ValueRange{epilogue ? rowIndex[r] : cRows[r], columns[v]}, zero32,
            columnsInBounds);
        accumulators.push_back(arith::AddIOp::create(ib, init, corrections[v]));
      }
    }
    int64_t kb = ceilDiv(k, kGroup);
    auto reduction = scf::ForOp::create(
        ib, index(0), index(kb), index(1), accumulators,
        [&](OpBuilder &nested, Location loc, Value kq, ValueRange acc) {
          ImplicitLocOpBuilder kbld(loc, nested);
          SmallVector<Value> bVectors;
          for (int64_t v = 0; v < vectors; ++v)
            bVectors.push_back(vector::TransferReadOp::create(
                kbld, bytesType, packedB.packed,
                ValueRange{add(kbld, jv, v), kq, index(0)}, zero8,
                ArrayRef<bool>{true}));
          Value kStart = arith::MulIOp::create(kbld, kq, index(kGroup));
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            // Four bytes of the biased A as one int32 in every lane.
            Value group = vector::TransferReadOp::create(
                kbld, groupType, a, ValueRange{rowIndex[r], kStart}, zero8,
                ArrayRef<bool>{k % kGroup == 0});
            Value word = vector::ExtractOp::create(
                kbld,
                vector::BitCastOp::create(
                    kbld, VectorType::get({1}, kbld.getI32Type()), group),
                ArrayRef<int64_t>{0});
            Value splat = vector::BitCastOp::create(
                kbld, bytesType,
                vector::BroadcastOp::create(kbld, accType, word));
            for (int64_t v = 0; v < vectors; ++v)
              next.push_back(buildDotProduct(kbld, acc[r * vectors + v], splat,
                                             bVectors[v]));
          }
          scf::YieldOp::create(kbld, next);
        });
    SmallVector<IRMapping> columnInputs(vectors);
    if (epilogue)
      for (int64_t v = 0; v < vectors; ++v)
        columnInputs[v] = epilogue->loadColumnInputs(ib, columns[v], accType,
                                                     columnsInBounds);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vectors; ++v) {
        Value result = reduction.getResult(r * vectors + v);
        if (epilogue)
          result = epilogue->apply(ib, result, rowIndex[r], columns[v], accType,
                                   columnsInBounds, columnInputs[v]);
        c = vector::TransferWriteOp::create(ib, result, c,
                                            ValueRange{cRows[r], columns[v]},
                                            columnsInBounds)
                .getResult();
      }
    return c;
  }

  ImplicitLocOpBuilder &b;
  Value a, cStart;
  PackedB packedB;
  int64_t k, n;
  std::optional<Epilogue> epilogue;
  VectorType accType, bytesType, groupType;
  Value zero8, zero32;
};

struct X86VnniMatmulPass
    : mlir::qat::impl::X86VnniMatmulBase<X86VnniMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    Builder builder(&getContext());
    IRRewriter rewriter(&getContext());
    for (linalg::MatmulOp op :
         collectMatmuls(getOperation(), [&](linalg::MatmulOp op) {
           return op.getCast() == linalg::TypeFn::cast_signed &&
                  isStaticMatmul(op, builder.getI8Type(), builder.getI32Type());
         })) {
      replaceWithKernel(
          rewriter, op, kRows, parallel, parallelMinMacs,
          [&](ImplicitLocOpBuilder &b, std::optional<Epilogue> epilogue) {
            Value a = op.getInputs()[0], bMat = op.getInputs()[1];
            auto aType = cast<RankedTensorType>(a.getType());
            int64_t k = aType.getDimSize(1);
            int64_t n = cast<RankedTensorType>(bMat.getType()).getDimSize(1);
            std::optional<SmallVector<int8_t>> int4 = getPackedInt4Codes(bMat);
            SmallVector<int8_t> codes;
            if (int4)
              codes = std::move(*int4);
            else if (DenseIntElementsAttr constantB = getConstantMatrix(bMat))
              for (const APInt &v : constantB.getValues<APInt>())
                codes.push_back(static_cast<int8_t>(v.getSExtValue()));
            PackedB packed =
                !codes.empty()
                    ? packConstant(b, codes, k, n, /*nibbles=*/int4.has_value())
                    : packAtRunTime(b, bMat, k, n);
            return VnniBuilder(b, a, packed, op.getOutputs()[0], k, n,
                               epilogue);
          });
    }
    // Weights that were unpacked for a replaced matmul are dead now; a
    // dead unpack would otherwise survive bufferization (it writes a
    // buffer) and keep the first copy of the weights in the library.
    // Only the function's own block: erasing an op erases its regions.
    for (Block &block : getOperation().getBody())
      for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
        if (isOpTriviallyDead(&op))
          rewriter.eraseOp(&op);
  }
};

} // namespace
