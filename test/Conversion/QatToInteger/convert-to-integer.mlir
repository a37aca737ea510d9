// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-convert-to-integer | FileCheck %s
// RUN: qat-opt %s --split-input-file --verify-diagnostics --qat-convert-to-integer="pack-int4=false" | FileCheck %s --check-prefix=UNPACKED

// A frozen one-layer network: u8 input (zero point 128), per-column int8
// weights, bias and ReLU, u8 output (zero point 0). Codes are stored signed
// (shifted by -128); the bias becomes the int32 accumulator's initial value,
// round(b / (s_x * s_w)) - z_x * colsum(W) with z_x = 128 - 128 = 0 here:
// 0.1 / (0.02 * 0.01) = 500, -0.2 / (0.02 * 0.02) = -500, 0.3 / (0.02 * 0.04)
// = 375; weights w / s_w. ReLU becomes the lower clamp at the code of 0.

// CHECK-LABEL: func.func @layer(
// CHECK-SAME:    %[[X:.*]]: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen}
// CHECK-DAG:     %[[W:.*]] = arith.constant dense<{{\[}}[1, 1, 1], [2, 2, 2], [-3, -3, -3], [127, 64, 0]]> : tensor<4x3xi8>
// CHECK-DAG:     %[[C:.*]] = arith.constant dense<[500, -500, 375]> : tensor<3xi32>
// CHECK-DAG:     %[[XQ:.*]] = qat.quantize %[[X]], %{{.*}}, %{{.*}} {quant_max = 127 : i64, quant_min = -128 : i64} : tensor<2x4xf32>, tensor<f32>, tensor<i32> -> tensor<2x4xi8>
// CHECK:         %[[INIT:.*]] = linalg.broadcast ins(%[[C]] : tensor<3xi32>)
// CHECK:         %[[ACC:.*]] = linalg.matmul ins(%[[XQ]], %[[W]] : tensor<2x4xi8>, tensor<4x3xi8>) outs(%[[INIT]] : tensor<2x3xi32>)
// CHECK:         %[[Y:.*]] = qat.requantize %[[ACC]] {axis = 1 : i64, multiplier = array<i32: {{.*}}>, output_zero_point = -128 : i32, quant_max = 127 : i64, quant_min = -128 : i64, shift = array<i32: {{.*}}>} : tensor<2x3xi32> -> tensor<2x3xi8>
// CHECK:         %[[R:.*]] = qat.dequantize %[[Y]], %{{.*}}, %{{.*}} : tensor<2x3xi8>, tensor<f32>, tensor<i32> -> tensor<2x3xf32>
// CHECK:         return %[[R]]
// CHECK-NOT:     qat.fake_quant
func.func @layer(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.01, 0.02, 0.04], [0.02, 0.04, 0.08], [-0.03, -0.06, -0.12], [1.27, 1.28, 0.0]]> : tensor<4x3xf32>
  %b = arith.constant dense<[0.1, -0.2, 0.3]> : tensor<3xf32>
  %sx = arith.constant dense<0.02> : tensor<f32>
  %zx = arith.constant dense<128> : tensor<i32>
  %sw = arith.constant dense<[0.01, 0.02, 0.04]> : tensor<3xf32>
  %zw = arith.constant dense<0> : tensor<3xi32>
  %sy = arith.constant dense<0.05> : tensor<f32>
  %zy = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %zw {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %r, %sy, %zy {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

// Not frozen: the scale is an argument.
func.func @not_frozen(%x: tensor<2x4xf32>, %sx: tensor<f32>, %w: tensor<4x3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %zx = arith.constant dense<0> : tensor<i32>
  %sw = arith.constant dense<0.01> : tensor<f32>
  // expected-error @+1 {{cannot be converted to integers: input: its scale is not a constant (run qat-freeze first)}}
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %zx {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sw, %zx {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

func.func @nchw_not_yet(%x: tensor<1x2x4x4xf32>, %w: tensor<2x2x3x3xf32>) -> tensor<1x2x2x2xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  // expected-error @+1 {{cannot be converted to integers yet (only linalg.matmul, linalg.conv_2d_nhwc_hwcf, linalg.conv_2d_nhwc_fhwc and linalg.depthwise_conv_2d_nhwc_hwc layers are)}}
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %c : tensor<1x2x2x2xf32>
}

// -----

// An accumulator that starts from 1.0, neither zero nor a per-channel bias.
func.func @odd_init(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %one = arith.constant 1.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x3xf32>
  %s = arith.constant dense<0.02> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %s, %z : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %s, %z {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{cannot be converted to integers: the accumulator starts from neither zero nor a per-channel bias}}
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %s, %z : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

// A global mean: the reduction sums widened codes into int32 (fill 0), the
// zero point's share is the requantize's input zero point: 4 terms x stored
// zero point (10 - 128) = -472; 1/4 goes into the multiplier with
// s_x / s_y = 0.02 / 0.01: 0.5 = 2^30 / 2^31.

// CHECK-LABEL: func.func @global_mean(
// CHECK:         %[[XQ:.*]] = qat.quantize %{{.*}} -> tensor<2x2x2x3xi8>
// CHECK:         %[[INIT:.*]] = linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<2x3xi32>)
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[XQ]] : tensor<2x2x2x3xi8>) outs(%[[INIT]] : tensor<2x3xi32>)
// CHECK:           arith.extsi %{{.*}} : i8 to i32
// CHECK:           arith.addi
// CHECK:         qat.requantize %[[SUM]] {input_zero_point = -472 : i32, multiplier = array<i32: 1073741824>, output_zero_point = -128 : i32, quant_max = 127 : i64, quant_min = -128 : i64, shift = array<i32: 31>} : tensor<2x3xi32> -> tensor<2x3xi8>
// CHECK-NOT:     qat.fake_quant
func.func @global_mean(%x: tensor<2x2x2x3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %four = arith.constant 4.0 : f32
  %sx = arith.constant dense<0.02> : tensor<f32>
  %zx = arith.constant dense<10> : tensor<i32>
  %sy = arith.constant dense<0.01> : tensor<f32>
  %zy = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x2x2x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, h, w, c)>, affine_map<(n, c, h, w) -> (n, c)>], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%xq : tensor<2x2x2x3xf32>) outs(%f : tensor<2x3xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %a = arith.addf %v, %acc : f32
    linalg.yield %a : f32
  } -> tensor<2x3xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(n, c) -> (n, c)>, affine_map<(n, c) -> (n, c)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.divf %v, %four : f32
    linalg.yield %d : f32
  } -> tensor<2x3xf32>
  %mq = qat.fake_quant %m, %sy, %zy {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %mq : tensor<2x3xf32>
}

// -----

// A residual add with a ReLU: each operand's codes minus its zero point,
// rescaled into int32 on a common grid s_c = max(0.02, 0.04) / 2^20 (exact
// powers of two here: 0.02 / s_c = 2^19 = 2^30 / 2^11, 0.04 / s_c = 2^20 =
// 2^30 / 2^10), added, then requantized by s_c / 0.05 with the ReLU as the
// lower clamp (the output zero point's code).

// CHECK-LABEL: func.func @residual(
// CHECK:         %[[AQ:.*]] = qat.quantize %{{.*}} -> tensor<2x3xi8>
// CHECK:         %[[AW:.*]] = linalg.generic {{.*}} ins(%[[AQ]] : tensor<2x3xi8>) outs(%{{.*}} : tensor<2x3xi32>)
// CHECK:           arith.extsi
// CHECK:         %[[A:.*]] = qat.requantize %[[AW]] {multiplier = array<i32: 1073741824>, num_bits = 32 : i64, shift = array<i32: 11>} : tensor<2x3xi32> -> tensor<2x3xi32>
// CHECK:         %[[BQ:.*]] = qat.quantize %{{.*}} -> tensor<2x3xi8>
// CHECK:         %[[BW:.*]] = linalg.generic {{.*}} ins(%[[BQ]] : tensor<2x3xi8>) outs(%{{.*}} : tensor<2x3xi32>)
// CHECK:         %[[B:.*]] = qat.requantize %[[BW]] {input_zero_point = -128 : i32, multiplier = array<i32: 1073741824>, num_bits = 32 : i64, shift = array<i32: 10>} : tensor<2x3xi32> -> tensor<2x3xi32>
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[B]] : tensor<2x3xi32>, tensor<2x3xi32>)
// CHECK:           arith.addi
// CHECK:         qat.requantize %[[SUM]] {multiplier = array<i32: {{[0-9]+}}>, output_zero_point = -128 : i32, quant_max = 127 : i64, quant_min = -128 : i64, shift = array<i32: 51>} : tensor<2x3xi32> -> tensor<2x3xi8>
// CHECK-NOT:     qat.fake_quant
func.func @residual(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %sa = arith.constant dense<0.02> : tensor<f32>
  %za = arith.constant dense<128> : tensor<i32>
  %sb = arith.constant dense<0.04> : tensor<f32>
  %zb = arith.constant dense<0> : tensor<i32>
  %so = arith.constant dense<0.05> : tensor<f32>
  %zo = arith.constant dense<0> : tensor<i32>
  %a = qat.fake_quant %x, %sa, %za {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  %b = qat.fake_quant %y, %sb, %zb {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %t = arith.addf %u, %v : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%u: f32, %o: f32):
    %t = arith.maximumf %u, %zero : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  %rq = qat.fake_quant %r, %so, %zo {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %rq : tensor<2x3xf32>
}

// -----

// 4-bit weights: codes [[1, -2, 7, -7], [0, 3, -1, 5]] (w / 0.1, narrow
// [-7, 7]) stored two per byte over the flattened weight, the first code in
// the low nibble: 1 | -2 << 4 = 0xE1 = -31, 7 | -7 << 4 = 0x97 = -105,
// 0 | 3 << 4 = 48, -1 | 5 << 4 = 0x5F = 95; unpacked in front of the matmul
// by shifting each nibble to the top of the byte and back (sign-extending),
// then reshaped to the weight's shape.

// CHECK-LABEL: func.func @int4_weights(
// CHECK:         %[[P:.*]] = arith.constant dense<[-31, -105, 48, 95]> : tensor<4xi8>
// CHECK:         %[[PAIRS:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<4xi8>) outs(%{{.*}} : tensor<4x2xi8>) attrs = {qat.unpack_codes}
// CHECK:           linalg.index 1
// CHECK:           arith.shli
// CHECK:           arith.shrsi
// CHECK:         %[[FLAT:.*]] = tensor.collapse_shape %[[PAIRS]] {{\[}}[0, 1]] : tensor<4x2xi8> into tensor<8xi8>
// CHECK:         %[[W:.*]] = tensor.expand_shape %[[FLAT]] {{\[}}[0, 1]] output_shape [2, 4] : tensor<8xi8> into tensor<2x4xi8>
// CHECK:         linalg.matmul ins(%{{.*}}, %[[W]] : tensor<3x2xi8>, tensor<2x4xi8>)
// With pack-int4=false, one code per byte:
// UNPACKED-LABEL: func.func @int4_weights(
// UNPACKED:         %[[W:.*]] = arith.constant dense<{{\[}}[1, -2, 7, -7], [0, 3, -1, 5]]> : tensor<2x4xi8>
// UNPACKED:         linalg.matmul ins(%{{.*}}, %[[W]] : tensor<3x2xi8>, tensor<2x4xi8>)
func.func @int4_weights(%x: tensor<3x2xf32>) -> tensor<3x4xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.1, -0.2, 0.7, -0.7], [0.0, 0.3, -0.1, 0.5]]> : tensor<2x4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %sy = arith.constant dense<0.2> : tensor<f32>
  %xq = qat.fake_quant %x, %s, %z : tensor<3x2xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %s, %z {num_bits = 4 : i64, narrow_range = true} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<3x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<3x2xf32>, tensor<2x4xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  %yq = qat.fake_quant %y, %sy, %z : tensor<3x4xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<3x4xf32>
}

// -----

// 2-bit weights: codes [[1, -1, 0, 1], [0, 1, -1, -1]] (w / 0.1, narrow
// [-1, 1]) stored four per byte, the first code lowest:
// 1 | 3 << 2 | 0 << 4 | 1 << 6 = 77, 0 | 1 << 2 | 3 << 4 | 3 << 6 = 0xF4 =
// -12; each code shifted to the top of the byte and back.

// CHECK-LABEL: func.func @int2_weights(
// CHECK:         %[[P:.*]] = arith.constant dense<[77, -12]> : tensor<2xi8>
// CHECK:         %[[Q:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<2xi8>) outs(%{{.*}} : tensor<2x4xi8>) attrs = {qat.unpack_codes}
// CHECK:         %[[FLAT:.*]] = tensor.collapse_shape %[[Q]] {{\[}}[0, 1]] : tensor<2x4xi8> into tensor<8xi8>
// CHECK:         %[[W:.*]] = tensor.expand_shape %[[FLAT]] {{\[}}[0, 1]] output_shape [2, 4] : tensor<8xi8> into tensor<2x4xi8>
// CHECK:         linalg.matmul ins(%{{.*}}, %[[W]] : tensor<3x2xi8>, tensor<2x4xi8>)
// UNPACKED-LABEL: func.func @int2_weights(
// UNPACKED:         arith.constant dense<{{\[}}[1, -1, 0, 1], [0, 1, -1, -1]]> : tensor<2x4xi8>
func.func @int2_weights(%x: tensor<3x2xf32>) -> tensor<3x4xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.1, -0.1, 0.0, 0.1], [0.0, 0.1, -0.1, -0.1]]> : tensor<2x4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %sy = arith.constant dense<0.2> : tensor<f32>
  %xq = qat.fake_quant %x, %s, %z : tensor<3x2xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %s, %z {num_bits = 2 : i64, narrow_range = true} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<3x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<3x2xf32>, tensor<2x4xf32>) outs(%f : tensor<3x4xf32>) -> tensor<3x4xf32>
  %yq = qat.fake_quant %y, %sy, %z : tensor<3x4xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<3x4xf32>
}

// -----

// Two tensors on one grid (same scale and zero point) concatenated in front
// of a layer: their codes are concatenated.

// CHECK-LABEL: func.func @concat_input(
// CHECK:         %[[A:.*]] = qat.quantize %{{.*}} -> tensor<2x2xi8>
// CHECK:         %[[B:.*]] = qat.quantize %{{.*}} -> tensor<2x3xi8>
// CHECK:         %[[C:.*]] = tensor.concat dim(1) %[[A]], %[[B]] : (tensor<2x2xi8>, tensor<2x3xi8>) -> tensor<2x5xi8>
// CHECK:         linalg.matmul ins(%[[C]], %{{.*}} : tensor<2x5xi8>, tensor<5x1xi8>)
func.func @concat_input(%x: tensor<2x2xf32>, %y: tensor<2x3xf32>) -> tensor<2x1xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[0.1], [0.2], [0.3], [0.4], [0.5]]> : tensor<5x1xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %s, %z : tensor<2x2xf32>, tensor<f32>, tensor<i32>
  %yq = qat.fake_quant %y, %s, %z : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  %c = tensor.concat dim(1) %xq, %yq : (tensor<2x2xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
  %wq = qat.fake_quant %w, %s, %z {narrow_range = true} : tensor<5x1xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x1xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x1xf32>) -> tensor<2x1xf32>
  %m = linalg.matmul ins(%c, %wq : tensor<2x5xf32>, tensor<5x1xf32>) outs(%f : tensor<2x1xf32>) -> tensor<2x1xf32>
  %mq = qat.fake_quant %m, %s, %z : tensor<2x1xf32>, tensor<f32>, tensor<i32>
  return %mq : tensor<2x1xf32>
}

// -----

// A depthwise convolution (weights per channel along C, the last dimension
// of HWC) with a bias and ReLU6: the clamp becomes the requantize's bounds,
// the codes of 0 and 6 on the output grid (s = 0.05, z = 0: codes 0 and
// 120, stored shifted by -128: [-128, -8]).

// CHECK-LABEL: func.func @depthwise_relu6(
// CHECK:         %[[ACC:.*]] = linalg.depthwise_conv_2d_nhwc_hwc {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x4x4x2xi8>, tensor<3x3x2xi8>) outs(%{{.*}} : tensor<1x2x2x2xi32>)
// CHECK:         qat.requantize %[[ACC]] {axis = 3 : i64, {{.*}}output_zero_point = -128 : i32, quant_max = -8 : i64, quant_min = -128 : i64{{.*}}} : tensor<1x2x2x2xi32> -> tensor<1x2x2x2xi8>
func.func @depthwise_relu6(%x: tensor<1x4x4x2xf32>) -> tensor<1x2x2x2xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %w = arith.constant dense<0.5> : tensor<3x3x2xf32>
  %b = arith.constant dense<[0.25, -0.25]> : tensor<2xf32>
  %sx = arith.constant dense<0.05> : tensor<f32>
  %zx = arith.constant dense<128> : tensor<i32>
  %sw = arith.constant dense<[0.01, 0.02]> : tensor<2xf32>
  %zw = arith.constant dense<0> : tensor<2xi32>
  %sy = arith.constant dense<0.05> : tensor<f32>
  %zy = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<1x4x4x2xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %zw {axis = 2 : i64, narrow_range = true} : tensor<3x3x2xf32>, tensor<2xf32>, tensor<2xi32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %c = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xq, %wq : tensor<1x4x4x2xf32>, tensor<3x3x2xf32>) outs(%f : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %b : tensor<1x2x2x2xf32>, tensor<2xf32>) outs(%e : tensor<1x2x2x2xf32>) {
  ^bb0(%v: f32, %bb: f32, %o: f32):
    %s = arith.addf %v, %bb : f32
    %lo = arith.maximumf %s, %zero : f32
    %hi = arith.minimumf %lo, %six : f32
    linalg.yield %hi : f32
  } -> tensor<1x2x2x2xf32>
  %rq = qat.fake_quant %r, %sy, %zy {is_signed = false} : tensor<1x2x2x2xf32>, tensor<f32>, tensor<i32>
  return %rq : tensor<1x2x2x2xf32>
}

// -----

// A hard sigmoid after the layer (MobileNetV3's gates): the positive scale
// 1/6 goes into the multipliers, the shift 0.5 into the bias in the
// accumulator's units (0.5 / (1/6) = 3 more: (b + 3) / (s_x s_w)), and the
// clamps to [0, 1] stay clamps.
// CHECK-LABEL: func.func @hard_sigmoid(
// CHECK-DAG:     arith.constant dense<[15500, 7000, 4125]> : tensor<3xi32>
// CHECK:         qat.requantize
// CHECK-NOT:     arith.mulf
// CHECK-NOT:     qat.fake_quant
func.func @hard_sigmoid(%x: tensor<2x4xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %sixth = arith.constant 0.166666672 : f32
  %half = arith.constant 0.5 : f32
  %w = arith.constant dense<[[0.01, 0.02, 0.04], [0.02, 0.04, 0.08], [-0.03, -0.06, -0.12], [1.27, 1.28, 0.0]]> : tensor<4x3xf32>
  %b = arith.constant dense<[0.1, -0.2, 0.3]> : tensor<3xf32>
  %sx = arith.constant dense<0.02> : tensor<f32>
  %zx = arith.constant dense<128> : tensor<i32>
  %sw = arith.constant dense<[0.01, 0.02, 0.04]> : tensor<3xf32>
  %zw = arith.constant dense<0> : tensor<3xi32>
  %sy = arith.constant dense<0.00392156886> : tensor<f32>
  %zy = arith.constant dense<0> : tensor<i32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x4xf32>, tensor<f32>, tensor<i32>
  %wq = qat.fake_quant %w, %sw, %zw {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xq, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    %t = arith.mulf %s, %sixth : f32
    %u = arith.addf %t, %half : f32
    %lo = arith.maximumf %u, %zero : f32
    %hi = arith.minimumf %lo, %one : f32
    linalg.yield %hi : f32
  } -> tensor<2x3xf32>
  %yq = qat.fake_quant %r, %sy, %zy {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

// A slice of the fake-quantized input (ShuffleNet's channel split) carries
// the codes: the integer layer slices the int8 tensor.
// CHECK-LABEL: func.func @sliced_input(
// CHECK:         %[[Q:.*]] = qat.quantize {{.*}} -> tensor<2x8xi8>
// CHECK:         %[[S:.*]] = tensor.extract_slice %[[Q]][0, 4] [2, 4] [1, 1] : tensor<2x8xi8> to tensor<2x4xi8>
// CHECK:         linalg.matmul ins(%[[S]], %{{.*}} : tensor<2x4xi8>, tensor<4x3xi8>)
// CHECK-NOT:     qat.fake_quant
func.func @sliced_input(%x: tensor<2x8xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.5> : tensor<4x3xf32>
  %sx = arith.constant dense<0.02> : tensor<f32>
  %zx = arith.constant dense<128> : tensor<i32>
  %sw = arith.constant dense<0.01> : tensor<f32>
  %zw = arith.constant dense<0> : tensor<i32>
  %sy = arith.constant dense<0.05> : tensor<f32>
  %xq = qat.fake_quant %x, %sx, %zx {is_signed = false} : tensor<2x8xf32>, tensor<f32>, tensor<i32>
  %xs = tensor.extract_slice %xq[0, 4] [2, 4] [1, 1] : tensor<2x8xf32> to tensor<2x4xf32>
  %wq = qat.fake_quant %w, %sw, %zw {narrow_range = true} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%xs, %wq : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yq = qat.fake_quant %y, %sy, %zx {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %yq : tensor<2x3xf32>
}

// -----

// A gate: x (scale 0.02, zero point 128, stored 0) times a sigmoid's output
// broadcast over the rows (scale 1/256, zero point 0, stored -128): the
// codes minus their zero points multiplied in int32, each read through the
// op's own map, requantized by 0.02 / 256 / 0.01 = 2^-7 = 2^30 * 2^-37.

// CHECK-LABEL: func.func @gate(
// CHECK-DAG:     %[[X:.*]] = qat.quantize %{{.*}} -> tensor<2x3xi8>
// CHECK-DAG:     %[[G:.*]] = qat.quantize %{{.*}} -> tensor<3xi8>
// CHECK:         %[[P:.*]] = linalg.generic {indexing_maps = [#[[ID:.*]], #[[ROW:.*]], #[[ID]]], {{.*}} ins(%[[X]], %[[G]] : tensor<2x3xi8>, tensor<3xi8>) outs(%{{.*}} : tensor<2x3xi32>)
// CHECK:           %[[XW:.*]] = arith.extsi
// CHECK:           %[[XC:.*]] = arith.subi %[[XW]], %c0_i32
// CHECK:           %[[GW:.*]] = arith.extsi
// CHECK:           %[[GC:.*]] = arith.subi %[[GW]], %c-128_i32
// CHECK:           arith.muli %[[XC]], %[[GC]] : i32
// CHECK:         qat.requantize %[[P]] {multiplier = array<i32: 1073741824>, output_zero_point = -128 : i32, quant_max = 127 : i64, quant_min = -128 : i64, shift = array<i32: 37>} : tensor<2x3xi32> -> tensor<2x3xi8>
// CHECK-NOT:     arith.mulf
func.func @gate(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> tensor<2x3xf32> attributes {qat.frozen} {
  %sa = arith.constant dense<0.02> : tensor<f32>
  %za = arith.constant dense<128> : tensor<i32>
  %sg = arith.constant dense<0.00390625> : tensor<f32>
  %zg = arith.constant dense<0> : tensor<i32>
  %so = arith.constant dense<0.01> : tensor<f32>
  %a = qat.fake_quant %x, %sa, %za {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  %g = qat.fake_quant %y, %sg, %zg {is_signed = false} : tensor<3xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%a, %g : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %t = arith.mulf %u, %v : f32
    linalg.yield %t : f32
  } -> tensor<2x3xf32>
  %zo = arith.constant dense<0> : tensor<i32>
  %pq = qat.fake_quant %p, %so, %zo {is_signed = false} : tensor<2x3xf32>, tensor<f32>, tensor<i32>
  return %pq : tensor<2x3xf32>
}

// -----

// Attention's scores: A [2, 3, 4] (scale 0.5, zero point 100, stored -28)
// times B [2, 4, 5] (scale 0.25, zero point 10, stored -118), then * 0.5.
// sum_k (qa + 28)(qb + 118) = sum_k qa qb + init with init = 4 * 28 * 118
// + 118 rowsum(A) + 28 colsum(B) = 13216 - (-118) rowsum(A) - (-28)
// colsum(B); the int8 codes go into an int8 x int8 -> int32 batch matmul;
// the scale joins the multiplier: 0.5 * 0.25 * 0.5 / 1 = 2^-4 = 2^30 *
// 2^-34.

// CHECK-LABEL: func.func @attention(
// CHECK-DAG:     %[[A:.*]] = qat.quantize %{{.*}} -> tensor<2x3x4xi8>
// CHECK-DAG:     %[[B:.*]] = qat.quantize %{{.*}} -> tensor<2x4x5xi8>
// CHECK:         %[[ROWS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[A]] : tensor<2x3x4xi8>) outs(%{{.*}} : tensor<2x3xi32>)
// CHECK:         %[[COLUMNS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[B]] : tensor<2x4x5xi8>) outs(%{{.*}} : tensor<2x5xi32>)
// CHECK:         %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[ROWS]], %[[COLUMNS]] : tensor<2x3xi32>, tensor<2x5xi32>) outs(%{{.*}} : tensor<2x3x5xi32>)
// CHECK:           %[[R:.*]] = arith.muli %{{.*}}, %c-118_i32
// CHECK:           %[[T:.*]] = arith.subi %c13216_i32, %[[R]]
// CHECK:           %[[C:.*]] = arith.muli %{{.*}}, %c-28_i32
// CHECK:           arith.subi %[[T]], %[[C]]
// CHECK:         %[[ACC:.*]] = linalg.batch_matmul ins(%[[A]], %[[B]] : tensor<2x3x4xi8>, tensor<2x4x5xi8>) outs(%[[INIT]] : tensor<2x3x5xi32>)
// CHECK:         qat.requantize %[[ACC]] {multiplier = array<i32: 1073741824>, output_zero_point = -128 : i32, quant_max = 127 : i64, quant_min = -128 : i64, shift = array<i32: 34>} : tensor<2x3x5xi32> -> tensor<2x3x5xi8>
func.func @attention(%x: tensor<2x3x4xf32>, %y: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> attributes {qat.frozen} {
  %c0 = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %sa = arith.constant dense<0.5> : tensor<f32>
  %za = arith.constant dense<100> : tensor<i32>
  %sb = arith.constant dense<0.25> : tensor<f32>
  %zb = arith.constant dense<10> : tensor<i32>
  %so = arith.constant dense<1.0> : tensor<f32>
  %zo = arith.constant dense<0> : tensor<i32>
  %a = qat.fake_quant %x, %sa, %za {is_signed = false} : tensor<2x3x4xf32>, tensor<f32>, tensor<i32>
  %b = qat.fake_quant %y, %sb, %zb {is_signed = false} : tensor<2x4x5xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<2x3x5xf32>
  %z = linalg.fill ins(%c0 : f32) outs(%e : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %s = linalg.batch_matmul ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%z : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %h = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, j, k)>, affine_map<(i, j, k) -> (i, j, k)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x3x5xf32>) outs(%e : tensor<2x3x5xf32>) {
  ^bb0(%u: f32, %o: f32):
    %t = arith.mulf %u, %half : f32
    linalg.yield %t : f32
  } -> tensor<2x3x5xf32>
  %hq = qat.fake_quant %h, %so, %zo {is_signed = false} : tensor<2x3x5xf32>, tensor<f32>, tensor<i32>
  return %hq : tensor<2x3x5xf32>
}

// -----

// A 2-D matmul whose B is an activation too (the importer's MatMul of a
// computed tensor by a computed 2-D one): the same form as a batch matmul,
// here with A symmetric (stored zero point 0: no column sums needed).

// CHECK-LABEL: func.func @activation_matmul_2d(
// CHECK:         %[[ROWS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<3x4xi8>) outs(%{{.*}} : tensor<3xi32>)
// CHECK:         %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[ROWS]] : tensor<3xi32>) outs(%{{.*}} : tensor<3x5xi32>)
// CHECK:         linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<3x4xi8>, tensor<4x5xi8>) outs(%[[INIT]] : tensor<3x5xi32>)
func.func @activation_matmul_2d(%x: tensor<3x4xf32> {qat.role = "input"}, %y: tensor<4x5xf32> {qat.role = "input"}) -> tensor<3x5xf32> attributes {qat.frozen} {
  %c0 = arith.constant 0.0 : f32
  %s = arith.constant dense<0.5> : tensor<f32>
  %z0 = arith.constant dense<0> : tensor<i32>
  %zb = arith.constant dense<10> : tensor<i32>
  %a = qat.fake_quant %x, %s, %z0 : tensor<3x4xf32>, tensor<f32>, tensor<i32>
  %b = qat.fake_quant %y, %s, %zb {is_signed = false} : tensor<4x5xf32>, tensor<f32>, tensor<i32>
  %e = tensor.empty() : tensor<3x5xf32>
  %f = linalg.fill ins(%c0 : f32) outs(%e : tensor<3x5xf32>) -> tensor<3x5xf32>
  %p = linalg.matmul ins(%a, %b : tensor<3x4xf32>, tensor<4x5xf32>) outs(%f : tensor<3x5xf32>) -> tensor<3x5xf32>
  %pq = qat.fake_quant %p, %s, %z0 : tensor<3x5xf32>, tensor<f32>, tensor<i32>
  return %pq : tensor<3x5xf32>
}
