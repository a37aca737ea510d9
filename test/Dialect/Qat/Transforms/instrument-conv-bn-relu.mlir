// RUN: qat-opt %s --qat-fold-batchnorm --qat-instrument | FileCheck %s
// RUN: qat-opt %s --qat-fold-batchnorm --qat-instrument=dry-run -o /dev/null | FileCheck %s --check-prefix=PLAN

// conv -> batch norm -> ReLU, the way PyTorch's ConvBnReLU2d is quantized:
// batch norm folded into the weight first, then the folded weight is
// fake-quantized per output channel and the activation once, after the ReLU.

#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
func.func @conv_bn_relu(%x: tensor<1x8x8x3xf32> {qat.name = "image"}, %w: tensor<3x3x3x4xf32>, %gamma: tensor<4xf32>,
    %beta: tensor<4xf32>, %mean: tensor<4xf32>, %var: tensor<4xf32>) -> tensor<1x6x6x4xf32> {
  %zero = arith.constant 0.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %e = tensor.empty() : tensor<1x6x6x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x8x8x3xf32>, tensor<3x3x3x4xf32>) outs(%f : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  %bn = linalg.generic {indexing_maps = [#id, #ch, #ch, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %gamma, %beta, %mean, %var : tensor<1x6x6x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<1x6x6x4xf32>) {
  ^bb0(%v: f32, %g: f32, %b: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %v, %m : f32
    %ve = arith.addf %s, %eps : f32
    %sd = math.sqrt %ve : f32
    %n = arith.divf %d, %sd : f32
    %sc = arith.mulf %n, %g : f32
    %r = arith.addf %sc, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x6x6x4xf32>
  %relu = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%bn : tensor<1x6x6x4xf32>) outs(%e : tensor<1x6x6x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.maximumf %v, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x6x6x4xf32>
  return %relu : tensor<1x6x6x4xf32>
}

// CHECK-LABEL: func.func @conv_bn_relu(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<1x8x8x3xf32> {qat.name = "image", qat.role = "input"}
// CHECK-SAME:    %[[WS:[^:]*]]: tensor<4xf32> {qat.name = "conv_0.weight_scale"
// CHECK-SAME:    %[[XS:[^:]*]]: tensor<f32> {qat.name = "image.act_scale"
// CHECK-SAME:    %[[XZ:[^:]*]]: tensor<i32> {qat.name = "image.act_zero_point"
// CHECK-SAME:    %[[YS:[^:]*]]: tensor<f32> {qat.name = "conv_0.act_scale"
// CHECK-SAME:    %[[YZ:[^:]*]]: tensor<i32> {qat.name = "conv_0.act_zero_point"
// CHECK:         %[[XQ:.*]] = qat.fake_quant %[[X]], %[[XS]], %[[XZ]] {is_signed = false}
// CHECK:         %[[FOLDED:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}#0 : tensor<3x3x3x4xf32>, tensor<4xf32>)
// CHECK:         %[[WQ:.*]] = qat.fake_quant %[[FOLDED]], %[[WS]], %{{.*}} {axis = 3 : i64, narrow_range = true}
// CHECK:         %[[CONV:.*]] = linalg.conv_2d_nhwc_hwcf {{.*}}qat.layer = "conv_0"{{.*}} ins(%[[XQ]], %[[WQ]] :
// CHECK-NOT:     qat.fake_quant
// CHECK:         %[[BIAS:.*]] = linalg.generic {{.*}} ins(%[[CONV]], %{{.*}}#1 :
// CHECK-NOT:     qat.fake_quant
// CHECK:         %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[BIAS]] :
// CHECK:         %[[YQ:.*]] = qat.fake_quant %[[RELU]], %[[YS]], %[[YZ]] {is_signed = false}
// CHECK:         return %[[YQ]]

// The initialiser observes the folded weight.
// CHECK-LABEL: func.func @conv_bn_relu_init_qparams(
// CHECK:         %[[FOLDED:.*]] = linalg.generic {{.*}} tensor<3x3x3x4xf32>, tensor<4xf32>)
// CHECK:         qat.observe %[[FOLDED]] {axis = 3 : i64}

// PLAN:      func @conv_bn_relu: 1 layers (0 skipped), 1 weight and 2 activation fake-quants, 5 new arguments
// PLAN-NEXT:   layer conv_0 (linalg.conv_2d_nhwc_hwcf): weight 8-bit signed symmetric narrow per-channel (axis 3)
// PLAN-NEXT:   activation input image: 8-bit unsigned affine, parameters image.act_*
// PLAN-NEXT:   activation conv_0 output after add, max: 8-bit unsigned affine, parameters conv_0.act_*
