// RUN: qat-opt %s --qat-fold-batchnorm --split-input-file | FileCheck %s

// Inference batch norm in one generic after a convolution: the weight is
// scaled per output channel (axis 3 of HWCF) by a = gamma / sqrt(var + eps)
// and the shift c = beta - mean * a becomes a bias; ReLU stays after it.

#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
func.func @conv_bn_relu(%x: tensor<1x8x8x3xf32>, %w: tensor<3x3x3x4xf32>, %gamma: tensor<4xf32>,
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
// CHECK-SAME:    %[[X:[^:]*]]: tensor<1x8x8x3xf32>, %[[W:[^:]*]]: tensor<3x3x3x4xf32>, %[[G:[^:]*]]: tensor<4xf32>, %[[B:[^:]*]]: tensor<4xf32>, %[[M:[^:]*]]: tensor<4xf32>, %[[V:[^:]*]]: tensor<4xf32>)
// CHECK:         %[[AC:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[G]], %[[B]], %[[M]], %[[V]] : {{.*}}) outs(%{{.*}}, %{{.*}} : tensor<4xf32>, tensor<4xf32>)
// CHECK:           math.sqrt
// CHECK:           linalg.yield
// CHECK:         %[[WS:.*]] = linalg.generic {{.*}} ins(%[[W]], %[[AC]]#0 : tensor<3x3x3x4xf32>, tensor<4xf32>)
// CHECK:           arith.mulf
// CHECK:         %[[CONV:.*]] = linalg.conv_2d_nhwc_hwcf {{.*}} ins(%[[X]], %[[WS]] :
// CHECK:         %[[BIAS:.*]] = linalg.generic {{.*}} ins(%[[CONV]], %[[AC]]#1 : tensor<1x6x6x4xf32>, tensor<4xf32>)
// CHECK:           arith.addf
// CHECK:         %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[BIAS]] :
// CHECK:           arith.maximumf
// CHECK:         return %[[RELU]]

// -----

// A matmul followed by a bias add and a separate per-column scale (a chain
// of two generics, as TOSA or an exporter may write it): both fold, the bias
// is scaled with the weight's columns.

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @matmul_bias_scale(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yb = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.addf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %ys = linalg.generic {indexing_maps = [#col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s, %yb : tensor<3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%c: f32, %a: f32, %o: f32):
    %r = arith.mulf %c, %a : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  return %ys : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @matmul_bias_scale(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<2x4xf32>, %[[W:[^:]*]]: tensor<4x3xf32>, %[[B:[^:]*]]: tensor<3xf32>, %[[S:[^:]*]]: tensor<3xf32>)
// CHECK:         %[[AC:.*]]:2 = linalg.generic {{.*}} ins(%[[B]], %[[S]] : tensor<3xf32>, tensor<3xf32>)
// CHECK:         %[[WS:.*]] = linalg.generic {{.*}} ins(%[[W]], %[[AC]]#0 :
// CHECK:         %[[MM:.*]] = linalg.matmul ins(%[[X]], %[[WS]] :
// CHECK:         %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[MM]], %[[AC]]#1 :
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[OUT]]

// -----

// tosa-to-linalg initialises the accumulator with the bias: the fold scales
// that accumulator too.

#id4 = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch4 = affine_map<(n, h, w, c) -> (c)>
func.func @bias_in_accumulator(%x: tensor<1x3x3x2xf32>, %w: tensor<4x1x1x2xf32>, %b: tensor<4xf32>, %s: tensor<4xf32>) -> tensor<1x3x3x4xf32> {
  %e = tensor.empty() : tensor<1x3x3x4xf32>
  %acc = linalg.generic {indexing_maps = [#ch4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%b : tensor<4xf32>) outs(%e : tensor<1x3x3x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    linalg.yield %v : f32
  } -> tensor<1x3x3x4xf32>
  %c = linalg.conv_2d_nhwc_fhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x3x2xf32>, tensor<4x1x1x2xf32>) outs(%acc : tensor<1x3x3x4xf32>) -> tensor<1x3x3x4xf32>
  %y = linalg.generic {indexing_maps = [#id4, #ch4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %s : tensor<1x3x3x4xf32>, tensor<4xf32>) outs(%e : tensor<1x3x3x4xf32>) {
  ^bb0(%v: f32, %k: f32, %o: f32):
    %r = arith.mulf %v, %k : f32
    linalg.yield %r : f32
  } -> tensor<1x3x3x4xf32>
  return %y : tensor<1x3x3x4xf32>
}

// CHECK-LABEL: func.func @bias_in_accumulator(
// CHECK:         %[[ACC:.*]] = linalg.generic {{.*}} ins(%{{[^ ,]*}} : tensor<4xf32>) outs(%{{.*}} : tensor<1x3x3x4xf32>)
// CHECK:         %[[AC:.*]]:2 = linalg.generic
// CHECK:         %[[WS:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[AC]]#0 : tensor<4x1x1x2xf32>, tensor<4xf32>)
// CHECK:         %[[ACCS:.*]] = linalg.generic {{.*}} ins(%[[ACC]], %[[AC]]#0 :
// CHECK:         linalg.conv_2d_nhwc_fhwc {{.*}} ins(%{{.*}}, %[[WS]] : {{.*}} outs(%[[ACCS]] :

// -----

// Not folded: a plain bias (nothing to scale), a scale after ReLU (not
// affine in the layer's output), and a scale by an activation.

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @not_folded(%x: tensor<2x4xf32>, %w: tensor<4x3xf32>, %b: tensor<3xf32>, %s: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yb = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.addf %a, %c : f32
    %m = arith.maximumf %r, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %ys = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%yb, %s : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %y2 = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %yy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y2, %ys : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  return %ys, %yy : tensor<2x3xf32>, tensor<2x3xf32>
}

// CHECK-LABEL: func.func @not_folded(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<2x4xf32>, %[[W:[^:]*]]: tensor<4x3xf32>
// CHECK:         linalg.matmul ins(%[[X]], %[[W]] :
// CHECK:         linalg.matmul ins(%[[X]], %[[W]] :
// CHECK-NOT:     iterator_types = ["parallel"]}
// CHECK:         return
