//===- Passes.td - GPU code generation -------------------------*- tablegen -*-===//
//
// Part of qat-mlir. Passes that take bufferized loops onto an NVIDIA GPU
// through MLIR's gpu and nvvm dialects (qat-gpu-pipeline, docs/GPU.md).
//
//===----------------------------------------------------------------------===//

#ifndef QAT_CODEGEN_GPU_PASSES_TD
#define QAT_CODEGEN_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def GpuMapLoops : Pass<"qat-gpu-map-loops", "func::FuncOp"> {
  let summary = "Map every linalg op to a grid of GPU threads";
  let description = [{
    Lowers each linalg op of a bufferized function to loops and maps them to
    a grid: the op's parallel iterations are flattened into one index (the
    last dimension fastest, so neighbouring threads touch neighbouring
    elements), one thread per iteration, `threads-per-block` threads per
    block; its reduction loops stay sequential inside the thread. An op with
    no parallel dimension runs as a single thread.

    The result is a nest of `scf.parallel` loops annotated with their block
    and thread dimensions (`#gpu.loop_dim_map`). It runs on the CPU as it
    is, which is how the tests check the mapping against the reference, and
    `convert-parallel-loops-to-gpu` turns it into `gpu.launch`.

    Example: a 64x32 `linalg.matmul` becomes 8 blocks of 256 threads; thread
    `t` of block `g` computes row `(256g + t) / 32`, column `(256g + t) % 32`
    over the whole reduction.
  }];
  let options = [
    Option<"threadsPerBlock", "threads-per-block", "int64_t", "256",
           "threads per block (1 to 1024)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def GpuTensorCoreMatmul : Pass<"qat-gpu-tensor-core-matmul", "func::FuncOp"> {
  let summary = "Int8 matmuls as tensor-core (mma.sync) or dp4a kernels with fused epilogues";
  let description = [{
    Replaces every bufferized `linalg.matmul` of int8 by int8 into int32
    (statically shaped, default indexing maps) by one `gpu.launch`:

    * **Tensor cores** (`M >= 16`): blocks of 128 threads compute 64x64
      tiles of the result, 4 warps of 32x32 each. Each step of 32 along the
      reduction stages the A and B tiles in shared memory (B transposed, rows
      padded to 48 bytes so that the fragment loads hit 32 different banks),
      and every warp issues 8 `mma.sync.m16n8k32.s8.s8.s32` with wrapping
      int32 accumulation, as the CPU computes it. Edges are read as zeros.
      A constant B is stored transposed (a new global, N x K), and rows
      that are aligned 16-byte chunks are copied 16 bytes at a time. When A
      is a patch matrix that an im2col copy writes for this matmul alone,
      the kernel reads the copy's input in place (implicit GEMM) and the
      copy goes.
    * **dp4a** (`M < 16`, a batch-1 layer): one thread per output element,
      four bytes of the reduction per `dp4a`.

    The accumulator starts from the output's initial value. When the last
    operation before the matmul that touches memory sets it, a `linalg.fill`
    or a `linalg.broadcast` of a bias along the rows, the kernel computes
    that value itself and the op goes; otherwise it reads the output. When
    the next operation that touches memory is an all-parallel
    `linalg.generic` that reads the accumulator element for element
    (requantization, bias, clamp), and nothing else reads the accumulator
    afterwards, that generic becomes the kernel's epilogue: its body runs on
    the accumulator in registers and the int32 result is never stored.

    Runs before `qat-gpu-map-loops`, which maps every other linalg op.
    With `emulate-on-host`, the kernels are loops for the CPU instead (the
    tests' check of the tiling, the staging and the fused epilogue): blocks,
    then the threads of each phase between barriers, in order, with shared
    tiles and registers in buffers, each warp's `mma.sync` computed from the
    fragments its lanes loaded through the PTX ISA's layouts, and dp4a as
    four products.

    Example:

    ```mlir
    linalg.matmul ins(%a, %b : memref<256x144xi8>, memref<144x32xi8>)
                  outs(%acc : memref<256x32xi32>)
    linalg.generic {...} ins(%acc : memref<256x32xi32>) outs(%y : memref<256x32xi8>) {
      ... requantize ...
    }
    // becomes
    gpu.launch blocks(...) in (4, 1, 1) threads(...) in (128, 1, 1)
        workgroup(%sa : memref<64x12xi32, #gpu.address_space<workgroup>>,
                  %sb : memref<64x12xi32, #gpu.address_space<workgroup>>) {
      scf.for %k = ... {          // 5 steps of 32
        ... stage A and B in %sa, %sb; gpu.barrier
        nvvm.mma.sync ...         // 8 per warp
        gpu.barrier
      }
      ... requantize each accumulator, store int8 to %y
    }
    ```
  }];
  let options = [
    Option<"emulateOnHost", "emulate-on-host", "bool", "false",
           "emit the kernels as loops for the CPU (tests)">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def GpuMergeKernelModules : Pass<"qat-gpu-merge-kernel-modules", "ModuleOp"> {
  let summary = "Put every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` gives each kernel a `gpu.module` of its own. This
    pass moves every kernel into the first one and points the launches at
    it, so that a program has one device image: one PTX (or cubin) to embed,
    load once and check with ptxas.
  }];
}

def GpuDeviceBuffers : Pass<"qat-gpu-device-buffers", "ModuleOp"> {
  let summary = "Give GPU kernels device buffers; keep host memory at the API";
  let description = [{
    After kernel outlining, the host function passes its own memrefs to
    `gpu.launch_func`: the caller's arguments, constants
    (`memref.get_global`) and temporaries (`memref.alloc`). The runtime ABI
    keeps tensors in host memory, so this pass gives the kernels device
    memory:

    * an argument or a constant a kernel reads is copied to a new device
      buffer (`gpu.alloc`, `gpu.memcpy`) when the function starts;
    * an argument a kernel writes (an out-parameter) is copied back before
      the function returns;
    * a temporary becomes a device allocation (`gpu.alloc`, freed with
      `gpu.dealloc`), and a `memref.copy` between device buffers a
      `gpu.memcpy`;
    * every device buffer is freed before the function returns.

    With `resident-constants` (the default), a constant a kernel takes
    directly (`memref.get_global` of a constant `memref.global`: the
    weights) is not copied at all: the global moves into the `gpu.module`,
    so it is part of the PTX or cubin, loaded once with the module and
    resident on the device for every call, and the kernel reads it there.

    Views (`memref.subview`, `memref.expand_shape`, ...) of a buffer view its
    device copy. Host code that would read or write a device buffer, an
    operation the pipeline did not map to a kernel, is an error naming it.
    `gpu-async-region` then chains the copies and launches on one stream.

    Example:

    ```mlir
    func.func @f(%x: memref<64xi8>, %out: memref<64xi32>) {
      gpu.launch_func @k::@k ... args(%x : memref<64xi8>, %out : memref<64xi32>)
      return
    }
    // becomes
    func.func @f(%x: memref<64xi8>, %out: memref<64xi32>) {
      %dx = gpu.alloc () : memref<64xi8>
      gpu.memcpy %dx, %x : memref<64xi8>, memref<64xi8>
      %dout = gpu.alloc () : memref<64xi32>
      gpu.memcpy %dout, %out : memref<64xi32>, memref<64xi32>
      gpu.launch_func @k::@k ... args(%dx : memref<64xi8>, %dout : memref<64xi32>)
      gpu.memcpy %out, %dout : memref<64xi32>, memref<64xi32>
      gpu.dealloc %dx : memref<64xi8>
      gpu.dealloc %dout : memref<64xi32>
      return
    }
    ```
  }];
  let options = [
    Option<"residentConstants", "resident-constants", "bool", "true",
           "put the constants kernels read in the device image (loaded "
           "once) instead of copying them in every call">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif // QAT_CODEGEN_GPU_PASSES_TD
