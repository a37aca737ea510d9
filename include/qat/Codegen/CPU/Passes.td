//===- Passes.td - CPU code generation ---------------------*- tablegen -*-===//
//
// Part of qat-mlir. Transforms of linalg on tensors (and, after bufferization,
// of loops and vectors) that qat-cpu-pipeline runs to make fast CPU code:
// matmul kernels, im2col convolutions, loop order, threading.
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CODEGEN_CPU_PASSES_TD
#define QAT_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def ProtectArguments : Pass<"qat-protect-arguments", "ModuleOp"> {
  let summary = "Never write through an entry point's arguments";
  let description = [{
    Marks every argument of every public function with a body
    `bufferization.writable = false`, so that one-shot bufferization copies
    an argument (into a new buffer) wherever the program would update it in
    place, instead of writing into the caller's memory. The copy is decided
    at compile time, only where the program needs it: a program that only
    reads its arguments is unchanged. The runtime ABI promises callers that
    inputs are read-only (they may be read-only memory, or shared by
    concurrent calls); `qat-cpu-pipeline` runs this pass before
    bufferization.

    Example:

    ```mlir
    func.func @bump(%x: tensor<4xf32>) -> tensor<4xf32> {
      %y = linalg.generic {...} outs(%x : tensor<4xf32>) { ... }
      return %y : tensor<4xf32>
    }
    // becomes
    func.func @bump(%x: tensor<4xf32> {bufferization.writable = false})
        -> tensor<4xf32> { ... }
    // and after bufferization %x is copied into a new buffer before the
    // generic writes it
    ```
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def FreeAfterLastUse : Pass<"qat-free-after-last-use", "func::FuncOp"> {
  let summary = "Free each buffer right after its last use";
  let description = [{
    The ownership-based deallocation pipeline frees the buffers a block
    allocates at the end of that block, so every temporary of a program
    lives until it returns: ResNet-50's calibration step held all its
    activations at once (2.6 GB at batch 16), its training step 9.6 GB.
    This pass moves each `memref.dealloc` (alone, or in the `scf.if` of its
    ownership condition) up to just after the last op of its block that
    uses the buffer or any alias of it: any memref an op computes from it
    (views, casts, loop results) and the results of the op around a
    terminator that yields it. A buffer whose address is taken as an
    integer (`memref.extract_aligned_pointer_as_index`), or used outside
    the dealloc's block other than inside an op of that block, keeps its
    dealloc. Nothing but the time of each free changes.

    Example:

    ```mlir
    %a = memref.alloc() : memref<8xf32>
    linalg.fill ins(%zero : f32) outs(%a : memref<8xf32>)
    linalg.copy ins(%a : memref<8xf32>) outs(%out : memref<8xf32>)
    %b = memref.alloc() : memref<1024xf32>
    ...
    memref.dealloc %a : memref<8xf32>
    // becomes
    linalg.copy ins(%a : memref<8xf32>) outs(%out : memref<8xf32>)
    memref.dealloc %a : memref<8xf32>
    %b = memref.alloc() : memref<1024xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def ElideResultCopies : Pass<"qat-elide-result-copies", "func::FuncOp"> {
  let summary = "Compute results in their out-parameters, not in a copy";
  let description = [{
    After `buffer-results-to-out-params`, a result that was not a plain
    allocation when it was returned (a reshaped view that later folded, a
    buffer the program filled through views) is computed in a buffer of
    its own and copied into its out-parameter just before the return. When
    the copy's source is an allocation of the out-parameter's type, the
    out-parameter has no other use, and nothing but the other result copies
    runs after it, the allocation is replaced by the out-parameter and the
    copy erased: the result is written once, where the caller wants it. A
    value returned twice keeps one copy (the second out-parameter is copied
    from the first).

    Example:

    ```mlir
    func.func @f(%x: memref<8xf32>, %out: memref<8xf32>) {
      %a = memref.alloc() : memref<8xf32>
      linalg.copy ins(%x : memref<8xf32>) outs(%a : memref<8xf32>)
      memref.copy %a, %out : memref<8xf32> to memref<8xf32>
      return
    }
    // becomes
    func.func @f(%x: memref<8xf32>, %out: memref<8xf32>) {
      linalg.copy ins(%x : memref<8xf32>) outs(%out : memref<8xf32>)
      return
    }
    ```
  }];
}

def BatchMatmulToMatmul : Pass<"qat-batch-matmul-to-matmul", "func::FuncOp"> {
  let summary = "Rewrite batch matmuls as a loop of matmuls";
  let description = [{
    Rewrites a statically shaped `linalg.batch_matmul` on tensors into an
    `scf.for` over the batch whose body extracts one `M x K` and one `K x N`
    slice, multiplies them with `linalg.matmul` and inserts the `M x N`
    result, so that each product runs on the matmul kernels.

    ```mlir
    %c = linalg.batch_matmul ins(%a, %b : tensor<4x8x16xf32>, tensor<4x16x8xf32>) ...
    // becomes
    %c = scf.for %i = 0 to 4 iter_args(%acc = %init) {
      %ai = tensor.extract_slice %a[%i, 0, 0] [1, 8, 16] [1, 1, 1] : ... to tensor<8x16xf32>
      ...
      %ci = linalg.matmul ins(%ai, %bi ...) outs(%oi ...)
      scf.yield (tensor.insert_slice %ci into %acc[%i, 0, 0] ...)
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvToMatmul : Pass<"qat-conv-to-matmul", "func::FuncOp"> {
  let summary = "Rewrite NHWC/HWCF convolutions as im2col and a matmul";
  let description = [{
    Rewrites a statically shaped `linalg.conv_2d_nhwc_hwcf` (any strides and
    dilations) into an im2col gather, a `linalg.matmul` and reshapes:

    ```
    patches[n][oh][ow][kh][kw][c] = x[n][oh*sh + kh*dh][ow*sw + kw*dw][c]
    cols = collapse(patches) : [N*OH*OW][KH*KW*C]
    out[N*OH*OW][F] += cols x filter[KH*KW*C][F]
    ```

    so that the convolution runs on the matmul kernels (register-blocked FMA
    for f32, VNNI for int8 with constant filters packed at compile time).
    The reduction runs over (kh, kw, c) in the convolution's own order.
    A convolution whose im2col matrix would exceed `max-im2col-bytes` is
    converted a batch chunk at a time (the largest divisor of the batch that
    fits), in an `scf.for`, or left alone when not even one image fits (it
    keeps the loop-interchange path). With `implicit-gemm`, f32 convolutions
    of at least 8 filters are converted whole at any size: the kernels read
    their patches from the input in place, and chunks would only add copies
    of each chunk's input and output slices. An all-parallel generic
    consuming the convolution (bias, requantize, ReLU) is then collapsed to
    the matmul's 2-D shape, with the expand_shape moved after it, so that
    the matmul kernels fuse it as their epilogue.

    Example:

    ```mlir
    %y = linalg.conv_2d_nhwc_hwcf ins(%x, %w : tensor<1x8x8x4xf32>, tensor<3x3x4x16xf32>)
        outs(%init : tensor<1x6x6x16xf32>) -> tensor<1x6x6x16xf32>
    // becomes
    %patches = linalg.generic {...} ins(%x : tensor<1x8x8x4xf32>)
        outs(%e : tensor<1x6x6x3x3x4xf32>)          // im2col, no index division
    %a = tensor.collapse_shape %patches [[0, 1, 2], [3, 4, 5]] : ... into tensor<36x36xf32>
    %b = tensor.collapse_shape %w [[0, 1, 2], [3]] : ... into tensor<36x16xf32>
    %c = tensor.collapse_shape %init [[0, 1, 2], [3]] : ... into tensor<36x16xf32>
    %m = linalg.matmul ins(%a, %b : ...) outs(%c : tensor<36x16xf32>) -> tensor<36x16xf32>
    %y = tensor.expand_shape %m [[0, 1, 2], [3]] output_shape [1, 6, 6, 16] : ...
    ```
  }];
  let options = [
    Option<"maxIm2colBytes", "max-im2col-bytes", "int64_t",
           "64 * 1024 * 1024",
           "largest im2col matrix to materialize, in bytes">,
    Option<"implicitGemm", "implicit-gemm", "bool", "false",
           "the matmul kernels read f32 patch matrices of at least 8 "
           "columns in place (qat-vectorize-matmul): never split those by "
           "max-im2col-bytes">,
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def DecomposeAggregates : Pass<"qat-decompose-aggregates", "func::FuncOp"> {
  let summary = "Decompose aggregate linalg ops (softmax) into generic ops";
  let description = [{
    Rewrites every op implementing `linalg::AggregatedOpInterface` on tensors
    (for example `linalg.softmax`) into the sequence of simpler linalg ops it
    stands for (max, subtract and exponentiate, sum, divide), which the rest
    of qat-cpu-pipeline can fuse, bufferize and lower.

    Example:

    ```mlir
    %y = linalg.softmax dimension(1) ins(%x : tensor<2x10xf32>)
        outs(%e : tensor<2x10xf32>) -> tensor<2x10xf32>
    // becomes: max reduction, exp(x - max), sum reduction, division
    %max = linalg.generic {iterator_types = ["parallel", "reduction"]} ...
    %exp = linalg.generic {iterator_types = ["parallel", "parallel"]} ...
    %sum = linalg.generic {iterator_types = ["parallel", "reduction"]} ...
    %y = linalg.generic {iterator_types = ["parallel", "parallel"]} ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ExpandMath : Pass<"qat-expand-math", "func::FuncOp"> {
  let summary = "Write math ops LLVM has no lowering for (erf) as arithmetic";
  let description = [{
    `math.erf` (GELU, as ONNX exports it) has no LLVM intrinsic; this pass
    rewrites it, scalar or vector, as MLIR's polynomial approximation
    (`populatePolynomialApproximateErfPattern`: a rational approximation
    accurate to a few ulp of f32), so that compiled code needs no libm
    symbol for it. Other math ops are left to the LLVM lowering.

    Example:

    ```mlir
    %y = math.erf %x : f32
    // becomes: clamps, an FMA chain of the rational approximation, selects
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def OutlineKernels : Pass<"qat-outline-kernels", "ModuleOp"> {
  let summary = "One private function per matmul shape, called everywhere";
  let description = [{
    Moves every `linalg.matmul` on tensors whose operands are all computed
    (no constant weight, nor 4-bit codes unpacked at run time, which
    `qat-x86-vnni-matmul` packs at compile time)
    into a private function, one per distinct signature (operand and result
    types), and calls it. A network's layers repeat few shapes, and a
    training program runs each layer's shapes several times (forward,
    gradients, calibration): the register-blocked kernel the later passes
    generate for a shape is then compiled once, not once per use. ResNet-18's
    training program has 3.6x fewer kernels to compile.

    When A is a patch matrix that a copying gather computes into a
    `tensor.empty` (im2col, through a collapse_shape), the gather goes into
    the kernel with the matmul (`qat_matmul_<M>x<K>x<N>_..._gathered`, which
    takes the gather's input instead of A), so that the kernel passes can
    read that input in place (implicit GEMM) instead of writing the patches.

    C's start and the matmul's epilogue go in too, so that the kernel
    passes see what they would see in the caller. When a `linalg.fill` or
    a row `linalg.broadcast` (a bias) that nothing else reads computes C
    (through collapse_shapes), the kernel takes the fill's value or the
    bias and makes C itself, as a matrix: the kernels start their
    accumulators from it without reading C. The matmul's single elementwise
    consumer (the epilogue qat-vectorize-matmul fuses: bias, residual,
    activation, requantization) is cloned in with a fresh output tensor,
    its other inputs as arguments and the constants its body uses cloned
    in (`..._epilogue`). The kernel then returns a tensor it allocates,
    which bufferization makes the caller's out-parameter. Otherwise the
    caller filled C, the kernel read it and then copied its result into
    the out-parameter, and the epilogue read it back from memory: three
    extra passes over every convolution's output. Kernels are shared when
    their IR is the same.

    Example:

    ```mlir
    %y = linalg.matmul ins(%a, %b : tensor<64x147xf32>, tensor<147x64xf32>)
        outs(%c : tensor<64x64xf32>) -> tensor<64x64xf32>
    // becomes
    %y = func.call @qat_matmul_64x147x64_f32(%a, %b, %c) : ...
    func.func private @qat_matmul_64x147x64_f32(...) attributes {no_inline}
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def OutlineParallelLoops : Pass<"qat-outline-parallel-loops", "ModuleOp"> {
  let summary = "Each outermost scf.parallel on buffers in a function of its own";
  let description = [{
    Moves every outermost `scf.parallel` without results (the threads'
    loops, after bufferization) into a private function of its own, called
    where the loop was: the values the loop reads from outside become the
    function's arguments, constants are cloned in. LLVM's OpenMP lowering
    outlines each parallel region with a code extractor that scans the whole
    function holding it, so a training step with 1,453 regions in one
    function (ResNet-50's) took a minute to translate to LLVM IR; in
    functions of their own, each region is scanned alone. The split module's
    parts also balance better over the compiling threads. Nothing changes in
    what the program computes.

    Example:

    ```mlir
    scf.parallel (%i) = (%c0) to (%c2) step (%c1) { ... %x ... }
    // becomes
    func.call @train_step_parallel_0(%x) : (memref<...>) -> ()
    func.func private @train_step_parallel_0(%x: memref<...>) {
      %c0 = arith.constant 0 : index
      ...
      scf.parallel (%i) = (%c0) to (%c2) step (%c1) { ... %x ... }
      return
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def ExpandStridedCopies : Pass<"qat-expand-strided-copies", "func::FuncOp"> {
  let summary = "Turn memref.copy of strided memrefs into linalg.copy";
  let description = [{
    LLVM lowering turns a `memref.copy` between contiguous memrefs into a
    memcpy, but any other copy into a call to `memrefCopy` from MLIR's
    runner-utils library, which compiled models must not depend on. This pass
    rewrites those copies (for example into a subview made by bufferizing
    `tensor.pad` or `tensor.insert_slice`) as loops: with static shapes and
    strides, the trailing dimensions contiguous in both memrefs are
    collapsed into rows, and rows of 16 bytes or more are copied a 64-byte
    vector at a time (LLVM would copy them element by element); other copies
    become `linalg.copy`, which later becomes plain loops.

    ```mlir
    memref.copy %a, %b : memref<4x32xi8> to memref<4x32xi8, strided<[40, 1]>>
    // becomes
    scf.for %i = %c0 to %c4 step %c1 {
      %v = vector.transfer_read %a[%i, %c0] ... : memref<4x32xi8>, vector<32xi8>
      vector.transfer_write %v, %b[%i, %c0] ... : vector<32xi8>, memref<4x32xi8, strided<[40, 1]>>
    }
    memref.copy %c, %d : memref<4x2xi8> to memref<4x2xi8, strided<[8, 1]>>
    // (rows of 2 bytes) becomes
    linalg.copy ins(%c : memref<4x2xi8>) outs(%d : memref<4x2xi8, strided<[8, 1]>>)
    ```
  }];
  let options = [
    Option<"vectorize", "vectorize", "bool", "true",
           "copy rows of 16 bytes or more as vectors (false: always "
           "linalg.copy, which qat-gpu-pipeline maps to GPU threads)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def FuseElementwise : Pass<"qat-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse elementwise ops and reshapes, sparing the kernel ops";
  let description = [{
    Upstream `linalg-fuse-elementwise-ops` (elementwise producer/consumer
    fusion, reshape propagation by expansion, linalg canonicalizations), with
    one difference: a reshape is never folded into a named matmul, batch
    matmul or convolution, and those ops are never fused into or expanded.
    Upstream would turn `matmul(collapse_shape(x), ...)` into a
    `linalg.generic` over the expanded dimensions, which then misses the
    matmul kernels (`qat-vectorize-matmul`, `qat-x86-vnni-matmul`,
    `qat-conv-to-matmul`) and runs as scalar loops. Gradients built by
    `qat-build-train-step` produce exactly such reshapes (im2col matrices).

    Example:

    ```mlir
    %y = linalg.matmul ins(%a, %b : ...) outs(%z : tensor<64x256xf32>)
    %t = linalg.generic {...} ins(%y, %bias : ...) { arith.addf }    // bias
    %r = linalg.generic {...} ins(%t : ...) { arith.maximumf }       // ReLU
    // becomes: the matmul stays named (for its kernel); the bias and ReLU
    // are one linalg.generic computing max(y + bias, 0)
    %y = linalg.matmul ins(%a, %b : ...) outs(%z : tensor<64x256xf32>)
    %r = linalg.generic {...} ins(%y, %bias : ...) { arith.addf; arith.maximumf }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

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

    Example (a contraction whose output's contiguous dimension `n` is not the
    innermost loop):

    ```mlir
    linalg.generic {indexing_maps = [(m, n, k) -> (m, k), (m, n, k) -> (k, n),
                                     (m, n, k) -> (m, n)],
                    iterator_types = ["parallel", "parallel", "reduction"]} ...
    // becomes the same generic with loops ordered (m, k, n): the reduction
    // outside, the contiguous output loop innermost, which LLVM vectorizes
    linalg.generic {indexing_maps = [(m, k, n) -> (m, k), (m, k, n) -> (k, n),
                                     (m, k, n) -> (m, n)],
                    iterator_types = ["parallel", "reduction", "parallel"]} ...
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def ParallelizeLoops : Pass<"qat-parallelize-loops", "func::FuncOp"> {
  let summary = "Split large linalg ops into per-thread chunks";
  let description = [{
    Tiles the outermost parallel loop of every linalg op on tensors with at
    least `min-iterations` iterations (elementwise ops, pooling, reductions
    over inner dimensions, gathers, transposes, the generic adjoints of
    training) into `threads` equal chunks, as an `scf.forall` that
    qat-cpu-pipeline runs on OpenMP threads. Ops already inside an
    `scf.forall` (the matmul kernels' strips) and ops whose outermost
    parallel loop has fewer iterations than `threads` are left alone.
    Chunks are independent: each computes a disjoint slice of the result,
    with the same per-element arithmetic, so results are bit for bit the
    same.

    First, each statically shaped `tensor.pad` of a constant with at least
    `min-iterations` elements becomes a `linalg.fill` of the padded tensor
    and a `linalg.copy` of the source into its interior (through the
    extract_slice / insert_slice pair that bufferization writes in place),
    which are then split like any other op: bufferized as it is, a pad is
    a fill and a copy loop on one thread (ResNet-50's padded activations,
    tens of MB per layer at batch 16).

    Example (threads = 2):

    ```mlir
    %y = linalg.generic {iterator_types = ["parallel", "parallel"]}
        ins(%x : tensor<256x1024xf32>) outs(%e : tensor<256x1024xf32>) ...
    // becomes
    %y = scf.forall (%i) in (2) shared_outs(%o = %e) -> tensor<256x1024xf32> {
      %xs = tensor.extract_slice %x[%i * 128, 0] [128, 1024] [1, 1] : ...
      %os = tensor.extract_slice %o[%i * 128, 0] [128, 1024] [1, 1] : ...
      %ys = linalg.generic {...} ins(%xs : ...) outs(%os : ...) ...
      scf.forall.in_parallel {
        tensor.parallel_insert_slice %ys into %o[%i * 128, 0] [128, 1024] [1, 1] : ...
      }
    }
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", "2", "number of chunks">,
    Option<"minIterations", "min-iterations", "int64_t", "65536",
           "smallest op (product of its loop sizes) worth splitting">,
  ];
  let dependentDialects = [
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def SplitReductions : Pass<"qat-split-reductions", "func::FuncOp"> {
  let summary = "Reductions of whole tensors as chunks of vector lanes";
  let description = [{
    Rewrites each reduction of a whole static tensor into float scalars (all
    loops reductions; inputs read whole in order or as scalars; a body that
    folds, for each output, one value computed from the inputs into it with
    addf, mulf, minimumf, maximumf, minnumf or maxnumf: a learned scale's
    gradient, a loss, an observer's minimum and maximum) into partial
    results over the inputs flattened into rows of 16 lanes (64 bytes of the
    element type), the rows cut into up to 16 chunks of at least 256 rows
    each, then each output's partials folded over the chunks lane by lane
    (vector code) and its lanes into its original init. The
    partial results are a generic over (chunk, row, lane) with the chunks
    its outermost parallel loop, which qat-parallelize-loops splits among
    threads, and the lanes its innermost, which qat-vectorize-rows keeps in
    a vector register; the scalar loop it replaces ran on one thread and
    stored each running result to memory on every element (LLVM cannot
    prove the output apart from the inputs). The chunks depend on the shape
    alone, never on the machine. Minima and maxima are the same bits; sums
    and products run in a different order, so they differ from the scalar
    loop's in their last bits. Reductions of fewer than 32 elements, or of a
    number not a multiple of 16, are left alone.

    Example:

    ```mlir
    %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                          affine_map<(i, j) -> ()>],
                         iterator_types = ["reduction", "reduction"]}
        ins(%x : tensor<8x32xf32>) outs(%init : tensor<f32>) ...
    // becomes a sum over (c, r, l) of %x viewed as tensor<1x16x16xf32> into
    // a tensor<1x16xf32> of zeros, indexed by (c, l), then the 16 partial
    // sums added to %init. A tensor<16x56x56x64xf32> is viewed as
    // tensor<16x12544x16xf32>: 16 chunks.
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def VectorizeRows : Pass<"qat-vectorize-rows", "func::FuncOp"> {
  let summary = "Vector code, a row at a time, for elementwise ops and gathers";
  let description = [{
    Rewrites each row-wise linalg.generic on static tensors (the output
    indexed by the parallel loops in order, the innermost loop parallel;
    each input read a row at a time, its innermost
    index being the innermost loop alone, or one element per row, no index
    depending on it; rows of 4 elements or more; a body of scalar
    elementwise ops) into scf.for loops over the outer dimensions whose body
    reads each row in vectors of one AVX-512 register (64 bytes of the
    widest element type; a shorter last vector when the row is not a
    multiple), applies the body to them and writes them. Reduction loops
    outside the innermost (max pooling's window, a column sum) become
    scf.for loops, in their order, around the body, with the row vector
    read before them and written after: the accumulation stays in a
    register. Left to
    convert-linalg-to-loops, LLVM vectorizes none of these loops (it cannot
    prove the operands apart), and copies, bias adds, activations,
    requantization, the VNNI kernel's input bias, im2col and int8 max
    pooling then run a byte or a float at a time. Run after qat-parallelize-loops, so that each
    thread's chunk is rewritten. The per-element arithmetic is the body's,
    so results are the same bit for bit. Several outputs indexed alike (a
    fake-quant's straight-through gradient and its scale's per-element
    term; an observer's running minimum and maximum) are written from the
    same chunk, their rows threaded together through the reduction loops.
    The body may compute positions from the indices of the outer
    loops (`linalg.index`, `affine.apply`: which element of a pooling
    window holds the maximum); they are the same for the whole row and stay
    scalars, broadcast where they meet the row's values.

    Example:

    ```mlir
    %p = linalg.generic {indexing_maps = [
           affine_map<(n, h, w, kh, kw, c) -> (n, h + kh, w + kw, c)>,
           affine_map<(n, h, w, kh, kw, c) -> (n, h, w, kh, kw, c)>], ...}
        ins(%x : tensor<1x6x6x16xi8>) outs(%e : tensor<1x4x4x3x3x16xi8>) ...
    // becomes five nested scf.for loops whose body is
    %row = vector.transfer_read %x[%n, %h + %kh, %w + %kw, %c0] ... vector<16xi8>
    %p' = vector.transfer_write %row, %p[%n, %h, %w, %kh, %kw, %c0] ...
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def VectorizeDepthwise : Pass<"qat-vectorize-depthwise", "func::FuncOp"> {
  let summary = "Vector code for depthwise convolutions, epilogue fused";
  let description = [{
    Rewrites each statically shaped `linalg.depthwise_conv_2d_nhwc_hwc`
    (i8 x i8 -> i32, or f32; any strides and dilations; the input already
    padded) on tensors into loops over output rows (n, oh), blocks of 16
    channels and blocks of 4 output pixels of the row. A channel block's
    filter taps (9 vectors for 3x3) are loaded once per row; each pixel's
    accumulator vector stays in a register through all the taps, each tap
    one input vector (sign-extended for int8) multiplied and added. The
    accumulators start from the output's fill or bias broadcast when it
    has one (never reading it); a single elementwise consumer of the
    convolution (as for qat-vectorize-matmul: requantization, activation,
    per-element, per-channel or scalar inputs) is applied to them before
    the store, and replaced, so the int32 result is never written. A last
    block of fewer than 16 channels is masked. The taps are added in the
    named op's order: the results are the same bits as the scalar loops'.
    With `vnni` (int8), the taps go 4 at a time instead: the 4 taps' bytes
    of each channel interleaved into one lane of a 64-byte vector (filter
    once per row, input per pixel, made unsigned by flipping the sign bit),
    summed by the dot product qat-x86-lower-vnni-dot makes vpdpbusd, the
    accumulators started 128 times the taps' sum lower: exact, 3 dot
    products for a 3x3 filter instead of 9 multiplies and adds.
    With `parallel`, the output rows of convolutions of at least
    `parallel-min-macs` multiply-accumulates are the iterations of an
    `scf.forall` (qat-cpu-pipeline runs them on OpenMP threads).

    Example:

    ```mlir
    %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>,
        strides = dense<1> : tensor<2xi64>}
        ins(%x, %w : tensor<1x10x10x32xi8>, tensor<3x3x32xi8>)
        outs(%bias : tensor<1x8x8x32xi32>) -> tensor<1x8x8x32xi32>
    %q = linalg.generic ... ins(%y, ...) -> tensor<1x8x8x32xi8>  // requantize
    // becomes loops over the 8 rows, 2 channel blocks and 2 blocks of 4
    // pixels; in each, 4 vector<16xi32> accumulators take 9 taps each
    // (arith.extsi, arith.muli, arith.addi), are requantized to
    // vector<16xi8> and written into %q's output.
    ```
  }];
  let options = [
    Option<"parallel", "parallel", "bool", "false",
           "run output rows as the iterations of an scf.forall">,
    Option<"parallelMinMacs", "parallel-min-macs", "int64_t", "1 << 20",
           "smallest convolution (multiply-accumulates) to parallelize">,
    Option<"vnni", "vnni", "bool", "false",
           "int8: 4 taps per instruction in the form qat-x86-lower-vnni-dot "
           "makes vpdpbusd (the target has AVX-512 VNNI)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
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
    Rows that do not fill a block are one shorter block; columns past the
    end of a row are masked. A C narrower than `tile-n` gets the narrowest
    panel that covers it (`tile-n` halved, down to 8 lanes), so no lanes are
    wasted on it; a C of fewer than 8 columns (a matrix-vector product when
    it has one), with at least 64 reduction steps, is computed as dot
    products instead: 16 elements of a row of A times 16 of a column of B
    (B transposed once) per step, a group of rows at a time, each sum
    reduced across lanes at the end.

    With `implicit-gemm`, an A that a copying gather computes (im2col,
    through a collapse_shape into rows and columns) is read from the
    gather's input and the patch matrix is never written: element (i, k)
    is at rowOffset(i) + columnOffset(k), both linear in the gather's
    indices, the column offsets a constant table (for the dot products,
    one per 16 contiguous elements: the gather's innermost index must run
    over a multiple of 16). With `pack-constants`, a constant B (a frozen
    weight, also through a collapse_shape) is stored at compile time as
    `[n / tile-n][k][tile-n]`, the last panel padded with zeros, so each
    reduction step reads one contiguous segment instead of one B row apart
    from the last (n floats: 2 KiB at 512 columns, where the panel's rows
    share few L1 sets). A single elementwise consumer of the matmul
    (a `linalg.generic` reading it through the identity map, other inputs
    per element, per column or scalar: bias, residual, activation,
    requantization) is applied to the accumulators before they are stored
    into the consumer's output, and replaced by the kernel.
    With `parallel`, the strips of `tile-m` rows of
    matmuls of at least `parallel-min-macs` multiply-accumulates are the
    iterations of an `scf.forall` (qat-cpu-pipeline runs them on OpenMP
    threads).

    A B of more than `reduction-block-bytes` (k rows of n floats) is read
    a block of its rows at a time, blocks of at least 128 rows and at most
    that many bytes: an `scf.for` over the blocks runs all strips of rows
    over one block before the next, so the block stays in the L2 cache
    while every strip reads it, instead of all of B streaming from memory
    for every strip. The partial sums wait in C between blocks (with an
    epilogue, in its output, when that is f32; otherwise, and when no block
    of 128 rows fits the budget, the reduction runs whole). ResNet-50's
    last 3x3 convolutions at batch 16 (784x4608x512, 9 MiB of B) ran in
    25 ms instead of 59 ms.

    The reduction of each output element runs in order, as in the scalar
    loops, but with fused multiply-adds (one rounding per step instead of
    two), as BLAS libraries do; blocks keep that order, so the bits are the
    same with or without them.

    Example: a 256x784x64 matmul becomes an `scf.for` loop over 42 blocks
    of 6 rows (one column panel of 64), each around a 784-step loop
    carrying six `vector<64xf32>` accumulators (24 AVX-512 registers), and
    one block of the 4 rows left. Six rows by 64 columns load 4 vectors of
    B and 6 elements of A for 24 FMAs per step, where 8 by 32 loaded 2 and
    8 for 16: a ResNet-50 calibration batch of 16 ran 0.79-0.81 s instead
    of 0.82-0.89 s (interleaved in one process).

    Example:

    ```mlir
    %y = linalg.matmul ins(%a, %b : tensor<64x256xf32>, tensor<256x128xf32>)
        outs(%c : tensor<64x128xf32>) -> tensor<64x128xf32>
    // becomes loops over 6x64 blocks of %y (the last block of rows 4
    // long); in each, the reduction loop keeps the 6 accumulators of 64
    // lanes (24 registers) in registers:
    scf.for %k = %c0 to %c256 step %c1 iter_args(%acc = ...) {
      %bk = vector.transfer_read %b[%k, %j] : ..., vector<64xf32>
      %ai = vector.broadcast %a_ik : f32 to vector<64xf32>
      %acc_next = vector.fma %ai, %bk, %acc : vector<64xf32>
      ...
    }
    ```
  }];
  let options = [
    Option<"tileM", "tile-m", "int64_t", "6", "rows of the register block">,
    Option<"tileN", "tile-n", "int64_t", "64",
           "columns of the register block (a multiple of the vector width)">,
    Option<"parallel", "parallel", "bool", "false",
           "run strips of tile-m rows as the iterations of an scf.forall">,
    Option<"parallelMinMacs", "parallel-min-macs", "int64_t", "1 << 20",
           "smallest matmul (M * N * K) to parallelize">,
    Option<"implicitGemm", "implicit-gemm", "bool", "true",
           "read an A that a copying gather computes (im2col) from the "
           "gather's input, without the patch matrix">,
    Option<"packConstants", "pack-constants", "bool", "true",
           "store a constant B panel by panel ([n / tile-n][k][tile-n]) so "
           "that the kernel reads it contiguously">,
    Option<"reductionBlockBytes", "reduction-block-bytes", "int64_t",
           "512 << 10",
           "the most bytes of B one block of the reduction spans (0: the "
           "whole reduction at once)">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def X86VnniMatmul : Pass<"qat-x86-vnni-matmul", "func::FuncOp"> {
  let summary = "AVX-512 VNNI code for int8 x int8 -> int32 matmuls";
  let description = [{
    Rewrites each statically shaped, signed int8 x int8 -> int32
    `linalg.matmul` on tensors into register-blocked code around VNNI dot
    products (64 byte products, summed in groups of 4 into 16 int32 lanes,
    per vpdpbusd). The dot products are emitted as pure vector arithmetic
    (zero/sign extension, multiply, `vector.multi_reduction`) so that
    bufferization can reason about them; `qat-x86-lower-vnni-dot` turns them
    into `llvm.x86.avx512.vpdpbusd.512` after bufferization. vpdpbusd multiplies
    unsigned by signed bytes, so A is biased by 128 (each byte xor 0x80) and
    the accumulators start at `C - 128 * colsum(B)`, which cancels the bias
    exactly: the results equal the scalar int32 arithmetic.

    B is packed to `[ceil(N/16)][ceil(K/4)][64]` bytes (4 consecutive k of 16
    columns per vector), zero padded; a constant B (frozen weights) is packed
    at compile time, others at run time. Blocks of 8 rows x 32 columns keep 16
    accumulators in registers across the reduction; leftover rows are one
    shorter block, leftover columns masked. Elementwise consumers are fused and
    `parallel` strips are made as in qat-vectorize-matmul. An A that a
    copying gather computes (im2col, through a collapse_shape into rows and
    columns) whose innermost index runs over a multiple of 4 contiguous
    elements is read from the gather's input, biased once (`implicit-gemm`):
    element (i, k) is at rowOffset(i) + columnOffset(k), both linear, the
    column offsets of the groups of 4 a constant table. Another A computed
    by a generic nothing else reads gets the bias inside that generic. A
    matmul initialized by a `linalg.fill` starts its accumulators from the
    fill value. Neither A nor C is passed over twice.

    Pruned constant weights (`sparse-weights`, on by default) are stored as
    the cost rule of docs/Pruning.md chooses: with at least `min-zero-tiles`
    of their 4x16 tiles zero, only the nonzero tiles and a CSR index, which a
    16-column-panel kernel walks (skipping the zero tiles); else, when every
    group of 4 along k has at most 2 nonzeros (2:4, 1:4), as N values and
    2-bit positions per group, expanded at run time; else dense. Results are
    the dense kernel's, bit for bit.

    Only for targets with AVX-512 VNNI: qat-compile enables it when the target
    CPU has `avx512vnni` (`qat-cpu-pipeline{vnni=true}` in qat-opt).

    Example:

    ```mlir
    %y = linalg.matmul ins(%a, %b : tensor<64x256xi8>, tensor<256x128xi8>)
        outs(%c : tensor<64x128xi32>) -> tensor<64x128xi32>
    // becomes: %b (a constant) packed at compile time into groups of 4 along
    // k, %a biased by 128 once (u8 codes) and corrected with %b's column
    // sums, and register-blocked loops whose inner step is
    %acc_next = ... vector<64xi8> x vector<64xi8> -> vector<16xi32> dot products
    // in the form qat-x86-lower-vnni-dot turns into vpdpbusd
    ```
  }];
  let options = [
    Option<"parallel", "parallel", "bool", "false",
           "run strips of 8 rows as the iterations of an scf.forall">,
    Option<"parallelMinMacs", "parallel-min-macs", "int64_t", "1 << 24",
           "smallest matmul (M * N * K) to parallelize (VNNI is about 4x "
           "faster per multiply-accumulate than f32, so the bar is higher)">,
    Option<"sparseWeights", "sparse-weights", "bool", "true",
           "store pruned constant weights compressed and skip their zero "
           "tiles, by the cost rule (false: always dense)">,
    Option<"implicitGemm", "implicit-gemm", "bool", "true",
           "read an A that a copying gather computes (im2col) from the "
           "gather's input, without the patch matrix">,
    Option<"minZeroTiles", "min-zero-tiles", "double", "0.5",
           "the fraction of all-zero 4x16 tiles from which the block-sparse "
           "kernel is used">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def LowerHighMultiply : Pass<"qat-lower-high-multiply", "func::FuncOp"> {
  let summary = "High words of 32-bit vector products as even and odd 64-bit products";
  let description = [{
    Rewrites the high result of `arith.mulsi_extended` on a 1-D vector of
    i32 whose low result is unused (requantization's high-word form) as

    ```mlir
    %pairs = vector.bitcast %a : vector<16xi32> to vector<8xi64>   // and %b
    %even = arith.shrsi (arith.shli %pairs, 32), 32   // lanes 0, 2, ... sign-extended
    %odd = arith.shrsi %pairs, 32                     // lanes 1, 3, ...
    %pe = arith.muli %even_a, %even_b : vector<8xi64>
    %po = arith.muli %odd_a, %odd_b : vector<8xi64>
    %high = vector.shuffle (bitcast %pe), (bitcast %po) [1, 17, 3, 19, ...]
    ```

    which LLVM compiles to two vpmuldq and one vpermt2d. Left as a 64-bit
    multiply of extended vectors, LLVM zero-extends, multiplies, shifts and
    truncates each half (about 9 instructions instead of 4) whenever the
    multiplier is not a splat: every per-channel requantization. The same
    bits.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def X86LowerVnniDot : Pass<"qat-x86-lower-vnni-dot", "func::FuncOp"> {
  let summary = "Turn byte dot products into the AVX-512 VNNI instruction";
  let description = [{
    Rewrites the vector form of a VNNI dot product,

    ```mlir
    %a = arith.extui (vector.shape_cast %x : vector<64xi8> to vector<16x4xi8>)
    %b = arith.extsi (vector.shape_cast %y : vector<64xi8> to vector<16x4xi8>)
    %r = vector.multi_reduction <add>, (arith.muli %a, %b), %acc [1]
        : vector<16x4xi32> to vector<16xi32>
    ```

    into `llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"(%acc, %x, %y)`,
    which computes exactly that. Runs after bufferization (the intrinsic call
    has no declared memory effects). Only for targets with AVX-512 VNNI.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // QAT_CODEGEN_CPU_PASSES_TD
