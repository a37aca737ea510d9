// RUN: qat-opt %s --qat-build-train-step | FileCheck %s
// RUN: qat-opt %s --qat-build-train-step="optimizer=adam loss=mse" | FileCheck %s --check-prefix=ADAM
// RUN: qat-opt %s --qat-build-train-step="momentum=0" | FileCheck %s --check-prefix=PLAIN

// A one-layer classifier: the generated functions, their argument order and
// names (the state layout), the loss and the optimizer update.

func.func @net(%x: tensor<4x3xf32> {qat.name = "x"}, %w: tensor<3x2xf32> {qat.name = "w"}) -> (tensor<4x2xf32> {qat.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x3xf32>, tensor<3x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME:    %[[W:[^:]*]]: tensor<3x2xf32> {qat.name = "param:w"}, %[[M:[^:]*]]: tensor<3x2xf32> {qat.name = "momentum:w"}, %[[X:[^:]*]]: tensor<4x3xf32> {qat.name = "input:x"}, %[[L:[^:]*]]: tensor<4xi32> {qat.name = "labels"}, %[[LR:[^:]*]]: tensor<f32> {qat.name = "lr"})
// CHECK-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<3x2xf32> {qat.name = "momentum:w"}, tensor<f32> {qat.name = "loss"})
// CHECK:         %[[Y:.*]] = linalg.matmul ins(%[[X]], %[[W]] :
// Cross-entropy: row max, exp, row sum, the label's logit, the mean.
// CHECK:         math.exp
// CHECK:         linalg.index 1
// CHECK:         %[[LOSS:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<f32>)
// CHECK:           math.log
// The weight's gradient is x^T . dy, as a matmul.
// CHECK:         %[[XT:.*]] = linalg.transpose ins(%[[X]] : tensor<4x3xf32>)
// CHECK:         %[[GW:.*]] = linalg.matmul ins(%[[XT]], %{{.*}} : tensor<3x4xf32>, tensor<4x2xf32>)
// SGD with momentum 0.9.
// CHECK:         %[[UP:.*]]:2 = linalg.generic {{.*}} ins(%[[W]], %[[GW]], %[[M]], %[[LR]] : tensor<3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>, tensor<f32>)
// CHECK:           arith.constant 0.899999976 : f32
// CHECK:         return %[[UP]]#0, %[[UP]]#1, %[[LOSS]]
// Only ema advances observers in a gradient computation.
// CHECK-NOT:     func.func @train_gradients

// @apply_update is @train_step's optimizer step alone, from given gradients:
// the same update, with the gradient an argument.
// CHECK-LABEL: func.func @apply_update(
// CHECK-SAME:    %[[AW:[^:]*]]: tensor<3x2xf32> {qat.name = "param:w"}, %[[AM:[^:]*]]: tensor<3x2xf32> {qat.name = "momentum:w"}, %[[AG:[^:]*]]: tensor<3x2xf32> {qat.name = "grad:w"}, %[[ALR:[^:]*]]: tensor<f32> {qat.name = "lr"})
// CHECK-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<3x2xf32> {qat.name = "momentum:w"})
// CHECK:         %[[AUP:.*]]:2 = linalg.generic {{.*}} ins(%[[AW]], %[[AG]], %[[AM]], %[[ALR]] :
// CHECK:           arith.constant 0.899999976 : f32
// CHECK:         return %[[AUP]]#0, %[[AUP]]#1

// CHECK-LABEL: func.func @gradients(
// CHECK-SAME:    {qat.name = "param:w"}, %{{.*}}: tensor<4x3xf32> {qat.name = "input:x"}, %{{.*}}: tensor<4xi32> {qat.name = "labels"})
// CHECK-SAME:    -> (tensor<f32> {qat.name = "loss"}, tensor<3x2xf32> {qat.name = "grad:w"})

// CHECK-LABEL: func.func @eval_step(
// CHECK-SAME:    -> (tensor<f32> {qat.name = "loss"}, tensor<4x2xf32> {qat.name = "output:logits"})


// ADAM-LABEL: func.func @train_step(
// ADAM-SAME:    {qat.name = "param:w"}, %{{.*}}: tensor<3x2xf32> {qat.name = "adam_m:w"}, %{{.*}}: tensor<3x2xf32> {qat.name = "adam_v:w"}, %{{.*}}: tensor<4x3xf32> {qat.name = "input:x"}, %{{.*}}: tensor<4x2xf32> {qat.name = "labels"}, %{{.*}}: tensor<f32> {qat.name = "lr"}, %{{.*}}: tensor<f32> {qat.name = "step"})
// ADAM-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<3x2xf32> {qat.name = "adam_m:w"}, tensor<3x2xf32> {qat.name = "adam_v:w"}, tensor<f32> {qat.name = "loss"})
// ADAM:         math.powf
// ADAM:         math.sqrt
// ADAM-LABEL: func.func @apply_update(
// ADAM-SAME:    {qat.name = "grad:w"}, %{{.*}}: tensor<f32> {qat.name = "lr"}, %{{.*}}: tensor<f32> {qat.name = "step"})
// ADAM-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<3x2xf32> {qat.name = "adam_m:w"}, tensor<3x2xf32> {qat.name = "adam_v:w"})
// ADAM:         math.powf

// PLAIN-LABEL: func.func @train_step(
// PLAIN-SAME:    %{{.*}}: tensor<3x2xf32> {qat.name = "param:w"}, %{{.*}}: tensor<4x3xf32> {qat.name = "input:x"}
// PLAIN-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<f32> {qat.name = "loss"})

// range-learning=ema on the instrumented network: no scale arguments; the
// observers are state, updated by a moving average in @train_step, and
// @calibrate runs the float network with running min/max.
// RUN: qat-opt %s --qat-instrument --qat-build-train-step="range-learning=ema freeze-observers-after=10" | FileCheck %s --check-prefix=EMA

// LSQ's gradient scale is 1/sqrt(numel * qmax): the input x (4x3, 8 bits
// unsigned) gets 1/sqrt(12 * 255) = 0.0180775; with batch-shards=4 its numel
// counts a global batch 4 times larger, 1/sqrt(48 * 255) = 0.00903877. The
// weight (3x2 per channel, qmax 127) is not batched: 1/sqrt(3 * 127) either way.
// RUN: qat-opt %s --qat-instrument --qat-build-train-step | FileCheck %s --check-prefix=LSQ1
// RUN: qat-opt %s --qat-instrument --qat-build-train-step="batch-shards=4" | FileCheck %s --check-prefix=LSQ4
// LSQ1-LABEL: func.func @train_step(
// LSQ1-DAG:     qat.fake_quant_grad %{{.*}} {grad_factor = 0.0180775374 : f32, is_signed = false} : tensor<4x3xf32>
// LSQ1-DAG:     qat.fake_quant_grad %{{.*}} {axis = 1 : i64, grad_factor = 0.0512315519 : f32, narrow_range = true} : tensor<3x2xf32>
// LSQ4-LABEL: func.func @train_step(
// LSQ4-DAG:     qat.fake_quant_grad %{{.*}} {grad_factor = 0.00903876871 : f32, is_signed = false} : tensor<4x3xf32>
// LSQ4-DAG:     qat.fake_quant_grad %{{.*}} {axis = 1 : i64, grad_factor = 0.0512315519 : f32, narrow_range = true} : tensor<3x2xf32>
// EMA-LABEL: func.func @train_step(
// EMA-SAME:    {qat.name = "momentum:w"}, %{{.*}}: tensor<f32> {qat.name = "act_min:x"}
// EMA-SAME:    {qat.name = "lr"}, %{{.*}}: tensor<f32> {qat.name = "step"})
// EMA-SAME:    -> (tensor<3x2xf32> {qat.name = "param:w"}, tensor<3x2xf32> {qat.name = "momentum:w"}, tensor<f32> {qat.name = "act_min:x"}, tensor<f32> {qat.name = "act_max:x"}, tensor<f32> {qat.name = "act_min:matmul_0"}, tensor<f32> {qat.name = "act_max:matmul_0"}, tensor<f32> {qat.name = "loss"})
// The weight scale comes from the current weight, per output channel.
// EMA:         %[[MIN:.*]], %[[MAX:.*]] = qat.observe %{{.*}} {axis = 1 : i64} : tensor<3x2xf32> -> tensor<2xf32>
// EMA:         qat.choose_qparams %[[MIN]], %[[MAX]] {narrow_range = true, symmetric = true}
// The input's observer: first batch as is, then min + 0.01 * (batch - min),
// frozen after step 10.
// EMA:         arith.constant 0.00999999977 : f32
// EMA:         arith.constant 1.000000e+01 : f32
// With ema, @train_gradients is @train_step's first half: it advances the
// observers (moving average, step number) and returns them with the
// gradients, and the optimizer is left to @apply_update.
// EMA-LABEL: func.func @train_gradients(
// EMA-SAME:    {qat.name = "act_min:x"}
// EMA-SAME:    {qat.name = "labels"}, %{{.*}}: tensor<f32> {qat.name = "step"})
// EMA-SAME:    -> (tensor<f32> {qat.name = "loss"}, tensor<3x2xf32> {qat.name = "grad:w"}, tensor<f32> {qat.name = "act_min:x"}, tensor<f32> {qat.name = "act_max:x"}, tensor<f32> {qat.name = "act_min:matmul_0"}, tensor<f32> {qat.name = "act_max:matmul_0"})
// EMA:         arith.constant 0.00999999977 : f32
// EMA-LABEL: func.func @calibrate(
// EMA-SAME:    {qat.name = "param:w"}, %{{.*}}: tensor<f32> {qat.name = "act_min:x"}, %{{.*}}: tensor<f32> {qat.name = "act_max:x"}, %{{.*}}: tensor<f32> {qat.name = "act_min:matmul_0"}, %{{.*}}: tensor<f32> {qat.name = "act_max:matmul_0"}, %{{.*}}: tensor<4x3xf32> {qat.name = "input:x"})
// EMA-NOT:     qat.fake_quant
// EMA:         arith.minimumf
