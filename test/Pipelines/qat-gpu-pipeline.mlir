// qat-gpu-pipeline: an integer layer (matmul, requantization, a constant
// weight) becomes three kernels in one PTX image for the chosen chip, and host
// code that copies the input and the weight to the device, launches the
// kernels on one stream, copies the result back and frees everything.
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline | FileCheck %s
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline="gpu-arch=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline="threads-per-block=128" | FileCheck %s --check-prefix=T128

// CHECK-NOT: linalg.
// CHECK-NOT: scf.
// CHECK-LABEL: llvm.func @layer(
// CHECK:         llvm.call @mgpuStreamCreate()
// 4 buffers: the input, the weight, the accumulator, the result.
// CHECK-COUNT-4: llvm.call @mgpuMemAlloc
// CHECK:         gpu.launch_func {{.*}} @layer_kernel::@layer_kernel blocks in
// CHECK:         gpu.launch_func {{.*}} @layer_kernel::@layer_kernel_0 blocks in
// CHECK:         gpu.launch_func {{.*}} @layer_kernel::@layer_kernel_1 blocks in
// CHECK:         llvm.call @mgpuMemcpy
// CHECK:         llvm.call @mgpuMemFree
// CHECK:         llvm.call @mgpuStreamSynchronize
// CHECK:         llvm.call @mgpuStreamDestroy
// CHECK:       gpu.binary @layer_kernel [#gpu.object<#nvvm.target<chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "{{.*}}.target sm_90
// CHECK-SAME:    .visible .entry layer_kernel(
// CHECK-SAME:    .visible .entry layer_kernel_0(
// CHECK-SAME:    .visible .entry layer_kernel_1(
// SM80:        gpu.binary @layer_kernel [#gpu.object<#nvvm.target<chip = "sm_80", features = "+ptx80">, {{.*}}.target sm_80
// The kernels are declared for blocks of that size (.maxntid in PTX).
// CHECK-SAME:  .maxntid 256, 1, 1
// T128:        llvm.mlir.constant(128 : index)
// T128:        gpu.launch_func
// T128:        gpu.binary {{.*}}.maxntid 128, 1, 1

// The mapped loop nest, lowered for the CPU instead (what --gpu-emulate
// compiles): no GPU operation is left.
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline="emulate-on-host=1" | FileCheck %s --check-prefix=HOST
// HOST-NOT: gpu.
// HOST-NOT: mgpu
// HOST-LABEL: llvm.func @layer(
