//===- ValuesFile.h - Named arrays in binary (.npz) or JSON -----*- C++ -*-===//
//
// Part of qat-mlir. The values qat-freeze turns into constants (learned
// scales, weights) travel in binary: a NumPy .npz archive (`numpy.savez`),
// each array read straight from its bytes, so a 25M-parameter network freezes
// in seconds. Small hand-written files may be JSON instead (an object of
// numbers or nested lists).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_UTILS_VALUESFILE_H
#define QAT_UTILS_VALUESFILE_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::qat {

/// One named array of a values file: little-endian elements in row-major
/// order, viewed in the file's buffer (or in storage the file owns).
struct ValueArray {
  enum class Kind { Float, Signed, Unsigned, Bool };
  Kind kind = Kind::Float;
  /// Bytes per element: 2, 4 or 8 for floats; 1, 2, 4 or 8 for integers.
  unsigned elementBytes = 4;
  /// The array's shape; std::nullopt for JSON values, whose nesting is not
  /// checked (only their element count).
  std::optional<SmallVector<int64_t>> shape;
  int64_t numElements = 0;
  ArrayRef<char> bytes;

  /// "float32 [3, 4]" and the like, for diagnostics.
  std::string describe() const;
};

/// The arrays of a values file, by name, in file order.
class ValuesFile {
public:
  /// Reads `path`: an .npz archive (found by its zip signature), else JSON.
  /// Errors name the file, the entry and what was wrong.
  static llvm::Expected<ValuesFile> read(StringRef path);

  /// Parses an .npz archive or a JSON object held in `buffer`; `name` is the
  /// file's name in messages.
  static llvm::Expected<ValuesFile>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name);

  ArrayRef<std::pair<std::string, ValueArray>> arrays() const {
    return entries;
  }

private:
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  /// Storage for values that are not views into `buffer` (JSON numbers).
  std::vector<std::unique_ptr<std::vector<double>>> owned;
  std::vector<std::pair<std::string, ValueArray>> entries;

  llvm::Error parseNpz(StringRef name);
  llvm::Error parseJson(StringRef name);
};

/// One float32 array to write: `values` in row-major order of `shape`.
struct NamedFloatArray {
  std::string name;
  SmallVector<int64_t> shape;
  ArrayRef<float> values;
};

/// Writes `arrays` as a NumPy .npz archive (`numpy.load` reads it; so does
/// ValuesFile::read), entries stored uncompressed. Fails on archives past
/// zip's 4 GiB limits.
llvm::Error writeNpz(llvm::raw_ostream &os, ArrayRef<NamedFloatArray> arrays);

/// `array` as a constant of `type` (a statically shaped tensor of a float
/// or integer element type). Float arrays convert to other float widths
/// with round-to-nearest-even; integer elements must hold integral values
/// that fit the element type. On failure, `message` says why.
FailureOr<DenseElementsAttr> toElementsAttr(const ValueArray &array,
                                            RankedTensorType type,
                                            std::string &message);

} // namespace mlir::qat

#endif // QAT_UTILS_VALUESFILE_H
