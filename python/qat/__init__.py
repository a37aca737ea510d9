"""qat-mlir's Python side: the ONNX importer (qat.onnx_import), the pipeline
steps (qat.workflow over qat-opt/qat-compile), the runtime wrapper
(qat.runtime), the differential checker (qat.check), the command line
(python3 -m qat) and the Fashion-MNIST demo (qat.demo)."""
