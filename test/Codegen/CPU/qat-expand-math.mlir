// RUN: qat-opt %s --qat-expand-math | FileCheck %s
// erf, scalar and vector, as arithmetic (no libm call, no math.erf left).
// CHECK-LABEL: func.func @erf
// CHECK-NOT: math.erf
// CHECK: math.fma
// CHECK-NOT: math.erf
// CHECK: return
func.func @erf(%x: f32, %v: vector<8xf32>) -> (f32, vector<8xf32>) {
  %y = math.erf %x : f32
  %w = math.erf %v : vector<8xf32>
  return %y, %w : f32, vector<8xf32>
}
