// RUN: qat-opt %s --qat-instrument | FileCheck %s
// RUN: qat-opt %s --qat-instrument | qat-opt | FileCheck %s --check-prefix=ROUNDTRIP

// A two-layer MLP: weights are quantized per output channel (the columns of
// the matmul's B), the graph input once, each layer's output after its bias
// and ReLU, never between the matmul and the bias.

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @mlp(%x: tensor<4x16xf32> {qat.name = "x"}, %w1: tensor<16x8xf32>, %b1: tensor<8xf32>,
               %w2: tensor<8x10xf32>, %b2: tensor<10xf32>) -> tensor<4x10xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<4x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<4x16xf32>, tensor<16x8xf32>) outs(%f1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %hb = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h, %b1 : tensor<4x8xf32>, tensor<8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %hr = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%hb : tensor<4x8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x10xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x10xf32>) -> tensor<4x10xf32>
  %y = linalg.matmul ins(%hr, %w2 : tensor<4x8xf32>, tensor<8x10xf32>) outs(%f2 : tensor<4x10xf32>) -> tensor<4x10xf32>
  %yb = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b2 : tensor<4x10xf32>, tensor<10xf32>) outs(%e2 : tensor<4x10xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x10xf32>
  return %yb : tensor<4x10xf32>
}

// CHECK-LABEL: func.func @mlp(
// CHECK-SAME:   %[[X:.*]]: tensor<4x16xf32> {qat.name = "x", qat.role = "input"}
// CHECK-SAME:   %[[W1:.*]]: tensor<16x8xf32> {qat.role = "parameter"}
// CHECK-SAME:   %[[B1:.*]]: tensor<8xf32> {qat.role = "parameter"}
// CHECK-SAME:   %[[W2:.*]]: tensor<8x10xf32> {qat.role = "parameter"}
// CHECK-SAME:   %[[B2:.*]]: tensor<10xf32> {qat.role = "parameter"}
// CHECK-SAME:   %[[S1:.*]]: tensor<8xf32> {qat.name = "matmul_0.weight_scale", qat.qparam = {init = "weight_minmax", layer = "matmul_0", num_bits = 8 : i64, role = "weight_scale"}, qat.role = "qparam"}
// CHECK-SAME:   %[[XS:.*]]: tensor<f32> {qat.name = "x.act_scale", qat.qparam = {init = "calibration", layer = "x", num_bits = 8 : i64, role = "act_scale"}, qat.role = "qparam"}
// CHECK-SAME:   %[[XZ:.*]]: tensor<i32> {qat.name = "x.act_zero_point"
// CHECK-SAME:   %[[S2:.*]]: tensor<10xf32> {qat.name = "matmul_1.weight_scale"
// CHECK-SAME:   %[[HS:.*]]: tensor<f32> {qat.name = "matmul_0.act_scale"
// CHECK-SAME:   %[[HZ:.*]]: tensor<i32> {qat.name = "matmul_0.act_zero_point"
// CHECK-SAME:   %[[YS:.*]]: tensor<f32> {qat.name = "matmul_1.act_scale"
// CHECK-SAME:   %[[YZ:.*]]: tensor<i32> {qat.name = "matmul_1.act_zero_point"
// CHECK-DAG:    %[[Z8:.*]] = arith.constant dense<0> : tensor<8xi32>
// CHECK-DAG:    %[[Z10:.*]] = arith.constant dense<0> : tensor<10xi32>
// CHECK-DAG:    %[[W1Q:.*]] = qat.fake_quant %[[W1]], %[[S1]], %[[Z8]] {axis = 1 : i64, narrow_range = true}
// CHECK-DAG:    %[[W2Q:.*]] = qat.fake_quant %[[W2]], %[[S2]], %[[Z10]] {axis = 1 : i64, narrow_range = true}
// CHECK-DAG:    %[[XQ:.*]] = qat.fake_quant %[[X]], %[[XS]], %[[XZ]] {is_signed = false}
// CHECK:        %[[MM1:.*]] = linalg.matmul {qat.layer = "matmul_0"} ins(%[[XQ]], %[[W1Q]] :
// CHECK:        %[[BIAS1:.*]] = linalg.generic {{.*}} ins(%[[MM1]], %[[B1]] :
// CHECK:        %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[BIAS1]] :
// CHECK:        %[[HQ:.*]] = qat.fake_quant %[[RELU]], %[[HS]], %[[HZ]] {is_signed = false}
// CHECK:        %[[MM2:.*]] = linalg.matmul {qat.layer = "matmul_1"} ins(%[[HQ]], %[[W2Q]] :
// CHECK:        %[[BIAS2:.*]] = linalg.generic {{.*}} ins(%[[MM2]], %[[B2]] :
// CHECK:        %[[YQ:.*]] = qat.fake_quant %[[BIAS2]], %[[YS]], %[[YZ]] {is_signed = false}
// CHECK:        return %[[YQ]]

// The initialiser takes the float function's arguments and returns the new
// arguments' initial values, in order.
// CHECK-LABEL: func.func @mlp_init_qparams(
// CHECK-SAME:   %[[X:[^:]*]]: tensor<4x16xf32> {qat.name = "x", qat.role = "input"}, %[[W1:[^:]*]]: tensor<16x8xf32> {qat.role = "parameter"}, %{{[^:]*}}: tensor<8xf32> {qat.role = "parameter"}, %[[W2:[^:]*]]: tensor<8x10xf32> {qat.role = "parameter"}, %{{[^:]*}}: tensor<10xf32> {qat.role = "parameter"})
// CHECK-SAME:   -> (tensor<8xf32> {qat.name = "matmul_0.weight_scale"}, tensor<f32> {qat.name = "x.act_scale"}, tensor<i32> {qat.name = "x.act_zero_point"}, tensor<10xf32> {qat.name = "matmul_1.weight_scale"}, tensor<f32> {qat.name = "matmul_0.act_scale"}, tensor<i32> {qat.name = "matmul_0.act_zero_point"}, tensor<f32> {qat.name = "matmul_1.act_scale"}, tensor<i32> {qat.name = "matmul_1.act_zero_point"})
// CHECK-SAME:   attributes {qat.init_qparams_for = @mlp}
// CHECK-NOT:    qat.fake_quant
// CHECK:        %[[RELU:.*]] = linalg.generic {{.*}} ins(%{{[^ ,]*}} : tensor<4x8xf32>)
// CHECK-NEXT:   ^bb0
// CHECK-NEXT:     arith.maximumf
// CHECK:        %[[MIN1:.*]], %[[MAX1:.*]] = qat.observe %[[W1]] {axis = 1 : i64}
// CHECK:        %[[WS1:.*]], %{{.*}} = qat.choose_qparams %[[MIN1]], %[[MAX1]] {narrow_range = true, symmetric = true}
// CHECK:        qat.observe %[[X]] : tensor<4x16xf32> -> tensor<f32>
// CHECK:        qat.choose_qparams %{{.*}}, %{{.*}} {is_signed = false}
// CHECK:        qat.observe %[[W2]] {axis = 1 : i64}
// CHECK:        qat.observe %[[RELU]] : tensor<4x8xf32> -> tensor<f32>
// CHECK:        return %[[WS1]],

// ROUNDTRIP: func.func @mlp_init_qparams
