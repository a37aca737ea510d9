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
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif // QAT_CODEGEN_GPU_PASSES_TD
