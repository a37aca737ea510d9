//===- QatBase.td - The qat dialect definition -------------*- tablegen -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_DIALECT_QAT_IR_QATBASE_TD
#define QAT_DIALECT_QAT_IR_QATBASE_TD

include "mlir/IR/OpBase.td"

def Qat_Dialect : Dialect {
  let name = "qat";
  let cppNamespace = "::mlir::qat";
  let summary = "Quantization-aware training: fake quantization, its "
                "gradients, integer requantization, range state and pruning";
  let description = [{
    The `qat` dialect holds what a float network needs to be trained with
    simulated quantization and then deployed as an integer program:

    * `qat.fake_quant` and `qat.fake_quant_grad`: simulated
      quantize/dequantize and its straight-through (STE) and LSQ gradients;
    * `qat.quantize`, `qat.dequantize` and `qat.requantize`: the integer
      boundary and the int32 fixed-point rescale of the deployed program;
    * `qat.observe` and `qat.choose_qparams`: range observation and the
      derivation of a scale and zero point from it;
    * `qat.prune_mask`: magnitude and N:M pruning masks.

    Every formula here is implemented once, in the C++ reference library
    `include/qat/Support/QuantMath.h`, which the folders call and against
    which the lowering `convert-qat-to-linalg` is tested. Quantization
    parameters (scale, zero point) are SSA tensor values, so that training
    can learn them; per-channel parameters are 1-D tensors indexed by the
    `axis` dimension.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  // The discardable attributes below are the contracts between passes; the
  // dialect verifies every `qat.*` attribute where it is found.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    //===------------------------------------------------------------------===//
    // Discardable attributes: their names, defined once (docs/Dialect.md)
    //===------------------------------------------------------------------===//

    /// Function arguments and results: the tensor's name (a string), used by
    /// freezing, training and the runtime's entry-point table.
    static constexpr ::llvm::StringLiteral kNameAttrName = "qat.name";
    /// Function arguments: what the argument is (ArgRole).
    static constexpr ::llvm::StringLiteral kRoleAttrName = "qat.role";
    /// Function arguments with role parameter: the value the model came with
    /// (qat-import stores each weight as a dense_resource blob here), an
    /// elements attribute of the argument's type.
    static constexpr ::llvm::StringLiteral kValueAttrName = "qat.value";
    /// Function arguments with role qparam: {role = "weight_scale" |
    /// "act_scale" | "act_zero_point", layer = string, init = string,
    /// num_bits = integer}; role and layer are required.
    static constexpr ::llvm::StringLiteral kQParamAttrName = "qat.qparam";
    /// Layer ops (linalg contractions and convolutions): the layer's name.
    static constexpr ::llvm::StringLiteral kLayerAttrName = "qat.layer";
    /// Functions whose scales (and maybe weights) are constants (qat-freeze).
    static constexpr ::llvm::StringLiteral kFrozenAttrName = "qat.frozen";
    /// Functions rewritten by qat-faithful.
    static constexpr ::llvm::StringLiteral kFaithfulAttrName = "qat.faithful";
    /// The `@f_init_qparams` function qat-instrument adds: the symbol of `@f`.
    static constexpr ::llvm::StringLiteral kInitQParamsForAttrName =
        "qat.init_qparams_for";
    /// qat.requantize ops of converted layers: the output scale, which
    /// qat-expose-layers dequantizes with (a float).
    static constexpr ::llvm::StringLiteral kScaleAttrName = "qat.scale";
    /// A frozen weight's qat.fake_quant: the pruning mask qat-freeze folded
    /// into the weight (an i1 elements attribute of the weight's shape, 1
    /// kept), which qat-convert-to-integer checks the weight codes against.
    static constexpr ::llvm::StringLiteral kMaskAttrName = "qat.mask";
    /// The linalg.generic that unpacks two 4-bit or four 2-bit codes per
    /// byte (unit).
    static constexpr ::llvm::StringLiteral kUnpackCodesAttrName =
        "qat.unpack_codes";

    /// The role of function argument `index` of `func`, if it has one.
    static ::std::optional<ArgRole>
    getArgRole(::mlir::FunctionOpInterface func, unsigned index);
    static void setArgRole(::mlir::FunctionOpInterface func, unsigned index,
                           ArgRole role);
    /// qat.name of argument `index`, or an empty StringAttr.
    static ::mlir::StringAttr getArgName(::mlir::FunctionOpInterface func,
                                         unsigned index);
    static ::mlir::StringAttr getResultName(::mlir::FunctionOpInterface func,
                                            unsigned index);
    /// The name of argument / result `index` where no qat.name is given:
    /// "arg<index>" / "result<index>" (freezing, training and the runtime's
    /// entry-point table all use it), else its qat.name.
    static std::string getArgNameOrIndex(::mlir::FunctionOpInterface func,
                                         unsigned index);
    static std::string getResultNameOrIndex(::mlir::FunctionOpInterface func,
                                            unsigned index);
    static void setArgName(::mlir::FunctionOpInterface func, unsigned index,
                           ::llvm::StringRef name);
    static void setResultName(::mlir::FunctionOpInterface func,
                              unsigned index, ::llvm::StringRef name);
    /// qat.qparam of argument `index`, read (std::nullopt when absent; the
    /// verifier has checked its form) and written.
    static ::std::optional<QParamInfo>
    getQParamInfo(::mlir::FunctionOpInterface func, unsigned index);
    static ::mlir::DictionaryAttr getQParamInfoAttr(::mlir::MLIRContext *ctx,
                                                    const QParamInfo &info);
    /// The layer name of a layer op, or an empty StringAttr.
    static ::mlir::StringAttr getLayerName(::mlir::Operation *op);
    static void setLayerName(::mlir::Operation *op, ::llvm::StringRef name);
    static bool isFrozen(::mlir::Operation *func) {
      return func->hasAttr(kFrozenAttrName);
    }
    static void setFrozenAttr(::mlir::Operation *func);
    /// qat.value of argument `index` (a parameter's initial value), or null.
    static ::mlir::ElementsAttr getArgValue(::mlir::FunctionOpInterface func,
                                            unsigned index);
    static void setFaithfulAttr(::mlir::Operation *func);
  }];
}

class Qat_Op<string mnemonic, list<Trait> traits = []>
    : Op<Qat_Dialect, mnemonic, traits>;

#endif // QAT_DIALECT_QAT_IR_QATBASE_TD
