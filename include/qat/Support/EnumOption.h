//===- EnumOption.h - Enum pass options checked when parsed -----*- C++ -*-===//
//
// Part of qat-mlir. Header-only, on LLVM Support alone. Pass and pipeline
// options whose type is an enum with ODS-generated symbolize/stringify
// functions are parsed by name, and a bad value is an error when the option
// is parsed, naming what was expected and what was found:
//
//   qat-opt: for the --rounding option: expected half_to_even,
//   half_away_from_zero, half_up or toward_zero, found 'nearest'
//
// QAT_ENUM_OPTION(::mlir::qat, RoundingMode) (at global scope, after the
// enum's declaration) makes `RoundingMode` usable as a pass option type.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_SUPPORT_ENUMOPTION_H
#define QAT_SUPPORT_ENUMOPTION_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::qat {

/// A command-line parser of the enum `E`; `Traits` names its values
/// (`symbolize(StringRef)`, `stringify(E)`, `fromIndex(uint32_t)`).
template <typename E, typename Traits>
class EnumOptionParser : public llvm::cl::basic_parser<E> {
public:
  using llvm::cl::basic_parser<E>::basic_parser;

  /// "a, b or c": every value's name.
  static std::string expected() {
    std::string list;
    uint32_t count = 0;
    while (Traits::fromIndex(count))
      ++count;
    for (uint32_t i = 0; i < count; ++i) {
      if (i)
        list += i + 1 == count ? " or " : ", ";
      list += Traits::stringify(*Traits::fromIndex(i)).str();
    }
    return list;
  }

  bool parse(llvm::cl::Option &option, llvm::StringRef, llvm::StringRef arg,
             E &value) {
    if (std::optional<E> parsed = Traits::symbolize(arg)) {
      value = *parsed;
      return false;
    }
    return option.error("expected " + expected() + ", found '" + arg + "'");
  }

  static void print(llvm::raw_ostream &os, const E &value) {
    os << Traits::stringify(value);
  }

  llvm::StringRef getValueName() const override { return "value"; }

  void printOptionDiff(const llvm::cl::Option &option, E value,
                       const llvm::cl::OptionValue<E> &defaultValue,
                       size_t globalWidth) const {
    this->printOptionName(option, globalWidth);
    llvm::outs() << "= " << Traits::stringify(value);
    if (defaultValue.hasValue())
      llvm::outs() << " (default: "
                   << Traits::stringify(defaultValue.getValue()) << ")";
    llvm::outs() << "\n";
  }
};

} // namespace mlir::qat

/// Declares the command-line parser of the ODS enum `NS::Enum`.
#define QAT_ENUM_OPTION(NS, Enum)                                              \
  namespace mlir::qat::detail {                                                \
  struct Enum##OptionTraits {                                                  \
    static std::optional<NS::Enum> symbolize(llvm::StringRef name) {           \
      return NS::symbolize##Enum(name);                                        \
    }                                                                          \
    static llvm::StringRef stringify(NS::Enum value) {                         \
      return NS::stringify##Enum(value);                                       \
    }                                                                          \
    static std::optional<NS::Enum> fromIndex(uint32_t index) {                 \
      return NS::symbolize##Enum(index);                                       \
    }                                                                          \
  };                                                                           \
  }                                                                            \
  namespace llvm::cl {                                                         \
  template <>                                                                  \
  class parser<NS::Enum>                                                       \
      : public ::mlir::qat::EnumOptionParser<                                  \
            NS::Enum, ::mlir::qat::detail::Enum##OptionTraits> {               \
  public:                                                                      \
    using EnumOptionParser::EnumOptionParser;                                  \
  };                                                                           \
  }

#endif // QAT_SUPPORT_ENUMOPTION_H
