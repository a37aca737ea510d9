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
}

class Qat_Op<string mnemonic, list<Trait> traits = []>
    : Op<Qat_Dialect, mnemonic, traits>;

#endif // QAT_DIALECT_QAT_IR_QATBASE_TD
