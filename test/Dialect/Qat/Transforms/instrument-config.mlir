// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="config=%S/Inputs/w4-skip.json" | FileCheck %s
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="config=%S/Inputs/w4-skip.json dry-run" -o /dev/null | FileCheck %s --check-prefix=PLAN
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="skip-first-last dry-run" -o /dev/null | FileCheck %s --check-prefix=ENDS
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="weight-bits=4 act-bits=16 per-channel=false symmetric-activations rounding=toward_zero dry-run" -o /dev/null | FileCheck %s --check-prefix=OPTS
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="weight-bits=4 act-bits=4 last-act-bits=8 dry-run" -o /dev/null | FileCheck %s --check-prefix=LAST
// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument="last-act-bits=8 config=%S/Inputs/last-act-bits.json dry-run" -o /dev/null | FileCheck %s --check-prefix=LASTCFG

// Per-layer overrides, applied in file order: "fc*" gives fc1 and fc2
// 4-bit per-tensor weights, then fc2 is skipped (float), and "head" (named
// by its location) gets 6-bit symmetric activations and its own rounding.
// fc1's output is quantized (fc1 is quantized); fc2 runs in float on it, and
// head quantizes fc2's float output at its own input.

// CHECK-LABEL: func.func @mlp3(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<2x4xf32> {qat.role = "input"}, %[[W1:[^:]*]]: tensor<4x4xf32> {qat.role = "parameter"}, %[[W2:[^:]*]]: tensor<4x4xf32> {qat.role = "parameter"}, %[[W3:[^:]*]]: tensor<4x3xf32> {qat.role = "parameter"}
// CHECK-SAME:    %[[S1:[^:]*]]: tensor<f32> {qat.name = "fc1.weight_scale", qat.qparam = {init = "weight_minmax", layer = "fc1", num_bits = 4 : i64
// CHECK-NOT:     fc2.weight_scale
// CHECK-SAME:    %[[S3:[^:]*]]: tensor<3xf32> {qat.name = "head.weight_scale"
// CHECK-SAME:    %[[HS:[^:]*]]: tensor<f32> {qat.name = "fc2.act_scale", qat.qparam = {init = "calibration", layer = "fc2", num_bits = 6 : i64, role = "act_scale"}
// CHECK-NOT:     fc2.act_zero_point
// CHECK-DAG:     %[[W1Q:.*]] = qat.fake_quant %[[W1]], %[[S1]], %{{.*}} {narrow_range = true, num_bits = 4 : i64} : tensor<4x4xf32>, tensor<f32>, tensor<i32>
// CHECK-DAG:     %[[W3Q:.*]] = qat.fake_quant %[[W3]], %[[S3]], %{{.*}} {axis = 1 : i64, narrow_range = true, rounding = #qat<rounding half_away_from_zero>}
// CHECK:         %[[H1:.*]] = linalg.matmul {qat.layer = "fc1"} ins(%{{.*}}, %[[W1Q]] :
// CHECK:         %[[H1Q:.*]] = qat.fake_quant %[[H1]]
// CHECK:         %[[H2:.*]] = linalg.matmul {qat.layer = "fc2"} ins(%[[H1Q]], %[[W2]] :
// CHECK:         %[[H2Q:.*]] = qat.fake_quant %[[H2]], %[[HS]], %{{.*}} {num_bits = 6 : i64, rounding = #qat<rounding half_away_from_zero>}
// CHECK:         linalg.matmul {qat.layer = "head"} ins(%[[H2Q]], %[[W3Q]] :

// PLAN:      func @mlp3: 3 layers (1 skipped), 2 weight and 4 activation fake-quants
// PLAN-NEXT:   layer fc1 (linalg.matmul): weight 4-bit signed symmetric narrow per-tensor
// PLAN-NEXT:   layer fc2 (linalg.matmul): skipped (config)
// PLAN-NEXT:   layer head (linalg.matmul): weight 8-bit signed symmetric narrow per-channel (axis 1) half_away_from_zero
// PLAN-NEXT:   activation input arg0: 8-bit unsigned affine, parameters arg0.act_*
// PLAN-NEXT:   activation fc1 output: 8-bit unsigned affine, parameters fc1.act_*
// PLAN-NEXT:   activation fc2 output (float): 6-bit signed symmetric half_away_from_zero, parameters fc2.act_*
// PLAN-NEXT:   activation head output: 6-bit signed symmetric half_away_from_zero, parameters head.act_*

// skip-first-last leaves fc1 and head in float: the graph input is not
// quantized, fc2 quantizes fc1's output at its input.
// ENDS:      func @mlp3: 3 layers (2 skipped), 1 weight and 2 activation fake-quants
// ENDS-NEXT:   layer fc1 (linalg.matmul): skipped (skip-first-last)
// ENDS-NEXT:   layer fc2 (linalg.matmul): weight 8-bit
// ENDS-NEXT:   layer head (linalg.matmul): skipped (skip-first-last)
// ENDS-NEXT:   activation fc1 output (float): 8-bit unsigned affine
// ENDS-NEXT:   activation fc2 output: 8-bit unsigned affine
// ENDS-NOT:    activation

// OPTS:        layer fc1 (linalg.matmul): weight 4-bit signed symmetric narrow per-tensor toward_zero
// OPTS:        activation input arg0: 16-bit signed symmetric toward_zero

// The last layer's output (the logits) at last-act-bits; the other
// activations keep act-bits.
// LAST:        activation input arg0: 4-bit unsigned affine
// LAST-NEXT:   activation fc1 output: 4-bit unsigned affine
// LAST-NEXT:   activation fc2 output: 4-bit unsigned affine
// LAST-NEXT:   activation head output: 8-bit unsigned affine

// The config's last_act_bits wins over the option, a layer entry over both.
// LASTCFG:        activation input arg0: 4-bit unsigned affine
// LASTCFG-NEXT:   activation fc1 output: 4-bit unsigned affine
// LASTCFG-NEXT:   activation fc2 output: 5-bit unsigned affine
// LASTCFG-NEXT:   activation head output: 6-bit unsigned affine
