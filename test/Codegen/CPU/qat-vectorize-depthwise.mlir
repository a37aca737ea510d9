// RUN: qat-opt %s -split-input-file --qat-vectorize-depthwise | FileCheck %s
// RUN: qat-opt %s -split-input-file --qat-vectorize-depthwise="parallel=true parallel-min-macs=1" | FileCheck %s --check-prefix=PAR
// RUN: qat-opt %s -split-input-file --qat-vectorize-depthwise=vnni=true | FileCheck %s --check-prefix=VNNI

// int8: the bias broadcast is the accumulators' start, the consumer (a
// requantization) is fused: the int32 result is never written.
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
// CHECK-LABEL: func @int8_fused
// PAR-LABEL: func @int8_fused
func.func @int8_fused(%x: tensor<1x10x10x32xi8>, %w: tensor<3x3x32xi8>, %bias: tensor<32xi32>, %m: tensor<32xi32>) -> tensor<1x8x8x32xi8> {
  // CHECK-NOT: linalg.depthwise_conv_2d_nhwc_hwc
  // CHECK: %[[OUT:.*]] = tensor.empty() : tensor<1x8x8x32xi8>
  // CHECK: scf.for %[[ROW:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[OUT]])
  // CHECK: scf.for %[[C0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args
  // The 9 taps of this block of 16 channels, loaded once.
  // CHECK-COUNT-9: vector.transfer_read %{{.*}} {in_bounds = [true]} : tensor<3x3x32xi8>, vector<16xi8>
  // CHECK: %[[START:.*]] = vector.transfer_read %{{.*}}[%[[C0]]]{{.*}} : tensor<32xi32>, vector<16xi32>
  // CHECK: %[[SCALE:.*]] = vector.transfer_read %{{.*}}[%[[C0]]]{{.*}} : tensor<32xi32>, vector<16xi32>
  // 4 pixels a block.
  // CHECK: scf.for {{.*}} step %c4
  // CHECK: vector.transfer_read %{{.*}} : tensor<1x10x10x32xi8>, vector<16xi8>
  // CHECK: arith.extsi %{{.*}} : vector<16xi8> to vector<16xi32>
  // CHECK: arith.muli %{{.*}} : vector<16xi32>
  // CHECK: arith.addi %[[START]], %{{.*}} : vector<16xi32>
  // CHECK: arith.muli %{{.*}}, %[[SCALE]] : vector<16xi32>
  // CHECK: arith.trunci %{{.*}} : vector<16xi32> to vector<16xi8>
  // CHECK: vector.transfer_write %{{.*}} {in_bounds = [true]} : vector<16xi8>, tensor<1x8x8x32xi8>
  // CHECK-NOT: tensor<1x8x8x32xi32>
  // CHECK: return
  // The 8 output rows in parallel, each writing its slice.
  // PAR: scf.forall (%{{.*}}) in (8)
  // PAR: tensor.extract_slice {{.*}} to tensor<1x1x8x32xi8>
  // PAR: tensor.parallel_insert_slice
  // With vnni, the 9 taps in 3 groups of 4 bytes a lane (the last padded
  // with zeros), 128 * their sum taken from the start; per pixel, the 9
  // input vectors grouped alike, made unsigned, and 3 dot products.
  // VNNI-LABEL: func @int8_fused
  // VNNI: %[[START:.*]] = vector.transfer_read %{{.*}} : tensor<32xi32>, vector<16xi32>
  // VNNI: %[[CORR:.*]] = arith.shli %{{.*}}, %{{.*}} : vector<16xi32>
  // VNNI: vector.interleave {{.*}} : vector<16xi8> -> vector<32xi8>
  // VNNI: vector.interleave {{.*}} : vector<16xi16> -> vector<32xi16>
  // VNNI: arith.subi %[[START]], %[[CORR]] : vector<16xi32>
  // VNNI: scf.for {{.*}} step %c4
  // VNNI: arith.xori %{{.*}} : vector<64xi8>
  // VNNI: arith.extui {{.*}} : vector<16x4xi8> to vector<16x4xi32>
  // VNNI: vector.multi_reduction <add>, {{.*}} [1] : vector<16x4xi32> to vector<16xi32>
  // VNNI-NOT: arith.extsi {{.*}} : vector<16xi8> to vector<16xi32>
  // VNNI: vector.transfer_write {{.*}} : vector<16xi8>, tensor<1x8x8x32xi8>
  %e = tensor.empty() : tensor<1x8x8x32xi32>
  %b = linalg.broadcast ins(%bias : tensor<32xi32>) outs(%e : tensor<1x8x8x32xi32>) dimensions = [0, 1, 2]
  %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x10x10x32xi8>, tensor<3x3x32xi8>) outs(%b : tensor<1x8x8x32xi32>) -> tensor<1x8x8x32xi32>
  %o = tensor.empty() : tensor<1x8x8x32xi8>
  %q = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %m : tensor<1x8x8x32xi32>, tensor<32xi32>) outs(%o : tensor<1x8x8x32xi8>) {
  ^bb0(%a: i32, %s: i32, %out: i8):
    %p = arith.muli %a, %s : i32
    %t = arith.trunci %p : i32 to i8
    linalg.yield %t : i8
  } -> tensor<1x8x8x32xi8>
  return %q : tensor<1x8x8x32xi8>
}

// -----

// f32, stride 2, dilation 2, 20 channels: a block of 16, then a masked
// block of 4; 5 output pixels a row: a block of 4, then one at a time. A
// fill is the start; no consumer: the result goes into the fill's tensor.
// CHECK-LABEL: func @float_tail
func.func @float_tail(%x: tensor<2x15x15x20xf32>, %w: tensor<3x3x20xf32>) -> tensor<2x5x5x20xf32> {
  // CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
  // CHECK: %[[E:.*]] = tensor.empty() : tensor<2x5x5x20xf32>
  // CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[E]])
  // CHECK: scf.for {{.*}} = %c0{{.*}} to %c16{{.*}} step %c16
  // CHECK: vector.broadcast %[[ZERO]] : f32 to vector<16xf32>
  // CHECK: arith.mulf %{{.*}} : vector<16xf32>
  // CHECK: arith.addf %{{.*}} : vector<16xf32>
  // CHECK: scf.for {{.*}} = %c16{{.*}} to %c20{{.*}} step %c16
  // Masked: no in_bounds attribute.
  // CHECK: vector.transfer_read %{{.*}}[{{.*}}], %{{[a-z0-9_]+}} : tensor<3x3x20xf32>, vector<16xf32>
  // CHECK: scf.for {{.*}} = %c0{{.*}} to %c4{{.*}} step %c4
  // CHECK: scf.for {{.*}} = %c4{{.*}} to %c5{{.*}} step %c1
  // CHECK: vector.transfer_write %{{.*}}[{{.*}}] : vector<16xf32>, tensor<2x5x5x20xf32>
  // CHECK-NOT: linalg.fill
  // CHECK-NOT: linalg.depthwise_conv_2d_nhwc_hwc
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x5x5x20xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<2x5x5x20xf32>) -> tensor<2x5x5x20xf32>
  %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<2> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<2x15x15x20xf32>, tensor<3x3x20xf32>) outs(%z : tensor<2x5x5x20xf32>) -> tensor<2x5x5x20xf32>
  return %y : tensor<2x5x5x20xf32>
}

// -----

// Left alone: dynamic shapes, other element types.
// CHECK-LABEL: func @left_alone
func.func @left_alone(%x: tensor<?x10x10x32xi8>, %w: tensor<3x3x32xi8>, %c: tensor<?x8x8x32xi32>,
                      %xh: tensor<1x10x10x32xi16>, %wh: tensor<3x3x32xi16>, %ch: tensor<1x8x8x32xi32>) -> (tensor<?x8x8x32xi32>, tensor<1x8x8x32xi32>) {
  // CHECK: linalg.depthwise_conv_2d_nhwc_hwc {{.*}} tensor<?x10x10x32xi8>
  // CHECK: linalg.depthwise_conv_2d_nhwc_hwc {{.*}} tensor<1x10x10x32xi16>
  %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<?x10x10x32xi8>, tensor<3x3x32xi8>) outs(%c : tensor<?x8x8x32xi32>) -> tensor<?x8x8x32xi32>
  %h = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xh, %wh : tensor<1x10x10x32xi16>, tensor<3x3x32xi16>) outs(%ch : tensor<1x8x8x32xi32>) -> tensor<1x8x8x32xi32>
  return %y, %h : tensor<?x8x8x32xi32>, tensor<1x8x8x32xi32>
}
