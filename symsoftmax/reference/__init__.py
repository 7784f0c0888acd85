"""Correctly rounded reference values of softmax, log_softmax, logsumexp and their derivatives.

Every output is the value of the target format nearest to the exact real result (round to
nearest, ties to even; subnormal results and overflow included). Inputs are values of the
format: NumPy arrays or nested lists of numbers or strings (strings are parsed exactly; other
numbers are rounded to the format first). The op is applied along ``axis``, an int or a tuple of
ints (the op over the joint axes, flattened in C order, as ``scipy.special.softmax`` does); the
other axes are a batch. An empty row is no error: softmax and log_softmax of it (and the
derivatives) are empty, logsumexp is −inf (log of the empty sum, as ``scipy.special.logsumexp``)
and cross_entropy 0 (−Σ over no entries); see docs/reference.md.

>>> import symsoftmax.reference as ref
>>> ref.softmax([1, 2, 3], dtype="float32")
array([0.09003057, 0.24472848, 0.66524094], dtype=float32)
>>> ref.evaluate("logsumexp", [0, 0], dtype="float16", digits=12).decimals
array('6.93147180560e-01', dtype=object)

How: a fast vectorized float64 / double-double evaluation with a rigorous error bound settles
almost every element (:mod:`symsoftmax.reference.fast`); the rest go through Ziv's strategy on
mpmath balls (:mod:`symsoftmax.reference.engine`), which is the authority. Special values
(NaN, ±inf) follow the conventions in docs/reference.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.ops import OPERATIONS, REFERENCE_OPS, SINK_OPS, TEMPERATURE_OPS
from symsoftmax.reference.engine import MAX_PRECISION, evaluate_row, output_size
from symsoftmax.reference.rounders import BinaryRounder, DecimalRounder, FormatRounder, Rounder
from symsoftmax.rounding import as_format_array

__all__ = [
    "MAX_PRECISION",
    "OPS",
    "SINK_OPS",
    "Result",
    "cross_entropy",
    "cross_entropy_grad",
    "evaluate",
    "jacobian",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "sink_grad",
    "softmax",
    "softmax_vjp",
]

ArrayInput = npt.ArrayLike | Iterable[Any]

OPS = REFERENCE_OPS
"""The ops :func:`evaluate` computes (from the operation table, :mod:`symsoftmax.ops`)."""

Axis = int | tuple[int, ...]


@dataclass
class _Problem:
    """Validated inputs: rows of x (and of the second input), the op's axes flattened last."""

    op: str
    fmt: Format
    axes: tuple[int, ...]  # the op's axes, non-negative, ascending
    axis: Axis  # as reported in Result: an int if an int was given, else ``axes``
    temperature: float | None
    x: npt.NDArray[np.float64]  # the input as format values, original shape
    rows: npt.NDArray[np.float64]  # (batch, K), K = the product of the op axes' lengths
    other_rows: npt.NDArray[np.float64] | None
    batch_shape: tuple[int, ...]
    sink: float | None = None  # a logit in the units of the scaled scores; None: no sink
    softcap: float | None = None  # c > 0; None: no cap

    @property
    def k(self) -> int:
        return int(self.rows.shape[1])

    def shape_outputs(self, flat: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """(batch, outputs per row) → the op's output shape.

        An op whose row value is a scalar (logsumexp, cross_entropy) removes the op axes; one
        whose value is (K, K) (the Jacobian) gives (batch..., K, K); the others keep the input's
        shape (the joint axis unflattened and moved back).
        """
        dims = OPERATIONS[self.op].dims
        if dims != 1:
            return flat.reshape((*self.batch_shape, *OPERATIONS[self.op].shape(self.k)))
        op_shape = tuple(self.x.shape[a] for a in self.axes)
        moved = flat.reshape((*self.batch_shape, *op_shape))
        last = range(len(self.batch_shape), self.x.ndim)
        return np.moveaxis(moved, tuple(last), self.axes)


def _op_axes(op: str, axis: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``axis`` (an int or a tuple/list of ints, negative counting from the end) as ascending
    non-negative axes; a one-line InputError naming the axis and the shape otherwise."""
    ndim = len(shape)
    given = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    if not given:
        raise InputError(f"{op}: axis () names no axis; give at least one")
    axes = []
    for a in given:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise InputError(f"{op}: axis {a!r} is not an integer (in axis={axis!r})")
        if not -ndim <= a < ndim:
            raise InputError(f"{op}: axis {a} out of range for an input of shape {shape}")
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes):
        raise InputError(f"{op}: axis={axis!r} names an axis twice (of an input of shape {shape})")
    return tuple(sorted(axes))


def _rows(
    array: npt.NDArray[np.float64], axes: tuple[int, ...]
) -> tuple[npt.NDArray[np.float64], tuple[int, ...]]:
    """(batch, K) rows: the op axes moved last (in order) and flattened in C order; the batch
    shape. Explicit sizes, since -1 is ambiguous when the batch or K is 0."""
    last = range(array.ndim - len(axes), array.ndim)
    moved = np.moveaxis(array, axes, tuple(last))
    batch_shape = moved.shape[: array.ndim - len(axes)]
    k = int(np.prod(moved.shape[len(batch_shape) :], dtype=np.int64))
    batch = int(np.prod(batch_shape, dtype=np.int64))
    return np.ascontiguousarray(moved.reshape((batch, k))), batch_shape


def _prepare(
    op: str,
    inputs: tuple[Any, ...],
    dtype: str | Format | Any,
    axis: Any,
    temperature: Any,
    sink: Any = None,
    softcap: Any = None,
) -> _Problem:
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    fmt = get_format(dtype)
    input_names = OPERATIONS[op].inputs
    needed = len(input_names)
    if len(inputs) != needed:
        names = " and ".join(input_names) if needed > 1 else "x"
        raise InputError(f"{op} takes {needed} input(s) ({names}), got {len(inputs)}")
    x = as_format_array(inputs[0], fmt, name="x" if needed == 1 else "z")
    if x.ndim == 0:
        raise InputError(f"{op}: input must have at least one axis, got a scalar")
    axes = _op_axes(op, axis, x.shape)
    other = None
    if needed == 2:
        name = input_names[1]
        other = as_format_array(inputs[1], fmt, name=name)
        if other.shape != x.shape:
            raise InputError(f"{op}: {name} has shape {other.shape}, z has shape {x.shape}")
    t = None
    if temperature is not None:
        if op not in TEMPERATURE_OPS:
            raise InputError(f"{op}: temperature applies to {', '.join(TEMPERATURE_OPS)}")
        t_arr = as_format_array([temperature], fmt, name="temperature")
        t = float(t_arr[0])
        if not (np.isfinite(t) and t > 0):
            raise InputError(f"temperature must be a positive finite {fmt.name} value, got {t}")
    s, c = _sink_softcap(op, fmt, sink, softcap)
    rows, batch_shape = _rows(x, axes)
    other_rows = _rows(other, axes)[0] if other is not None else None
    reported: Axis = axes if isinstance(axis, tuple | list) else axes[0]
    return _Problem(op, fmt, axes, reported, t, x, rows, other_rows, batch_shape, s, c)


def _sink_softcap(
    op: str, fmt: Format, sink: Any, softcap: Any
) -> tuple[float | None, float | None]:
    """The sink and the soft-cap as values of the format (one-line InputErrors otherwise).

    A NaN sink is a NaN logit of the extended row (every output NaN, as a NaN logit); ±inf
    sinks are the limits (−inf: no sink). The soft-cap must be positive and finite (no cap:
    leave it out).
    """
    if sink is None and softcap is None:
        return None, None
    if op not in SINK_OPS:
        raise InputError(f"{op}: sink and softcap apply to {', '.join(SINK_OPS)}")
    s = None if sink is None else float(as_format_array([sink], fmt, name="sink")[0])
    c = None
    if softcap is not None:
        c = float(as_format_array([softcap], fmt, name="softcap")[0])
        if not (np.isfinite(c) and c > 0):
            raise InputError(f"softcap must be a positive finite {fmt.name} value, got {c}")
    return s, c


def _solve(problem: _Problem, rounder: Rounder, fast: bool) -> npt.NDArray[Any]:
    """All outputs, (batch, outputs per row), as rounder keys (float64 for formats)."""
    n_rows, k = problem.rows.shape
    size = output_size(problem.op, k)
    is_format = isinstance(rounder, FormatRounder)
    out: npt.NDArray[Any] = np.empty((n_rows, size), dtype=np.float64 if is_format else object)
    pending: npt.NDArray[np.bool_] = np.ones((n_rows, size), dtype=bool)
    if fast and is_format and k > 0:  # empty rows have nothing for the fast path to do
        _settle_fast(problem, out, pending)
    _settle_authority(problem, rounder, out, pending)
    return out


def _settle_fast(problem: _Problem, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]) -> None:
    """The fast path's share. A sink without T or cap is one more entry of the format, so the
    fast path takes the extended rows [z, s] (the sink's output dropped); rows with T and a
    sink, or with a soft-cap (transcendental logits), go to :mod:`.fast_softcap` (the capped
    VJPs to :mod:`.fast_softcap_gradients`)."""
    from symsoftmax.reference import fast as fast_path

    if problem.softcap is not None or (problem.sink is not None and problem.temperature):
        from symsoftmax.reference import fast_softcap

        fast_softcap.settle(problem, out, pending)
        if problem.softcap is not None:  # the capped VJPs (each settle skips the others' ops)
            from symsoftmax.reference import fast_softcap_gradients

            fast_softcap_gradients.settle(problem, out, pending)
        return
    if problem.sink is None:
        fast_path.settle(problem, out, pending)
        return
    n_rows, k = problem.rows.shape
    rows = np.hstack([problem.rows, np.full((n_rows, 1), problem.sink)])
    other = problem.other_rows  # a VJP's cotangent of the sink is 0
    other = None if other is None else np.hstack([other, np.zeros((n_rows, 1))])
    ext = replace(problem, rows=rows, other_rows=other, sink=None)
    size = output_size(problem.op, k + 1)
    ext_out = np.empty((n_rows, size), dtype=np.float64)
    ext_pending = np.ones((n_rows, size), dtype=bool)
    fast_path.settle(ext, ext_out, ext_pending)
    keep = out.shape[1]  # the logits' outputs (or logsumexp's one)
    settled = ~ext_pending[:, :keep]
    out[settled] = ext_out[:, :keep][settled]
    pending &= ~settled


def _settle_authority(
    problem: _Problem, rounder: Rounder, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]
) -> None:
    """Every output still pending, row by row, by the engine (Ziv's strategy)."""
    for r in np.flatnonzero(pending.any(axis=1)):
        indices = np.flatnonzero(pending[r]).tolist()
        other = problem.other_rows[r] if problem.other_rows is not None else None
        values = evaluate_row(
            problem.op,
            problem.rows[r],
            other,
            problem.temperature,
            rounder,
            indices,
            sink=problem.sink,
            softcap=problem.softcap,
        )
        out[r, indices] = [values[c] for c in indices]


@dataclass
class Result:
    """Correctly rounded outputs of one op.

    ``rounded``: float64 array of the format's values (exact embedding). ``decimals`` (when
    ``digits`` was given): the exact values correctly rounded to that many significant decimal
    digits, as strings ("nan", "inf", "-inf", "0"/"-0" for zeros). :meth:`values` gives mpmath
    numbers correctly rounded to any binary precision.
    """

    op: str
    dtype: str
    axis: Axis  # non-negative; a tuple (ascending) when the op ran over several axes
    temperature: float | None
    rounded: npt.NDArray[np.float64]
    decimals: npt.NDArray[np.object_] | None = None
    _problem: _Problem | None = field(default=None, repr=False)

    def as_dtype(self) -> npt.NDArray[Any]:
        """``rounded`` in the format's own NumPy dtype (exact)."""
        return _to_dtype(self.rounded, get_format(self.dtype))

    def values(self, prec_bits: int) -> npt.NDArray[np.object_]:
        """The exact values correctly rounded to ``prec_bits``-bit binary numbers (mpmath mpf)."""
        assert self._problem is not None
        keys = _solve(self._problem, BinaryRounder(prec_bits), fast=False)
        return self._problem.shape_outputs(keys)

    def digits(self, digits: int) -> npt.NDArray[np.object_]:
        """The exact values correctly rounded to ``digits`` significant decimal digits."""
        assert self._problem is not None
        keys = _solve(self._problem, DecimalRounder(digits), fast=False)
        return self._problem.shape_outputs(keys)


def _to_dtype(values: npt.NDArray[np.float64], fmt: Format) -> npt.NDArray[Any]:
    # The values are already the format's: the cast is exact.
    return np.asarray(values).astype(fmt.numpy_dtype)


def evaluate(
    op: str,
    *inputs: Any,
    dtype: str | Format | Any,
    axis: Axis = -1,
    temperature: Any = None,
    digits: int | None = None,
    fast: bool = True,
    sink: Any = None,
    softcap: Any = None,
) -> Result:
    """Correctly rounded ``op`` of the inputs (see :data:`OPS`) as a :class:`Result`.

    ``axis``: the op's axis, or a tuple of axes for the op over their joint entries (flattened
    in C order; the Jacobian is then (batch..., K, K) with K the product of their lengths).
    ``fast=False`` skips the vectorized fast path and uses the mpmath route for every element
    (same results; used to cross-check the fast path). ``sink`` (a logit in the units of the
    scaled scores, shared by every row) and ``softcap`` (c > 0: each scaled logit becomes
    c·tanh(z/c)) apply to :data:`SINK_OPS` (docs/reference.md, "Sinks and soft-caps").
    """
    problem = _prepare(op, inputs, dtype, axis, temperature, sink, softcap)
    keys = _solve(problem, FormatRounder(problem.fmt), fast=fast)
    result = Result(
        op=op,
        dtype=problem.fmt.name,
        axis=problem.axis,
        temperature=problem.temperature,
        rounded=problem.shape_outputs(keys).astype(np.float64),
        _problem=problem,
    )
    if digits is not None:
        if not isinstance(digits, int | np.integer) or digits < 1:
            raise InputError(f"digits must be a positive integer, got {digits!r}")
        result.decimals = result.digits(int(digits))
    return result


def _op(op: str, *inputs: Any, dtype: Any, axis: Axis, **options: Any) -> Any:
    return evaluate(op, *inputs, dtype=dtype, axis=axis, **options).as_dtype()


def softmax(
    x: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    temperature: Any = None,
    *,
    sink: Any = None,
    softcap: Any = None,
) -> npt.NDArray[Any]:
    """σ(x/T)_j = e^{v_j} / (e^s + Σ_k e^{v_k}), v = x/T (soft-capped to c·tanh(x/(T·c)) with
    ``softcap`` c), e^s = 0 without a ``sink`` s; correctly rounded to ``dtype``."""
    return _op(
        "softmax", x, dtype=dtype, axis=axis, temperature=temperature, sink=sink, softcap=softcap
    )


def log_softmax(
    x: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    temperature: Any = None,
    *,
    sink: Any = None,
    softcap: Any = None,
) -> npt.NDArray[Any]:
    """v_j − log(e^s + Σ_k e^{v_k}) (v and s as in :func:`softmax`), correctly rounded."""
    return _op(
        "log_softmax",
        x,
        dtype=dtype,
        axis=axis,
        temperature=temperature,
        sink=sink,
        softcap=softcap,
    )


def logsumexp(
    x: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    temperature: Any = None,
    *,
    sink: Any = None,
    softcap: Any = None,
) -> npt.NDArray[Any]:
    """T·log(e^s + Σ_k e^{v_k}) (v and s as in :func:`softmax`; the axis is removed), correctly
    rounded to ``dtype``."""
    return _op(
        "logsumexp",
        x,
        dtype=dtype,
        axis=axis,
        temperature=temperature,
        sink=sink,
        softcap=softcap,
    )


def jacobian(x: ArrayInput, dtype: Any = "float32", axis: Axis = -1) -> npt.NDArray[Any]:
    """J = diag(s) − s sᵀ of s = softmax(x), shape (..., K, K), correctly rounded."""
    return _op("jacobian", x, dtype=dtype, axis=axis)


def softmax_vjp(
    z: ArrayInput,
    g: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    *,
    sink: Any = None,
    softcap: Any = None,
) -> npt.NDArray[Any]:
    """gᵀJ of softmax at z: dz = σ ⊙ (g − ⟨g, σ⟩) (σ the sink softmax), times sech²(z/c) with a
    ``softcap`` c; correctly rounded. ∂L/∂s: :func:`sink_grad`."""
    return _op("softmax_vjp", z, g, dtype=dtype, axis=axis, sink=sink, softcap=softcap)


def log_softmax_vjp(
    z: ArrayInput,
    g: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    *,
    sink: Any = None,
    softcap: Any = None,
) -> npt.NDArray[Any]:
    """gᵀJ of log_softmax at z: dz = g − σ·Σg, times sech²(z/c) with a ``softcap`` c;
    correctly rounded. ∂L/∂s: :func:`sink_grad`."""
    return _op("log_softmax_vjp", z, g, dtype=dtype, axis=axis, sink=sink, softcap=softcap)


def sink_grad(
    z: ArrayInput,
    g: ArrayInput,
    dtype: Any = "float32",
    axis: Axis = -1,
    *,
    sink: Any,
    softcap: Any = None,
    of: str = "softmax",
) -> npt.NDArray[Any]:
    """∂L/∂s of L = ⟨g, softmax(z; s)⟩ (``of="softmax"``: −p_sink·⟨g, σ⟩) or of
    L = ⟨g, log_softmax(z; s)⟩ (``of="log_softmax"``: −p_sink·Σg), one per row (the axis is
    removed), correctly rounded; p_sink = e^s/(e^s + Σ e^{v_k}).

    It is the sink's own component of the VJP of the extended row [z, s] with g_sink = 0, so
    the engine computes it as it computes the other components.
    """
    if of not in ("softmax", "log_softmax"):
        raise InputError(f"sink_grad: of must be 'softmax' or 'log_softmax', got {of!r}")
    if sink is None:
        raise InputError("sink_grad: give the sink (sink=...)")
    problem = _prepare(f"{of}_vjp", (z, g), dtype, axis, None, sink, softcap)
    fmt_rounder = FormatRounder(problem.fmt)
    k = problem.k
    values = [
        evaluate_row(
            problem.op,
            problem.rows[r],
            problem.other_rows[r] if problem.other_rows is not None else None,
            None,
            fmt_rounder,
            [k],
            sink=problem.sink,
            softcap=problem.softcap,
        )[k]
        for r in range(problem.rows.shape[0])
    ]
    flat = np.array(values, dtype=np.float64).reshape(problem.batch_shape)
    return _to_dtype(flat, problem.fmt)


def cross_entropy(
    z: ArrayInput, y: ArrayInput, dtype: Any = "float32", axis: Axis = -1
) -> npt.NDArray[Any]:
    """−Σ_i y_i log_softmax(z)_i (the axis is removed), correctly rounded."""
    return _op("cross_entropy", z, y, dtype=dtype, axis=axis)


def cross_entropy_grad(
    z: ArrayInput, y: ArrayInput, dtype: Any = "float32", axis: Axis = -1
) -> npt.NDArray[Any]:
    """∂/∂z of cross_entropy: s·Σy − y (= s − y when Σy = 1), correctly rounded."""
    return _op("cross_entropy_grad", z, y, dtype=dtype, axis=axis)
