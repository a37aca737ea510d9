// The dialect's discardable attributes (the contracts between passes) are
// verified where they appear: valid ones round-trip, and each wrong one is an
// error at load.
// RUN: qat-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @valid
// CHECK-SAME: qat.name = "x", qat.role = "input"
// CHECK-SAME: qat.qparam = {init = "minmax", layer = "fc", num_bits = 8 : i64, role = "weight_scale"}
// CHECK-SAME: qat.name = "logits"
// CHECK-SAME: qat.frozen
func.func @valid(%x: tensor<2xf32> {qat.name = "x", qat.role = "input"},
                 %w: tensor<2xf32> {qat.role = "parameter"},
                 %s: tensor<f32> {qat.name = "fc.weight_scale", qat.role = "qparam",
                                  qat.qparam = {role = "weight_scale", layer = "fc", init = "minmax", num_bits = 8 : i64}})
    -> (tensor<2xf32> {qat.name = "logits"}) attributes {qat.frozen} {
  %0 = arith.mulf %x, %w {qat.layer = "fc", qat.scale = 0.5 : f32} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.role' on argument 0 to be "input", "parameter" or "qparam", found "weight"}}
func.func @arg_role_unknown(%x: tensor<2xf32> {qat.role = "weight"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.name' on argument 0 to be a non-empty string, found 1 : i64}}
func.func @arg_name_not_string(%x: tensor<2xf32> {qat.name = 1}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.name' on result 0 to be a non-empty string, found ""}}
func.func @result_name_empty() -> (tensor<2xf32> {qat.name = ""}) {
  %0 = arith.constant dense<0.0> : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected only qat.name on function results, found 'qat.role' on result 0}}
func.func @result_role() -> (tensor<2xf32> {qat.role = "input"}) {
  %0 = arith.constant dense<0.0> : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected only qat.name, qat.role, qat.qparam and qat.value on function arguments, found 'qat.layer' on argument 0}}
func.func @arg_layer(%x: tensor<2xf32> {qat.layer = "fc"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.qparam' on argument 0 to be a dictionary whose 'role' is weight_scale, act_scale or act_zero_point, found {layer = "fc", role = "bias"}}}
func.func @qparam_bad_role(%s: tensor<f32> {qat.role = "qparam", qat.qparam = {role = "bias", layer = "fc"}}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.qparam' on argument 0 to be a dictionary with a non-empty string 'layer', found {role = "act_scale"}}}
func.func @qparam_no_layer(%s: tensor<f32> {qat.role = "qparam", qat.qparam = {role = "act_scale"}}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.qparam' on argument 0 to be a dictionary, found "fc"}}
func.func @qparam_not_dictionary(%s: tensor<f32> {qat.role = "qparam", qat.qparam = "fc"}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.qparam' on argument 0 to be a dictionary whose 'num_bits' is an integer, found}}
func.func @qparam_bits_not_integer(%s: tensor<f32> {qat.role = "qparam", qat.qparam = {role = "act_scale", layer = "fc", num_bits = "8"}}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.qparam' on argument 0 to be a dictionary whose 'init' is a string, found}}
func.func @qparam_init_not_string(%s: tensor<f32> {qat.role = "qparam", qat.qparam = {role = "act_scale", layer = "fc", init = 1}}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.role = "qparam"' on argument 0, which has 'qat.qparam'}}
func.func @qparam_without_role(%s: tensor<f32> {qat.qparam = {role = "act_scale", layer = "fc"}}) {
  return
}

// -----

func.func @layer_not_string(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'arith.addf' op expected 'qat.layer' to be a non-empty string, found 3 : i64}}
  %0 = arith.addf %x, %x {qat.layer = 3} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @scale_not_float(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'arith.addf' op expected 'qat.scale' to be a float, found "big"}}
  %0 = arith.addf %x, %x {qat.scale = "big"} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.frozen' to be a unit attribute, found true}}
func.func @frozen_not_unit() attributes {qat.frozen = true} {
  return
}

// -----

func.func @frozen_on_op(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'arith.addf' op expected 'qat.frozen' on a function}}
  %0 = arith.addf %x, %x {qat.frozen} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.init_qparams_for' to be a flat symbol reference, found "f"}}
func.func @init_for_string() attributes {qat.init_qparams_for = "f"} {
  return
}

// -----

func.func @name_on_op(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'arith.addf' op expected 'qat.name' on a function argument or result, not on an op}}
  %0 = arith.addf %x, %x {qat.name = "y"} : tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// expected-error @+1 {{'func.func' op unknown attribute 'qat.frozn'; the qat dialect defines qat.name, qat.role, qat.qparam, qat.layer, qat.frozen, qat.faithful, qat.init_qparams_for, qat.scale, qat.mask and qat.unpack_codes}}
func.func @unknown() attributes {qat.frozn} {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.value' on argument 0 of the argument's type 'tensor<2xf32>', found 'tensor<3xf32>'}}
func.func @value_type(%w: tensor<2xf32> {qat.role = "parameter", qat.value = dense<1.0> : tensor<3xf32>}) {
  return
}

// -----

// expected-error @+1 {{'func.func' op expected 'qat.role = "parameter"' on argument 0, which has 'qat.value'}}
func.func @value_on_input(%x: tensor<2xf32> {qat.role = "input", qat.value = dense<1.0> : tensor<2xf32>}) {
  return
}

// -----

func.func @mask_type(%w: tensor<2xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<2xf32> {
  // expected-error @+1 {{'qat.fake_quant' op expected 'qat.mask' to be an i1 elements attribute, found dense<1> : tensor<2xi8>}}
  %q = qat.fake_quant %w, %s, %z {qat.mask = dense<1> : tensor<2xi8>} : tensor<2xf32>, tensor<f32>, tensor<i32>
  return %q : tensor<2xf32>
}

// -----

func.func @mask_shape(%w: tensor<2xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<2xf32> {
  // expected-error @+1 {{'qat.fake_quant' op expected 'qat.mask' of the weight's shape 'tensor<2xf32>', found 'tensor<3xi1>'}}
  %q = qat.fake_quant %w, %s, %z {qat.mask = dense<true> : tensor<3xi1>} : tensor<2xf32>, tensor<f32>, tensor<i32>
  return %q : tensor<2xf32>
}

// -----

func.func @mask_op(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'arith.addf' op expected 'qat.mask' on a qat.fake_quant}}
  %y = arith.addf %x, %x {qat.mask = dense<true> : tensor<2xi1>} : tensor<2xf32>
  return %y : tensor<2xf32>
}
