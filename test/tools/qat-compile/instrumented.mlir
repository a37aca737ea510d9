// An instrumented module compiles without diagnostics (the qat.* argument
// annotations are consumed, not passed to LLVM), and its entry points carry
// the new arguments' names: the forward function and its initialiser.
// RUN: qat-opt %S/../../Dialect/Qat/Transforms/Inputs/mlp3.mlir --qat-instrument -o %t.mlir
// RUN: qat-compile %t.mlir -o %t.so 2>&1 | FileCheck %s --allow-empty --check-prefix=QUIET
// RUN: qat-compile %t.mlir | FileCheck %s
// QUIET-NOT: {{.}}

// CHECK: entry @mlp3(arg0: f32[2x4], arg1: f32[4x4], arg2: f32[4x4], arg3: f32[4x3], fc1.weight_scale: f32[4], arg0.act_scale: f32[], arg0.act_zero_point: i32[],
// CHECK: entry @mlp3_init_qparams(arg0: f32[2x4], arg1: f32[4x4], arg2: f32[4x4], arg3: f32[4x3]) -> (fc1.weight_scale: f32[4], arg0.act_scale: f32[], arg0.act_zero_point: i32[],
