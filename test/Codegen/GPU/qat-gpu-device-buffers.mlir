// RUN: qat-opt %s --qat-gpu-device-buffers="resident-constants=0" --split-input-file --verify-diagnostics | FileCheck %s
// RUN: qat-opt %s --qat-gpu-device-buffers --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=RESIDENT

// The kernel reads %x and a constant and writes %out through a view, using
// a temporary: %x and the constant are copied in, %out copied in and back
// (a kernel writes it), the temporary lives on the device only, and every
// device buffer is freed before returning.
// By default the constant is not copied: it moves into the device image and
// the kernel reads it there (one argument fewer).
// RESIDENT-LABEL: func.func @f(
// RESIDENT-NOT:     memref.get_global
// RESIDENT-COUNT-3: gpu.alloc
// RESIDENT-NOT:     gpu.alloc
// RESIDENT:         gpu.launch_func @k::@k {{.*}} args(%{{.*}} : memref<64xi8>, %{{.*}} : memref<64xi32>, %{{.*}} : memref<8x8xi32>)
// RESIDENT:       gpu.module @k {
// RESIDENT-NEXT:    memref.global "private" constant @weights : memref<64xi8> = dense<1>
// RESIDENT-NEXT:    gpu.func @k(%[[X:.*]]: memref<64xi8>, %{{.*}}: memref<64xi32>, %{{.*}}: memref<8x8xi32>) kernel {
// RESIDENT-NEXT:      %[[W:.*]] = memref.get_global @weights : memref<64xi8>
// RESIDENT:           memref.load %[[X]]
// RESIDENT:           memref.load %[[W]]
// CHECK-LABEL: func.func @f(
// CHECK-SAME:      %[[X:.*]]: memref<64xi8>, %[[OUT:.*]]: memref<64xi32>)
// CHECK-DAG:     %[[DOUT:.*]] = gpu.alloc () : memref<64xi32>
// CHECK-DAG:     gpu.memcpy %[[DOUT]], %[[OUT]]
// CHECK-DAG:     %[[DX:.*]] = gpu.alloc () : memref<64xi8>
// CHECK-DAG:     gpu.memcpy %[[DX]], %[[X]]
// CHECK:         %[[W:.*]] = memref.get_global @weights
// CHECK:         %[[DW:.*]] = gpu.alloc () : memref<64xi8>
// CHECK:         gpu.memcpy %[[DW]], %[[W]]
// CHECK:         %[[TMP:.*]] = gpu.alloc () : memref<64xi32>
// CHECK-NOT:     memref.alloc
// CHECK:         %[[VIEW:.*]] = memref.expand_shape %[[DOUT]]
// CHECK:         gpu.launch_func @k::@k {{.*}} args(%[[DX]] : memref<64xi8>, %[[DW]] : memref<64xi8>, %[[TMP]] : memref<64xi32>, %[[VIEW]] : memref<8x8xi32>)
// CHECK-NOT:     memref.dealloc
// CHECK:         gpu.memcpy %[[OUT]], %[[DOUT]]
// CHECK-NOT:     gpu.memcpy %[[X]]
// CHECK-DAG:     gpu.dealloc %[[TMP]]
// CHECK-DAG:     gpu.dealloc %[[DW]]
// CHECK-DAG:     gpu.dealloc %[[DX]]
// CHECK-DAG:     gpu.dealloc %[[DOUT]]
// CHECK:         return
module attributes {gpu.container_module} {
  memref.global "private" constant @weights : memref<64xi8> = dense<1>
  func.func @f(%x: memref<64xi8>, %out: memref<64xi32>) {
    %w = memref.get_global @weights : memref<64xi8>
    %tmp = memref.alloc() : memref<64xi32>
    %c1 = arith.constant 1 : index
    %view = memref.expand_shape %out [[0, 1]] output_shape [8, 8] : memref<64xi32> into memref<8x8xi32>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%x : memref<64xi8>, %w : memref<64xi8>, %tmp : memref<64xi32>, %view : memref<8x8xi32>)
    memref.dealloc %tmp : memref<64xi32>
    return
  }
  gpu.module @k {
    gpu.func @k(%x: memref<64xi8>, %w: memref<64xi8>, %tmp: memref<64xi32>, %out: memref<8x8xi32>) kernel {
      %c0 = arith.constant 0 : index
      %a = memref.load %x[%c0] : memref<64xi8>
      %b = memref.load %w[%c0] : memref<64xi8>
      %s = arith.addi %a, %b : i8
      %e = arith.extsi %s : i8 to i32
      memref.store %e, %tmp[%c0] : memref<64xi32>
      %flat = memref.collapse_shape %out [[0, 1]] : memref<8x8xi32> into memref<64xi32>
      memref.store %e, %flat[%c0] : memref<64xi32>
      gpu.return
    }
  }
}

// -----

// Host code that reads a buffer a kernel uses was not mapped to the GPU.
module attributes {gpu.container_module} {
  func.func @g(%x: memref<4xf32>) -> f32 {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>)
    // expected-error @+1 {{'memref.load' op would read or write GPU memory on the host: it was not mapped to a GPU kernel}}
    %v = memref.load %x[%c0] : memref<4xf32>
    return %v : f32
  }
  gpu.module @k {
    gpu.func @k(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// A buffer that comes from somewhere the pass cannot copy from.
module attributes {gpu.container_module} {
  func.func private @make() -> memref<4xf32>
  func.func @h() {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{qat-gpu-device-buffers: cannot give a GPU kernel the buffer produced by 'func.call'}}
    %x = func.call @make() : () -> memref<4xf32>
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>)
    return
  }
  gpu.module @k {
    gpu.func @k(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
}
