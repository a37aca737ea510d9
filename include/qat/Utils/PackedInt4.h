//===- PackedInt4.h - Weights stored two codes per byte ---------*- C++ -*-===//
//
// Part of qat-mlir. The one builder of packed 4-bit constants, shared by the
// integer conversion (weights) and the VNNI code generator (its own packed
// weight layout); the nibble arithmetic is quantmath::packNibbles.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_UTILS_PACKEDINT4_H
#define QAT_UTILS_PACKEDINT4_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

namespace mlir::qat {

/// Constant codes of 4 bits or fewer stored two per byte
/// (quantmath::packNibbles along the last dimension), unpacked at run time
/// into an int8 tensor of `codesType` by a linalg.generic (marked with the
/// dialect's unpack-int4 attribute) and a collapse_shape. The last dimension
/// is even.
Value buildPackedInt4(ImplicitLocOpBuilder &b, ArrayRef<int8_t> codes,
                      RankedTensorType codesType);

/// Whether `value` is the result of buildPackedInt4 (through
/// collapse_shapes): constant codes, unpacked at run time.
bool isPackedInt4(Value value);

/// If `value` is the result of buildPackedInt4 (through collapse_shapes),
/// its codes, unpacked at compile time, in row-major order.
std::optional<SmallVector<int8_t>> getPackedInt4Codes(Value value);

} // namespace mlir::qat

#endif // QAT_UTILS_PACKEDINT4_H
