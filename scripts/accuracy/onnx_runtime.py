"""onnxruntime (CPU execution provider): Softmax, LogSoftmax and ReduceLogSumExp as one-node models.

Each op is one ONNX node, built in memory with onnx.helper (no file written): Softmax and
LogSoftmax with axis −1, ReduceLogSumExp over axis −1 (keepdims 0), opset :data:`OPSET`, one
inference session per op and format on a single thread. Inputs and outputs travel as
OrtValues and an I/O binding into a NumPy buffer, because onnxruntime's NumPy conversion has
no bfloat16 (ml_dtypes' bfloat16 goes in and out as its 16-bit pattern). onnxruntime's CPU
provider has no bfloat16 kernel for Softmax and LogSoftmax (their function bodies need
ReduceMax, which it lacks in bfloat16): those cells are recorded as unsupported, with the
error onnxruntime gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from symsoftmax.formats import get_format

from .model import Implementation

OPSET = 18  # ReduceLogSumExp takes its axes as an input from opset 18 on
NODES = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "logsumexp": "ReduceLogSumExp"}
FORMATS = ("float64", "float32", "float16", "bfloat16")


def _element_type(fmt: str) -> int:
    from onnx import TensorProto

    return {
        "float64": TensorProto.DOUBLE,
        "float32": TensorProto.FLOAT,
        "float16": TensorProto.FLOAT16,
        "bfloat16": TensorProto.BFLOAT16,
    }[fmt]


def model(op: str, fmt: str, *, constant_axes: bool = False) -> Any:
    """The one-node ONNX model (onnx.ModelProto, checked) of ``op`` for rows of format ``fmt``;
    OpenVINO reads the same models (:mod:`.more_frameworks`), ReduceLogSumExp's axes a
    constant (``constant_axes``: its CPU plugin has no ReduceMax with axes given at run time)."""
    import onnx
    from onnx import TensorProto, helper

    element = _element_type(fmt)
    x = helper.make_tensor_value_info("x", element, ["K"])
    reduces = op == "logsumexp"
    y = helper.make_tensor_value_info("y", element, [] if reduces else ["K"])
    inputs, initializers = [x], []
    if reduces and constant_axes:
        initializers.append(helper.make_tensor("axes", TensorProto.INT64, [1], [-1]))
    elif reduces:
        inputs.append(helper.make_tensor_value_info("axes", TensorProto.INT64, [1]))
    if reduces:
        node = helper.make_node(NODES[op], ["x", "axes"], ["y"], keepdims=0)
    else:
        node = helper.make_node(NODES[op], ["x"], ["y"], axis=-1)
    graph = helper.make_graph([node], f"{op}_{fmt}", inputs, [y], initializer=initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(proto)
    return proto


def session(op: str, fmt: str) -> Any:
    """An inference session of the one-node model of ``op`` for rows of format ``fmt``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model(op, fmt).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run_function(op: str, fmt: str) -> Callable[[Any], Any]:
    """``op`` in format ``fmt`` as a function of one row (a NumPy array of the format)."""
    import onnxruntime as ort

    sess = session(op, fmt)
    element = _element_type(fmt)
    dtype = get_format(fmt).numpy_dtype
    bits = np.uint16 if fmt == "bfloat16" else dtype  # onnxruntime knows no ml_dtypes bfloat16
    axes = ort.OrtValue.ortvalue_from_numpy(np.array([-1], dtype=np.int64))

    def run(z: Any) -> Any:
        row = np.ascontiguousarray(z, dtype=dtype)
        binding = sess.io_binding()
        x = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(row.view(bits), element)
        binding.bind_ortvalue_input("x", x)
        if op == "logsumexp":
            binding.bind_ortvalue_input("axes", axes)
        out = np.empty(() if op == "logsumexp" else row.shape, dtype=dtype)
        binding.bind_output("y", "cpu", 0, element, list(out.shape), out.ctypes.data)
        sess.run_with_iobinding(binding)
        return out

    return run


def onnxruntime_cpu() -> Implementation:
    """onnxruntime's three ops; a format it has no kernel for is recorded with its error."""
    import onnx
    import onnxruntime as ort

    functions: dict[str, Callable[..., Any]] = {}
    unsupported: dict[tuple[str, str], str] = {}
    by_format: dict[str, dict[str, Callable[..., Any]]] = {fmt: {} for fmt in FORMATS}
    for op in NODES:
        for fmt in FORMATS:
            try:
                by_format[fmt][op] = run_function(op, fmt)
            except Exception as exc:  # onnxruntime: no kernel for this op in this format
                unsupported[(op, fmt)] = _first_line(exc)
        functions[op] = _by_dtype({fmt: by_format[fmt].get(op) for fmt in FORMATS})
    version = f"{ort.__version__} (models by onnx {onnx.__version__}, opset {OPSET})"
    return Implementation("onnxruntime (CPU)", "numpy", functions, version, unsupported)


def _by_dtype(runs: dict[str, Callable[[Any], Any] | None]) -> Callable[[Any], Any]:
    """One function of a row that dispatches to the session of the row's format."""

    def run(z: Any) -> Any:
        fn = runs.get(np.asarray(z).dtype.name)
        if fn is None:
            raise TypeError(f"no onnxruntime session for {np.asarray(z).dtype.name}")
        return fn(z)

    return run


def _first_line(exc: Exception) -> str:
    """An onnxruntime error shortened to its message (e.g. "NOT_IMPLEMENTED : Could not …")."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : ", "", text)
