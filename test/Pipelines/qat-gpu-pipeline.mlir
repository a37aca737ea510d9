// qat-gpu-pipeline: an integer layer (matmul, requantization, a constant
// weight) becomes one kernel in one PTX image for the chosen chip (the matmul
// on dp4a, 4 rows being too few for tensor cores, its zero initial value and
// the requantization fused: the int32 accumulator never exists; the weight,
// a constant, is in the device image, here folded into the code since all
// its bytes are 3), and host code that copies the
// input to the device, launches the kernel on one stream, copies the result
// back and frees everything.
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline | FileCheck %s
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline="gpu-arch=sm_80" | FileCheck %s --check-prefix=SM80
// Other ops (here the demo CNN's pooling) map to blocks of the size asked.
// RUN: qat-opt %S/../tools/qat-compile/Inputs/cnn.int.mlir --qat-gpu-pipeline="threads-per-block=128" | FileCheck %s --check-prefix=T128

// CHECK-NOT: linalg.
// CHECK-NOT: scf.
// CHECK-LABEL: llvm.func @layer(
// CHECK:         llvm.call @mgpuStreamCreate()
// 2 buffers: the input, the result.
// CHECK-COUNT-2: llvm.call @mgpuMemAlloc
// CHECK-NOT:     llvm.call @mgpuMemAlloc
// CHECK:         gpu.launch_func {{.*}} @layer_kernel::@layer_kernel blocks in
// CHECK-NOT:     gpu.launch_func
// CHECK:         llvm.call @mgpuMemcpy
// CHECK:         llvm.call @mgpuMemFree
// CHECK:         llvm.call @mgpuStreamSynchronize
// CHECK:         llvm.call @mgpuStreamDestroy
// CHECK:       gpu.binary @layer_kernel [#gpu.object<#nvvm.target<chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "{{.*}}.target sm_90
// CHECK-SAME:    .visible .entry layer_kernel(
// The kernels are declared for blocks of that size (.maxntid in PTX).
// CHECK-SAME:    .maxntid 256, 1, 1
// CHECK-SAME:    dp4a.s32.s32
// CHECK-SAME:    mul.hi.s32
// CHECK-SAME:    st.global.b8
// SM80:        gpu.binary @layer_kernel [#gpu.object<#nvvm.target<chip = "sm_80", features = "+ptx80">, {{.*}}.target sm_80
// T128:        llvm.mlir.constant(128 : index)
// T128:        gpu.launch_func
// T128:        gpu.binary {{.*}}.maxntid 128, 1, 1

// The mapped loop nest, lowered for the CPU instead (what --gpu-emulate
// compiles): no GPU operation is left.
// RUN: qat-opt %S/Inputs/int8-layer.mlir --qat-gpu-pipeline="emulate-on-host=1" | FileCheck %s --check-prefix=HOST
// HOST-NOT: gpu.
// HOST-NOT: mgpu
// HOST-LABEL: llvm.func @layer(
