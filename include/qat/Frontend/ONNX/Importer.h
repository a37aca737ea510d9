//===- Importer.h - ONNX models to linalg on tensors ------------*- C++ -*-===//
//
// Part of qat-mlir. `importOnnxModel` translates an ONNX model into one
// `func.func` of linalg/tensor/arith/math on tensors of f32, the form every
// later stage takes (docs/Frontend.md):
//
//   - graph inputs become arguments with qat.role = "input" and qat.name =
//     the ONNX name; a 4-D image input is transposed to NHWC once at the top;
//   - weights (initializers that a Conv, Gemm, MatMul, normalization or an
//     elementwise op consumes) become arguments with qat.role = "parameter",
//     qat.name, and qat.value = their values as a dense_resource blob, in the
//     layout the function takes (convolution filters HWCF, depthwise HWC,
//     matmul weights K x N);
//   - shape arithmetic on static shapes is evaluated while importing.
//
// The model is read with ONNX's own protobuf classes, checked with
// onnx::checker, brought to opset 13 by onnx::version_conversion when it is
// older, and the module is verified before it is returned. Every error names
// the node, its op type and what was expected.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_FRONTEND_ONNX_IMPORTER_H
#define QAT_FRONTEND_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::qat {

struct OnnxImportOptions {
  /// The size of a symbolic first (batch) dimension of the graph inputs.
  int64_t batch = 1;
  /// The function's name; empty: the graph's name, else `model`, made a
  /// valid identifier.
  std::string functionName;
  /// The file's name, for messages (and the function's name if the graph
  /// has none).
  std::string sourceName = "model";
  /// Input normalization recorded in the program: every float graph input
  /// x becomes (x - mean[c]) / std[c] before any node reads it, c its
  /// dimension 1 (one value: every channel). Empty: none.
  std::vector<float> mean, std;
};

/// What was imported, besides the module.
struct OnnxImportSummary {
  std::string functionName;
  /// Node counts by op type.
  llvm::StringMap<int64_t> opCounts;
  int64_t opset = 0;
  /// The model's own opset, when it was converted to `opset`.
  int64_t originalOpset = 0;
};

/// Imports the serialized ONNX model in `bytes`.
llvm::Expected<OwningOpRef<ModuleOp>>
importOnnxModel(llvm::StringRef bytes, MLIRContext *context,
                const OnnxImportOptions &options,
                OnnxImportSummary *summary = nullptr);

/// The ONNX op types the importer translates, sorted.
llvm::ArrayRef<llvm::StringRef> supportedOnnxOps();

/// The dialects the imported module uses (load them before parsing it
/// elsewhere).
void registerOnnxImportDialects(DialectRegistry &registry);

} // namespace mlir::qat

#endif // QAT_FRONTEND_ONNX_IMPORTER_H
