//===- Passes.h - General transforms of qat-mlir ----------------*- C++ -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRANSFORMS_PASSES_H
#define QAT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Pass/Pass.h"

namespace mlir::qat {

/// The loop order qat-interchange-loops gives `op` (old dimensions in their
/// new order), or std::nullopt when it leaves the op alone.
std::optional<SmallVector<unsigned>>
getVectorizableInterchange(linalg::LinalgOp op);

/// acc[l] += sum_g zext(unsignedBytes[4l + g]) * sext(signedBytes[4l + g])
/// for vector<16xi32> acc and vector<64xi8> bytes, as pure vector ops in the
/// form qat-x86-lower-vnni-dot recognizes.
Value buildDotProduct(ImplicitLocOpBuilder &b, Value acc, Value unsignedBytes,
                      Value signedBytes);

/// The im2col patches of an NHWC/HWCF convolution's input `input`:
/// patches[n][oh][ow][kh][kw][c] = input[n][oh*sh + kh*dh][ow*sw + kw*dw][c]
/// (no division in the indexing; the channel loop copies contiguous memory),
/// a tensor of the given output and filter sizes. Collapsed to
/// [n*oh*ow][kh*kw*c], it is the matrix a convolution multiplies with its
/// filter (qat-conv-to-matmul, and training's filter gradients).
Value buildIm2col(ImplicitLocOpBuilder &b, Value input,
                  ArrayRef<int64_t> outputSizes, ArrayRef<int64_t> windowSizes,
                  ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations);

/// Constant codes of 4 bits or fewer stored two per byte
/// (quantmath::packNibbles along the last dimension), unpacked at run time
/// into an int8 tensor of `codesType` by a linalg.generic (marked
/// `qat.unpack_int4`) and a collapse_shape. The last dimension is even.
Value buildPackedInt4(ImplicitLocOpBuilder &b, ArrayRef<int8_t> codes,
                      RankedTensorType codesType);

/// If `value` is the result of buildPackedInt4 (through collapse_shapes),
/// its codes, unpacked at compile time, in row-major order.
std::optional<SmallVector<int8_t>> getPackedInt4Codes(Value value);

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qat/Transforms/Passes.h.inc"

} // namespace mlir::qat

#endif // QAT_TRANSFORMS_PASSES_H
