// RUN: qat-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith --qat-instrument | FileCheck %s
// RUN: qat-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith --qat-instrument=dry-run -o /dev/null | FileCheck %s --check-prefix=PLAN

// TOSA input through upstream tosa-to-linalg: conv2d (OHWI weights, so
// linalg.conv_2d_nhwc_fhwc with the bias in the accumulator), clamp (ReLU6),
// avg_pool2d (sum pooling then a division) and a reshape.

func.func @f(%x: tensor<1x8x8x4xf32>, %w: tensor<8x3x3x4xf32>, %b: tensor<8xf32>) -> tensor<1x8xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : (tensor<1x8x8x4xf32>, tensor<8x3x3x4xf32>, tensor<8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x8x8xf32>
  %r = tosa.clamp %c {max_val = 6.0 : f32, min_val = 0.0 : f32} : (tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %p = tosa.avg_pool2d %r, %zp, %zp {acc_type = f32, kernel = array<i64: 8, 8>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x8x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x1x8xf32>
  %s = tosa.const_shape {values = dense<[1, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %o = tosa.reshape %p, %s : (tensor<1x1x1x8xf32>, !tosa.shape<2>) -> tensor<1x8xf32>
  return %o : tensor<1x8xf32>
}

// CHECK-LABEL: func.func @f(
// CHECK-SAME:    %[[X:[^:]*]]: tensor<1x8x8x4xf32> {qat.role = "input"}, %[[W:[^:]*]]: tensor<8x3x3x4xf32> {qat.role = "parameter"}, %[[B:[^:]*]]: tensor<8xf32> {qat.role = "parameter"}
// CHECK-DAG:     %[[WQ:.*]] = qat.fake_quant %[[W]], %{{.*}}, %{{.*}} {axis = 0 : i64, narrow_range = true} : tensor<8x3x3x4xf32>, tensor<8xf32>, tensor<8xi32>
// CHECK-DAG:     %[[XQ:.*]] = qat.fake_quant %[[X]], %{{.*}}, %{{.*}} {is_signed = false}
// CHECK:         %[[PAD:.*]] = tensor.pad %[[XQ]]
// CHECK:         %[[ACC:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<8xf32>)
// CHECK:         %[[CONV:.*]] = linalg.conv_2d_nhwc_fhwc {{.*}} ins(%[[PAD]], %[[WQ]] : {{.*}} outs(%[[ACC]] :
// CHECK:         %[[CLAMP:.*]] = linalg.generic {{.*}} ins(%[[CONV]] :
// CHECK:         %[[CLAMPQ:.*]] = qat.fake_quant %[[CLAMP]]
// CHECK:         %[[SUM:.*]] = linalg.pooling_nhwc_sum {{.*}} ins(%[[CLAMPQ]],
// CHECK:         %[[AVG:.*]] = linalg.generic {{.*}} ins(%[[SUM]] :
// CHECK:         %[[AVGQ:.*]] = qat.fake_quant %[[AVG]]
// CHECK:         %[[OUT:.*]] = tensor.collapse_shape %[[AVGQ]]
// CHECK:         return %[[OUT]]

// PLAN:      func @f: 1 layers (0 skipped), 1 weight and 3 activation fake-quants, 7 new arguments
// PLAN-NEXT:   layer conv_0 (linalg.conv_2d_nhwc_fhwc): weight 8-bit signed symmetric narrow per-channel (axis 0)
// PLAN-NEXT:   activation input arg0: 8-bit unsigned affine, parameters arg0.act_*
// PLAN-NEXT:   activation conv_0 output after min, max: 8-bit unsigned affine, parameters conv_0.act_*
// PLAN-NEXT:   activation sum_pool_0 output after div: 8-bit unsigned affine, parameters sum_pool_0.act_*
