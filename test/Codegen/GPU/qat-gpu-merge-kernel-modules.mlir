// RUN: qat-opt %s --qat-gpu-merge-kernel-modules | FileCheck %s

// Outlining gave each kernel a module, and both kernels the function's
// name; merged, the second takes its module's name and its launch follows.
// CHECK:     gpu.module @f_kernel {
// CHECK:       gpu.func @f_kernel(
// CHECK:       gpu.func @f_kernel_0(
// CHECK-NOT: gpu.module
// CHECK-LABEL: func.func @f
// CHECK:       gpu.launch_func @f_kernel::@f_kernel
// CHECK:       gpu.launch_func @f_kernel::@f_kernel_0
module attributes {gpu.container_module} {
  gpu.module @f_kernel {
    gpu.func @f_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  func.func @f(%x: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>)
    return
  }
}
