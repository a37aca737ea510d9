// RUN: qat-opt %s -split-input-file --qat-lower-high-multiply | FileCheck %s

// The high words of 16 products: even lanes sign-extended in place (shift
// left then right by 32), odd lanes shifted down, two 64-bit multiplies,
// and a shuffle of the products' high words.
// CHECK-LABEL: func @high_words
// CHECK-SAME: (%[[A:.*]]: vector<16xi32>, %[[B:.*]]: vector<16xi32>)
func.func @high_words(%a: vector<16xi32>, %b: vector<16xi32>) -> vector<16xi32> {
  // CHECK: %[[C32:.*]] = arith.constant dense<32> : vector<8xi64>
  // CHECK: %[[PA:.*]] = vector.bitcast %[[A]] : vector<16xi32> to vector<8xi64>
  // CHECK: %[[PB:.*]] = vector.bitcast %[[B]] : vector<16xi32> to vector<8xi64>
  // CHECK: %[[SA:.*]] = arith.shli %[[PA]], %[[C32]] : vector<8xi64>
  // CHECK: %[[EA:.*]] = arith.shrsi %[[SA]], %[[C32]] : vector<8xi64>
  // CHECK: %[[SB:.*]] = arith.shli %[[PB]], %[[C32]] : vector<8xi64>
  // CHECK: %[[EB:.*]] = arith.shrsi %[[SB]], %[[C32]] : vector<8xi64>
  // CHECK: %[[EVEN:.*]] = arith.muli %[[EA]], %[[EB]] : vector<8xi64>
  // CHECK: %[[EW:.*]] = vector.bitcast %[[EVEN]] : vector<8xi64> to vector<16xi32>
  // CHECK: %[[OA:.*]] = arith.shrsi %[[PA]], %[[C32]]
  // CHECK: %[[OB:.*]] = arith.shrsi %[[PB]], %[[C32]]
  // CHECK: %[[ODD:.*]] = arith.muli %[[OA]], %[[OB]] : vector<8xi64>
  // CHECK: %[[OW:.*]] = vector.bitcast %[[ODD]] : vector<8xi64> to vector<16xi32>
  // CHECK: vector.shuffle %[[EW]], %[[OW]] [1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31]
  // CHECK-NOT: arith.mulsi_extended
  %low, %high = arith.mulsi_extended %a, %b : vector<16xi32>
  return %high : vector<16xi32>
}

// -----

// Left alone: the low words are used; scalars.
// CHECK-LABEL: func @left_alone
func.func @left_alone(%a: vector<16xi32>, %b: vector<16xi32>, %x: i32, %y: i32) -> (vector<16xi32>, vector<16xi32>, i32) {
  // CHECK-COUNT-2: arith.mulsi_extended
  %low, %high = arith.mulsi_extended %a, %b : vector<16xi32>
  %l, %h = arith.mulsi_extended %x, %y : i32
  return %low, %high, %h : vector<16xi32>, vector<16xi32>, i32
}
