"""Run libraries compiled by qat-compile from Python, with numpy arrays.

    from qat.runtime import Model
    model = Model("libmodel.so")
    y = model.mlp(x, w1, b1)          # or model["mlp"](...)
    print(model.mlp.args)             # names, dtypes and shapes

Arguments are checked by the C runtime (count, dtype, rank, static sizes);
a mismatch raises QatError with the runtime's message. Nothing is converted
silently: a float64 array passed where the entry expects f32 is an error.
The C library is found through $QAT_RUNTIME_LIB, else in the install
prefix, else in the build tree next to this package
(build/lib/libqat_runtime.so): see qat.locations.

Opening a model changes no process-wide setting unless asked:
`Model(path, keep_freed_memory=True)` (what the training loop and the
benchmarks do) calls keep_freed_memory(), which tunes malloc once for the
process so compiled code's per-call temporaries are reused (see
qat_runtime_keep_freed_memory in qat_runtime.h).
"""

import ctypes
import os
from typing import NamedTuple, Optional, Tuple

import numpy as np

__all__ = ["Model", "Entry", "TensorInfo", "QatError", "keep_freed_memory"]

# qat_dtype (runtime/include/qat_runtime/qat_abi.h) <-> numpy.
_DTYPES = {
    1: np.dtype(np.float32),
    2: np.dtype(np.float64),
    3: np.dtype(np.bool_),
    4: np.dtype(np.int8),
    5: np.dtype(np.int16),
    6: np.dtype(np.int32),
    7: np.dtype(np.int64),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
# Signless integers hold unsigned data too (qat-import records which are).
_CODES[np.dtype(np.uint8)] = 4
_CODES[np.dtype(np.uint16)] = 5
_CODES[np.dtype(np.uint32)] = 6
_CODES[np.dtype(np.uint64)] = 7


class QatError(RuntimeError):
    """An error status of the runtime: `code` is its canonical code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class TensorInfo(NamedTuple):
    name: str
    dtype: np.dtype
    shape: Tuple[Optional[int], ...]  # None for a dynamic size


class _TensorInfoC(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
    ]


def _find_runtime_library() -> str:
    from qat import locations
    try:
        return locations.runtime_library()
    except locations.NotFound as error:
        raise OSError(str(error)) from None


_lib = None


def _runtime():
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(_find_runtime_library())
    p, i32, i64p = ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(
        ctypes.c_int64)
    signatures = {
        "qat_status_get_code": (ctypes.c_int, [p]),
        "qat_status_message": (ctypes.c_char_p, [p]),
        "qat_status_free": (None, [p]),
        "qat_tensor_wrap": (p, [ctypes.c_int, i32, i64p, p,
                                ctypes.POINTER(p)]),
        "qat_tensor_release": (None, [p]),
        "qat_module_open": (p, [ctypes.c_char_p, ctypes.POINTER(p)]),
        "qat_runtime_keep_freed_memory": (ctypes.c_int, []),
        "qat_module_release": (None, [p]),
        "qat_module_device": (ctypes.c_char_p, [p]),
        "qat_module_unavailable": (ctypes.c_char_p, [p]),
        "qat_module_num_entries": (i32, [p]),
        "qat_module_entry": (p, [p, i32]),
        "qat_module_find_entry": (p, [p, ctypes.c_char_p,
                                      ctypes.POINTER(p)]),
        "qat_entry_name": (ctypes.c_char_p, [p]),
        "qat_entry_num_args": (i32, [p]),
        "qat_entry_num_results": (i32, [p]),
        "qat_entry_arg_info": (p, [p, i32, ctypes.POINTER(_TensorInfoC)]),
        "qat_entry_result_info": (p, [p, i32, ctypes.POINTER(_TensorInfoC)]),
        "qat_entry_invoke": (p, [p, ctypes.POINTER(p), i32,
                                 ctypes.POINTER(p), i32]),
        "qat_entry_invoke_static": (p, [p, ctypes.POINTER(p), i32]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _check(status) -> None:
    if not status:
        return
    lib = _runtime()
    code = lib.qat_status_get_code(status)
    message = lib.qat_status_message(status).decode()
    lib.qat_status_free(status)
    raise QatError(code, message)


def _info(entry, getter, i) -> TensorInfo:
    info = _TensorInfoC()
    _check(getter(entry, i, ctypes.byref(info)))
    shape = tuple(None if info.shape[d] < 0 else int(info.shape[d])
                  for d in range(info.rank))
    return TensorInfo(info.name.decode(), _DTYPES[info.dtype], shape)


class Entry:
    """A callable entry point. `args` and `results` describe its signature."""

    def __init__(self, model: "Model", handle):
        lib = _runtime()
        self._model = model  # keeps the library loaded
        self._handle = handle
        self.name = lib.qat_entry_name(handle).decode()
        self.args = tuple(
            _info(handle, lib.qat_entry_arg_info, i)
            for i in range(lib.qat_entry_num_args(handle)))
        self.results = tuple(
            _info(handle, lib.qat_entry_result_info, i)
            for i in range(lib.qat_entry_num_results(handle)))
        # All static: calls take the fast path (qat_entry_invoke_static),
        # checking each array against these once, in Python.
        self._static = all(None not in t.shape
                           for t in self.args + self.results)
        self._expected = tuple((t.dtype, t.shape) for t in self.args)
        self._buffers = ctypes.c_void_p * max(len(self.args) +
                                              len(self.results), 1)
        self._invoke_static = lib.qat_entry_invoke_static

    def __repr__(self) -> str:
        def fmt(t):
            dims = "x".join("?" if d is None else str(d) for d in t.shape)
            return f"{t.name}: {t.dtype}[{dims}]"
        return (f"<Entry {self.name}({', '.join(map(fmt, self.args))}) -> "
                f"({', '.join(map(fmt, self.results))})>")

    def __call__(self, *arrays):
        """Runs the entry; returns one array, or a tuple for several."""
        if self._model._handle is None:
            raise QatError(9, f"the model of '{self.name}' is closed")
        if self._static and len(arrays) == len(self._expected):
            # The fast path: C-contiguous arrays of exactly the entry's
            # dtypes and shapes go to the runtime as raw buffers in one
            # call. Anything else takes the general path, which converts
            # nothing either and reports a mismatch precisely.
            pointers = []
            for array, (dtype, shape) in zip(arrays, self._expected):
                if (type(array) is not np.ndarray or array.dtype != dtype or
                        array.shape != shape or
                        not array.flags.c_contiguous):
                    break
                pointers.append(array.__array_interface__["data"][0])
            else:
                outputs = [np.empty(r.shape, dtype=r.dtype)
                           for r in self.results]
                pointers += [o.__array_interface__["data"][0] for o in outputs]
                _check(self._invoke_static(self._handle,
                                           self._buffers(*pointers),
                                           len(pointers)))
                return outputs[0] if len(outputs) == 1 else tuple(outputs)
        return self._call_checked(arrays)

    def _call_checked(self, arrays):
        lib = _runtime()
        inputs = [self._as_input(a, i) for i, a in enumerate(arrays)]
        outputs = [np.empty(r.shape, dtype=r.dtype) for r in self.results]
        tensors = []
        try:
            for array in inputs + outputs:
                tensors.append(self._wrap(array))
            n_in, n_out = len(inputs), len(outputs)
            arg_array = (ctypes.c_void_p * max(n_in, 1))(*tensors[:n_in])
            res_array = (ctypes.c_void_p * max(n_out, 1))(*tensors[n_in:])
            _check(lib.qat_entry_invoke(self._handle, arg_array, n_in,
                                        res_array, n_out))
        finally:
            for t in tensors:
                lib.qat_tensor_release(t)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _as_input(self, array, i):
        # np.asarray keeps 0-D arrays 0-D (ascontiguousarray makes them 1-D).
        array = np.asarray(array, order="C")
        if array.dtype not in _CODES:
            raise TypeError(f"argument {i} of '{self.name}': numpy dtype "
                            f"{array.dtype} has no runtime equivalent")
        return array

    @staticmethod
    def _wrap(array):
        lib = _runtime()
        shape = (ctypes.c_int64 * max(array.ndim, 1))(*array.shape)
        tensor = ctypes.c_void_p()
        _check(lib.qat_tensor_wrap(_CODES[array.dtype], array.ndim, shape,
                                   array.ctypes.data_as(ctypes.c_void_p),
                                   ctypes.byref(tensor)))
        return tensor.value


def keep_freed_memory() -> bool:
    """Makes malloc keep freed memory for reuse, once for the whole process
    (qat_runtime_keep_freed_memory): compiled entries that allocate large
    temporaries on every call (training steps) stop faulting pages in again.
    True when the setting is in force (glibc, QAT_RUNTIME_MALLOC unset)."""
    return bool(_runtime().qat_runtime_keep_freed_memory())


class Model:
    """A library compiled by qat-compile."""

    def __init__(self, path: str, keep_freed_memory: bool = False):
        lib = _runtime()
        if keep_freed_memory:
            lib.qat_runtime_keep_freed_memory()
        handle = ctypes.c_void_p()
        self._handle = None
        encoded = os.fsencode(path)
        if b"\0" in encoded:
            # C would read the path up to the NUL: another file.
            raise QatError(3, f"{path!r}: a path with a NUL character names "
                              "no file")
        _check(lib.qat_module_open(encoded, ctypes.byref(handle)))
        self._handle = handle.value
        self.path = path
        #: "cpu", or "cuda" for a library with GPU code.
        self.device = lib.qat_module_device(self._handle).decode()
        reason = lib.qat_module_unavailable(self._handle)
        #: None when the entries can run; else why not (no usable GPU).
        self.unavailable = reason.decode() if reason else None
        self.entries = {}
        for i in range(lib.qat_module_num_entries(self._handle)):
            entry = Entry(self, lib.qat_module_entry(self._handle, i))
            self.entries[entry.name] = entry

    def __getitem__(self, name: str) -> Entry:
        if self._handle is None:
            raise QatError(9, f"{self.path} is closed")
        entry = self.entries.get(name)
        if entry is None:
            # The runtime's NOT_FOUND status lists the entries there are.
            found = ctypes.c_void_p()
            _check(_runtime().qat_module_find_entry(
                self._handle, name.encode(), ctypes.byref(found)))
        return entry

    def __getattr__(self, name: str) -> Entry:
        if name.startswith("_") or name in ("path", "entries", "device",
                                            "unavailable"):
            raise AttributeError(name)
        try:
            entry = self[name]
        except QatError as error:
            raise AttributeError(str(error)) from None
        # Later lookups are a plain attribute (an entry of a closed model
        # refuses to run).
        setattr(self, name, entry)
        return entry

    def close(self) -> None:
        if self._handle is not None:
            _runtime().qat_module_release(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
