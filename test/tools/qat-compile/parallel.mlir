// Large matmuls run on OpenMP threads unless --parallel=false; the library
// then links libomp. Small ones stay serial.
// RUN: qat-compile %s --emit=llvm | FileCheck %s --check-prefix=PAR
// RUN: qat-compile %s --emit=llvm --parallel=false | FileCheck %s --check-prefix=SERIAL
// RUN: qat-compile %s -o %t.so && llvm-readelf -d %t.so | FileCheck %s --check-prefix=NEEDED

// PAR: call void {{.*}}@__kmpc_fork_call
// SERIAL-NOT: __kmpc
// NEEDED: (NEEDED) {{.*}}libomp

func.func @big(%a: tensor<256x256xf32>, %b: tensor<256x256xf32>) -> tensor<256x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<256x256xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<256x256xf32>) -> tensor<256x256xf32>
  %c = linalg.matmul ins(%a, %b : tensor<256x256xf32>, tensor<256x256xf32>) outs(%z : tensor<256x256xf32>) -> tensor<256x256xf32>
  return %c : tensor<256x256xf32>
}
