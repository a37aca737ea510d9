//===- qat-import.cpp - ONNX models to qat-mlir's input -------------------===//
//
// Part of qat-mlir. Translates an ONNX model into one func.func of linalg on
// tensors (lib/Frontend/ONNX, docs/Frontend.md). The weights go into the
// module as dense_resource blobs (qat.value on each parameter argument), or
// with --weights=FILE.npz into a NumPy archive beside it. Outputs are
// written to a temporary file and renamed, so an interrupted run leaves the
// old file or the complete new one.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "qat/Dialect/Qat/IR/QatDialect.h"
#include "qat/Frontend/ONNX/Importer.h"
#include "qat/Utils/ValuesFile.h"
#include "qat/Version.h"

using namespace mlir;

namespace {

llvm::cl::OptionCategory category("qat-import options");

llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                         llvm::cl::desc("<model.onnx>"),
                                         llvm::cl::init("-"),
                                         llvm::cl::cat(category));

llvm::cl::opt<std::string> outputFilename(
    "o", llvm::cl::desc("Output MLIR file (default: standard output)"),
    llvm::cl::value_desc("filename"), llvm::cl::init("-"),
    llvm::cl::cat(category));

llvm::cl::opt<std::string> weightsFilename(
    "weights",
    llvm::cl::desc("Write the parameters' values to this NumPy .npz archive "
                   "instead of into the module as dense_resource blobs"),
    llvm::cl::value_desc("file.npz"), llvm::cl::init(""),
    llvm::cl::cat(category));

llvm::cl::opt<int64_t>
    batch("batch",
          llvm::cl::desc("The size of a symbolic batch (first) dimension"),
          llvm::cl::init(1), llvm::cl::cat(category));

llvm::cl::opt<std::string>
    functionName("name",
                 llvm::cl::desc("The function's name (default: the graph's)"),
                 llvm::cl::init(""), llvm::cl::cat(category));

llvm::cl::list<float> mean(
    "mean",
    llvm::cl::desc("Normalize every float input in the program: subtract "
                   "these per-channel means (dimension 1; one value: all "
                   "channels), then divide by --std"),
    llvm::cl::value_desc("m0,m1,..."), llvm::cl::CommaSeparated,
    llvm::cl::cat(category));

llvm::cl::list<float> stddev(
    "std", llvm::cl::desc("The per-channel standard deviations of --mean"),
    llvm::cl::value_desc("s0,s1,..."), llvm::cl::CommaSeparated,
    llvm::cl::cat(category));

llvm::cl::opt<bool> summary(
    "summary",
    llvm::cl::desc("Print a JSON summary (function, opset, op counts, "
                   "inputs, outputs, parameters) on standard output"),
    llvm::cl::init(false), llvm::cl::cat(category));

llvm::cl::opt<bool> listOps("list-ops",
                            llvm::cl::desc("List the supported op types"),
                            llvm::cl::init(false), llvm::cl::cat(category));

int error(const llvm::Twine &message) {
  llvm::errs() << "qat-import: error: " << message << "\n";
  return 1;
}

std::string describe(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return text;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << qat::versionLine() << "\n";
  });
  llvm::cl::HideUnrelatedOptions(category);
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "qat-import: ONNX models to linalg on tensors\n");
  if (listOps) {
    for (StringRef op : qat::supportedOnnxOps())
      llvm::outs() << op << "\n";
    return 0;
  }
  if (batch < 1)
    return error("--batch must be a positive integer, found " +
                 llvm::Twine(batch));
  if (summary && outputFilename == "-")
    return error("--summary prints on standard output; give -o FILE");

  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFilename);
  if (!buffer)
    return error(inputFilename + ": " + buffer.getError().message());

  MLIRContext context;
  qat::OnnxImportOptions options;
  options.batch = batch;
  options.functionName = functionName;
  options.mean.assign(mean.begin(), mean.end());
  options.std.assign(stddev.begin(), stddev.end());
  options.sourceName = inputFilename == "-"
                           ? std::string("<stdin>")
                           : llvm::sys::path::filename(inputFilename).str();
  if (options.functionName.empty() && inputFilename != "-")
    options.sourceName = llvm::sys::path::filename(inputFilename).str();
  qat::OnnxImportSummary info;
  auto module = qat::importOnnxModel((*buffer)->getBuffer(), &context,
                                     options, &info);
  if (!module)
    return error(llvm::toString(module.takeError()));

  // The function and its parameters.
  auto fn = cast<FunctionOpInterface>(&(*module)->getBody()->front());
  std::vector<qat::NamedFloatArray> arrays;
  llvm::json::Array inputs, outputs, parameters;
  for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i) {
    std::string name = qat::QatDialect::getArgNameOrIndex(fn, i);
    auto type = cast<RankedTensorType>(fn.getArgumentTypes()[i]);
    llvm::json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    llvm::json::Object entry{{"name", name},
                             {"shape", std::move(shape)},
                             {"type", describe(type.getElementType())}};
    if (qat::QatDialect::getArgRole(fn, i) != qat::ArgRole::Parameter) {
      inputs.push_back(std::move(entry));
      continue;
    }
    parameters.push_back(std::move(entry));
    if (weightsFilename.empty())
      continue;
    auto value = dyn_cast_or_null<DenseResourceElementsAttr>(
        qat::QatDialect::getArgValue(fn, i));
    if (!value || !value.getRawHandle().getBlob())
      return error("parameter '" + name + "' has no value");
    ArrayRef<char> bytes = value.getRawHandle().getBlob()->getData();
    arrays.push_back({name, llvm::to_vector(type.getShape()),
                      ArrayRef<float>(
                          reinterpret_cast<const float *>(bytes.data()),
                          bytes.size() / sizeof(float))});
  }
  for (unsigned i = 0, e = fn.getNumResults(); i < e; ++i) {
    auto type = cast<RankedTensorType>(fn.getResultTypes()[i]);
    llvm::json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    outputs.push_back(llvm::json::Object{
        {"name", qat::QatDialect::getResultNameOrIndex(fn, i)},
        {"shape", std::move(shape)},
        {"type", describe(type.getElementType())}});
  }

  if (!weightsFilename.empty()) {
    if (llvm::Error err = llvm::writeToOutput(
            weightsFilename, [&](llvm::raw_ostream &os) {
              return qat::writeNpz(os, arrays);
            }))
      return error(weightsFilename + ": " + llvm::toString(std::move(err)));
    // The values live in the archive now.
    for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
      fn.removeArgAttr(i, qat::QatDialect::kValueAttrName);
  }
  if (llvm::Error err =
          llvm::writeToOutput(outputFilename, [&](llvm::raw_ostream &os) {
            // Locations keep the ONNX node names: the passes name layers
            // (and their parameters) after them and cite them in errors.
            (*module)->print(os, OpPrintingFlags().enableDebugInfo(
                                     /*enable=*/true, /*prettyForm=*/false));
            os << "\n";
            return llvm::Error::success();
          }))
    return error(outputFilename + ": " + llvm::toString(std::move(err)));

  if (summary) {
    llvm::json::Object ops;
    for (const auto &op : info.opCounts)
      ops[op.getKey()] = op.getValue();
    llvm::json::Object report{{"function", info.functionName},
                              {"opset", info.opset},
                              {"ops", std::move(ops)},
                              {"inputs", std::move(inputs)},
                              {"outputs", std::move(outputs)},
                              {"parameters", std::move(parameters)}};
    if (info.originalOpset)
      report["converted_from_opset"] = info.originalOpset;
    if (!options.mean.empty())
      report["normalize"] = llvm::json::Object{
          {"mean", llvm::json::Array(options.mean)},
          {"std", llvm::json::Array(options.std)}};
    llvm::outs() << llvm::json::Value(std::move(report)) << "\n";
  }
  return 0;
}
