// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-prune="pattern=1:2" --qat-instrument --qat-freeze="values=%S/Inputs/mlp3-values.json" | FileCheck %s

// A frozen weight's pruning mask is computed once, at freezing: the weight
// becomes the pruned constant (1 of every 2 along the rows of
// [[1,2,3],[4,5,6],[7,8,9],[10,11,12]] kept: the larger, rows 1 and 3), and
// the fake-quant reads it, keeping the mask as `qat.mask` (the invariant
// qat-convert-to-integer checks). The weights still trained keep their masks.

// CHECK-LABEL: func.func @mlp3(
// CHECK-DAG:     %[[W3:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 0.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+01, 1.100000e+01, 1.200000e+01]]> : tensor<4x3xf32>
// CHECK-DAG:     qat.fake_quant %[[W3]], %{{.*}}, %{{.*}} {axis = 1 : i64, narrow_range = true, qat.mask = dense<{{\[}}[false, false, false], [true, true, true], [false, false, false], [true, true, true]]> : tensor<4x3xi1>}
// CHECK-DAG:     qat.apply_mask %arg1,
// CHECK-DAG:     qat.apply_mask %arg2,
// The unpruned constant is gone.
// CHECK-NOT:     dense<{{\[}}[1.000000e+00, 2.000000e+00
// The initialiser computed what are constants now: erased.
// CHECK-NOT: func.func @mlp3_init_qparams(
