//===- InstrumentConfig.h - What qat-instrument quantizes, and how -*- C++ -*-//
//
// Part of qat-mlir. The settings of qat-instrument: global defaults (from the
// pass options or a JSON file) and per-layer overrides matched by name or
// glob pattern, in the spirit of PyTorch's qconfig mapping. The JSON format
// is documented in docs/Instrumentation.md.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_TRANSFORMS_INSTRUMENTCONFIG_H
#define QAT_DIALECT_QAT_TRANSFORMS_INSTRUMENTCONFIG_H

#include "qat/Dialect/Qat/IR/QatOps.h"

#include <optional>
#include <string>

namespace mlir::qat {

/// How one layer is quantized.
/// How a layer's weight is pruned (qat-prune, docs/Pruning.md).
struct PruneSpec {
  enum class Kind { None, Magnitude, NofM, Block };
  Kind kind = Kind::None;
  /// Magnitude, Block: the fraction of the weight (of its blocks) set to
  /// zero, in [0, 1).
  double sparsity = 0;
  /// NofM: `n` of every `m` consecutive weights along the reduction axis
  /// are kept (0 < n < m).
  int64_t n = 0, m = 0;
  /// Block: blocks of `blockK` consecutive weights along the reduction axis
  /// by `blockN` along the output channels, pruned whole.
  int64_t blockK = 0, blockN = 0;
};

/// Parses a pruning setting as the config and the pass options spell it:
/// a sparsity ("0.5"), "N:M" ("2:4"), a sparsity of KxN blocks
/// ("0.75/4x16") or "none"; the message names `key`.
llvm::Expected<PruneSpec> parsePruneSpec(StringRef key, StringRef text);

struct LayerQuantSpec {
  unsigned weightBits = 8;
  unsigned actBits = 8;
  bool perChannel = true;
  bool symmetricActivations = false;
  RoundingMode rounding = RoundingMode::half_to_even;
  bool skip = false;
  /// For qat-prune (qat-instrument ignores it).
  PruneSpec prune;
};

/// Settings of one `layers` entry; unset fields keep the defaults.
struct LayerOverride {
  /// A layer name or glob pattern (checked when parsed).
  std::string pattern;
  std::optional<unsigned> weightBits, actBits;
  std::optional<bool> perChannel, symmetricActivations, skip;
  std::optional<RoundingMode> rounding;
  std::optional<PruneSpec> prune;
  /// Set once a layer matched the pattern.
  bool used = false;
};

struct InstrumentConfig {
  LayerQuantSpec defaults;
  bool skipFirstLast = false;
  /// The activation bit width of each function's last layer (its output:
  /// a classifier's logits) before the `layers` entries apply; 0: the
  /// default `actBits`.
  unsigned lastActBits = 0;
  /// Where the settings came from (the config file), for messages.
  std::string source;
  SmallVector<LayerOverride> overrides;

  /// Parses a JSON config, applying its global keys on top of `*this`.
  /// On error returns a message naming the offending key path.
  llvm::Error parseJSON(StringRef text);
  /// Reads and parses the JSON file `path` (which becomes `source`).
  llvm::Error loadFile(StringRef path);

  /// The spec of layer `name`: the defaults (with `lastActBits` for the
  /// function's `last` layer), then each matching override in file order.
  /// Marks the overrides used.
  LayerQuantSpec resolve(StringRef name, bool last = false);
};

/// Checks a bit width given by an option or a config key.
llvm::Error checkBitWidth(StringRef key, int64_t bits);

} // namespace mlir::qat

#endif // QAT_DIALECT_QAT_TRANSFORMS_INSTRUMENTCONFIG_H
