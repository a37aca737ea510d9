"""qat-mlir's Python side: today the runtime wrapper (qat.runtime)."""
