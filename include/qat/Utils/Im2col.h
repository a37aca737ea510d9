//===- Im2col.h - Convolution patches as a matrix ---------------*- C++ -*-===//
//
// Part of qat-mlir. Builders with no pass behind them, shared by code
// generation (qat-conv-to-matmul) and training (filter gradients).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_UTILS_IM2COL_H
#define QAT_UTILS_IM2COL_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::qat {

/// The im2col patches of an NHWC/HWCF convolution's input `input`:
/// patches[n][oh][ow][kh][kw][c] = input[n][oh*sh + kh*dh][ow*sw + kw*dw][c]
/// (no division in the indexing; the channel loop copies contiguous memory),
/// a tensor of the given output and filter sizes. Collapsed to
/// [n*oh*ow][kh*kw*c], it is the matrix a convolution multiplies with its
/// filter (qat-conv-to-matmul, and training's filter gradients).
Value buildIm2col(ImplicitLocOpBuilder &b, Value input,
                  ArrayRef<int64_t> outputSizes, ArrayRef<int64_t> windowSizes,
                  ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations);

} // namespace mlir::qat

#endif // QAT_UTILS_IM2COL_H
