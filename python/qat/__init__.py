"""qat-mlir's Python side: the ONNX importer (qat.onnx_import), the pipeline
steps (qat.workflow over qat-opt/qat-compile), the runtime wrapper
(qat.runtime), the differential checker (qat.check), the command line
(python3 -m qat) and the Fashion-MNIST demo (qat.demo)."""

def __getattr__(name):
    """qat.__version__: the project version (the top-level VERSION file)."""
    if name == "__version__":
        from qat import locations
        return locations.version()
    raise AttributeError(name)
