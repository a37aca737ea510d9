// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=0.75" | FileCheck %s --check-prefix=MAG
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=2:4" | FileCheck %s --check-prefix=NM
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="config=%S/Inputs/prune.json" | FileCheck %s --check-prefix=CONFIG
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument --qat-prune="pattern=2:4" | FileCheck %s --check-prefix=AFTER
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=2:4" --qat-instrument | FileCheck %s --check-prefix=BEFORE
// RUN: qat-opt %s --split-input-file --qat-prune="pattern=2:4" | FileCheck %s --check-prefix=CONV
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="config=%S/Inputs/prune-block.json" | FileCheck %s --check-prefix=BLOCK
// RUN: qat-opt %s --split-input-file --qat-prune="sparsity=0.5 block=4x2" | FileCheck %s --check-prefix=CONVBLOCK

// Blocks: K along the reduction axis by N along the output channels.
// BLOCK: qat.prune_mask %arg1 sparsity(%{{.*}} : tensor<f32>) {block = array<i64: 2, 2>, qat.layer = "fc1"}
// BLOCK: qat.prune_mask %arg2 sparsity(%{{.*}} : tensor<f32>) {block = array<i64: 2, 2>, qat.layer = "fc2"}
// BLOCK-NOT: qat.prune_mask %arg3
// CONVBLOCK: qat.prune_mask %arg1 sparsity(%{{.*}} : tensor<f32>) {block = array<i64: 1, 1, 4, 2>, qat.layer = "{{.*}}"} : tensor<3x3x8x4xf32>

// Magnitude: every layer's weight masked, the mask recomputed from the
// weight with the target sparsity as a constant.
// MAG-LABEL: func.func @mlp3
// MAG:         %[[S:.*]] = arith.constant dense<7.500000e-01> : tensor<f32>
// MAG:         %[[K:.*]] = qat.prune_mask %arg1 sparsity(%[[S]] : tensor<f32>) {qat.layer = "fc1"} : tensor<4x4xf32> -> tensor<4x4xi1>
// MAG:         %[[P:.*]] = qat.apply_mask %arg1, %[[K]] : tensor<4x4xf32>, tensor<4x4xi1>
// MAG:         linalg.matmul {qat.layer = "fc1"} ins(%arg0, %[[P]] :
// MAG-COUNT-2: qat.apply_mask

// N:M along the reduction axis: a matmul weight's rows (axis 0).
// NM:          %[[K:.*]] = qat.prune_mask %arg1 {axis = 0 : i64, m = 4 : i64, n = 2 : i64, qat.layer = "fc1"}
// NM:          qat.apply_mask %arg1, %[[K]]

// The config: 50% by default, fc2 2:4, head skipped.
// CONFIG:      qat.prune_mask %arg1 sparsity(
// CONFIG:      qat.prune_mask %arg2 {axis = 0 : i64, m = 4 : i64, n = 2 : i64, qat.layer = "fc2"}
// CONFIG-NOT:  qat.prune_mask %arg3

// Either order has one meaning: the mask applies to the float weight, and
// its result is what the weight's fake-quant reads.
// AFTER:       %[[K:.*]] = qat.prune_mask %arg1 {axis = 0
// AFTER:       %[[P:.*]] = qat.apply_mask %arg1, %[[K]]
// AFTER:       qat.fake_quant %[[P]],
// BEFORE:      %[[K:.*]] = qat.prune_mask %arg1 {axis = 0
// BEFORE:      %[[P:.*]] = qat.apply_mask %arg1, %[[K]]
// BEFORE:      qat.fake_quant %[[P]],

// A convolution's groups run along its input channels (HWCF axis 2).
// CONV-LABEL: func.func @conv
// CONV:         qat.prune_mask %arg1 {axis = 2 : i64, m = 4 : i64, n = 2 : i64, qat.layer = "{{.*}}"} : tensor<3x3x8x4xf32>
func.func @conv(%x: tensor<1x6x6x8xf32>, %w: tensor<3x3x8x4xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x8xf32>, tensor<3x3x8x4xf32>) outs(%f : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %y : tensor<1x4x4x4xf32>
}

// Errors, each one line naming what was expected and what was found.
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=1" 2>&1 | FileCheck %s --check-prefix=ONE
// ONE: error: qat-prune: sparsity: expected a sparsity in [0, 1), N:M, S/KxN (such as 0.75/4x16) or none, got '1'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=-0.1" 2>&1 | FileCheck %s --check-prefix=NEG
// NEG: error: qat-prune: sparsity: expected a sparsity in [0, 1), N:M, S/KxN (such as 0.75/4x16) or none, got '-0.1'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=4:2" 2>&1 | FileCheck %s --check-prefix=NGTM
// NGTM: error: qat-prune: pattern: expected N:M with 0 < N < M (such as 2:4), got '4:2'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=0.5" 2>&1 | FileCheck %s --check-prefix=PATTERN
// PATTERN: error: qat-prune: pattern: expected N:M (such as 2:4), got '0.5'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=0.5 pattern=2:4" 2>&1 | FileCheck %s --check-prefix=BOTH
// BOTH: error: qat-prune: give sparsity or pattern, not both
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="config=%S/Inputs/prune-no-match.json" 2>&1 | FileCheck %s --check-prefix=NOMATCH
// NOMATCH: error: qat-prune: config '{{.*}}prune-no-match.json': layer pattern 'fc9*' matches no layer (layers: fc1, fc2, head)
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=0.5 block=3x2" 2>&1 | FileCheck %s --check-prefix=BADBLOCK
// BADBLOCK: error: 'linalg.matmul' op layer 'fc1': blocks of 3x2 need weight dimension 0 to be a multiple of 3, got 4
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="block=2x2" 2>&1 | FileCheck %s --check-prefix=NOSPARSITY
// NOSPARSITY: error: qat-prune: block: give the sparsity of the blocks with sparsity=
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="sparsity=0.5 block=2by2" 2>&1 | FileCheck %s --check-prefix=BLOCKSYNTAX
// BLOCKSYNTAX: error: qat-prune: sparsity/block: expected blocks KxN of positive sizes after the sparsity (such as 0.75/4x16), got '0.5/2by2'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="config=%S/Inputs/prune-bad-nm.json" 2>&1 | FileCheck %s --check-prefix=BADNM
// BADNM: error: qat-prune: config '{{.*}}prune-bad-nm.json': layers[0].prune: expected N:M with 0 < N < M (such as 2:4), got '3:2'
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="config=%S/Inputs/prune-true.json" 2>&1 | FileCheck %s --check-prefix=TRUE
// TRUE: error: qat-prune: config '{{.*}}prune-true.json': prune: expected a sparsity, "N:M" or false, got true
// RUN: not qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=3:8" 2>&1 | FileCheck %s --check-prefix=DIVIDE
// DIVIDE: error: 'linalg.matmul' op layer 'fc1': N:M pruning groups of 8 along weight dimension 0 need its size to be a multiple of 8, got 4
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=2:4" -o %t.mlir
// RUN: not qat-opt %t.mlir --qat-prune="pattern=2:4" 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: 'linalg.matmul' op layer 'fc1': its weight is pruned already
