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

def VectorizeMatmul : Pass<"qat-vectorize-matmul", "func::FuncOp"> {
  let summary = "Register-blocked vector code for float matmuls";
  let description = [{
    Rewrites each statically shaped f32 `linalg.matmul` on tensors into a loop
    nest over column panels of `tile-n` columns of C (the panel of B stays in
    cache while all rows use it) and, inside, blocks of `tile-m` rows. A block's
    `tile-m` accumulator vectors stay in registers for the whole reduction;
    each reduction step loads one `tile-n` segment of a row of B, broadcasts
    one element of A per row and updates the accumulators with `vector.fma`.
    Rows that do not fill a block are done one at a time; columns past the
    end of a row are masked.

    The reduction of each output element runs in order, as in the scalar
    loops, but with fused multiply-adds (one rounding per step instead of
    two), as BLAS libraries do.

    Example: a 256x784x64 matmul becomes `scf.for` loops over 2 column panels
    and 32 row blocks around a 784-step loop carrying eight `vector<32xf32>`
    accumulators.
  }];
  let options = [
    Option<"tileM", "tile-m", "int64_t", "8", "rows of the register block">,
    Option<"tileN", "tile-n", "int64_t", "32",
           "columns of the register block (a multiple of the vector width)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // QAT_TRANSFORMS_PASSES_TD
