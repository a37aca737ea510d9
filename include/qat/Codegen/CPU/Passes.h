//===- Passes.h - CPU code generation ---------------------------*- C++ -*-===//
//
// Part of qat-mlir. Passes and public rewrites that take linalg on tensors to
// fast CPU loops: kernels for matmuls (VNNI for int8, register-blocked FMA for
// float), im2col convolutions, loop order and threading.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CODEGEN_CPU_PASSES_H
#define QAT_CODEGEN_CPU_PASSES_H

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/Pass.h"

namespace mlir::qat {

/// The loop order qat-interchange-loops gives `op` (old dimensions in their
/// new order), or std::nullopt when it leaves the op alone.
std::optional<SmallVector<unsigned>>
getVectorizableInterchange(linalg::LinalgOp op);

/// Marks every tensor argument of `module`'s public functions
/// `bufferization.writable = false` (qat-protect-arguments).
void protectArguments(ModuleOp module);

/// Rewrites the memref.copy `copy` between memrefs that are not both
/// contiguous (qat-expand-strided-copies): static strided memrefs whose
/// trailing contiguous dimensions hold rows of 16 bytes or more become
/// loops copying those rows a 64-byte vector at a time; other copies become
/// linalg.copy (all of them without `vectorize`).
LogicalResult expandStridedCopy(RewriterBase &rewriter, memref::CopyOp copy,
                                bool vectorize = true);

/// Computes `func`'s results in their out-parameters where it copied them
/// there from a buffer of its own (qat-elide-result-copies).
void elideResultCopies(func::FuncOp func);

/// Rewrites the NHWC/HWCF convolution `op` (static shapes, tensors) as
/// im2col (qat/Utils/Im2col.h) and a linalg.matmul. When the im2col matrix
/// would exceed `maxIm2colBytes`, the largest batch chunk that fits is
/// converted inside an scf.for over the batch; with no such chunk, `op` stays.
/// With `implicitGemm` (the kernels read patch matrices in place, see
/// qat-vectorize-matmul), f32 convolutions of 8 filters or more are never
/// split, since their im2col matrix is never written.
LogicalResult rewriteConvAsMatmul(RewriterBase &rewriter,
                                  linalg::Conv2DNhwcHwcfOp op,
                                  int64_t maxIm2colBytes,
                                  bool implicitGemm = false);

/// The high words of arith.mulsi_extended on 1-D vectors of i32 (whose low
/// words nothing reads) as 64-bit products of the even lanes and of the odd
/// lanes, sign-extended in place, and a shuffle of their high words: two
/// vpmuldq and a vpermt2d on x86 (qat-lower-high-multiply).
void populateLowerHighMultiplyPatterns(RewritePatternSet &patterns);

/// acc[l] += sum_g zext(unsignedBytes[4l + g]) * sext(signedBytes[4l + g])
/// for vector<16xi32> acc and vector<64xi8> bytes, as pure vector ops in the
/// form qat-x86-lower-vnni-dot recognizes.
Value buildDotProduct(ImplicitLocOpBuilder &b, Value acc, Value unsignedBytes,
                      Value signedBytes);

/// A linalg.generic on static tensors whose output is indexed by its
/// parallel loops in order (the identity when all loops are parallel), the
/// innermost loop among them, whose inputs are each read either a
/// row at a time (their innermost index is the innermost loop, alone:
/// elementwise operands and gathers such as im2col) or one element per row
/// (no index depends on the innermost loop: per-channel and scalar
/// operands), at least one a row, with rows of 4 elements or more and a
/// body of scalar elementwise ops. Reduction loops outside the innermost
/// (pooling windows, column sums) are allowed.
bool isRowWise(linalg::GenericOp op);

/// Rewrites the row-wise `op` (isRowWise) as scf.for loops over its outer
/// dimensions whose body computes each row in vectors of one AVX-512
/// register (the last one shorter when the row is not a multiple); with
/// reduction loops, each row vector is read once, updated by the body in
/// scf.for loops over the reductions in their order (the scalar loops'
/// order, so the same bits), and written once (qat-vectorize-rows).
LogicalResult vectorizeRows(RewriterBase &rewriter, linalg::GenericOp op);

/// Splits a reduction of a whole tensor into float scalars (a
/// linalg.generic whose loops are all reductions, whose inputs are read
/// whole in order or as scalars, and whose body folds, per output, a value
/// computed from them into that output with one addf, mulf, minimumf,
/// maximumf, minnumf or maxnumf) into partial results over the flattened
/// inputs: up to 16 independent chunks (a parallel loop that
/// qat-parallelize-loops spreads over threads), each of one vector
/// register's worth of lanes (the innermost, parallel loop, which
/// qat-vectorize-rows keeps in a register); then each output's partials
/// folded over the chunks lane by lane, and its lanes into its original
/// init. Sums and products happen in another order
/// than the scalar loop's; the chunks depend on the shape alone, never on
/// the machine. Returns the new results.
FailureOr<SmallVector<Value>> splitFullReduction(RewriterBase &rewriter,
                                                 linalg::GenericOp op);

/// Moves every memref.dealloc in `func` (with the scf.if of its ownership
/// condition, when that holds only it) up to just after the last op of its
/// block that uses the buffer or an alias of it (qat-free-after-last-use).
void freeAfterLastUse(func::FuncOp func);

/// Moves the scf.parallel `loop` (without results, inside a function) into
/// a new private function named `name` (made unique in `symbols`) before
/// that function: the values it reads from outside are the arguments,
/// constants are cloned in; `loop` is replaced by a call, returned.
FailureOr<func::CallOp> outlineParallelLoop(RewriterBase &rewriter,
                                            scf::ParallelOp loop,
                                            StringRef name,
                                            SymbolTable &symbols);

/// Rewrites a statically shaped depthwise convolution (NHWC input, HWC
/// filter; i8 x i8 -> i32 or f32) into vector code: 16 channels a vector,
/// the accumulators of 4 output pixels in registers through all the
/// filter's taps, started from a fill or bias broadcast of the output and
/// finished by its single elementwise consumer (fused and replaced, as in
/// the matmul kernels) before one store. The taps are added in the named
/// op's order, so the results are the same bits. With `vnni`, int8 taps
/// go 4 at a time (buildDotProduct: vpdpbusd once lowered), the input made
/// unsigned and the accumulators' start corrected, exactly. With
/// `parallel`, the output rows of convolutions of at least
/// `parallelMinMacs` multiply-accumulates are the iterations of an
/// scf.forall. Returns the value that replaces the convolution (or its
/// epilogue).
FailureOr<Value> vectorizeDepthwiseConv(RewriterBase &rewriter,
                                        linalg::DepthwiseConv2DNhwcHwcOp op,
                                        bool parallel, int64_t parallelMinMacs,
                                        bool vnni);

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qat/Codegen/CPU/Passes.h.inc"

} // namespace mlir::qat

#endif // QAT_CODEGEN_CPU_PASSES_H
