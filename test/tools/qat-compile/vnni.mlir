// int8 matmuls use AVX-512 VNNI when the target CPU has it, and compiled
// libraries depend on nothing but libc.
// RUN: qat-compile %s --mcpu=znver4 --emit=llvm | FileCheck %s --check-prefix=VNNI
// RUN: qat-compile %s --mcpu=x86-64-v3 --emit=llvm | FileCheck %s --check-prefix=NOVNNI
// RUN: qat-compile %s --mcpu=znver4 --emit=asm | FileCheck %s --check-prefix=ASM
// RUN: qat-compile %s -o %t.so && llvm-nm -u %t.so | FileCheck %s --check-prefix=UNDEFINED

// VNNI: call <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32>
// NOVNNI-NOT: vpdpbusd
// ASM: vpdpbusd {{.*}}%zmm
// UNDEFINED-NOT: memrefCopy
// UNDEFINED-NOT: _mlir

func.func @qmatmul(%a: tensor<13x30xi8>, %b: tensor<30x37xi8>) -> tensor<13x37xi32> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<13x37xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<13x37xi32>) -> tensor<13x37xi32>
  %c = linalg.matmul ins(%a, %b : tensor<13x30xi8>, tensor<30x37xi8>) outs(%z : tensor<13x37xi32>) -> tensor<13x37xi32>
  return %c : tensor<13x37xi32>
}
