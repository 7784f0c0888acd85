"""Outside reports on TensorFlow, PaddlePaddle, MLX, OpenVINO, keras, tinygrad and numba,
confirmed or refuted by a minimal reproduction (issue 20 §3), as :mod:`.findings` does for
onnxruntime.

Each :class:`Claim` is one report as it was filed: the rows that reproduce it, the outputs the
outside run saw (``reported``), and what the outputs must show for the report to hold
(``shows``, which the reported outputs satisfy and the correctly rounded reference does not).
:func:`reproduce` runs the rows through the library (the loaders of :mod:`.more_frameworks`)
and the reference (:func:`symsoftmax.reference.evaluate`) and says **confirmed**, **refuted**
or **not-run** (the library is not installed or cannot run here: the reason), with the
observed outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.reference import evaluate
from symsoftmax.rounding import ulp

from .findings import _values
from .model import Unavailable

NAN, INF = math.nan, math.inf
MAX = "max"  # in a row: the largest finite value of the claim's format (FLT_MAX in float32)
Row = Sequence[Any]
Function = Callable[[np.ndarray], np.ndarray]
Runner = Callable[[str, str], Function]  # (op, format) → a function of one NumPy row
# (outputs, references, format) → whether the outputs show the reported behaviour
Predicate = Callable[[list[np.ndarray], list[np.ndarray], str], bool]


@dataclass(frozen=True)
class Claim:
    """One outside report on ``library``: ``rows`` in format ``fmt`` through ``op`` (run by
    ``runner``) reproduce it when ``shows(outputs, references, fmt)`` holds."""

    library: str
    report: str
    op: str
    fmt: str
    rows: tuple[Row, ...]
    reported: tuple[Row, ...]
    shows: Predicate
    runner: Runner
    how: str  # the call, as the page shows it

    def inputs(self) -> list[np.ndarray]:
        """The rows as arrays of the format (``MAX`` replaced by the format's largest value)."""
        fmt = get_format(self.fmt)
        top = fmt.max  # the format table, not np.finfo (older ml_dtypes have no finfo there)
        return [
            np.array([top if v == MAX else v for v in row], dtype=fmt.numpy_dtype)
            for row in self.rows
        ]


@dataclass
class Outcome:
    """A claim run: ``status`` confirmed, refuted or not-run (``why``), the outputs seen."""

    claim: Claim
    status: str
    outputs: list[np.ndarray]
    references: list[np.ndarray]
    why: str = ""


def reference(op: str, fmt: str) -> Function:
    """The correctly rounded ``op`` in ``fmt`` as a function of a row (the predicates' foil)."""
    return lambda z: np.asarray(evaluate(op, np.asarray(z, np.float64), dtype=fmt).rounded)


def reproduce(claim: Claim, run: Function | None = None) -> Outcome:
    """Run ``claim``'s rows through the library (or ``run``, e.g. in the tests) and the
    reference; not-run, with the reason, where the library cannot run here."""
    inputs = claim.inputs()
    references = [reference(claim.op, claim.fmt)(z) for z in inputs]
    try:
        fn = run or claim.runner(claim.op, claim.fmt)
        outputs = [np.asarray(fn(z)) for z in inputs]
    except ImportError as exc:
        return Outcome(claim, "not-run", [], references, f"not installed ({exc.name or exc})")
    except Unavailable as exc:
        return Outcome(claim, "not-run", [], references, str(exc))
    status = "confirmed" if claim.shows(outputs, references, claim.fmt) else "refuted"
    return Outcome(claim, status, outputs, references)


# ----------------------------------------------------------------------------- predicates


def _finite_despite_nan(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    """A row with a NaN gave finite outputs: the NaN was dropped (IEEE 754-2019 §6.2)."""
    return any(bool(np.isfinite(out.astype(np.float64)).any()) for out in outputs)


def _nan_then_zero(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    """[inf, 0] gave [NaN, 0] (the reference: [1, 0])."""
    out = outputs[0].astype(np.float64)
    return bool(math.isnan(out[0]) and out[1] == 0)


def _clipped_at_minus_64(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    return bool(outputs[0].astype(np.float64)[-1] == -64.0)


def _over_a_million_ulp(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    """Some entry is more than 10⁶ ulp from the correctly rounded value."""
    return any(ulp_error(out, ref, fmt) > 1e6 for out, ref in zip(outputs, refs, strict=True))


def ulp_error(out: np.ndarray, ref: np.ndarray, fmt: str) -> float:
    """The largest |out − ref| in ulps of ``fmt`` at the reference, over the finite entries."""
    got, want = out.astype(np.float64), ref.astype(np.float64)
    finite = np.isfinite(got) & np.isfinite(want)
    if not finite.any():
        return math.nan
    return float(np.max(np.abs(got[finite] - want[finite]) / ulp(want[finite], fmt)))


def _uniform(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    out = outputs[0].astype(np.float64)
    return bool(np.isfinite(out).all() and np.all(out == out[0]) and out[0] > 0)


def _stalled_sum(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    """softmax(zeros(n)) gave 1/S, S the sum of n ones accumulated in ``fmt`` (2048 in float16,
    256 in bfloat16, where x + 1 = x), not 1/n."""
    out = outputs[0].astype(np.float64)
    return bool(np.all(out == 1.0 / stall(fmt, out.size)))


def stall(fmt: str, n: int) -> float:
    """1 + 1 + … (n terms) summed one at a time in ``fmt``."""
    dtype = get_format(fmt).numpy_dtype
    total, one = dtype.type(0), dtype.type(1)
    for _ in range(n):
        step = dtype.type(total + one)
        if step == total:
            break
        total = step
    return float(total)


def _in_narrower(narrow: str) -> Predicate:
    """Every output is a value of ``narrow`` though the reference's are not (the row's
    reference in the wider format needs more digits): computed in ``narrow``."""

    def shows(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
        dtype = get_format(narrow).numpy_dtype

        def narrow_values(a: np.ndarray) -> bool:
            wide = a.astype(np.float64)
            return bool(np.all(wide.astype(dtype).astype(np.float64) == wide))

        return narrow_values(outputs[0]) and not narrow_values(refs[0])

    shows.__doc__ = f"every output is a {narrow} value"
    return shows


def _equals(expected: Row) -> Predicate:
    def shows(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
        want = np.array(expected, dtype=get_format(fmt).numpy_dtype).astype(np.float64)
        out = outputs[0].astype(np.float64)
        return out.shape == want.shape and bool(np.array_equal(out, want, equal_nan=True))

    return shows


def _nan(outputs: list[np.ndarray], refs: list[np.ndarray], fmt: str) -> bool:
    return all(bool(np.isnan(out.astype(np.float64)).all()) for out in outputs)


# ----------------------------------------------------------------------------- runners


def _through(framework: str, functions: Callable[[], dict[str, Any]]) -> Runner:
    """A runner of a library's ``functions`` through the validator's ``framework`` adapter."""

    def runner(op: str, fmt: str) -> Function:
        from symsoftmax.validation.adapters import get_adapter

        adapter = get_adapter(framework)
        fn = functions()[op]
        return lambda z: adapter.to_numpy(fn(adapter.to_framework(z)))

    return runner


def _tensorflow() -> dict[str, Any]:
    from .more_frameworks import tensorflow_functions

    return tensorflow_functions()


def _paddle() -> dict[str, Any]:
    from .more_frameworks import paddle_functions

    return paddle_functions()


def _mlx() -> dict[str, Any]:
    from .more_frameworks import mlx_functions

    return mlx_functions()


def _openvino(op: str, fmt: str) -> Function:
    from .more_frameworks import openvino_run_function

    return openvino_run_function(op, fmt)


def _numba(op: str, fmt: str) -> Function:
    from .more_frameworks import numba_functions

    fn: Function = numba_functions()[op]
    return fn


def tinygrad_any_device() -> str:
    """tinygrad's CPU device, or its PYTHON emulator where the CPU one cannot compile (the
    graph rewrites are the same; the page names the device)."""
    from .more_frameworks import tinygrad_device

    try:
        return tinygrad_device("CPU")
    except Unavailable:
        return tinygrad_device("PYTHON")


def _tinygrad(op: str, fmt: str) -> Function:
    from .more_frameworks import tinygrad_functions

    fn: Function = tinygrad_functions(tinygrad_any_device())[op]
    return fn


def _one_hot_attention(z: np.ndarray) -> tuple[np.ndarray, ...]:
    """q, k, v and the boolean mask (True = attend) making attention's scores exactly ``z``
    (the construction of docs/attention.md): q = e₁, k_j = z_j·e₁, v one-hot, −inf masked."""
    k_len = z.size
    q = np.zeros((1, 1, 1, k_len), z.dtype)
    q[..., 0] = 1
    keys = np.zeros((1, 1, k_len, k_len), z.dtype)
    keys[0, 0, :, 0] = np.where(np.isneginf(z), 0, z)
    values = np.eye(k_len, dtype=z.dtype)[None, None]
    mask = ~np.isneginf(z)[None, None, None, :]
    return q, keys, values, mask


def _keras_attention(op: str, fmt: str) -> Function:
    """keras.ops.dot_product_attention (layout batch, seq, heads, dim; scale 1) as a softmax."""
    from .more_frameworks import paddle_before_tensorflow

    paddle_before_tensorflow()
    import keras

    def run(z: np.ndarray) -> np.ndarray:
        q, k, v, mask = (np.swapaxes(a, 1, 2) for a in _one_hot_attention(z))
        out = keras.ops.dot_product_attention(q, k, v, mask=np.swapaxes(mask, 1, 2), scale=1.0)
        return np.asarray(keras.ops.convert_to_numpy(out)).reshape(-1)

    return run


def _mlx_attention(op: str, fmt: str) -> Function:
    """mx.fast.scaled_dot_product_attention (batch, heads, seq, dim; scale 1) as a softmax."""
    import mlx.core as mx

    def run(z: np.ndarray) -> np.ndarray:
        q, k, v, mask = (mx.array(a) for a in _one_hot_attention(z))
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)
        return np.array(out).reshape(-1)

    return run


# ----------------------------------------------------------------------------- the claims

_TF = _through("tensorflow", _tensorflow)
_PADDLE = _through("paddle", _paddle)
_MLX = _through("mlx", _mlx)
_NAN_ROW = ((MAX, NAN, 0.0),)
_MASKED = (-3.4028234663852886e38, -INF, -INF)  # −FLT_MAX, then two masked keys

CLAIMS = (
    *(
        Claim(
            "TensorFlow",
            "softmax drops NaN: [FLT_MAX, NaN, 0] → [0, NaN, 0]",
            "softmax",
            fmt,
            _NAN_ROW,
            ((0.0, NAN, 0.0),),
            _finite_despite_nan,
            _TF,
            "tf.nn.softmax",
        )
        for fmt in ("float32", "bfloat16")
    ),
    *(
        Claim(
            "TensorFlow",
            "softmax maps [inf, 0] to [NaN, 0]",
            "softmax",
            fmt,
            ((INF, 0.0),),
            ((NAN, 0.0),),
            _nan_then_zero,
            _TF,
            "tf.nn.softmax",
        )
        for fmt in ("float32", "bfloat16")
    ),
    Claim(
        "OpenVINO",
        "Softmax drops NaN: [FLT_MAX, NaN, 0] → [0, NaN, 0]",
        "softmax",
        "float32",
        _NAN_ROW,
        ((0.0, NAN, 0.0),),
        _finite_despite_nan,
        _openvino,
        "ONNX Softmax, CPU plugin",
    ),
    Claim(
        "OpenVINO",
        "Softmax maps [inf, 0] to [NaN, 0]",
        "softmax",
        "float32",
        ((INF, 0.0),),
        ((NAN, 0.0),),
        _nan_then_zero,
        _openvino,
        "ONNX Softmax, CPU plugin",
    ),
    Claim(
        "OpenVINO",
        "float64 is computed in float32",
        "softmax",
        "float64",
        ((0.0, 2.0**-30),),
        ((0.5, 0.5),),
        _in_narrower("float32"),
        _openvino,
        "ONNX Softmax, CPU plugin",
    ),
    Claim(
        "OpenVINO",
        "on CPUs with bfloat16, float32 models run in bfloat16 by default",
        "softmax",
        "float32",
        ((0.0, 2.0**-10),),
        ((0.5, 0.5),),
        _in_narrower("bfloat16"),
        _openvino,
        "ONNX Softmax, CPU plugin, default INFERENCE_PRECISION_HINT",
    ),
    *(
        Claim(
            "PaddlePaddle",
            "shifted logits are clipped at −64: log_softmax [0, −inf] → [0, −64]",
            "log_softmax",
            fmt,
            ((0.0, -INF),),
            ((0.0, -64.0),),
            _clipped_at_minus_64,
            _PADDLE,
            "paddle.nn.functional.log_softmax",
        )
        for fmt in ("float32", "float64")
    ),
    Claim(
        "PaddlePaddle",
        "2.3·10⁶ ulp on ordinary rows (the −64 clip)",
        "log_softmax",
        "float32",
        ((0.0, -82.0),),
        ((0.0, -64.0),),
        _over_a_million_ulp,
        _PADDLE,
        "paddle.nn.functional.log_softmax",
    ),
    Claim(
        "PaddlePaddle",
        "a fully masked row comes out uniform",
        "softmax",
        "float32",
        ((-INF, -INF, -INF),),
        ((1 / 3, 1 / 3, 1 / 3),),
        _uniform,
        _PADDLE,
        "paddle.nn.functional.softmax",
    ),
    *(
        Claim(
            "MLX",
            f"the default softmax accumulates {fmt} in {fmt}: "
            f"zeros(4096) → 1/{int(stall(fmt, 4096))}",
            "softmax",
            fmt,
            ((0.0,) * 4096,),
            ((1 / stall(fmt, 4096),) * 4096,),
            _stalled_sum,
            _MLX,
            "mx.softmax (precise=False)",
        )
        for fmt in ("float16", "bfloat16")
    ),
    Claim(
        "MLX",
        "float64 is computed in float32",
        "softmax",
        "float64",
        ((0.0, 2.0**-30),),
        ((0.5, 0.5),),
        _in_narrower("float32"),
        _MLX,
        "mx.softmax on the CPU",
    ),
    Claim(
        "keras",
        "attention turns [−FLT_MAX, −inf, −inf] into [0, ½, ½]",
        "softmax",
        "float32",
        (_MASKED,),
        ((0.0, 0.5, 0.5),),
        _equals((0.0, 0.5, 0.5)),
        _keras_attention,
        "keras.ops.dot_product_attention, boolean mask",
    ),
    Claim(
        "MLX",
        "attention turns [−FLT_MAX, −inf, −inf] into [⅓, ⅓, ⅓]",
        "softmax",
        "float32",
        (_MASKED,),
        ((1 / 3, 1 / 3, 1 / 3),),
        _uniform,
        _mlx_attention,
        "mx.fast.scaled_dot_product_attention, boolean mask",
    ),
    Claim(
        "tinygrad",
        "K = 1 rows are folded: softmax [NaN] → [1]",
        "softmax",
        "float32",
        ((NAN,),),
        ((1.0,),),
        _equals((1.0,)),
        _tinygrad,
        "Tensor.softmax",
    ),
    *(
        Claim(
            library,
            "logsumexp of an all −inf row is NaN",
            "logsumexp",
            "float32",
            ((-INF, -INF),),
            ((NAN,),),
            _nan,
            runner,
            how,
        )
        for library, runner, how in (
            ("numba", _numba, "@njit m + log Σ e^(z − m)"),
            ("PaddlePaddle", _through("paddle", _paddle), "paddle.logsumexp"),
            ("tinygrad", _tinygrad, "Tensor.logsumexp"),
        )
    ),
)
"""The reports as filed (issue 20 §3), one per library × op × format tried."""


def check_all(claims: Sequence[Claim] = CLAIMS) -> list[Outcome]:
    """Every claim reproduced, Paddle's before TensorFlow's (importing paddle after tensorflow
    crashes the process)."""
    from .more_frameworks import paddle_before_tensorflow

    paddle_before_tensorflow()
    return [reproduce(claim) for claim in claims]


def render(outcomes: list[Outcome]) -> list[str]:
    """The findings section of docs/accuracy.md for these libraries (Markdown lines)."""
    lines = [
        "## Findings: more frameworks",
        "",
        "Outside reports on TensorFlow, PaddlePaddle, MLX, OpenVINO, keras, tinygrad and "
        "numba, each run as the minimal reproduction below "
        "(scripts/accuracy/claims_more.py) beside the correctly rounded reference, which is "
        "NaN for any row holding a NaN (IEEE 754-2019 §6.2). **confirmed**: the outputs show "
        "what the report says; **refuted**: they do not; not run: the library cannot run here.",
        "",
    ]
    for o in outcomes:
        c = o.claim
        verdict = {"confirmed": "**confirmed**", "refuted": "**refuted**"}.get(o.status, "not run")
        head = f"- {c.library}: {c.report} ({c.how}, {c.fmt}): {verdict}"
        if o.status == "not-run":
            lines.append(f"{head} — {o.why}.")
            continue
        lines.append(head + ".")
        for z, out, ref in zip(c.inputs(), o.outputs, o.references, strict=True):
            error = ulp_error(out, ref, c.fmt)
            off = f" ({error:.3g} ulp off)" if error > 0 else ""
            lines.append(f"  - {_values(z)} → {_values(out)}; reference {_values(ref)}{off}")
    lines.append("")
    return lines
