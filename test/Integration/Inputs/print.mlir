// Printing helpers appended to each integration test (see their RUN lines).
// Floats are printed as their bit patterns, so that comparisons are exact
// (NaNs canonicalized).

func.func private @printMemrefI32(memref<*xi32>)
func.func private @printMemrefF32(memref<*xf32>)

func.func @printInts(%t: tensor<?xi32>) {
  %m = bufferization.to_buffer %t read_only : tensor<?xi32> to memref<?xi32>
  %u = memref.cast %m : memref<?xi32> to memref<*xi32>
  call @printMemrefI32(%u) : (memref<*xi32>) -> ()
  return
}

// Prints the bit patterns, so that the comparison is exact.
func.func @printBits(%t: tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %t, %c0 : tensor<?xf32>
  %init = tensor.empty(%n) : tensor<?xi32>
  %bits = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                          iterator_types = ["parallel"]}
      ins(%t : tensor<?xf32>) outs(%init : tensor<?xi32>) {
  ^bb0(%in: f32, %out: i32):
    // NaN results are NaN; their sign and payload are unspecified, so every
    // NaN prints as 0x7fc00000.
    %b = arith.bitcast %in : f32 to i32
    %nan = arith.cmpf uno, %in, %in : f32
    %qnan = arith.constant 2143289344 : i32
    %canonical = arith.select %nan, %qnan, %b : i32
    linalg.yield %canonical : i32
  } -> tensor<?xi32>
  call @printInts(%bits) : (tensor<?xi32>) -> ()
  return
}

func.func @printFloats(%t: tensor<?xf32>) {
  %m = bufferization.to_buffer %t read_only : tensor<?xf32> to memref<?xf32>
  %u = memref.cast %m : memref<?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
