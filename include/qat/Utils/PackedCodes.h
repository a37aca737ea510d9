//===- PackedCodes.h - Weights stored several codes per byte ----*- C++ -*-===//
//
// Part of qat-mlir. The one builder of packed low-bit constants, shared by
// the integer conversion (weights) and the VNNI code generator (its own
// packed weight layout): two 4-bit or four 2-bit codes per byte; the bit
// arithmetic is quantmath::packCodes.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_UTILS_PACKEDCODES_H
#define QAT_UTILS_PACKEDCODES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

namespace mlir::qat {

/// The narrowest packing (2 or 4 bits per code) that holds `count` codes
/// in [qmin, qmax] in whole bytes, or 0 when none does (the codes need more
/// than 4 bits, or the count is odd).
unsigned choosePackedBits(int64_t qmin, int64_t qmax, int64_t count);

/// Constant codes of `bits` (2 or 4) bits stored 8 / bits per byte in
/// row-major order (quantmath::packCodes over the flattened tensor, a 1-D
/// constant), unpacked at run time into an int8 tensor of `codesType` by a
/// linalg.generic (marked with the dialect's unpack-codes attribute), a
/// collapse_shape and an expand_shape. The element count is a multiple of
/// 8 / bits.
Value buildPackedCodes(ImplicitLocOpBuilder &b, ArrayRef<int8_t> codes,
                       RankedTensorType codesType, unsigned bits);

/// The codes behind a buildPackedCodes result, unpacked at compile time in
/// row-major order, and their width.
struct PackedCodes {
  SmallVector<int8_t> codes;
  unsigned bits;
};

/// Whether `value` is the result of buildPackedCodes (through reshapes):
/// constant codes, unpacked at run time.
bool isPackedCodes(Value value);

/// If `value` is the result of buildPackedCodes (through reshapes), its
/// codes in row-major order and their width.
std::optional<PackedCodes> getPackedCodes(Value value);

} // namespace mlir::qat

#endif // QAT_UTILS_PACKEDCODES_H
