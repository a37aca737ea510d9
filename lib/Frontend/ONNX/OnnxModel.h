//===- OnnxModel.h - Reading, checking and converting ONNX ------*- C++ -*-===//
//
// Part of qat-mlir. The one place that calls into libonnx (which reports
// errors by throwing; OnnxModel.cpp is compiled with exceptions and turns
// them into llvm::Error). The importer sees a checked model at an opset it
// lowers, with every value's shape inferred for the batch it was given.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_LIB_FRONTEND_ONNX_ONNXMODEL_H
#define QAT_LIB_FRONTEND_ONNX_ONNXMODEL_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <onnx/onnx_pb.h>

#include <memory>

namespace mlir::qat::onnx_import {

/// The oldest and newest default-domain opsets accepted; models older than
/// kOldestLoweredOpset are converted to kConvertedOpset first.
constexpr int64_t kOldestOpset = 1;
constexpr int64_t kOldestLoweredOpset = 11;
constexpr int64_t kConvertedOpset = 13;
constexpr int64_t kNewestOpset = 21;

struct LoadedModel {
  std::unique_ptr<onnx::ModelProto> model;
  int64_t opset = 0;
  int64_t originalOpset = 0;
};

/// A node as messages name it: its name, else its first output's.
std::string nodeName(const onnx::NodeProto &node);

/// Parses `bytes`, checks the model, converts an old opset and fixes a
/// symbolic first input dimension to `batch`. `name` names the file in
/// messages.
llvm::Expected<LoadedModel> loadModel(llvm::StringRef bytes,
                                      llvm::StringRef name, int64_t batch);

/// ONNX's shape inference, best effort (nothing when it fails, or past the
/// opsets ONNX 1.12 knows): fills the graph's value_info. Run only on a
/// model the importer accepted, whose attributes it has checked: libonnx's
/// shape functions trust them (an out-of-range axis crashes them).
void inferShapes(onnx::ModelProto &model, int64_t opset);

} // namespace mlir::qat::onnx_import

#endif // QAT_LIB_FRONTEND_ONNX_ONNXMODEL_H
