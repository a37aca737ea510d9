// An instrumented module compiles without diagnostics (the qat.* argument
// annotations are consumed, not passed to LLVM), and its entry points carry
// the new arguments' names: the forward function and its initialiser.
// RUN: qat-opt %S/../../Dialect/Qat/Transforms/Inputs/mlp3.mlir --qat-instrument -o %t.mlir
// RUN: qat-compile %t.mlir -o %t.so 2>&1 | FileCheck %s --allow-empty --check-prefix=QUIET
// RUN: qat-compile %t.mlir | FileCheck %s
// QUIET-NOT: {{.}}

// CHECK: entry @mlp3(arg0: f32[2x4], arg1: f32[4x4], arg2: f32[4x4], arg3: f32[4x3], fc1.weight_scale: f32[4], arg0.act_scale: f32[], arg0.act_zero_point: i32[],
// CHECK: entry @mlp3_init_qparams(arg0: f32[2x4], arg1: f32[4x4], arg2: f32[4x4], arg3: f32[4x3]) -> (fc1.weight_scale: f32[4], arg0.act_scale: f32[], arg0.act_zero_point: i32[],

// The C header turns the dotted names into identifiers, and compiles.
// RUN: qat-compile %t.mlir --emit=header -o %t.h
// RUN: FileCheck %s --check-prefix=HEADER < %t.h
// RUN: cc -fsyntax-only -x c %t.h
// HEADER: void _mlir_ciface_mlp3(qat_memref_f32_2d *arg0, {{.*}}, qat_memref_f32_1d *fc1_weight_scale, qat_memref_f32_0d *arg0_act_scale, qat_memref_i32_0d *arg0_act_zero_point,
