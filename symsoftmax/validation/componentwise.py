"""Per-component error bounds of softmax, log_softmax and logsumexp, for a declared kernel class.

The normwise rule (:mod:`symsoftmax.validation.bounds`) scores a row by its largest absolute
error against u·max(s), so an error in a small probability is invisible. Here every component is
judged. The derivation (docs/validation.md, "The per-component bound") models each rounding as
(1 + δ), |δ| ≤ u/(1 + u) (round to nearest; Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., Thm. 2.2), exp and log with relative error ε = u (correctly rounded) or 2u
(faithful), in the **state** format A (unit roundoff u_a), and one final rounding to the
**storage** format S (u_s).

For the two-pass algorithm t̂_j = fl(z_j − m), ê_j = fl(exp t̂_j), Ŝ = Σ ê_j, ŝ_j = fl(ê_j/Ŝ):

    ŝ_j = s_j · (S/Ŝ) · P_j,   P_j ∈ [e^{−u_a·a_j}(1 − ε)(1 − u′)…, e^{u_a·a_j}(1 + ε)(1 + u′)…]

with a_j = |t_j| (2|t_j| with a temperature: (z − m)/T rounds twice): a **per-component** factor
P_j (argument, exp, division, final rounding) and a **row-common** factor c = S/Ŝ, the same for
every component, with Ŝ/S = Σ_k s_k·e^{±u_a a_k}(1 ± ε)(1 ± γ_{n−1}) (recursive summation in any
order, Higham §4.2; γ_k = k u/(1 − k u)). So the check is a one-dimensional feasibility problem:
a row passes when one θ = c − 1 inside the sum's interval makes every component's ratio ŝ_j/s_j
lie in (1 + θ)·[P_j⁻, P_j⁺], up to the absolute floor of underflow. A fast exp or a cut tail
breaks the per-component part; accumulation in the storage format breaks the common part.
log_softmax and logsumexp get the same split in absolute terms: ŷ_j = y_j − D + (per-component
a_j u_a + roundings), with D = L̂ − L = log(Ŝ/S) + the log's error, one D per row.

Exact where the algorithm is exact: t_j = 0 has no argument or exp error; when the largest entry
is unique and the others cannot move Ŝ off 1 (their sum, with every error it can carry, stays
under u_a), Ŝ is exactly 1 and c ∈ [1, S]; a single entry gives softmax 1, log_softmax 0 and
logsumexp z exactly. Masked entries (−inf) must give exactly 0 (softmax). A more accurate kernel
never fails: θ = 0 and D = 0 are always allowed, so the correctly rounded answer passes.

Classes (:data:`ALGORITHMS`): ``two-pass`` (the textbook max-shifted algorithm), ``one-pass``
(online normalizer in blocks of B: the running sum is rescaled at each of the R blocks that raise
the maximum, each rescale one more exp and product, [(1 + ε)(1 + u′)]^R; the argument errors of
the rescales telescope to u_a|t_k|), ``split`` (partial states merged: one rescale each), and
``exp2`` (exp2 of arguments scaled by a rounded log₂e: the argument error is
u_a(2(|z_j| + |m|)/T + 2|t_j|), not proportional to |t_j| alone; ``exp2=True`` adds this to
one-pass or split, as FlashAttention combines them). With a temperature the argument error is
u_a·max(2|t_j|, (|z_j| + |m|)/T + |t_j|): shifting then dividing, or scaling then shifting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.rounding import ulp
from symsoftmax.validation.bounds import gamma as bounds_gamma

__all__ = [
    "ALGORITHMS",
    "COMPONENTWISE_OPS",
    "EXP_ACCURACIES",
    "KernelClass",
    "RowVerdict",
    "judge_rows",
]

ALGORITHMS = ("two-pass", "one-pass", "split", "exp2")
EXP_ACCURACIES = ("faithful", "correctly-rounded")
COMPONENTWISE_OPS = ("softmax", "log_softmax", "logsumexp")

FloatArray = npt.NDArray[np.float64]
_SLACK = 2.0**-50  # relative slack for the float64 evaluation of the bounds themselves


@dataclass(frozen=True)
class KernelClass:
    """The algorithm a kernel declares, and the formats it computes in.

    ``state``: the format of the running max, the exponentials and the sum (None: float32 for
    data narrower than float32, as GPU kernels and PyTorch's CPU kernels accumulate; the data's
    own format otherwise). ``exp``: the accuracy assumed of exp and log ("faithful": error under
    1 ulp, ε = 2u; "correctly-rounded": ε = u). ``block``: one-pass block size (1: every entry
    may raise the maximum). ``splits``: split-KV partial states.
    """

    algorithm: str = "two-pass"
    block: int = 1
    splits: int = 2
    state: str | None = None
    exp: str = "faithful"
    exp2: bool = False  # log₂e folded into the scale (implied by algorithm "exp2")

    @property
    def uses_exp2(self) -> bool:
        """Whether the kernel exponentiates with exp2 of log₂e-scaled arguments."""
        return self.exp2 or self.algorithm == "exp2"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise InputError(
                f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
            )
        if self.exp not in EXP_ACCURACIES:
            raise InputError(
                f"unknown exp accuracy {self.exp!r}; expected one of {', '.join(EXP_ACCURACIES)}"
            )
        for name, value in (("block", self.block), ("splits", self.splits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.state is not None:
            get_format(self.state)

    def state_format(self, data: Format) -> Format:
        """The state format for data in ``data``."""
        if self.state is not None:
            return get_format(self.state)
        return data if data.precision >= 24 else get_format("float32")

    def describe(self, data: Format | None = None) -> str:
        """E.g. ``two-pass, state float32, faithful exp``."""
        name = self.algorithm
        if self.exp2 and self.algorithm != "exp2":
            name += " with exp2"
        if self.algorithm == "one-pass":
            name += f" (block {self.block})"
        if self.algorithm == "split":
            name += f" ({self.splits} splits)"
        state = self.state_format(data).name if data is not None else (self.state or "default")
        return f"{name}, state {state}, {self.exp} exp"


@dataclass
class RowVerdict:
    """The judgement of rows of one op: per row, whether it passed and why not."""

    passed: npt.NDArray[np.bool_]
    reasons: list[str]  # "" for a passing row
    theta: FloatArray  # a common deviation that fits best (θ for softmax, D otherwise)
    worst: npt.NDArray[np.int64]  # the component with the largest excess over its bound
    excess: FloatArray  # that component's distance from the common factor / its bound
    common_usage: FloatArray  # the least common deviation the components need / its bound


def _rn(u: float) -> float:
    """Relative error bound of one rounding to nearest: u/(1 + u) (Higham, Thm. 2.2)."""
    return u / (1 + u)


def _grow(*terms: FloatArray | float) -> FloatArray:
    """Π(1 + x_i) − 1, accurately for small x_i (expm1 of Σ log1p; the sum starts from +0,
    so that a product of −0 terms is +0, and broadcasts to the terms' shape)."""
    with np.errstate(over="ignore"):
        total = 0.0 + np.log1p(terms[0])
        for term in terms[1:]:
            total = total + np.log1p(term)
        return np.expm1(total)


def _shrink(*terms: FloatArray | float) -> FloatArray:
    """1 − Π(1 − x_i), accurately (x_i ≤ 1; the sum starts from +0, as in :func:`_grow`)."""
    with np.errstate(divide="ignore"):
        total = 0.0 + np.log1p(-np.minimum(terms[0], 1.0))
        for term in terms[1:]:
            total = total + np.log1p(-np.minimum(term, 1.0))
    return -np.expm1(total)


def _rescales(z: FloatArray, kind: KernelClass) -> npt.NDArray[np.int64]:
    """R per row: rescales of the running sum (one-pass: blocks that raise the maximum; split:
    one per partial state; two-pass and exp2: none)."""
    rows, k = z.shape
    if kind.algorithm == "split":
        return np.full(rows, 1 if min(kind.splits, k) > 1 else 0, dtype=np.int64)
    if kind.algorithm != "one-pass" or k == 0:
        return np.zeros(rows, dtype=np.int64)
    blocks = -(-k // kind.block)
    padded = np.full((rows, blocks * kind.block), -np.inf)
    padded[:, :k] = np.where(np.isnan(z), -np.inf, z)
    block_max = padded.reshape(rows, blocks, kind.block).max(axis=2)
    running = np.maximum.accumulate(block_max, axis=1)
    return (block_max[:, 1:] > running[:, :-1]).sum(axis=1).astype(np.int64)


@dataclass
class _Rows:
    """What the bounds need of each row, computed in float64 from the inputs."""

    t: FloatArray  # (z − m)/T, −inf at masked entries; 0 at +inf entries of a +inf row
    arg: FloatArray  # a_j: the argument error of component j is u_a·a_j
    masked: npt.NDArray[np.bool_]  # entries whose exact output is exactly 0 / −inf
    n: npt.NDArray[np.int64]  # entries that take part in the sum
    rescales: npt.NDArray[np.int64]
    temperature: FloatArray


def _rows(
    z: FloatArray, temperature: FloatArray, kind: KernelClass, extra: FloatArray | None = None
) -> _Rows:
    """Row facts; a row with +inf entries is taken as its limit (+inf entries → 0, others −inf),
    the reference's answer 'limit' (docs/reference.md). ``extra``: an error the logits already
    carry when the kernel shifts them (a soft-cap's), |ẑ_j − z_j| ≤ u_a·extra_j; t_j = z_j − m
    then carries extra_j + extra of the maximum."""
    posinf = np.asarray(np.isposinf(z).any(axis=1, keepdims=True), dtype=bool)
    zz = np.where(posinf, np.where(np.isposinf(z), 0.0, -np.inf), z)
    finite = np.isfinite(zz)
    temp = temperature[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.where(finite, zz, -np.inf).max(axis=1, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        t = np.where(finite, (zz - m[:, None]) / temp, -np.inf)
        # z − m overflows (e.g. [max, −max]) where (z − m)/T need not: divide first
        t = np.where(finite & np.isinf(t), zz / temp - (m[:, None] / temp), t)
        t = np.where(np.isnan(t), -np.inf, t)  # both overflow (T tiny): e^t is 0 all the same
        abs_t = np.where(finite, np.abs(t), 0.0)
        # |z_j| + |m| over T: a kernel that scales before it shifts, fl(fl(z/T) − fl(m/T)),
        # errs by u(|z_j| + |m|)/T + u|t_j|; one that shifts first, fl(fl(z − m)/T), by 2u|t_j|
        span = np.abs(np.where(finite, zz, 0.0)) / temp + np.abs(m)[:, None] / temp
        arg = np.where(temp != 1.0, np.maximum(2 * abs_t, span + abs_t), abs_t)
        if kind.uses_exp2:  # fl(fl(z·k) − fl(m·k)) with k = fl(log₂e/T), then exp2
            arg = 2 * span + 2 * abs_t
        if extra is not None:
            at_max = np.where(finite & (zz == m[:, None]), extra, 0.0).max(axis=1, initial=0.0)
            arg = arg + np.where(finite, extra, 0.0) + at_max[:, None]
        arg = np.where(t == 0, 0.0, arg)  # z_j = m: the same roundings on both sides
    return _Rows(
        t=t,
        arg=np.where(finite, arg, 0.0),
        masked=~finite,
        n=finite.sum(axis=1),
        rescales=np.where(posinf[:, 0], 0, _rescales(zz, kind)),
        temperature=temperature,
    )


@dataclass
class _Sum:
    """Bounds on Ŝ/S ∈ [1 − low, 1 + high] per row, and where Ŝ is exactly 1."""

    low: FloatArray
    high: FloatArray
    exactly_one: npt.NDArray[np.bool_]
    s_minus_one: FloatArray  # S − 1 = Σ_{k ≠ max} e^{t_k} where Ŝ is exactly 1
    small_error: FloatArray  # how far a computed Σ_{k ≠ max} ê_k may be from S − 1


def _component_factors(rows: _Rows, state: Format, eps: float) -> tuple[FloatArray, FloatArray]:
    """(φ⁺, φ⁻) of the computation of ê_j and its rescales: ê_j/e_j ∈ [1 − φ⁻, 1 + φ⁺]."""
    u = _rn(state.unit_roundoff)
    moving = rows.t != 0  # exp(0) = 1 exactly, and the argument 0 has no error
    e = np.where(moving, eps, 0.0)
    resc = rows.rescales[:, None].astype(np.float64)
    rescale_up = np.expm1(resc * (math.log1p(eps) + math.log1p(u)))
    rescale_down = -np.expm1(resc * (math.log1p(-eps) + math.log1p(-u)))
    with np.errstate(over="ignore"):
        up = _grow(np.expm1(state.unit_roundoff * rows.arg), e, rescale_up)
    down = _shrink(-np.expm1(-state.unit_roundoff * rows.arg), e, rescale_down)
    return up, down


def _sum_bounds(
    rows: _Rows, s: FloatArray, state: Format, eps: float, *, ftz: bool
) -> tuple[_Sum, FloatArray, FloatArray]:
    """The sum's interval, and the per-component (φ⁺, φ⁻) of ê_j (:func:`_component_factors`)."""
    u = _rn(state.unit_roundoff)
    up, down = _component_factors(rows, state, eps)
    gamma = bounds_gamma(np.maximum(rows.n - 1, 0), state.unit_roundoff)[:, None]
    floor = (state.tiny if ftz else state.smallest_subnormal) * rows.n  # underflowed ê_k
    weight = np.where(rows.masked, 0.0, s)
    s_max = weight.max(axis=1, initial=0.0)
    with np.errstate(invalid="ignore", over="ignore"):  # 0·inf: a term too small to matter
        high = np.where(weight > 0, weight * _grow(up, gamma), 0.0).sum(axis=1) + floor * s_max
        low = np.where(weight > 0, weight * _shrink(down, np.minimum(gamma, 1.0)), 0.0).sum(axis=1)
        # Ŝ is exactly 1 when the maximum is unique and the other terms, with every error they
        # can carry, sum to less than u: 1 + x rounds to 1 for 0 ≤ x < u (the spacing above 1
        # is 2u), whatever the order of the additions.
        unique = (rows.t == 0).sum(axis=1) == 1
        others = np.where(
            rows.masked | (rows.t == 0), 0.0, np.exp(np.where(rows.masked, 0, rows.t))
        )
        carried = np.where(others > 0, others * (1 + _grow(up, gamma)), 0.0).sum(axis=1) + floor
    exactly_one = unique & (carried < u)
    small = others.sum(axis=1)
    # A kernel more accurate than the textbook (log1p of the small terms' sum, BHH) computes
    # S − 1 itself, within the same errors: |its error| ≤ carried − (S − 1).
    return _Sum(low, high, exactly_one, small, np.maximum(carried - small, 0.0)), up, down


def _meet(
    low: FloatArray, high: FloatArray, common_low: FloatArray, common_high: FloatArray
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Whether per-component intervals [low_j, high_j] and [common_low, common_high] meet, per
    row; and a best common value (the middle of the meeting, or of the common interval)."""
    lo = np.maximum(np.max(low, axis=1, initial=-np.inf), common_low)
    hi = np.minimum(np.min(high, axis=1, initial=np.inf), common_high)
    width = np.abs(lo) + np.abs(hi)
    fits = lo <= hi + _SLACK * np.where(np.isfinite(width), width, 0.0)
    fallback = (np.maximum(common_low, -1) + np.minimum(common_high, 1)) / 2
    middle = np.where(fits, (lo + hi) / 2, fallback)
    return fits, np.where(np.isfinite(middle), middle, 0.0)


def _common_usage(
    low: FloatArray, high: FloatArray, common_low: FloatArray, common_high: FloatArray
) -> FloatArray:
    """How much of the common bound the components need at least: the distance of 0 from the
    interval they all allow, over the bound on that side (0 when 0 fits them all)."""
    lo = np.max(low, axis=1, initial=-np.inf)
    hi = np.min(high, axis=1, initial=np.inf)
    need_up = np.where(lo > 0, lo / np.where(common_high > 0, common_high, np.inf), 0.0)
    need_down = np.where(hi < 0, hi / np.where(common_low < 0, common_low, -np.inf), 0.0)
    return np.nan_to_num(np.maximum(need_up, need_down), nan=0.0, posinf=np.inf)


def judge_rows(
    op: str,
    z: FloatArray,
    exact_hi: FloatArray,
    exact_lo: FloatArray,
    got: FloatArray,
    fmt: Format,
    kind: KernelClass,
    *,
    temperature: FloatArray | None = None,
    ftz: bool = False,
    sink: FloatArray | None = None,
    softcap: FloatArray | None = None,
) -> RowVerdict:
    """Judge rows (R, K) of one op against the per-component bounds of ``kind``.

    ``exact_hi + exact_lo``: the exact outputs (R, K) — (R, 1) for logsumexp; ``got``: the
    candidate's outputs as float64 values of ``fmt``, with NaN and ±inf already checked to be
    exactly where the correctly rounded outputs have them (those components are not judged
    here: an output that overflows the format, say). ``temperature``: (R,) or None.
    ``softcap`` (R,) (NaN: none): the logits are c·tanh((z/T)/c), each with the error of its
    computation (:func:`_capped`). ``sink`` (R,) (NaN: none): one more term e^s in the sum, a
    logit with no output (:func:`_with_sink`): the row is judged as the row with the sink
    appended, the sink's own output unjudged.
    """
    got = np.where(np.isfinite(got), got, np.nan)  # decided by the special-value check
    if ftz:  # a result that fell under tiny was flushed: 0 stands for any value there
        flushed = (got == 0) & (np.abs(exact_hi) < 2 * fmt.tiny)
        got = np.where(flushed, exact_hi, got)
    rows_n = z.shape[0]
    temp = np.ones(rows_n) if temperature is None else np.asarray(temperature, dtype=np.float64)
    state = kind.state_format(fmt)
    eps = (1.0 if kind.exp == "correctly-rounded" else 2.0) * state.unit_roundoff
    k = z.shape[1]
    extra = None
    with np.errstate(all="ignore"):
        if softcap is not None and np.isfinite(softcap).any():
            z, extra = _capped(z, temp, np.asarray(softcap, dtype=np.float64), state, eps)
            temp = np.ones(rows_n)
        if sink is not None and (~np.isnan(sink)).any():
            z, extra, exact_hi, exact_lo, got = _with_sink(
                op, z, temp, np.asarray(sink, dtype=np.float64), extra, exact_hi, exact_lo, got
            )
        rows = _rows(z, temp, kind, extra)
        if op == "softmax":
            verdict = _judge_softmax(rows, exact_hi, exact_lo, got, fmt, state, eps, ftz)
        elif op in ("log_softmax", "logsumexp"):
            verdict = _judge_log(op, rows, exact_hi, exact_lo, got, fmt, state, eps, ftz)
        else:
            raise ValueError(f"no per-component bound for op {op!r}")
    if op != "logsumexp":  # a sink's column is never the worst component (it is not judged)
        verdict.worst = np.minimum(verdict.worst, max(k - 1, 0))
    return verdict


def _capped(
    z: FloatArray, temp: FloatArray, cap: FloatArray, state: Format, eps: float
) -> tuple[FloatArray, FloatArray]:
    """Soft-capped logits z′ = c·tanh(x/c), x = z/T (NaN cap: x itself), and the error a kernel
    makes computing them, in units of u_a: fl(x/c) (and fl(z/T)) move tanh's argument by
    u_a(1 or 2)|x|/c, which tanh′ = 1 − tanh² scales by c; tanh (ε) and the product by c (u_a)
    add (ε/u_a + 1)|z′|. −inf stays −inf (a mask), +inf becomes c."""
    u_a = state.unit_roundoff
    x = z / temp[:, None]
    c = cap[:, None]
    on = np.isfinite(c)
    capped = np.where(on, c * np.tanh(x / np.where(on, c, 1.0)), x)
    capped = np.where(on & np.isneginf(x), -np.inf, capped)
    slope = 1.0 - np.tanh(x / np.where(on, c, 1.0)) ** 2
    roundings = np.where(temp[:, None] != 1.0, 2.0, 1.0)
    finite_x = np.where(np.isfinite(x), np.abs(x), 0.0)
    extra = (eps / u_a + 1) * np.abs(np.where(np.isfinite(capped), capped, 0.0))
    extra = extra + roundings * slope * finite_x
    return capped, np.where(on, extra * (1 + 4 * u_a), 0.0)


def _with_sink(
    op: str,
    z: FloatArray,
    temp: FloatArray,
    sink: FloatArray,
    extra: FloatArray | None,
    hi: FloatArray,
    lo: FloatArray,
    got: FloatArray,
) -> tuple[FloatArray, FloatArray | None, FloatArray, FloatArray, FloatArray]:
    """The row with its sink s appended as one more logit (in the units of the scaled scores:
    s·T beside z, which the row facts divide by T; NaN: no sink, −inf), its exact output (p_sink
    or s − lse, in float64: it only weighs the sum's bound) and no candidate output (NaN)."""
    s = np.where(np.isnan(sink), -np.inf, sink)[:, None]
    z_ext = np.concatenate([z, s * temp[:, None]], axis=1)
    if extra is not None:
        extra = np.concatenate([extra, np.zeros_like(s)], axis=1)
    if op == "logsumexp":
        return z_ext, extra, hi, lo, got
    scaled = np.where(np.isfinite(z_ext), z_ext / temp[:, None], z_ext)
    finite = np.isfinite(scaled)
    m = np.where(finite, scaled, -np.inf).max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(finite, np.exp(np.where(finite, scaled - m, 0.0)), 0.0)
    total = e.sum(axis=1, keepdims=True)
    if op == "softmax":
        own = e[:, -1:] / np.where(total > 0, total, 1.0)
    else:
        own = scaled[:, -1:] - (m + np.log(np.where(total > 0, total, 1.0)))
    nan = np.full_like(s, np.nan)
    return (
        z_ext,
        extra,
        np.concatenate([hi, own], axis=1),
        np.concatenate([lo, np.zeros_like(s)], axis=1),
        np.concatenate([got, nan], axis=1),
    )


def _softmax_floor(fmt: Format, state: Format, *, ftz: bool) -> float:
    """The absolute floor of underflow on one probability: ê_j, the division, the final rounding
    and a reciprocal's product may each land in the subnormal range (or flush in the state
    format, with ftz; a result flushed to storage zero is taken in :func:`judge_rows`)."""
    a = state.tiny if ftz else state.smallest_subnormal
    return 2 * a + fmt.smallest_subnormal


def _judge_softmax(
    rows: _Rows,
    hi: FloatArray,
    lo: FloatArray,
    got: FloatArray,
    fmt: Format,
    state: Format,
    eps: float,
    ftz: bool,
) -> RowVerdict:
    total, up, down = _sum_bounds(rows, np.where(rows.masked, 0.0, hi), state, eps, ftz=ftz)
    u_a, u_s = _rn(state.unit_roundoff), _rn(fmt.unit_roundoff)
    # The final rounding to storage always; where Ŝ is not exactly 1, the division in the state
    # format (when it is not the storage format) and a reciprocal rounded to storage.
    separate = u_a if state.precision != fmt.precision else 0.0
    not_one = ~total.exactly_one[:, None]
    phi_up = _grow(up, np.where(not_one, _grow(separate, u_s), 0.0), u_s)
    phi_down = _shrink(down, np.where(not_one, _shrink(separate, u_s), 0.0), u_s)
    floor = _softmax_floor(fmt, state, ftz=ftz)
    delta = ((got - hi) - lo) / hi  # (ŝ_j − s_j)/s_j, from the difference to keep its bits
    a = floor / hi
    regular = ~rows.masked & (hi > 1e-290) & np.isfinite(got)
    theta_low = np.where(regular, (delta - a - phi_up) / (1 + phi_up), -np.inf)
    theta_high = np.where(regular, (delta + a + phi_down) / (1 - phi_down), np.inf)
    # the common factor c = S/Ŝ = 1 + θ, from the sum's interval; θ = 0 always allowed
    # where Ŝ is exactly 1, c = S (the textbook) or near 1 (a kernel that sums S − 1 apart)
    # 1/(1 + high) − 1 without inf/inf where the sum's bound is vacuous (γ_{n−1} = inf)
    vacuous = ~np.isfinite(total.high)
    common_low = np.where(
        total.exactly_one,
        -total.small_error,
        np.where(vacuous, -1.0, -total.high / (1 + np.where(vacuous, 0.0, total.high))),
    )
    common_high = np.where(
        total.exactly_one,
        total.s_minus_one + total.small_error,
        total.low / np.maximum(1 - total.low, 0.0),
    )
    common_low, common_high = np.minimum(common_low, 0.0), np.maximum(common_high, 0.0)
    fits, theta = _meet(theta_low, theta_high, common_low, common_high)
    usage = _common_usage(theta_low, theta_high, common_low, common_high)
    # the components agree on some common factor, only not on one the sum allows
    free, free_theta = _meet(
        theta_low, theta_high, np.full_like(theta, -1.0), np.full_like(theta, np.inf)
    )
    common_only = ~fits & free
    theta = np.where(common_only, free_theta, theta)
    # exact where a correct kernel is exact: masked entries give 0; tiny ones stay under the floor
    masked_wrong = rows.masked & (got != 0) & ~np.isnan(got)
    tiny_wrong = (
        ~rows.masked & ~regular & np.isfinite(got) & (np.abs(got - hi) > floor + 2 * np.abs(hi))
    )
    passed = fits & ~masked_wrong.any(axis=1) & ~tiny_wrong.any(axis=1)
    off = np.abs((1 + delta) / (1 + theta[:, None]) - 1)
    allowed = np.maximum(phi_up, phi_down) + a
    excess = np.where(regular, off / allowed, 0.0)
    excess = np.where(masked_wrong | tiny_wrong, np.inf, np.nan_to_num(excess, nan=0.0))
    worst = np.argmax(excess, axis=1) if excess.shape[1] else np.zeros(len(passed), dtype=np.int64)
    reasons = [""] * len(passed)  # a reason is written for the failing rows only
    u_show = fmt.unit_roundoff
    for r in np.flatnonzero(~passed).tolist():
        j = int(worst[r])
        if masked_wrong[r].any():
            j = int(np.argmax(masked_wrong[r]))
            reasons[r] = f"output[{j}]: masked entry (−inf) gave {got[r, j]:.6g}, not exactly 0"
        elif tiny_wrong[r].any():
            j = int(np.argmax(tiny_wrong[r]))
            reasons[r] = (
                f"output[{j}]: {got[r, j]:.6g} where the exact value {hi[r, j]:.3g} is below the "
                f"underflow floor {floor:.3g}"
            )
        elif common_only[r]:
            reasons[r] = (
                f"the row's common factor is off: its components agree on θ = "
                f"{theta[r] / u_show:.4g} u, outside the sum's bound "
                f"[{common_low[r] / u_show:.4g}, {common_high[r] / u_show:.4g}] u "
                f"(γ_{int(rows.n[r]) - 1} in {state.name}; u = 2^-{fmt.precision})"
            )
        elif excess[r, j] > 1:
            dev = float((1 + delta[r, j]) / (1 + theta[r]) - 1)
            bound = float(allowed[r, j])
            reasons[r] = (
                f"output[{j}] (t = {float(rows.t[r, j]):.6g}): {got[r, j]:.9g} vs exact "
                f"{hi[r, j]:.9g}, off the row's common factor (θ = {theta[r] / u_show:.3g} u) by "
                f"{dev / u_show:.4g} u > its bound {bound / u_show:.4g} u "
                f"(u = 2^-{fmt.precision})"
            )
        else:
            reasons[r] = (
                f"output[{j}]: no common factor in the sum's bound "
                f"[{common_low[r] / u_show:.4g}, {common_high[r] / u_show:.4g}] u fits every "
                f"component (γ_{int(rows.n[r]) - 1} in {state.name}; u = 2^-{fmt.precision})"
            )
    most = excess.max(axis=1, initial=0)
    return RowVerdict(passed, reasons, theta, worst.astype(np.int64), most, usage)


def _judge_log(
    op: str,
    rows: _Rows,
    hi: FloatArray,
    lo: FloatArray,
    got: FloatArray,
    fmt: Format,
    state: Format,
    eps: float,
    ftz: bool,
) -> RowVerdict:
    """log_softmax ŷ_j = fl(t̂_j − L̂) and logsumexp ℓ̂ = fl(m + T·L̂): the common error is
    D = L̂ − L; ``hi``/``lo`` are the exact outputs."""
    e = np.where(rows.masked, 0.0, np.exp(np.where(rows.masked, 0.0, rows.t)))
    big_s = e.sum(axis=1)
    s = e / np.where(big_s > 0, big_s, 1.0)[:, None]
    total, _, _ = _sum_bounds(rows, s, state, eps, ftz=ftz)
    u_a, u_s = _rn(state.unit_roundoff), _rn(fmt.unit_roundoff)
    # L = log S ≥ 0, from S − 1 = (q − 1) + Σ_{t_k < 0} e^{t_k} (q maxima), which keeps the
    # bits of a tiny L (log of a float64 sum near 1 would round them away)
    q = (rows.t == 0).sum(axis=1)
    below = np.where(rows.masked | (rows.t == 0), 0.0, e).sum(axis=1)
    log_s = np.where(big_s > 0, np.log1p(np.maximum(q - 1, 0) + below), 0.0)
    log_up = np.log1p(total.high)
    log_down = np.log1p(-np.minimum(total.low, 1.0))  # −inf when the sum's bound is vacuous
    # L̂ = fl(log Ŝ), |error| ≤ ε·log Ŝ (log Ŝ ≥ 0) plus an underflow quantum
    log_err = eps * (log_s + np.maximum(log_up, 0.0)) + state.smallest_subnormal
    # where Ŝ is exactly 1: L̂ = 0 (the textbook, D = −L) or log1p of the small terms' sum
    # (D = its error, within that sum's own error and the log's)
    small = total.small_error + eps * log_s + state.smallest_subnormal
    d_low = np.where(total.exactly_one, -log_s - small, log_down - log_err)
    d_high = np.where(total.exactly_one, small, log_up + log_err)
    d_low, d_high = np.minimum(d_low, 0.0), np.maximum(d_high, 0.0)
    d_abs = np.maximum(np.abs(d_low), np.abs(d_high))
    floor = (state.tiny if ftz else state.smallest_subnormal) + fmt.smallest_subnormal / 2
    separate = u_a if state.precision != fmt.precision else 0.0
    temp = rows.temperature
    error = (got - hi) - lo  # ŷ − y, keeping its bits
    if op == "log_softmax":
        arg_abs = state.unit_roundoff * rows.arg  # |t̂_j − t_j| ≤ u_a·a_j
        size = np.abs(hi) + d_abs[:, None] + arg_abs
        bound = arg_abs + size * _grow(separate, u_s) + floor
        # ŷ_j − y_j = −D + (within bound): D ∈ [−e_j − B_j, −e_j + B_j] for every j
        regular = ~rows.masked & np.isfinite(hi) & np.isfinite(got)
        d_lo_j = np.where(regular, -error - bound, -np.inf)
        d_hi_j = np.where(regular, -error + bound, np.inf)
        fits, d_best = _meet(d_lo_j, d_hi_j, d_low, d_high)
        usage = _common_usage(d_lo_j, d_hi_j, d_low, d_high)
        excess = np.where(regular, np.abs(error + d_best[:, None]) / bound, 0.0)
    else:
        # ℓ̂ − ℓ = T·D + roundings of T·L̂ (with a temperature), of m + T·L̂, and to storage
        scale_round = np.where(temp != 1.0, u_a, 0.0)
        lse_abs = np.abs(hi[:, 0])
        rounding = np.where(
            total.exactly_one,  # then L̂ = 0 and m + T·0 = m exactly
            lse_abs * u_s + floor,
            np.where(scale_round > 0, temp * (log_s + d_abs) * scale_round, 0.0)
            + (lse_abs + temp * d_abs) * _grow(u_a, separate, u_s)
            + floor,
        )
        low_e, high_e = temp * d_low - rounding, temp * d_high + rounding
        decided = ~np.isfinite(got[:, 0]) | ~np.isfinite(hi[:, 0])  # ±inf, NaN: decided elsewhere
        err = np.where(decided, 0.0, error[:, 0])
        fits = (err >= low_e - _SLACK * np.abs(low_e)) & (err <= high_e + _SLACK * np.abs(high_e))
        fits |= decided
        d_best = np.clip(err / np.where(temp > 0, temp, 1.0), d_low, d_high)
        width = np.maximum(high_e, -low_e)
        excess = (np.abs(err) / np.where(width > 0, width, np.inf))[:, None]
        usage = excess[:, 0].copy()  # one component: its error is the common one
        bound = width[:, None]
    excess = np.nan_to_num(excess, nan=0.0, posinf=np.inf)
    worst = np.argmax(excess, axis=1) if excess.shape[1] else np.zeros(len(fits), dtype=np.int64)
    reasons = [""] * len(fits)  # a reason is written for the failing rows only
    for r in np.flatnonzero(~fits).tolist():
        j = int(worst[r])
        spacing = float(ulp(hi[r, j], fmt))  # the one ulp routine (its smallest subnormal at 0)
        t_text = f" (t = {float(rows.t[r, j]):.6g})" if op == "log_softmax" else ""
        reasons[r] = (
            f"output[{j}]{t_text}: {got[r, j]:.9g} vs exact {hi[r, j]:.9g}: error "
            f"{float(error[r, j]) / spacing:.4g} ulp beyond its bound "
            f"{float(bound[r, j]) / spacing:.4g} ulp around the row's common error of log Σ, "
            f"D ∈ [{float(d_low[r]):.3g}, {float(d_high[r]):.3g}]"
        )
    most = excess.max(axis=1, initial=0)
    return RowVerdict(fits, reasons, d_best, worst.astype(np.int64), most, usage)
