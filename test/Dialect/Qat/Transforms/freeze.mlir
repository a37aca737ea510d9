// RUN: qat-opt %S/Inputs/mlp3.mlir --qat-instrument --qat-freeze="values=%S/Inputs/mlp3-values.json" | FileCheck %s

// Every quantization parameter of the instrumented network, and one weight
// (under its train-step name, "param:arg3"), become constants; the
// arguments go; the initialiser is erased.

// CHECK-LABEL: func.func @mlp3(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<2x4xf32> {qat.role = "input"}, %[[W1:[^:]*]]: tensor<4x4xf32> {qat.role = "parameter"}, %[[W2:[^:]*]]: tensor<4x4xf32> {qat.role = "parameter"}) -> tensor<2x3xf32>
// CHECK-SAME:    attributes {qat.frozen}
// CHECK-DAG:     %[[S1:.*]] = arith.constant dense<[1.000000e-01, 2.000000e-01, 3.000000e-01, 4.000000e-01]> : tensor<4xf32>
// CHECK-DAG:     %[[XS:.*]] = arith.constant dense<5.000000e-02> : tensor<f32>
// CHECK-DAG:     %[[XZ:.*]] = arith.constant dense<128> : tensor<i32>
// CHECK-DAG:     %[[W3:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00], {{.*}}]> : tensor<4x3xf32>
// CHECK-DAG:     qat.fake_quant %[[X]], %[[XS]], %[[XZ]] {is_signed = false}
// CHECK-DAG:     qat.fake_quant %[[W1]], %[[S1]], %{{.*}} {axis = 1 : i64, narrow_range = true}
// CHECK-DAG:     qat.fake_quant %[[W3]], %{{.*}}, %{{.*}} {axis = 1 : i64, narrow_range = true}
// The initialiser computed what are constants now: erased.
// CHECK-NOT: func.func @mlp3_init_qparams(
