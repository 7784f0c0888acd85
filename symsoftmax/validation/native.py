"""Calling a kernel in a shared library through the C ABI (``symsoftmax validate LIB:SYMBOL
--abi c``), with ctypes.

The kernel takes row-major batches (rows of length k, ``rows`` of them) and writes its outputs
into buffers the validator allocates; T is the format's element type (:data:`C_TYPES`):
``float`` or ``double``, or the bit patterns as ``uint16_t`` (float16, bfloat16) or ``uint8_t``
(float8), which the kernel converts itself::

    void softmax(const T *z, T *out, int64_t rows, int64_t k);        /* log_softmax too */
    void logsumexp(const T *z, T *out, int64_t rows, int64_t k);      /* out: rows values */
    void jacobian(const T *z, T *out, int64_t rows, int64_t k);       /* out: rows*k*k */
    void softmax_vjp(const T *z, const T *g, T *out, int64_t rows, int64_t k);
    void cross_entropy(const T *z, const T *y, T *loss, T *grad, int64_t rows, int64_t k);

:func:`declarations` prints them (``symsoftmax abi --header``). The op fixes the signature, so a
native candidate is named by a *reference* that carries it, ``c-abi:OP:/abs/lib.so:SYMBOL``
(:func:`native_reference`), which :mod:`~symsoftmax.validation.target` resolves like
``module:function``: the library is loaded and called in the worker process
(:mod:`~symsoftmax.validation.isolation`), where a segfault is a crash of that call, not of the
validator. The kernel takes no temperature, so tests with one are skipped (and counted so).
The output buffers start as NaN: an output the kernel forgets to write fails.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.ops import OPERATIONS, VECTOR_OPS

__all__ = [
    "ABIS",
    "C_TYPES",
    "NATIVE_PREFIX",
    "NativeKernel",
    "declaration",
    "declarations",
    "is_native_reference",
    "load_native",
    "locate_native",
    "native_reference",
]

ABIS = ("c",)
NATIVE_PREFIX = "c-abi:"
C_TYPES = {
    "float64": "double",
    "float32": "float",
    "float16": "uint16_t",
    "bfloat16": "uint16_t",
    "float8_e5m2": "uint8_t",
    "float8_e4m3fn": "uint8_t",
}
_C_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAMETER = {"output": "out", "dz": "out"}  # C names of the outputs (the others keep theirs)


# ------------------------------------------------------------------ references


def native_reference(target: str, op: str) -> str:
    """The reference of ``LIB:SYMBOL`` (as typed on the command line) called as ``op``:
    ``c-abi:OP:/absolute/LIB:SYMBOL``, checked (:func:`locate_native`)."""
    path, sep, symbol = target.rpartition(":")
    if not sep or not path:
        raise InputError(f"target {target!r}: expected path/to/library.so:SYMBOL with --abi c")
    reference = f"{NATIVE_PREFIX}{op}:{Path(path).resolve()}:{symbol}"
    locate_native(reference)
    return reference


def is_native_reference(reference: str) -> bool:
    """Whether ``reference`` names a shared-library kernel (:func:`native_reference`)."""
    return reference.startswith(NATIVE_PREFIX)


def locate_native(reference: str) -> tuple[str, str, str]:
    """(op, library path, symbol) of a reference whose library exists, without loading it
    (InputError otherwise, before any vectors are made)."""
    op, _, rest = reference.removeprefix(NATIVE_PREFIX).partition(":")
    path, sep, symbol = rest.rpartition(":")
    if op not in VECTOR_OPS:
        raise InputError(
            f"{reference!r}: unknown op {op!r}; expected one of {', '.join(VECTOR_OPS)}"
        )
    if not sep or not path or not _C_NAME.fullmatch(symbol):
        raise InputError(f"target {rest!r}: expected path/to/library.so:SYMBOL (a C identifier)")
    if not Path(path).is_file():
        raise InputError(f"shared library {path!r} not found")
    return op, path, symbol


def load_native(reference: str) -> NativeKernel:
    """Load the library of ``reference`` and look its symbol up (InputError naming either)."""
    op, path, symbol = locate_native(reference)
    try:
        library = ctypes.CDLL(path)
    except OSError as exc:
        raise InputError(f"cannot load {path!r}: {exc}") from None
    try:
        function = getattr(library, symbol)
    except AttributeError:
        raise InputError(f"{path}: no symbol {symbol!r}") from None
    return NativeKernel(function, op)


# ------------------------------------------------------------------ calling


class NativeKernel:
    """``op``'s C function as a candidate: called on 1-D rows or 2-D batches of the format's
    dtype, it returns the output arrays of the format's dtype (a tuple (loss, grad) for
    cross_entropy). It has no ``temperature`` parameter: tests with one are skipped."""

    def __init__(self, function: Any, op: str) -> None:
        operation = OPERATIONS[op]
        self.op = op
        self.inputs = len(operation.inputs)
        self.outputs = operation.output_keys()
        function.restype = None
        count = self.inputs + len(self.outputs)
        function.argtypes = [ctypes.c_void_p] * count + [ctypes.c_int64, ctypes.c_int64]
        self.function = function

    def __call__(self, *arrays: npt.NDArray[Any]) -> Any:
        if len(arrays) != self.inputs:
            raise TypeError(f"{self.op} takes {self.inputs} input array(s), got {len(arrays)}")
        rows_in = [np.ascontiguousarray(a) for a in arrays]
        first = rows_in[0]
        if first.ndim not in (1, 2) or any(a.shape != first.shape for a in rows_in):
            raise ValueError(f"expected rows (K,) or batches (B, K), got {first.shape}")
        batch = first.reshape(-1, first.shape[-1]) if first.ndim == 2 else first.reshape(1, -1)
        rows, k = batch.shape
        outs = [self._buffer(key, rows, k, first.dtype) for key in self.outputs]
        pointers = [a.ctypes.data for a in rows_in] + [o.ctypes.data for o in outs]
        self.function(*pointers, rows, k)
        shaped = [o if first.ndim == 2 else o[0] for o in outs]
        return tuple(shaped) if len(shaped) > 1 else shaped[0]

    def _buffer(self, key: str, rows: int, k: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """The output ``key`` for ``rows`` rows, NaN until the kernel writes it."""
        shape = OPERATIONS[self.op].output_shape(key, k) or (1,)
        with np.errstate(invalid="ignore"):
            return np.full((rows, *shape), np.nan, dtype=dtype)


# ------------------------------------------------------------------ declarations


def declaration(op: str, dtype: str, name: str | None = None) -> str:
    """The C prototype of ``op``'s kernel in ``dtype`` (named ``symsoftmax_<op>_<dtype>``)."""
    c_type = C_TYPES[dtype]
    operation = OPERATIONS[op]
    parameters = [f"const {c_type} *{key}" for key in operation.inputs]
    parameters += [f"{c_type} *{_PARAMETER.get(key, key)}" for key in operation.output_keys()]
    parameters += ["int64_t rows", "int64_t k"]
    return f"void {name or f'symsoftmax_{op}_{dtype}'}({', '.join(parameters)});"


def _sizes(op: str) -> str:
    """What each output buffer holds, for the header's comments."""
    operation = OPERATIONS[op]
    parts = []
    for key in operation.output_keys():
        shape = operation.output_shape(key, 0)
        size = {0: "rows", 1: "rows*k", 2: "rows*k*k"}[len(shape)]
        parts.append(f"{_PARAMETER.get(key, key)}: {size} values")
    return ", ".join(parts)


def declarations(ops: tuple[str, ...] = VECTOR_OPS, dtypes: tuple[str, ...] = ()) -> str:
    """A C header declaring the kernel of each op in each format (all formats by default):
    what ``symsoftmax validate LIB:SYMBOL --abi c`` calls. Your symbol may have any name."""
    dtypes = dtypes or tuple(C_TYPES)
    lines = [
        "/* symsoftmax --abi c: the kernels `symsoftmax validate LIB.so:SYMBOL --op OP --dtype DT",
        "   --abi c` calls (docs/languages.md). Row-major batches: `rows` rows of `k` values;",
        "   the kernel writes the outputs. float16, bfloat16 and float8 values are their bit",
        "   patterns (uint16_t, uint8_t): convert in the kernel. Any symbol name will do. */",
        "#ifndef SYMSOFTMAX_ABI_H",
        "#define SYMSOFTMAX_ABI_H",
        "#include <stdint.h>",
    ]
    for op in ops:
        lines += ["", f"/* {op}: {_sizes(op)} */"]
        lines += [declaration(op, dtype) for dtype in dtypes]
    lines += ["", "#endif"]
    return "\n".join(lines) + "\n"
