// RUN: qat-opt %s -split-input-file -verify-diagnostics

func.func @fake_quant_num_bits_too_small(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{attribute 'num_bits' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 2 whose maximum value is 16}}
  %0 = qat.fake_quant %x, %s, %z {num_bits = 1 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_num_bits_too_large(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{attribute 'num_bits' failed to satisfy constraint}}
  %0 = qat.fake_quant %x, %s, %z {num_bits = 17 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_quant_min_outside_range(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected quant_min within [-128, 127] of the 8-bit signed range, got -200}}
  %0 = qat.fake_quant %x, %s, %z {quant_min = -200 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_quant_max_outside_range(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected quant_max within [0, 15] of the 4-bit unsigned range, got 16}}
  %0 = qat.fake_quant %x, %s, %z {num_bits = 4 : i64, is_signed = false, quant_max = 16 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_empty_range(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected quant_min < quant_max, got range [5, 5]}}
  %0 = qat.fake_quant %x, %s, %z {quant_min = 5 : i64, quant_max = 5 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_per_tensor_1d_scale(%x: tensor<4xf32>, %s: tensor<4xf32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected 0-D scale for per-tensor quantization (or an axis attribute), got 'tensor<4xf32>'}}
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<4xf32>, tensor<i32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_per_tensor_1d_zero_point(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<1xi32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected 0-D zero_point for per-tensor quantization (or an axis attribute), got 'tensor<1xi32>'}}
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<1xi32>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_axis_out_of_range(%x: tensor<4x3xf32>, %s: tensor<3xf32>, %z: tensor<3xi32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected axis < input rank 2, got 2}}
  %0 = qat.fake_quant %x, %s, %z {axis = 2 : i64} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_negative_axis(%x: tensor<4x3xf32>, %s: tensor<3xf32>, %z: tensor<3xi32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{attribute 'axis' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = qat.fake_quant %x, %s, %z {axis = -1 : i64} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_per_channel_0d_scale(%x: tensor<4x3xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected 1-D scale for per-channel quantization along axis 0, got 'tensor<f32>'}}
  %0 = qat.fake_quant %x, %s, %z {axis = 0 : i64} : tensor<4x3xf32>, tensor<f32>, tensor<i32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_per_channel_wrong_size(%x: tensor<4x3xf32>, %s: tensor<3xf32>, %z: tensor<3xi32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected scale of size 4 (input dimension 0), got 3}}
  %0 = qat.fake_quant %x, %s, %z {axis = 0 : i64} : tensor<4x3xf32>, tensor<3xf32>, tensor<3xi32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_per_channel_zero_point_wrong_size(%x: tensor<4x3xf32>, %s: tensor<3xf32>, %z: tensor<4xi32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected zero_point of size 3 (input dimension 1), got 4}}
  %0 = qat.fake_quant %x, %s, %z {axis = 1 : i64} : tensor<4x3xf32>, tensor<3xf32>, tensor<4xi32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @fake_quant_f16_input(%x: tensor<4xf16>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf16> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<4xf16>'}}
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf16>, tensor<f32>, tensor<i32>
  return %0 : tensor<4xf16>
}

// -----

func.func @fake_quant_i128_zero_point(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i128>) -> tensor<4xf32> {
  // expected-error @+1 {{operand #2 must be ranked tensor of signless integer of at most 64 bits or 32-bit float values, but got 'tensor<i128>'}}
  %0 = qat.fake_quant %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i128>
  return %0 : tensor<4xf32>
}

// -----

func.func @fake_quant_result_type_mismatch(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<5xf32> {
  // expected-error @+1 {{failed to verify that all of {input, result} have same type}}
  %0 = "qat.fake_quant"(%x, %s, %z) : (tensor<4xf32>, tensor<f32>, tensor<i32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

func.func @fake_quant_grad_per_channel_wrong_size(%x: tensor<4x3xf32>, %s: tensor<4xf32>, %z: tensor<4xf32>, %dy: tensor<4x3xf32>) {
  // expected-error @+1 {{expected scale of size 3 (input dimension 1), got 4}}
  %dx, %ds, %dz = qat.fake_quant_grad %x, %s, %z, %dy {axis = 1 : i64} : tensor<4x3xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @quantize_storage_too_narrow(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xi4> {
  // expected-error @+1 {{expected result element type of at least 8 bits to hold the quantized range, got 'i4'}}
  %0 = qat.quantize %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32> -> tensor<4xi4>
  return %0 : tensor<4xi4>
}

// -----

func.func @quantize_shape_mismatch(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<5xi8> {
  // expected-error @+1 {{failed to verify that all of {input, result} have same shape}}
  %0 = qat.quantize %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32> -> tensor<5xi8>
  return %0 : tensor<5xi8>
}

// -----

func.func @quantize_float_result(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{result #0 must be ranked tensor of signless integer of at most 64 bits values, but got 'tensor<4xf32>'}}
  %0 = qat.quantize %x, %s, %z : tensor<4xf32>, tensor<f32>, tensor<i32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @dequantize_storage_too_narrow(%q: tensor<4xi4>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected input element type of at least 8 bits to hold the quantized range, got 'i4'}}
  %0 = qat.dequantize %q, %s, %z : tensor<4xi4>, tensor<f32>, tensor<i32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @dequantize_per_channel_wrong_size(%q: tensor<4x3xi8>, %s: tensor<4xf32>, %z: tensor<4xi32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{expected scale of size 3 (input dimension 1), got 4}}
  %0 = qat.dequantize %q, %s, %z {axis = 1 : i64} : tensor<4x3xi8>, tensor<4xf32>, tensor<4xi32> -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @requantize_count_mismatch(%acc: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{expected as many shifts as multipliers, got 2 and 1}}
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31, 31>} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_per_tensor_two_multipliers(%acc: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{expected one multiplier for per-tensor requantization (or an axis attribute), got 2}}
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824, 1073741824>, shift = array<i32: 31, 31>} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_axis_out_of_range(%acc: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{expected axis < input rank 1, got 1}}
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824>, shift = array<i32: 31>} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_dynamic_channels(%acc: tensor<4x?xi32>) -> tensor<4x?xi8> {
  // expected-error @+1 {{expected a static size for the channel dimension 1}}
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824>, shift = array<i32: 31>} : tensor<4x?xi32> -> tensor<4x?xi8>
  return %0 : tensor<4x?xi8>
}

// -----

func.func @requantize_channel_count_mismatch(%acc: tensor<4x3xi32>) -> tensor<4x3xi8> {
  // expected-error @+1 {{expected 3 multipliers (input dimension 1), got 2}}
  %0 = qat.requantize %acc {axis = 1 : i64, multiplier = array<i32: 1073741824, 1073741824>, shift = array<i32: 31, 31>} : tensor<4x3xi32> -> tensor<4x3xi8>
  return %0 : tensor<4x3xi8>
}

// -----

func.func @requantize_nonpositive_multiplier(%acc: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{expected positive multipliers, got 0}}
  %0 = qat.requantize %acc {multiplier = array<i32: 0>, shift = array<i32: 31>} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_shift_out_of_range(%acc: tensor<4xi32>) -> tensor<4xi8> {
  // expected-error @+1 {{expected shifts in [0, 63], got 64}}
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 64>} : tensor<4xi32> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @requantize_storage_too_narrow(%acc: tensor<4xi32>) -> tensor<4xi4> {
  // expected-error @+1 {{expected result element type of at least 8 bits to hold the quantized range, got 'i4'}}
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>} : tensor<4xi32> -> tensor<4xi4>
  return %0 : tensor<4xi4>
}

// -----

func.func @requantize_i8_accumulator(%acc: tensor<4xi8>) -> tensor<4xi8> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit signless integer values, but got 'tensor<4xi8>'}}
  %0 = qat.requantize %acc {multiplier = array<i32: 1073741824>, shift = array<i32: 31>} : tensor<4xi8> -> tensor<4xi8>
  return %0 : tensor<4xi8>
}

// -----

func.func @observe_per_tensor_1d_result(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{expected 0-D result for per-tensor quantization (or an axis attribute), got 'tensor<3xf32>'}}
  %min, %max = qat.observe %x : tensor<4x3xf32> -> tensor<3xf32>
  return
}

// -----

func.func @observe_per_channel_wrong_size(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{expected result of size 3 (input dimension 1), got 4}}
  %min, %max = qat.observe %x {axis = 1 : i64} : tensor<4x3xf32> -> tensor<4xf32>
  return
}

// -----

func.func @choose_qparams_rank_2(%min: tensor<2x2xf32>, %max: tensor<2x2xf32>) {
  // expected-error @+1 {{expected 0-D or 1-D min and max, got 'tensor<2x2xf32>'}}
  %s, %z = qat.choose_qparams %min, %max : tensor<2x2xf32> -> tensor<2x2xi32>
  return
}

// -----

func.func @choose_qparams_zero_point_shape(%min: tensor<4xf32>, %max: tensor<4xf32>) {
  // expected-error @+1 {{expected zero_point of the shape of min, got 'tensor<3xi32>'}}
  %s, %z = qat.choose_qparams %min, %max : tensor<4xf32> -> tensor<3xi32>
  return
}

// -----

func.func @choose_qparams_zero_eps(%min: tensor<f32>, %max: tensor<f32>) {
  // expected-error @+1 {{expected a positive finite eps, got 0}}
  %s, %z = qat.choose_qparams %min, %max {eps = 0.0 : f32} : tensor<f32> -> tensor<i32>
  return
}

// -----

func.func @choose_qparams_min_max_mismatch(%min: tensor<f32>, %max: tensor<4xf32>) {
  // expected-error @+1 {{failed to verify that all of {min, max, scale} have same type}}
  %s, %z = "qat.choose_qparams"(%min, %max) : (tensor<f32>, tensor<4xf32>) -> (tensor<f32>, tensor<i32>)
  return
}

// -----

func.func @prune_mask_sparsity_and_nm(%w: tensor<4x4xf32>, %s: tensor<f32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected either a sparsity operand or n, m and axis attributes, not both}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<f32>) {n = 2 : i64, m = 4 : i64, axis = 1 : i64} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_incomplete_nm(%w: tensor<4x4xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected n, m and axis attributes for N:M pruning (or a sparsity operand)}}
  %0 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_n_above_m(%w: tensor<4x4xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected n <= m, got n = 3, m = 2}}
  %0 = qat.prune_mask %w {n = 3 : i64, m = 2 : i64, axis = 1 : i64} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_zero_n(%w: tensor<4x4xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{attribute 'n' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = qat.prune_mask %w {n = 0 : i64, m = 2 : i64, axis = 1 : i64} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_axis_out_of_range(%w: tensor<4x4xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected axis < input rank 2, got 2}}
  %0 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 2 : i64} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_axis_not_multiple_of_m(%w: tensor<4x6xf32>) -> tensor<4x6xi1> {
  // expected-error @+1 {{expected dimension 1 (size 6) to be a multiple of m = 4}}
  %0 = qat.prune_mask %w {n = 2 : i64, m = 4 : i64, axis = 1 : i64} : tensor<4x6xf32> -> tensor<4x6xi1>
  return %0 : tensor<4x6xi1>
}

// -----

func.func @prune_mask_1d_sparsity(%w: tensor<4x4xf32>, %s: tensor<1xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{operand #1 must be 0D tensor of 32-bit float values, but got 'tensor<1xf32>'}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<1xf32>) : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_float_mask(%w: tensor<4x4xf32>, %s: tensor<f32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{result #0 must be ranked tensor of 1-bit signless integer values, but got 'tensor<4x4xf32>'}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<f32>) : tensor<4x4xf32> -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quantize_num_bits_too_large(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i32>) -> tensor<4xi64> {
  // expected-error @+1 {{attribute 'num_bits' failed to satisfy constraint}}
  %0 = qat.quantize %x, %s, %z {num_bits = 33 : i64} : tensor<4xf32>, tensor<f32>, tensor<i32> -> tensor<4xi64>
  return %0 : tensor<4xi64>
}

// -----

func.func @straight_through_types_differ(%a: tensor<4xf32>, %b: tensor<2x2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{all of {gradient_path, value, result} have same type}}
  %0 = "qat.straight_through"(%a, %b) : (tensor<4xf32>, tensor<2x2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @apply_mask_shape_mismatch(%w: tensor<4x4xf32>, %keep: tensor<4x2xi1>) -> tensor<4x4xf32> {
  // expected-error @+1 {{all of {input, mask} have same shape}}
  %0 = qat.apply_mask %w, %keep : tensor<4x4xf32>, tensor<4x2xi1>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @prune_mask_block_without_sparsity(%w: tensor<4x4xf32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected a sparsity operand with a block attribute}}
  %0 = qat.prune_mask %w {block = array<i64: 2, 2>} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_block_rank(%w: tensor<4x4xf32>, %s: tensor<f32>) -> tensor<4x4xi1> {
  // expected-error @+1 {{expected a block size per dimension (2), got 1}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<f32>) {block = array<i64: 2>} : tensor<4x4xf32> -> tensor<4x4xi1>
  return %0 : tensor<4x4xi1>
}

// -----

func.func @prune_mask_block_divides(%w: tensor<4x6xf32>, %s: tensor<f32>) -> tensor<4x6xi1> {
  // expected-error @+1 {{expected block sizes that divide the dimensions they tile, got 4 for dimension 1 (size 6)}}
  %0 = qat.prune_mask %w sparsity(%s : tensor<f32>) {block = array<i64: 2, 4>} : tensor<4x6xf32> -> tensor<4x6xi1>
  return %0 : tensor<4x6xi1>
}
