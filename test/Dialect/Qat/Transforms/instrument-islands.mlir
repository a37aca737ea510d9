// RUN: qat-opt %s --qat-instrument | FileCheck %s

// Float islands: a layer norm between two matmuls (mean and variance as sum
// reductions, the deviation, rsqrt). No integer op reads the statistics, so
// none of them is quantized (a variance rounded to 0 would divide by zero);
// the first matmul's output is, because that layer runs in integers, and the
// normalized value is, where the second matmul reads it.

// CHECK-LABEL: func.func @layer_norm(
// CHECK:         %[[H:.*]] = linalg.matmul {qat.layer = "matmul_0"}
// CHECK-NEXT:    %[[HQ:.*]] = qat.fake_quant %[[H]]
// CHECK:         %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[HQ]] : tensor<4x8xf32>)
// CHECK-NOT:     qat.fake_quant
// CHECK:         math.rsqrt
// CHECK:         %[[NQ:.*]] = qat.fake_quant
// CHECK:         linalg.matmul {qat.layer = "matmul_1"} ins(%[[NQ]],
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @layer_norm(%x: tensor<4x16xf32> {qat.name = "x"}, %w1: tensor<16x8xf32>,
                      %w2: tensor<8x10xf32>) -> tensor<4x10xf32> {
  %zero = arith.constant 0.0 : f32
  %eighth = arith.constant 0.125 : f32
  %eps = arith.constant 1.0e-5 : f32
  %e1 = tensor.empty() : tensor<4x8xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<4x16xf32>, tensor<16x8xf32>) outs(%f1 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %er = tensor.empty() : tensor<4xf32>
  %fr = linalg.fill ins(%zero : f32) outs(%er : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%h : tensor<4x8xf32>) outs(%fr : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %d = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h, %sum : tensor<4x8xf32>, tensor<4xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %mean = arith.mulf %m, %eighth : f32
    %t = arith.subf %a, %mean : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%d : tensor<4x8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %t = arith.mulf %a, %a : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %var = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%sq : tensor<4x8xf32>) outs(%fr : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %n = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%d, %var : tensor<4x8xf32>, tensor<4xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %v: f32, %o: f32):
    %m = arith.mulf %v, %eighth : f32
    %p = arith.addf %m, %eps : f32
    %r = math.rsqrt %p : f32
    %t = arith.mulf %a, %r : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x10xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x10xf32>) -> tensor<4x10xf32>
  %y = linalg.matmul ins(%n, %w2 : tensor<4x8xf32>, tensor<8x10xf32>) outs(%f2 : tensor<4x10xf32>) -> tensor<4x10xf32>
  return %y : tensor<4x10xf32>
}
