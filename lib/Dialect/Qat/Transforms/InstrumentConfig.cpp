//===- InstrumentConfig.cpp - qat-instrument's JSON config ----------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Dialect/Qat/Transforms/InstrumentConfig.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/GlobPattern.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace mlir;
using namespace mlir::qat;

static llvm::Error configError(const Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

llvm::Error mlir::qat::checkBitWidth(StringRef key, int64_t bits) {
  if (bits < 2 || bits > 16)
    return configError(llvm::formatv(
        "{0}: bit width {1} is out of range (expected 2 to 16)", key, bits));
  return llvm::Error::success();
}

namespace {

/// Reads the keys of one JSON object, rejecting unknown ones.
class ObjectReader {
public:
  ObjectReader(const llvm::json::Object &object, std::string path)
      : object(object), path(std::move(path)) {}

  llvm::Error readBits(StringRef key, std::optional<unsigned> &out) {
    const llvm::json::Value *value = lookup(key);
    if (!value)
      return llvm::Error::success();
    std::optional<int64_t> bits = value->getAsInteger();
    if (!bits)
      return configError(keyPath(key) + ": expected an integer");
    if (llvm::Error error = checkBitWidth(keyPath(key), *bits))
      return error;
    out = static_cast<unsigned>(*bits);
    return llvm::Error::success();
  }

  llvm::Error readBool(StringRef key, std::optional<bool> &out) {
    const llvm::json::Value *value = lookup(key);
    if (!value)
      return llvm::Error::success();
    std::optional<bool> flag = value->getAsBoolean();
    if (!flag)
      return configError(keyPath(key) + ": expected true or false");
    out = *flag;
    return llvm::Error::success();
  }

  llvm::Error readRounding(StringRef key, std::optional<RoundingMode> &out) {
    const llvm::json::Value *value = lookup(key);
    if (!value)
      return llvm::Error::success();
    std::optional<StringRef> name = value->getAsString();
    std::optional<RoundingMode> mode =
        name ? symbolizeRoundingMode(*name) : std::nullopt;
    if (!mode)
      return configError(keyPath(key) +
                         ": expected one of half_to_even, "
                         "half_away_from_zero, half_up, toward_zero");
    out = *mode;
    return llvm::Error::success();
  }

  /// "prune": a sparsity (a number in [0, 1)), "N:M", "none" or false.
  llvm::Error readPrune(StringRef key, std::optional<PruneSpec> &out) {
    const llvm::json::Value *value = lookup(key);
    if (!value)
      return llvm::Error::success();
    if (std::optional<bool> flag = value->getAsBoolean()) {
      if (*flag)
        return configError(keyPath(key) + ": expected a sparsity, \"N:M\" "
                                          "or false, got true");
      out = PruneSpec();
      return llvm::Error::success();
    }
    std::string text;
    if (std::optional<double> number = value->getAsNumber())
      text = llvm::formatv("{0}", *number).str();
    else if (std::optional<StringRef> string = value->getAsString())
      text = string->str();
    else
      return configError(keyPath(key) + ": expected a sparsity, \"N:M\" or "
                                        "false");
    llvm::Expected<PruneSpec> spec = parsePruneSpec(keyPath(key), text);
    if (!spec)
      return spec.takeError();
    out = *spec;
    return llvm::Error::success();
  }

  /// Fails on a key outside `known`.
  llvm::Error checkKeys(ArrayRef<StringRef> known) {
    for (const auto &entry : object) {
      StringRef key = entry.first;
      if (!llvm::is_contained(known, key))
        return configError(llvm::formatv("{0}: unknown key (expected one of "
                                         "{1})",
                                         keyPath(key),
                                         llvm::join(known, ", ")));
    }
    return llvm::Error::success();
  }

  std::string keyPath(StringRef key) const {
    return path.empty() ? key.str() : path + "." + key.str();
  }

  const llvm::json::Value *lookup(StringRef key) const {
    return object.get(key);
  }

private:
  const llvm::json::Object &object;
  std::string path;
};

/// Keys a layer entry and the top level share.
constexpr StringRef kSpecKeys[] = {"weight_bits", "act_bits", "per_channel",
                                   "symmetric_activations", "rounding",
                                   "prune"};

llvm::Error readSpec(ObjectReader &reader, LayerOverride &spec) {
  if (llvm::Error e = reader.readBits("weight_bits", spec.weightBits))
    return e;
  if (llvm::Error e = reader.readBits("act_bits", spec.actBits))
    return e;
  if (llvm::Error e = reader.readBool("per_channel", spec.perChannel))
    return e;
  if (llvm::Error e =
          reader.readBool("symmetric_activations", spec.symmetricActivations))
    return e;
  if (llvm::Error e = reader.readPrune("prune", spec.prune))
    return e;
  return reader.readRounding("rounding", spec.rounding);
}

void apply(const LayerOverride &source, LayerQuantSpec &spec) {
  spec.weightBits = source.weightBits.value_or(spec.weightBits);
  spec.actBits = source.actBits.value_or(spec.actBits);
  spec.perChannel = source.perChannel.value_or(spec.perChannel);
  spec.symmetricActivations =
      source.symmetricActivations.value_or(spec.symmetricActivations);
  spec.rounding = source.rounding.value_or(spec.rounding);
  spec.skip = source.skip.value_or(spec.skip);
  spec.prune = source.prune.value_or(spec.prune);
}

} // namespace

llvm::Expected<PruneSpec> mlir::qat::parsePruneSpec(StringRef key,
                                                    StringRef text) {
  PruneSpec spec;
  text = text.trim();
  if (text.empty() || text == "none")
    return spec;
  auto [first, second] = text.split(':');
  if (!second.empty() || text.contains(':')) {
    int64_t n = 0, m = 0;
    if (first.getAsInteger(10, n) || second.getAsInteger(10, m) || n < 1 ||
        m <= n)
      return configError(llvm::formatv("{0}: expected N:M with 0 < N < M "
                                       "(such as 2:4), got '{1}'",
                                       key, text));
    spec.kind = PruneSpec::Kind::NofM;
    spec.n = n;
    spec.m = m;
    return spec;
  }
  auto [fraction, block] = text.split('/');
  double sparsity = 0;
  if (fraction.getAsDouble(sparsity) || !(sparsity >= 0.0 && sparsity < 1.0))
    return configError(llvm::formatv("{0}: expected a sparsity in [0, 1), "
                                     "N:M, S/KxN (such as 0.75/4x16) or "
                                     "none, got '{1}'",
                                     key, text));
  if (text.contains('/')) {
    auto [k, n] = block.split('x');
    if (k.getAsInteger(10, spec.blockK) || n.getAsInteger(10, spec.blockN) ||
        spec.blockK < 1 || spec.blockN < 1)
      return configError(llvm::formatv("{0}: expected blocks KxN of "
                                       "positive sizes after the sparsity "
                                       "(such as 0.75/4x16), got '{1}'",
                                       key, text));
    if (sparsity > 0) {
      spec.kind = PruneSpec::Kind::Block;
      spec.sparsity = sparsity;
    }
    return spec;
  }
  if (sparsity > 0) {
    spec.kind = PruneSpec::Kind::Magnitude;
    spec.sparsity = sparsity;
  }
  return spec;
}

llvm::Error InstrumentConfig::loadFile(StringRef path) {
  source = path.str();
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return configError("cannot read config '" + path + "': " +
                       buffer.getError().message());
  if (llvm::Error error = parseJSON((*buffer)->getBuffer()))
    return configError("config '" + path + "': " + toString(std::move(error)));
  return llvm::Error::success();
}

llvm::Error InstrumentConfig::parseJSON(StringRef text) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (!parsed)
    return configError("invalid JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return configError("expected a JSON object at the top level");

  SmallVector<StringRef> topKeys(std::begin(kSpecKeys), std::end(kSpecKeys));
  topKeys.append({"skip_first_last", "last_act_bits", "layers"});
  ObjectReader reader(*root, "");
  if (llvm::Error e = reader.checkKeys(topKeys))
    return e;
  LayerOverride global;
  if (llvm::Error e = readSpec(reader, global))
    return e;
  apply(global, defaults);
  std::optional<bool> skipEnds;
  if (llvm::Error e = reader.readBool("skip_first_last", skipEnds))
    return e;
  skipFirstLast = skipEnds.value_or(skipFirstLast);
  std::optional<unsigned> lastBits;
  if (llvm::Error e = reader.readBits("last_act_bits", lastBits))
    return e;
  lastActBits = lastBits.value_or(lastActBits);

  const llvm::json::Value *layers = reader.lookup("layers");
  if (!layers)
    return llvm::Error::success();
  const llvm::json::Array *entries = layers->getAsArray();
  if (!entries)
    return configError("layers: expected an array of objects");
  for (auto [i, entry] : llvm::enumerate(*entries)) {
    std::string path = llvm::formatv("layers[{0}]", i).str();
    const llvm::json::Object *object = entry.getAsObject();
    if (!object)
      return configError(path + ": expected an object");
    SmallVector<StringRef> layerKeys(std::begin(kSpecKeys),
                                     std::end(kSpecKeys));
    layerKeys.append({"name", "skip"});
    ObjectReader layerReader(*object, path);
    if (llvm::Error e = layerReader.checkKeys(layerKeys))
      return e;
    LayerOverride override;
    const llvm::json::Value *name = layerReader.lookup("name");
    if (!name || !name->getAsString() || name->getAsString()->empty())
      return configError(path + ".name: expected a layer name or glob pattern");
    override.pattern = name->getAsString()->str();
    llvm::Expected<llvm::GlobPattern> glob =
        llvm::GlobPattern::create(override.pattern);
    if (!glob)
      return configError(
          path + ".name: invalid pattern: " + llvm::toString(glob.takeError()));
    if (llvm::Error e = readSpec(layerReader, override))
      return e;
    if (llvm::Error e = layerReader.readBool("skip", override.skip))
      return e;
    overrides.push_back(std::move(override));
  }
  return llvm::Error::success();
}

LayerQuantSpec InstrumentConfig::resolve(StringRef name, bool last) {
  LayerQuantSpec spec = defaults;
  if (last && lastActBits)
    spec.actBits = lastActBits;
  for (LayerOverride &override : overrides) {
    // Valid: parseJSON checked the pattern.
    llvm::Expected<llvm::GlobPattern> glob =
        llvm::GlobPattern::create(override.pattern);
    if (!glob) {
      llvm::consumeError(glob.takeError());
      continue;
    }
    if (!glob->match(name))
      continue;
    override.used = true;
    apply(override, spec);
  }
  return spec;
}
