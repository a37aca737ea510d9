//===- OnnxModel.cpp - Reading, checking and converting ONNX --------------===//
//
// Part of qat-mlir. Compiled with -fexceptions: libonnx throws (checker,
// version converter, shape inference) and protobuf may throw on allocation.
// Nothing here lets an exception escape.
//
//===----------------------------------------------------------------------===//

#include "OnnxModel.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <exception>
#include <set>

using namespace mlir::qat::onnx_import;

namespace {

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The first line of an exception's message (ONNX's run to several).
std::string firstLine(const std::exception &e) {
  std::string text = e.what();
  size_t end = text.find('\n');
  if (end != std::string::npos)
    text.resize(end);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r'))
    text.pop_back();
  return text.empty() ? "no details" : text;
}

int64_t defaultOpset(const onnx::ModelProto &model) {
  for (const auto &opset : model.opset_import())
    if (opset.domain().empty() || opset.domain() == "ai.onnx")
      return opset.version();
  return 0;
}

/// A symbolic (or unset) first dimension of each graph input becomes
/// `batch`, so that shape inference gives static shapes throughout.
void fixBatch(onnx::ModelProto &model, int64_t batch) {
  for (auto &input : *model.mutable_graph()->mutable_input()) {
    if (!input.type().has_tensor_type() ||
        !input.type().tensor_type().has_shape())
      continue;
    auto *shape = input.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() == 0)
      continue;
    auto *first = shape->mutable_dim(0);
    if (!first->has_dim_value() || first->dim_value() < 0)
      first->set_dim_value(batch);
  }
}

/// What libonnx's checker, version converter and shape inference assume
/// without checking, checked first in every graph and subgraph (`outer`:
/// the names an enclosing graph defines):
///  - every graph output is defined (the converter dereferences the
///    producer of each: SIGSEGV);
///  - these attributes, which they divide by, are positive (a zero stride is
///    a SIGFPE).
llvm::Error checkAssumptions(const onnx::GraphProto &graph,
                             const std::set<std::string> &outer) {
  std::set<std::string> defined = outer;
  for (const auto &input : graph.input())
    defined.insert(input.name());
  for (const auto &init : graph.initializer())
    defined.insert(init.name());
  for (const onnx::NodeProto &node : graph.node())
    defined.insert(node.output().begin(), node.output().end());
  for (const auto &output : graph.output())
    if (!defined.count(output.name()))
      return error("graph '" + graph.name() + "': output '" + output.name() +
                   "' is not produced by any node, initializer or input");
  for (const onnx::NodeProto &node : graph.node()) {
    for (const onnx::AttributeProto &a : node.attribute()) {
      if (a.has_g())
        if (llvm::Error err = checkAssumptions(a.g(), defined))
          return err;
      for (const onnx::GraphProto &g : a.graphs())
        if (llvm::Error err = checkAssumptions(g, defined))
          return err;
      bool divisor = a.name() == "strides" || a.name() == "dilations" ||
                     a.name() == "kernel_shape" || a.name() == "group" ||
                     a.name() == "blocksize";
      if (!divisor)
        continue;
      bool positive = llvm::all_of(a.ints(), [](int64_t v) { return v > 0; }) &&
                      (a.type() != onnx::AttributeProto_AttributeType_INT ||
                       a.i() > 0);
      if (!positive)
        return error("node '" + nodeName(node) + "' (" + node.op_type() +
                     "): attribute '" + a.name() + "' must be positive");
    }
  }
  return llvm::Error::success();
}

} // namespace

void mlir::qat::onnx_import::inferShapes(onnx::ModelProto &model,
                                         int64_t opset) {
  // ONNX 1.12 has no shape functions past opset 17.
  if (opset > 17)
    return;
  try {
    onnx::shape_inference::InferShapes(model);
  } catch (const std::exception &) {
    // Inferred shapes are a cross-check only; the importer computes every
    // shape itself.
  }
}

std::string mlir::qat::onnx_import::nodeName(const onnx::NodeProto &node) {
  return node.name().empty() && node.output_size() ? node.output(0)
                                                   : node.name();
}

llvm::Expected<LoadedModel>
mlir::qat::onnx_import::loadModel(llvm::StringRef bytes, llvm::StringRef name,
                                  int64_t batch) {
  LoadedModel loaded;
  try {
    loaded.model = std::make_unique<onnx::ModelProto>();
    if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
        !loaded.model->ParseFromArray(bytes.data(),
                                      static_cast<int>(bytes.size())))
      return error(name + ": not an ONNX model (the protobuf does not parse)");
    if (!loaded.model->has_graph())
      return error(name + ": not an ONNX model (it has no graph)");
    if (llvm::Error err = checkAssumptions(loaded.model->graph(), {}))
      return error(name + ": " + llvm::toString(std::move(err)));
    int64_t opset = defaultOpset(*loaded.model);
    loaded.originalOpset = opset;
    if (opset == 0)
      return error(name + ": the model imports no default-domain (ai.onnx) "
                          "opset");
    if (opset < kOldestOpset || opset > kNewestOpset)
      return error(name + ": opset " + llvm::Twine(opset) +
                   " is not supported (" + llvm::Twine(kOldestOpset) + "-" +
                   llvm::Twine(kNewestOpset) + ")");
    try {
      onnx::checker::check_model(*loaded.model);
    } catch (const std::exception &e) {
      // ONNX 1.12 knows opsets up to 17: newer models are checked node by
      // node by the importer instead.
      if (opset <= 17)
        return error(name + ": malformed ONNX model: " + firstLine(e));
    }
    if (opset < kOldestLoweredOpset) {
      try {
        *loaded.model = onnx::version_conversion::ConvertVersion(
            *loaded.model, static_cast<int>(kConvertedOpset));
      } catch (const std::exception &e) {
        return error(name + ": converting opset " + llvm::Twine(opset) +
                     " to " + llvm::Twine(kConvertedOpset) +
                     " failed: " + firstLine(e));
      }
      opset = defaultOpset(*loaded.model);
    }
    loaded.opset = opset;
    fixBatch(*loaded.model, batch);
  } catch (const std::bad_alloc &) {
    return error(name + ": out of memory reading the model");
  } catch (const std::exception &e) {
    return error(name + ": malformed ONNX model: " + firstLine(e));
  }
  return loaded;
}
