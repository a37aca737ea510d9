//===- Passes.td - General transforms of qat-mlir ----------*- tablegen -*-===//
//
// Part of qat-mlir. Transforms on upstream dialects that the qat pipelines
// use; dialect-specific passes live under Dialect/Qat/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_TRANSFORMS_PASSES_TD
#define QAT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def InterchangeLoops : Pass<"qat-interchange-loops", "func::FuncOp"> {
  let summary = "Move reduction loops outside the contiguous output loop";
  let description = [{
    For each linalg op with reduction dimensions whose output's innermost
    dimension `d` is a parallel loop, reorders the loops as: the other parallel
    dimensions, then the reductions, then `d`. The innermost loop then walks
    the output and every operand that uses `d` contiguously, so that LLVM
    vectorizes it (a matmul becomes i, k, j: C[i, j:j+16] += A[i, k] *
    B[k, j:j+16]). Only ops where every operand indexed by `d` has it as its
    last dimension are changed. Named ops that are changed are generalized.

    The iteration order of each reduction is unchanged (for a fixed output
    element the reduction dimensions still run in order), so results are bit
    for bit the same.

    Example: `linalg.matmul` becomes a `linalg.generic` with iterator types
    `["parallel", "reduction", "parallel"]` and maps
    `(d0, d1, d2) -> (d0, d1)`, `(d1, d2)`, `(d0, d2)`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // QAT_TRANSFORMS_PASSES_TD
