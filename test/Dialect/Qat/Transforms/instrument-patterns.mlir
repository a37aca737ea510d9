// RUN: qat-opt %s --split-input-file --qat-instrument | FileCheck %s
// RUN: qat-opt %s --split-input-file --qat-instrument=dry-run -o /dev/null | FileCheck %s --check-prefix=PLAN

// Residual block: the skip input and the conv output are each quantized
// once; the add (with its ReLU) gets its own output parameters. The padded
// input reuses the input's fake-quant rather than quantizing the padding.

#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
func.func @residual(%x: tensor<1x8x8x4xf32>, %w: tensor<3x3x4x4xf32>, %b: tensor<4xf32>) -> tensor<1x8x8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x8x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
  %xp = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x8x8x4xf32> to tensor<1x10x10x4xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xp, %w : tensor<1x10x10x4xf32>, tensor<3x3x4x4xf32>) outs(%f : tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
  %cb = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %b : tensor<1x8x8x4xf32>, tensor<4xf32>) outs(%e : tensor<1x8x8x4xf32>) {
  ^bb0(%v: f32, %bb: f32, %o: f32):
    %s = arith.addf %v, %bb : f32
    linalg.yield %s : f32
  } -> tensor<1x8x8x4xf32>
  %res = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%cb, %x : tensor<1x8x8x4xf32>, tensor<1x8x8x4xf32>) outs(%e : tensor<1x8x8x4xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    linalg.yield %s : f32
  } -> tensor<1x8x8x4xf32>
  %relu = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%res : tensor<1x8x8x4xf32>) outs(%e : tensor<1x8x8x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.maximumf %v, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x8x8x4xf32>
  return %relu : tensor<1x8x8x4xf32>
}

// CHECK-LABEL: func.func @residual(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<1x8x8x4xf32> {qat.role = "input"}
// CHECK:         %[[XQ:.*]] = qat.fake_quant %[[X]]
// CHECK:         %[[XP:.*]] = tensor.pad %[[XQ]]
// CHECK:         %[[C:.*]] = linalg.conv_2d_nhwc_hwcf {{.*}} ins(%[[XP]], %{{.*}} :
// CHECK:         %[[CB:.*]] = linalg.generic {{.*}} ins(%[[C]], %{{.*}} :
// CHECK:         %[[CBQ:.*]] = qat.fake_quant %[[CB]]
// CHECK:         %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[CBQ]], %[[XQ]] :
// CHECK-NOT:     qat.fake_quant
// CHECK:         %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[ADD]] :
// CHECK:         %[[OUT:.*]] = qat.fake_quant %[[RELU]]
// CHECK:         return %[[OUT]]

// PLAN:      func @residual: 1 layers (0 skipped), 1 weight and 3 activation fake-quants, 7 new arguments
// PLAN:        activation input arg0: 8-bit unsigned affine, parameters arg0.act_*
// PLAN-NEXT:   activation conv_0 output after add: 8-bit unsigned affine, parameters conv_0.act_*
// PLAN-NEXT:   activation add_0 output after max: 8-bit unsigned affine, parameters add_0.act_*

// -----

// Depthwise + pointwise (MobileNet): the depthwise filter (HWC) is quantized
// per channel along axis 2, ReLU6 (min then max) fuses into the epilogue.

#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
func.func @depthwise_pointwise(%x: tensor<1x8x8x4xf32>, %dw: tensor<3x3x4xf32>, %pw: tensor<1x1x4x8xf32>) -> tensor<1x6x6x8xf32> {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %e = tensor.empty() : tensor<1x6x6x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  %d = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %dw : tensor<1x8x8x4xf32>, tensor<3x3x4xf32>) outs(%f : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  %d6 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%d : tensor<1x6x6x4xf32>) outs(%e : tensor<1x6x6x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %a = arith.minimumf %v, %six : f32
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x6x6x4xf32>
  %e2 = tensor.empty() : tensor<1x6x6x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x6x6x8xf32>) -> tensor<1x6x6x8xf32>
  %p = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%d6, %pw : tensor<1x6x6x4xf32>, tensor<1x1x4x8xf32>) outs(%f2 : tensor<1x6x6x8xf32>) -> tensor<1x6x6x8xf32>
  return %p : tensor<1x6x6x8xf32>
}

// CHECK-LABEL: func.func @depthwise_pointwise(
// CHECK-SAME:    %[[DW:[^:]*]]: tensor<3x3x4xf32>
// CHECK-SAME:    %[[PW:[^:]*]]: tensor<1x1x4x8xf32>
// CHECK-DAG:     %[[DWQ:.*]] = qat.fake_quant %[[DW]], %{{.*}}, %{{.*}} {axis = 2 : i64, narrow_range = true} : tensor<3x3x4xf32>, tensor<4xf32>, tensor<4xi32>
// CHECK-DAG:     %[[PWQ:.*]] = qat.fake_quant %[[PW]], %{{.*}}, %{{.*}} {axis = 3 : i64, narrow_range = true} : tensor<1x1x4x8xf32>, tensor<8xf32>, tensor<8xi32>
// CHECK:         linalg.depthwise_conv_2d_nhwc_hwc {{.*}} ins(%{{.*}}, %[[DWQ]] :
// CHECK:         %[[R6:.*]] = linalg.generic
// CHECK:         %[[R6Q:.*]] = qat.fake_quant %[[R6]]
// CHECK:         linalg.conv_2d_nhwc_hwcf {{.*}} ins(%[[R6Q]], %[[PWQ]] :

// PLAN:      func @depthwise_pointwise: 2 layers (0 skipped), 2 weight and 3 activation fake-quants, 8 new arguments
// PLAN-NEXT:   layer depthwise_conv_0 (linalg.depthwise_conv_2d_nhwc_hwc): weight 8-bit signed symmetric narrow per-channel (axis 2)
// PLAN-NEXT:   layer conv_0 (linalg.conv_2d_nhwc_hwcf): weight 8-bit signed symmetric narrow per-channel (axis 3)
// PLAN-NEXT:   activation input arg0: 8-bit unsigned affine, parameters arg0.act_*
// PLAN-NEXT:   activation depthwise_conv_0 output after min, max: 8-bit unsigned affine, parameters depthwise_conv_0.act_*
// PLAN-NEXT:   activation conv_0 output: 8-bit unsigned affine, parameters conv_0.act_*

// -----

// Pooling: max pooling and flattening keep their input's quantization (no
// new fake-quant); average pooling (sum pooling, then a division) and a
// global mean (a reduction, then a multiplication) are re-quantized after
// their epilogue.

#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#red = affine_map<(n, h, w, c) -> (n, c)>
#id2 = affine_map<(n, c) -> (n, c)>
func.func @pooling(%x: tensor<1x4x4x2xf32>, %w: tensor<1x1x2x2xf32>) -> (tensor<1x8xf32>, tensor<1x1x1x2xf32>, tensor<1x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x4x4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x4x4x2xf32>, tensor<1x1x2x2xf32>) outs(%f : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %em = tensor.empty() : tensor<1x2x2x2xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%em : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %mp = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%c, %win : tensor<1x4x4x2xf32>, tensor<2x2xf32>) outs(%fm : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %flat = tensor.collapse_shape %mp [[0], [1, 2, 3]] : tensor<1x2x2x2xf32> into tensor<1x8xf32>
  %es = tensor.empty() : tensor<1x1x1x2xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x1x1x2xf32>) -> tensor<1x1x1x2xf32>
  %sp = linalg.pooling_nhwc_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%mp, %win : tensor<1x2x2x2xf32>, tensor<2x2xf32>) outs(%fs : tensor<1x1x1x2xf32>) -> tensor<1x1x1x2xf32>
  %four = arith.constant 4.0 : f32
  %avg = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sp : tensor<1x1x1x2xf32>) outs(%es : tensor<1x1x1x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.divf %v, %four : f32
    linalg.yield %r : f32
  } -> tensor<1x1x1x2xf32>
  %er = tensor.empty() : tensor<1x2xf32>
  %fr = linalg.fill ins(%zero : f32) outs(%er : tensor<1x2xf32>) -> tensor<1x2xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
      ins(%c : tensor<1x4x4x2xf32>) outs(%fr : tensor<1x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.addf %v, %o : f32
    linalg.yield %r : f32
  } -> tensor<1x2xf32>
  %sixteenth = arith.constant 0.0625 : f32
  %mean = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<1x2xf32>) outs(%er : tensor<1x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.mulf %v, %sixteenth : f32
    linalg.yield %r : f32
  } -> tensor<1x2xf32>
  return %flat, %avg, %mean : tensor<1x8xf32>, tensor<1x1x1x2xf32>, tensor<1x2xf32>
}

// CHECK-LABEL: func.func @pooling(
// CHECK:         %[[C:.*]] = linalg.conv_2d_nhwc_hwcf
// CHECK:         %[[CQ:.*]] = qat.fake_quant %[[C]]
// CHECK:         %[[MP:.*]] = linalg.pooling_nhwc_max {{.*}} ins(%[[CQ]],
// CHECK-NOT:     qat.fake_quant %[[MP]]
// CHECK:         %[[FLAT:.*]] = tensor.collapse_shape %[[MP]]
// CHECK:         %[[SP:.*]] = linalg.pooling_nhwc_sum {{.*}} ins(%[[MP]],
// CHECK:         %[[AVG:.*]] = linalg.generic {{.*}} ins(%[[SP]] :
// CHECK:         %[[AVGQ:.*]] = qat.fake_quant %[[AVG]]
// CHECK:         %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[CQ]] :
// CHECK:         %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[SUM]] :
// CHECK:         %[[MEANQ:.*]] = qat.fake_quant %[[MEAN]]
// CHECK:         return %[[FLAT]], %[[AVGQ]], %[[MEANQ]]

// PLAN:      func @pooling: 1 layers (0 skipped), 1 weight and 4 activation fake-quants, 9 new arguments
// PLAN:        activation conv_0 output: 8-bit unsigned affine, parameters conv_0.act_*
// PLAN-NEXT:   activation sum_pool_0 output after div: 8-bit unsigned affine, parameters sum_pool_0.act_*
// PLAN-NEXT:   activation reduce_0 output after mul: 8-bit unsigned affine, parameters reduce_0.act_*

// -----

// Concatenation: both inputs and the result share one scale and zero point
// (the concat's), so the integer program concatenates codes directly.

func.func @concat(%x: tensor<2x4xf32>, %w1: tensor<4x3xf32>, %w2: tensor<4x5xf32>) -> tensor<2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2x3xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %a = linalg.matmul ins(%x, %w1 : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f1 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %e2 = tensor.empty() : tensor<2x5xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x5xf32>) -> tensor<2x5xf32>
  %b = linalg.matmul ins(%x, %w2 : tensor<2x4xf32>, tensor<4x5xf32>) outs(%f2 : tensor<2x5xf32>) -> tensor<2x5xf32>
  %c = tensor.concat dim(1) %a, %b : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @concat(
// CHECK-SAME:    %[[S:[^:]*]]: tensor<f32> {qat.name = "concat_0.act_scale"
// CHECK-SAME:    %[[Z:[^:]*]]: tensor<i32> {qat.name = "concat_0.act_zero_point"
// CHECK:         %[[A:.*]] = linalg.matmul
// CHECK:         %[[AQ:.*]] = qat.fake_quant %[[A]], %[[S]], %[[Z]]
// CHECK:         %[[B:.*]] = linalg.matmul
// CHECK:         %[[BQ:.*]] = qat.fake_quant %[[B]], %[[S]], %[[Z]]
// CHECK:         %[[C:.*]] = tensor.concat dim(1) %[[AQ]], %[[BQ]]
// CHECK-NEXT:    return %[[C]]

// The shared range is the union of both inputs' ranges.
// CHECK-LABEL: func.func @concat_init_qparams(
// CHECK:         %[[AMIN:.*]], %[[AMAX:.*]] = qat.observe %{{.*}} : tensor<2x3xf32>
// CHECK:         %[[BMIN:.*]], %[[BMAX:.*]] = qat.observe %{{.*}} : tensor<2x5xf32>
// CHECK:         arith.minimumf
// CHECK:         arith.maximumf

// PLAN:      func @concat: 2 layers (0 skipped), 2 weight and 3 activation fake-quants, 6 new arguments
// PLAN:        activation matmul_0 output: 8-bit unsigned affine, parameters concat_0.act_*
// PLAN-NEXT:   activation matmul_1 output: 8-bit unsigned affine, parameters concat_0.act_*

// -----

// A linear layer as an exporter writes it: a transposed weight (quantized
// after the transpose, per output column), a named broadcast + linalg.add
// bias and a compare-and-select ReLU, all one epilogue.

#id = affine_map<(i, j) -> (i, j)>
func.func @named(%x: tensor<2x4xf32>, %w: tensor<3x4xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<4x3xf32>
  %wt = linalg.transpose ins(%w : tensor<3x4xf32>) outs(%et : tensor<4x3xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x4xf32>, tensor<4x3xf32>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  %bb = linalg.broadcast ins(%b : tensor<3xf32>) outs(%e : tensor<2x3xf32>) dimensions = [0]
  %yb = linalg.add ins(%y, %bb : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%yb : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %c = arith.cmpf ugt, %a, %zero : f32
    %s = arith.select %c, %a, %zero : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @named(
// CHECK:         %[[WT:.*]] = linalg.transpose
// CHECK:         %[[WQ:.*]] = qat.fake_quant %[[WT]], %{{.*}}, %{{.*}} {axis = 1 : i64, narrow_range = true} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
// CHECK:         %[[Y:.*]] = linalg.matmul {{.*}} ins(%{{.*}}, %[[WQ]] :
// CHECK-NOT:     qat.fake_quant
// CHECK:         %[[YB:.*]] = linalg.add ins(%[[Y]], %{{.*}} :
// CHECK-NOT:     qat.fake_quant
// CHECK:         %[[R:.*]] = linalg.generic {{.*}} ins(%[[YB]] :
// CHECK:         %[[RQ:.*]] = qat.fake_quant %[[R]]
// CHECK:         return %[[RQ]]

// PLAN:      func @named: 1 layers (0 skipped), 1 weight and 2 activation fake-quants, 5 new arguments
// PLAN:        activation matmul_0 output after add, max: 8-bit unsigned affine, parameters matmul_0.act_*
