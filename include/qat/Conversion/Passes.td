//===- Passes.td - Conversion passes of qat-mlir -----------*- tablegen -*-===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CONVERSION_PASSES_TD
#define QAT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQatToLinalg : Pass<"convert-qat-to-linalg"> {
  let summary = "Lower every qat op to linalg.generic with arith and math";
  let description = [{
    Rewrites each `qat` op into `linalg.generic` ops on tensors whose bodies
    compute, element by element, exactly what the reference library
    (`include/qat/Support/QuantMath.h`) computes, so that any program holding
    qat ops runs through the standard bufferize-to-LLVM route. Per-channel
    parameters are read through indexing maps on the `axis` dimension;
    reductions (the scale and zero-point gradients, observers) become
    reduction iterators.

    Preconditions: ranked tensors (dynamic sizes are allowed); `qat.prune_mask`
    in its unstructured (sparsity) form needs a static shape. An op the pass
    cannot lower is reported with its location and the pass fails.

    Example:

    ```mlir
    %y = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32>
    ```

    becomes

    ```mlir
    %y = linalg.generic {indexing_maps = [#id, #scalar, #scalar, #id], ...}
        ins(%x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32>)
        outs(%init : tensor<4xf32>) {
    ^bb0(%xi: f32, %si: f32, %zi: i32, %out: f32):
      // z = clamp(zi); q = clamp(roundeven(xi / si) + z); (q - z) * si
      ...
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // QAT_CONVERSION_PASSES_TD
