"""TensorFlow, PaddlePaddle, MLX, OpenVINO, tinygrad and numba implementations (issue 20 §3).

* TensorFlow (``tensorflow`` adapter): tf.nn.softmax, tf.nn.log_softmax,
  tf.math.reduce_logsumexp, tf.nn.softmax_cross_entropy_with_logits (probability labels), the
  VJPs and the Jacobian by tf.GradientTape;
* PaddlePaddle (``paddle`` adapter): paddle.nn.functional's softmax, log_softmax and
  cross_entropy (soft labels), paddle.logsumexp, the VJPs by paddle.grad;
* MLX (``mlx`` adapter): mx.softmax (default, and ``precise=True``: the row with only the
  softmax and its VJP, the one function the flag changes), mlx.nn.log_softmax, mx.logsumexp,
  mlx.nn.losses.cross_entropy (probability targets), the VJPs by mx.vjp;
* OpenVINO: the one-node ONNX models of :mod:`.onnx_runtime` read by OpenVINO's ONNX frontend
  and compiled for its CPU plugin, with the default precision hint and with
  ``INFERENCE_PRECISION_HINT=f32``;
* tinygrad: Tensor.softmax, log_softmax and logsumexp on a tinygrad device (CPU by default),
  the VJPs by its autograd;
* numba: the textbook max-shifted softmax, log_softmax and logsumexp as numba users write them
  (``@njit`` over NumPy calls), with the textbook derived ops of :mod:`.formulas`.

Each loader raises :class:`~.model.Unavailable` (or ImportError) with the reason when the
library cannot run here, and finds the formats it refuses by one call on a two-entry row (the
library's message is kept). paddlepaddle 3.3 crashes the process (SIGSEGV) when it is imported
after tensorflow 2.21: :func:`paddle_before_tensorflow` imports it first where both are
installed, and the survey lists Paddle before TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.validation.adapters import get_adapter
from symsoftmax.validation.componentwise import KernelClass

from .formulas import derived_ops
from .model import Declared, Implementation, Unavailable, declare

FORMATS = ("float64", "float32", "float16", "bfloat16")
NARROW = ("float16", "bfloat16")
FORWARD = ("softmax", "log_softmax", "logsumexp")
TWO_ARGUMENTS = ("softmax_vjp", "log_softmax_vjp", "cross_entropy")
Function = Callable[..., Any]


def paddle_before_tensorflow() -> None:
    """Import paddle now if it is installed and tensorflow is not loaded yet (importing it
    after tensorflow kills the process with SIGSEGV: paddlepaddle 3.3.1, tensorflow 2.21)."""
    if "tensorflow" not in sys.modules and importlib.util.find_spec("paddle") is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "No ccache found" at import
            importlib.import_module("paddle")


def refusals(
    functions: dict[str, Function], framework: str, formats: tuple[str, ...] = FORMATS
) -> dict[tuple[str, str], str]:
    """(op, format) → the library's message, for each op that refuses a two-entry row of the
    format ([0, 1]; the second argument of the VJPs and cross-entropy [0.5, 0.5])."""
    adapter = get_adapter(framework)
    found = {}
    for fmt in formats:
        dtype = get_format(fmt).numpy_dtype
        row = adapter.to_framework(np.array([0.0, 1.0], dtype=dtype))
        half = adapter.to_framework(np.array([0.5, 0.5], dtype=dtype))
        for op, fn in functions.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fn(row, half) if op in TWO_ARGUMENTS else fn(row)
            except Exception as exc:  # the library has no kernel for this format
                found[(op, fmt)] = _first_line(exc)
    return found


def _first_line(exc: BaseException) -> str:
    """The library's message in one line: its first line that is not OpenVINO's "Exception
    from <source file>" or "Check … failed at <source file>" prefix."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith(("Exception from ", "Check "))]
    text = (said or lines or [""])[0]
    return f"{type(exc).__name__}: {text}".rstrip(": ")


# ----------------------------------------------------------------------------- TensorFlow


def tensorflow_functions() -> dict[str, Function]:
    """TensorFlow's ops on tensors of the row's dtype; VJPs, Jacobian and the cross-entropy
    gradient by tf.GradientTape (what Keras training computes)."""
    paddle_before_tensorflow()
    import tensorflow as tf

    forward: dict[str, Function] = {
        "softmax": tf.nn.softmax,
        "log_softmax": tf.nn.log_softmax,
        "logsumexp": lambda z: tf.math.reduce_logsumexp(z, axis=-1),
    }

    def vjp_of(f: Function) -> Function:
        def vjp(z: Any, g: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(z)
                out = f(z)
            return tape.gradient(out, z, output_gradients=g)

        return vjp

    def jacobian(z: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = tf.nn.softmax(z)
        return tape.jacobian(out, z)

    def cross_entropy(z: Any, y: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z)
        return loss, tape.gradient(loss, z)

    return forward | {
        "softmax_vjp": vjp_of(forward["softmax"]),
        "log_softmax_vjp": vjp_of(forward["log_softmax"]),
        "jacobian": jacobian,
        "cross_entropy": cross_entropy,
    }


def tensorflow_cpu() -> Implementation:
    """TensorFlow on the CPU (eager)."""
    paddle_before_tensorflow()
    import tensorflow as tf

    functions = tensorflow_functions()
    return Implementation(
        "TensorFlow (CPU)",
        "tensorflow",
        functions,
        tf.__version__,
        refusals(functions, "tensorflow"),
        classes=TENSORFLOW_CLASSES,
    )


# ----------------------------------------------------------------------------- PaddlePaddle


def paddle_functions() -> dict[str, Function]:
    """Paddle's ops; the VJPs and the cross-entropy gradient by paddle.grad."""
    if "tensorflow" in sys.modules and "paddle" not in sys.modules:
        raise Unavailable(
            "tensorflow was imported first: importing paddle now would crash the process "
            "(SIGSEGV; paddlepaddle 3.3, tensorflow 2.21) — list paddle before tensorflow"
        )
    paddle_before_tensorflow()
    import paddle
    import paddle.nn.functional as F

    forward: dict[str, Function] = {
        "softmax": lambda z: F.softmax(z, axis=-1),
        "log_softmax": lambda z: F.log_softmax(z, axis=-1),
        "logsumexp": lambda z: paddle.logsumexp(z, axis=-1),
    }

    def leaf(z: Any) -> Any:
        z = z.detach()
        z.stop_gradient = False
        return z

    def vjp_of(f: Function) -> Function:
        def vjp(z: Any, g: Any) -> Any:
            z = leaf(z)
            (dz,) = paddle.grad(f(z), z, grad_outputs=g)
            return dz

        return vjp

    def cross_entropy(z: Any, y: Any) -> tuple[Any, Any]:
        z = leaf(z)
        loss = F.cross_entropy(z[None], y[None], soft_label=True, reduction="sum")
        (dz,) = paddle.grad(loss, z)
        return loss.reshape([]), dz

    return forward | {
        "softmax_vjp": vjp_of(forward["softmax"]),
        "log_softmax_vjp": vjp_of(forward["log_softmax"]),
        "cross_entropy": cross_entropy,
    }


def paddle_cpu() -> Implementation:
    """PaddlePaddle (the CPU wheel): its CPU kernels have no float16 or bfloat16 softmax."""
    functions = paddle_functions()
    import paddle

    return Implementation(
        "PaddlePaddle (CPU)", "paddle", functions, paddle.__version__, refusals(functions, "paddle")
    )


# ----------------------------------------------------------------------------- MLX


def mlx_functions(precise: bool = False) -> dict[str, Function]:
    """MLX's ops on its default device (the CPU with ``mlx[cpu]`` on Linux); with ``precise``
    only the softmax and its VJP (``precise`` changes nothing else)."""
    try:
        import mlx.core as mx
        import mlx.nn
    except ImportError as exc:
        raise Unavailable(f"not installed ({exc}; on Linux: pip install 'mlx[cpu]')") from None

    def softmax(z: Any) -> Any:
        return mx.softmax(z, axis=-1, precise=precise)

    def vjp_of(f: Function) -> Function:
        return lambda z, g: mx.vjp(f, [z], [g])[1][0]

    functions: dict[str, Function] = {"softmax": softmax, "softmax_vjp": vjp_of(softmax)}
    if precise:
        return functions

    def log_softmax(z: Any) -> Any:
        return mlx.nn.log_softmax(z, axis=-1)

    def loss(z: Any, y: Any) -> Any:
        return mlx.nn.losses.cross_entropy(z, y, axis=-1, reduction="sum")

    loss_and_grad = mx.value_and_grad(loss)
    return functions | {
        "log_softmax": log_softmax,
        "logsumexp": lambda z: mx.logsumexp(z, axis=-1),
        "log_softmax_vjp": vjp_of(log_softmax),
        "cross_entropy": lambda z, y: loss_and_grad(z, y),
    }


MLX_NARROW_STATE: dict[tuple[str, str], Declared] = {
    key: value
    for fmt in NARROW
    for key, value in declare(
        ("softmax",),
        (fmt,),
        KernelClass(state=fmt),
        f"MLX's default softmax accumulates {fmt} data in {fmt} (float16 zeros(4096) gives "
        "1/2048 for 1/4096: the sum stops at 2048); precise=True accumulates in float32",
    ).items()
}


MLX_FLUSH = "MLX's CPU softmax flushes subnormal probabilities to zero (e^−88.7 → 0 in float32)"
MLX_CLASSES: dict[tuple[str, str], Declared] = {
    **declare(("softmax",), ("float32",), KernelClass(), MLX_FLUSH, ftz=True),
    **MLX_NARROW_STATE,
}
MLX_PRECISE_CLASSES = declare(
    ("softmax",), ("float32", "bfloat16"), KernelClass(), MLX_FLUSH, ftz=True
)

TENSORFLOW_CLASSES: dict[tuple[str, str], Declared] = {
    key: value
    for fmt in NARROW
    for key, value in declare(
        ("softmax", "log_softmax", "logsumexp"),
        (fmt,),
        KernelClass(state=fmt),
        f"TensorFlow's CPU kernels evaluate {fmt} data in {fmt} (its log_softmax and "
        f"logsumexp round the sum to {fmt} before the log: [0, −7.625] gives 0)",
    ).items()
}


def mlx_cpu(precise: bool = False) -> Implementation:
    """MLX (CPU), default or ``precise=True`` softmax."""
    functions = mlx_functions(precise)
    import mlx.core as mx

    name = "MLX (CPU, precise=True)" if precise else "MLX (CPU)"
    return Implementation(
        name,
        "mlx",
        functions,
        mx.__version__,
        refusals(functions, "mlx"),
        classes=MLX_PRECISE_CLASSES if precise else MLX_CLASSES,
    )


# ----------------------------------------------------------------------------- OpenVINO


def openvino_run_function(op: str, fmt: str, hint: str | None = None) -> Function:
    """``op`` in format ``fmt`` as a function of one NumPy row: the one-node ONNX model read by
    OpenVINO and compiled for "CPU" with ``INFERENCE_PRECISION_HINT`` = ``hint`` (None: the
    plugin's default, bf16 on CPUs with bfloat16 instructions). bfloat16 rows travel as their
    16-bit patterns (OpenVINO's Python API has no ml_dtypes type)."""
    import openvino as ov

    from .onnx_runtime import model

    core = ov.Core()
    read = core.read_model(model(op, fmt, constant_axes=True).SerializeToString(), b"")
    config = {} if hint is None else {"INFERENCE_PRECISION_HINT": hint}
    compiled = core.compile_model(read, "CPU", config)
    dtype = get_format(fmt).numpy_dtype
    element = {"bfloat16": ov.Type.bf16}.get(fmt)

    def run(z: Any) -> Any:
        row = np.ascontiguousarray(z, dtype=dtype)
        if element is None:
            x = ov.Tensor(row)
        else:
            x = ov.Tensor(row.view(np.uint16), row.shape, element)
        request = compiled.create_infer_request()
        request.infer({0: x})
        out = np.array(request.get_output_tensor(0).data, copy=True)
        return out.view(np.uint16).view(dtype) if element is not None else out.astype(dtype)

    return run


def openvino_cpu(hint: str | None = None) -> Implementation:
    """OpenVINO's CPU plugin, default precision hint or ``hint`` (e.g. "f32")."""
    import openvino as ov

    functions, unsupported = {}, {}
    for op in FORWARD:
        runs: dict[str, Function | None] = {}
        for fmt in FORMATS:
            try:
                runs[fmt] = openvino_run_function(op, fmt, hint)
                runs[fmt](np.array([0.0, 1.0], dtype=get_format(fmt).numpy_dtype))  # type: ignore[misc]
            except Exception as exc:  # no kernel for this format
                runs[fmt] = None
                unsupported[(op, fmt)] = _first_line(exc)
        functions[op] = _by_dtype(runs, "OpenVINO")
    default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()  # "bf16"
    version = f"{ov.__version__.split('-')[0]} (default INFERENCE_PRECISION_HINT {default})"
    name = "OpenVINO (CPU)" if hint is None else f"OpenVINO (CPU, precision hint {hint})"
    return Implementation(name, "numpy", functions, version, unsupported)


def _by_dtype(runs: dict[str, Function | None], library: str) -> Function:
    """One function of a row that dispatches to the compiled model of the row's format."""

    def run(z: Any) -> Any:
        fn = runs.get(np.asarray(z).dtype.name)
        if fn is None:
            raise TypeError(f"no {library} model for {np.asarray(z).dtype.name}")
        return fn(z)

    return run


# ----------------------------------------------------------------------------- tinygrad


def tinygrad_device(device: str = "CPU") -> str:
    """``device`` if tinygrad can open it here (else :class:`Unavailable` with why)."""
    from tinygrad import Device

    try:
        return str(Device[device].device)
    except Exception as exc:  # e.g. the CPU device compiles with clang, which is missing
        raise Unavailable(
            f"tinygrad cannot open its {device} device ({_first_line(exc)}); its CPU device "
            "compiles kernels with clang"
        ) from None


def tinygrad_functions(device: str = "CPU") -> dict[str, Function]:
    """tinygrad's Tensor ops on ``device``, NumPy rows in and out (bfloat16 as bit patterns:
    tinygrad neither takes ml_dtypes arrays nor returns bfloat16 from .numpy()); the VJPs by
    its autograd (backward of ⟨out, g⟩)."""
    from tinygrad import Tensor, dtypes
    from tinygrad.helpers import Context

    def on_device(fn: Function) -> Function:
        def run(*args: Any) -> Any:
            with Context(DEV=device):  # tinygrad makes its constants on the default device
                return fn(*args)

        return run

    def tensor(a: Any, grad: bool = False) -> Any:
        a = np.ascontiguousarray(a)
        if a.dtype.name == "bfloat16":
            t = Tensor(a.view(np.uint16), device=device).bitcast(dtypes.bfloat16)
        else:
            t = Tensor(a, device=device)
        if grad:
            t.requires_grad = True
        return t

    def array(t: Any, like: Any) -> Any:
        if t.dtype == dtypes.bfloat16:
            return t.bitcast(dtypes.uint16).numpy().view(np.asarray(like).dtype)
        return t.numpy()

    methods = {"softmax": "softmax", "log_softmax": "log_softmax", "logsumexp": "logsumexp"}

    def forward(op: str) -> Function:
        return lambda z: array(getattr(tensor(z), methods[op])(-1), z)

    def vjp_of(op: str) -> Function:
        def vjp(z: Any, g: Any) -> Any:
            t = tensor(z, grad=True)
            (getattr(t, methods[op])(-1) * tensor(g)).sum().backward()
            return array(t.grad, z)

        return vjp

    fns = {op: forward(op) for op in methods}
    fns |= {"softmax_vjp": vjp_of("softmax"), "log_softmax_vjp": vjp_of("log_softmax")}
    return {op: on_device(fn) for op, fn in fns.items()}


def tinygrad_cpu(device: str = "CPU") -> Implementation:
    """tinygrad on ``device`` (Unavailable where it cannot open it)."""
    import tinygrad

    opened = tinygrad_device(device)
    functions = tinygrad_functions(opened)
    version = getattr(tinygrad, "__version__", "") or _distribution_version("tinygrad")
    return Implementation(
        f"tinygrad ({opened})", "numpy", functions, version, refusals(functions, "numpy")
    )


def _distribution_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# ----------------------------------------------------------------------------- numba


def numba_functions() -> dict[str, Function]:
    """The textbook max-shifted softmax, log_softmax and logsumexp as numba users write them
    (np.max, np.exp, np.sum, np.log inside ``@njit``): every step in the row's format, and
    logsumexp of an all −inf row m + log Σe^(z−m) = −inf + log(NaN)."""
    from numba import njit

    @njit(cache=False)
    def softmax(z: Any) -> Any:
        e = np.exp(z - np.max(z))
        return e / np.sum(e)

    @njit(cache=False)
    def log_softmax(z: Any) -> Any:
        t = z - np.max(z)
        return t - np.log(np.sum(np.exp(t)))

    @njit(cache=False)
    def logsumexp(z: Any) -> Any:
        m = np.max(z)
        return m + np.log(np.sum(np.exp(z - m)))

    def scalar(z: Any) -> Any:
        return np.asarray(logsumexp(z), dtype=z.dtype)  # a Python float; keep the row's dtype

    fns: dict[str, Function] = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": scalar}
    return fns | derived_ops(softmax, log_softmax)


def numba_njit() -> Implementation:
    """numba's @njit textbook functions (float16/bfloat16: numba's typing refuses them)."""
    import numba

    functions = numba_functions()
    return Implementation(
        "numba (@njit textbook)",
        "numpy",
        functions,
        numba.__version__,
        refusals(functions, "numpy"),
    )


MORE_LOADERS: dict[str, Callable[[], Implementation]] = {
    "paddle": paddle_cpu,  # before tensorflow: see paddle_before_tensorflow
    "tensorflow": tensorflow_cpu,
    "mlx": mlx_cpu,
    "mlx-precise": lambda: mlx_cpu(precise=True),
    "openvino": openvino_cpu,
    "openvino-f32": lambda: openvino_cpu("f32"),
    "tinygrad": tinygrad_cpu,
    "numba": numba_njit,
}
"""The survey's names for this module's loaders (accuracy_survey.LOADERS takes them)."""
