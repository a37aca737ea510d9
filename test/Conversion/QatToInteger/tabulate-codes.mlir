// RUN: qat-opt %s -split-input-file --qat-tabulate-codes | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-tabulate-codes="min-elements=100000" | FileCheck %s --check-prefix=SMALL

// A float island between two int8 tensors (dequantize, a sigmoid through a
// reshape, quantize), and the integer product with its own input after it:
// one function of each element's code. The chain is rebuilt on the 256
// codes -128..127 (the reshape dropped: the elements are the same), and
// each element looks its result up at code + 128.

// CHECK-LABEL: func.func @silu(
// CHECK-SAME:    %[[CODES:.*]]: tensor<4x300xi8>
// CHECK-NOT:     tensor<4x300xf32>
// CHECK:         %[[ALL:.*]] = arith.constant dense<"0x808182{{.*}}7D7E7F"> : tensor<256xi8>
// CHECK:         %[[REAL:.*]] = qat.dequantize %[[ALL]], {{.*}} -> tensor<256xf32>
// CHECK:         %[[SIG:.*]] = linalg.generic {{.*}} ins(%[[REAL]] : tensor<256xf32>)
// CHECK:           math.exp
// CHECK:         %[[GATE:.*]] = qat.quantize %[[SIG]], {{.*}} -> tensor<256xi8>
// CHECK:         %[[PROD:.*]] = linalg.generic {{.*}} ins(%[[ALL]], %[[GATE]] : tensor<256xi8>, tensor<256xi8>)
// CHECK:         %[[TABLE:.*]] = qat.requantize %[[PROD]] {{.*}} : tensor<256xi32> -> tensor<256xi8>
// CHECK:         %[[LOOKUP:.*]] = linalg.generic {{.*}} ins(%[[CODES]] : tensor<4x300xi8>) outs(%{{.*}} : tensor<4x300xi8>)
// CHECK:           %[[WIDE:.*]] = arith.extsi
// CHECK:           %[[INDEX:.*]] = arith.addi %[[WIDE]], %c128_i32
// CHECK:           %[[I:.*]] = arith.index_cast %[[INDEX]]
// CHECK:           tensor.extract %[[TABLE]][%[[I]]] : tensor<256xi8>
// CHECK:         return %[[LOOKUP]]
// SMALL-LABEL: func.func @silu(
// SMALL-NOT:     tensor<256xi8>
func.func @silu(%codes: tensor<4x300xi8>) -> tensor<4x300xi8> {
  %s = arith.constant dense<0.05> : tensor<f32>
  %z = arith.constant dense<-3> : tensor<i32>
  %sg = arith.constant dense<0.00390625> : tensor<f32>
  %zg = arith.constant dense<-128> : tensor<i32>
  %one = arith.constant 1.0 : f32
  %x = qat.dequantize %codes, %s, %z : tensor<4x300xi8>, tensor<f32>, tensor<i32> -> tensor<4x300xf32>
  %flat = tensor.collapse_shape %x [[0, 1]] : tensor<4x300xf32> into tensor<1200xf32>
  %e = tensor.empty() : tensor<1200xf32>
  %sig = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%flat : tensor<1200xf32>) outs(%e : tensor<1200xf32>) {
  ^bb0(%v: f32, %o: f32):
    %n = arith.negf %v : f32
    %ex = math.exp %n : f32
    %d = arith.addf %ex, %one : f32
    %r = arith.divf %one, %d : f32
    linalg.yield %r : f32
  } -> tensor<1200xf32>
  %back = tensor.expand_shape %sig [[0, 1]] output_shape [4, 300] : tensor<1200xf32> into tensor<4x300xf32>
  %gate = qat.quantize %back, %sg, %zg {quant_min = -128 : i64, quant_max = 127 : i64} : tensor<4x300xf32>, tensor<f32>, tensor<i32> -> tensor<4x300xi8>
  %ei = tensor.empty() : tensor<4x300xi32>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%codes, %gate : tensor<4x300xi8>, tensor<4x300xi8>) outs(%ei : tensor<4x300xi32>) {
  ^bb0(%a: i8, %g: i8, %o: i32):
    %aw = arith.extsi %a : i8 to i32
    %gw = arith.extsi %g : i8 to i32
    %m = arith.muli %aw, %gw : i32
    linalg.yield %m : i32
  } -> tensor<4x300xi32>
  %y = qat.requantize %p {multiplier = array<i32: 1073741824>, shift = array<i32: 38>, output_zero_point = 0 : i32} : tensor<4x300xi32> -> tensor<4x300xi8>
  return %y : tensor<4x300xi8>
}

// -----

// Per-channel parameters make the result depend on the position, not only
// on the code: left as computed.

// CHECK-LABEL: func.func @per_channel(
// CHECK-NOT:     tensor<256xi8>
func.func @per_channel(%codes: tensor<4x300xi8>) -> tensor<4x300xi8> {
  %s = arith.constant dense<0.05> : tensor<300xf32>
  %z = arith.constant dense<0> : tensor<300xi32>
  %s1 = arith.constant dense<0.1> : tensor<f32>
  %z1 = arith.constant dense<0> : tensor<i32>
  %x = qat.dequantize %codes, %s, %z {axis = 1 : i64} : tensor<4x300xi8>, tensor<300xf32>, tensor<300xi32> -> tensor<4x300xf32>
  %e = tensor.empty() : tensor<4x300xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x300xf32>) outs(%e : tensor<4x300xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = math.tanh %v : f32
    linalg.yield %r : f32
  } -> tensor<4x300xf32>
  %q = qat.quantize %t, %s1, %z1 {quant_min = -128 : i64, quant_max = 127 : i64} : tensor<4x300xf32>, tensor<f32>, tensor<i32> -> tensor<4x300xi8>
  return %q : tensor<4x300xi8>
}
