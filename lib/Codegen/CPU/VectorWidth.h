//===- VectorWidth.h - The vector register the CPU kernels fill -*- C++ -*-===//
//
// Part of qat-mlir. One definition of the vector width that the CPU passes
// vectorize for: an AVX-512 register.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_CODEGEN_CPU_VECTORWIDTH_H
#define QAT_LIB_CODEGEN_CPU_VECTORWIDTH_H

#include <cstdint>

namespace mlir::qat {

/// The bits of one vector: one AVX-512 register.
inline constexpr int64_t kVectorBits = 512;
/// Its bytes.
inline constexpr int64_t kVectorBytes = kVectorBits / 8;
/// Its 32-bit lanes (f32 or i32 accumulators).
inline constexpr int64_t kLanes32 = kVectorBits / 32;

} // namespace mlir::qat

#endif // QAT_LIB_CODEGEN_CPU_VECTORWIDTH_H
