// Every --emit kind, and the runtime ABI in the generated code.
// RUN: qat-compile %s --emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: qat-compile %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: qat-compile %s -o %t.h && FileCheck %s --check-prefix=HEADER --input-file=%t.h
// RUN: qat-compile %s --emit=asm --mcpu=x86-64 | FileCheck %s --check-prefix=ASM
// RUN: qat-compile %s -o %t.o && llvm-nm %t.o | FileCheck %s --check-prefix=SYMBOLS
// RUN: qat-compile %s -O0 -o %t.so && llvm-nm -D --defined-only %t.so | FileCheck %s --check-prefix=SYMBOLS
// RUN: qat-compile %s -O3 --emit=so -o %t.lib && llvm-nm -D --defined-only %t.lib | FileCheck %s --check-prefix=SYMBOLS
// The MLIR pass-manager flags reach the lowering's pass manager.
// RUN: qat-compile %s --emit=mlir -o %t.timed --mlir-timing 2>&1 | FileCheck %s --check-prefix=TIMING
// TIMING: Execution time report
// TIMING: ConvertToLLVMPass

// LLVM-DAG: @qat.abi.module = private constant %qat_abi_module { i32 2, i32 2,
// LLVM-DAG: define {{.*}}void @qat_entry_scale(ptr {{.*}}%0)
// LLVM-DAG: define {{.*}}ptr @qat_module_info()
// LLVM-DAG: define {{.*}}void @_mlir_ciface_scale(ptr

// MLIR: llvm.func @scale(
// MLIR: llvm.func @_mlir_ciface_scale(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)

// HEADER: #ifndef QAT_GENERATED_EMIT_MLIR_H
// HEADER: typedef struct qat_memref_f32_2d {
// HEADER-NEXT:   float *allocated;
// HEADER-NEXT:   float *aligned;
// HEADER-NEXT:   int64_t offset;
// HEADER-NEXT:   int64_t sizes[2];
// HEADER-NEXT:   int64_t strides[2];
// HEADER-NEXT: } qat_memref_f32_2d;
// HEADER: typedef struct qat_memref_i8_0d {
// HEADER: /* scale(x: f32[?x8], factor: f32[8]) -> (result0: f32[4x8]) */
// HEADER-NEXT: void _mlir_ciface_scale(qat_memref_f32_2d *x, qat_memref_f32_1d *factor, qat_memref_f32_2d *result0);
// HEADER: void qat_entry_scale(void **args);
// HEADER: void _mlir_ciface_flag(qat_memref_i8_0d *result0);

// ASM: qat_entry_scale:
// ASM: qat_module_info:

// SYMBOLS-DAG: T _mlir_ciface_scale
// SYMBOLS-DAG: T qat_entry_scale
// SYMBOLS-DAG: T qat_entry_flag
// SYMBOLS-DAG: T qat_module_info

func.func @scale(%x: tensor<?x8xf32> {qat.name = "x"}, %f: tensor<8xf32> {qat.name = "factor"}) -> tensor<4x8xf32> {
  %c0 = arith.constant 0 : index
  %x4 = tensor.extract_slice %x[0, 0] [4, 8] [1, 1] : tensor<?x8xf32> to tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x4, %f : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

func.func @flag() -> tensor<i8> {
  %c = arith.constant dense<1> : tensor<i8>
  return %c : tensor<i8>
}
