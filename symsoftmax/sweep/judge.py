"""Judging a batch of rows at once: the pass rules of ``validate``, vectorized for short rows.

For each row of a batch (inputs ``rows``, the candidate's outputs ``got``, the correctly rounded
``expected`` from :func:`symsoftmax.reference.evaluate`) this gives the row's class — "pass",
or the first failure of: "misplaced NaN/inf", and by the rule's mode "over the bound",
"not faithful", "not correctly rounded", "over max-ulp" — and its largest error in ulps.
The rules and conventions are those of :mod:`symsoftmax.validation.checks`: in ``bound`` mode
softmax, log_softmax and logsumexp are judged per component against the bound of the rule's
kernel class (:func:`symsoftmax.validation.componentwise.judge_rows`, whole batches at once),
``normwise`` mode (and ``bound`` for no other op here) uses the normwise bound
:func:`symsoftmax.validation.bounds.output_bounds`. The error in ulps is
:func:`symsoftmax.validation.metrics.ulp_errors` (the package's one ulp routine, through
:func:`symsoftmax.rounding.ulp`).

The exact value v of each output is carried as a float64 approximation v̂ with an error bound
δ (:func:`approximate`). An error measure and a verdict computed from v̂ are exact to within δ;
a row whose verdict would change somewhere in [v̂ − δ, v̂ + δ] (an error within δ of the limit,
or v̂ within δ of a power of two, where the ulp changes) is judged again from the exact values of
the authority (``evaluate(..., digits=40)``), row by row: Ziv's strategy applied to the verdict.
Only formats of at most 24 significand bits are judged this way (v̂ then carries ≥ 20 more bits
than the format); wider ones are refused by the space (:mod:`symsoftmax.sweep.space`).

float8_e4m3fn has no infinity: where the exact result is beyond ±448 the correctly rounded value
is NaN (OCP conversion, :mod:`symsoftmax.formats`), and ±448 of the right sign is accepted as
the saturated answer (class "pass", counted as "saturated").

Where the field disagrees, the named answers of the vectors are accepted as ``validate`` accepts
them, from the same table (:func:`symsoftmax.vectors.answers.named_answers`, which
:func:`symsoftmax.vectors.builder.answers_for` reads too; docs/reference.md, special values): a
row with +inf entries and no NaN may come out all NaN (the IEEE max-shift) instead of its limit,
and a softmax or log_softmax row of −inf only may come out masked (0, or −inf) instead of NaN.
Such rows are counted as "acceptable", a passing class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.reference import evaluate
from symsoftmax.reference.short_rows import row_all, row_any, row_max, row_min, row_sum
from symsoftmax.rounding import ulp
from symsoftmax.validation.bounds import output_bounds, summation_terms
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.componentwise import COMPONENTWISE_OPS, RowVerdict, judge_rows
from symsoftmax.validation.metrics import ExactValues, normwise_error, special_mismatch, ulp_errors
from symsoftmax.vectors.answers import named_answers
from symsoftmax.vectors.model import EXPECTED_KEYS

__all__ = [
    "ACCEPTABLE",
    "CLASSES",
    "FAIL_CLASSES",
    "BatchVerdict",
    "accepted_alternative",
    "approximate",
    "judge_batch",
]

FloatArray = npt.NDArray[np.float64]

PASS, SATURATED, ACCEPTABLE = "pass", "saturated", "acceptable"
MISPLACED = "misplaced NaN/inf"
MODE_CLASS = {
    "bound": "over the bound",
    "normwise": "over the bound",
    "faithful": "not faithful",
    "correctly-rounded": "not correctly rounded",
    "max-ulp": "over max-ulp",
}
CALL_FAILED = "call failed"
FAIL_CLASSES = (MISPLACED, *dict.fromkeys(MODE_CLASS.values()), CALL_FAILED)
CLASSES = (PASS, SATURATED, ACCEPTABLE, *FAIL_CLASSES)
"""Row classes in report order; codes are indices into this tuple."""

_U = 2.0**-53
_ABSOLUTE = 2.0**-1000  # absolute allowance of underflowed terms in v̂
_MAX_PRECISION = 24
_EDGE = 2.0**-20  # per-component excess this close to 1: judged again from the authority


@dataclass
class BatchVerdict:
    """Per row: ``code`` (index into :data:`CLASSES`) and ``ulp`` (largest error in ulps over
    the row's outputs; inf for a misplaced NaN/inf; 0 for a row with no finite output)."""

    code: npt.NDArray[np.int8]
    ulp: FloatArray
    rechecked: int  # rows judged again from the authority's exact values


def approximate(op: str, rows: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(v̂, δ): float64 values of ``op`` on rows of finite maximum, and a bound on |v̂ − v|.

    Shifted algorithm in float64: t_j = x_j − max (relative error ≤ u), e_j = exp(t_j)
    (relative error ≤ |t_j|·u + 2^10·u while normal: NumPy's exp is within a few ulps),
    S′ = Σ_{j≠a} e_j, L = log1p(S′) (relative error ≤ (λ + K + 2^10)·u, λ the largest
    |t_j|·u term), s_j = e_j/(1 + S′), l_j = t_j − L (no cancellation: t_j ≤ 0 ≤ L), and
    logsumexp = max + L (cancellation possible: its bound is absolute, |max|·u + L·ρ).
    δ = ρ·|v̂| + (|max| + 1)·u·[logsumexp] + 2^−1000, ρ = 4·(Δ + K + 2^10)·u with Δ the
    spread (capped at 2^11: beyond it every e_j below the maximum underflows to 0 in float64).
    A row with +inf entries is its limit, as in the reference (docs/reference.md): the row
    with 0 at the +inf entries and −inf elsewhere. Outputs whose correctly rounded value is not
    finite are judged on the kind of value alone (NaN, ±inf), not on v̂.
    """
    return _approximate(op, _Shifted.of(rows))


def _approximate(op: str, sh: _Shifted) -> tuple[FloatArray, FloatArray]:
    t, e, top = sh.t, sh.e, sh.top
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        first = np.argmax(t == 0, axis=1)
        others = e.copy()
        others[np.arange(t.shape[0]), first] = 0.0
        s1 = row_sum(others, keepdims=True)
        big_l = np.log1p(s1)
        spread = np.where(np.isfinite(top), np.minimum(top - sh.bottom, 2.0**11), 0.0)
        rho = 4 * (spread + t.shape[1] + 2.0**10) * _U
        if op == "softmax":
            value = e / (1 + s1)
            return value, rho * value + _ABSOLUTE
        if op == "log_softmax":
            value = t - big_l
            return value, rho * np.abs(value) + _ABSOLUTE
        value = (top + big_l)[:, 0]
        delta = (rho * big_l + (np.abs(top) + 1) * _U)[:, 0] + _ABSOLUTE
        return value, delta


class _Shifted(NamedTuple):
    """The shifted rows both v̂ and the bounds start from: t = x − max over the finite entries
    (−inf elsewhere; a row with +inf entries as its limit row) and e = exp(t), with the max and
    min of the finite entries (−inf and +inf for a row of none)."""

    t: FloatArray
    e: FloatArray
    top: FloatArray  # (n, 1)
    bottom: FloatArray  # (n, 1)

    @classmethod
    def of(cls, rows: FloatArray) -> _Shifted:
        rows = _limit_rows(rows)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            finite = np.isfinite(rows)
            top = row_max(np.where(finite, rows, -np.inf), keepdims=True)
            bottom = row_min(np.where(finite, rows, np.inf), keepdims=True)
            t = np.where(finite, rows - top, -np.inf)
            return cls(t, np.exp(t), top, bottom)


def _limit_rows(rows: FloatArray) -> FloatArray:
    """Rows with +inf entries replaced by their limit: 0 at the +inf entries, −inf elsewhere."""
    posinf = rows == np.inf
    limit = row_any(posinf, keepdims=True)
    return np.where(limit, np.where(posinf, 0.0, -np.inf), rows)


def _batch_bounds(op: str, sh: _Shifted | FloatArray, fmt: Format, ftz: bool) -> FloatArray:
    """``output_bounds(op, ...).absolute`` of every row, vectorized (same float64 formulas as
    :class:`symsoftmax.validation.bounds.RowFacts`, which also takes a row with +inf entries
    as its limit row; a test keeps the two equal)."""
    sh = sh if isinstance(sh, _Shifted) else _Shifted.of(sh)
    n = sh.t.shape[1]
    top, bottom, t = sh.top[:, 0], sh.bottom[:, 0], sh.t
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        spread = top - bottom
        total = row_sum(sh.e)
        s = np.nan_to_num(sh.e / total[:, None], nan=0.0)
        big_l = np.log(total)
        lse = top + big_l
    big_n, _form = summation_terms(n, fmt)
    n_rows = t.shape[0]
    avg = np.minimum(spread, math.log(max(n, 1)))
    u = fmt.unit_roundoff
    floor = fmt.tiny if ftz else fmt.smallest_subnormal
    if op == "softmax":
        factor = big_n + 3 + np.minimum(2 * spread, 1 / math.e + avg)
        scale = row_max(np.abs(s))
    elif op == "log_softmax":
        with np.errstate(invalid="ignore"):
            logs = t - big_l[:, None]
        l_norm = row_max(np.where(np.isfinite(logs), np.abs(logs), 0.0))
        factor, scale = big_n + big_l + avg + 3 * l_norm, np.ones(n_rows)
    else:
        with np.errstate(invalid="ignore"):  # rows of no finite entry: their bound is unused
            y = np.abs(lse)
            published = y + (lse - bottom) + big_n + y
            derived = 2 * y + (big_n + avg + 2 * big_l)
        factor, scale = np.maximum(published, derived), np.ones(n_rows)
    with np.errstate(invalid="ignore", over="ignore"):
        bound = np.where((factor == 0) | (scale == 0), floor, factor * u * scale + floor)
    return np.where(np.isfinite(top), bound, floor)


def judge_batch(
    op: str,
    fmt: Format,
    rows: FloatArray,
    got: FloatArray,
    expected: FloatArray,
    rule: PassRule,
) -> BatchVerdict:
    """Classify every row (see the module docstring). ``got`` and ``expected`` are float64
    arrays of shape (n, outputs per row): K for softmax and log_softmax, 1 for logsumexp."""
    if fmt.precision > _MAX_PRECISION:
        raise ValueError(f"{fmt.name}: batch judging needs a format of ≤ {_MAX_PRECISION} bits")
    n = rows.shape[0]
    shifted = _Shifted.of(rows)
    value, delta = _approximate(op, shifted)
    value, delta = value.reshape(n, -1), delta.reshape(n, -1)
    got = got.reshape(n, -1).copy()
    expected = expected.reshape(n, -1)
    saturated = np.zeros(n, dtype=bool)
    if not fmt.infinities:  # beyond ±max: NaN is right, and ±max (saturation) is accepted
        beyond = np.isnan(expected) & np.isfinite(value) & (np.abs(value) > fmt.max)
        took = beyond & (got == np.copysign(fmt.max, value))
        saturated = row_any(took)
        got = np.where(took, np.nan, got)
    if rule.ftz:
        flushed = (got == 0) & np.isfinite(expected) & (np.abs(expected) < fmt.tiny)
        got = np.where(flushed, expected, got)
    misplaced = row_any(special_mismatch(got, expected))
    exact = ExactValues.of_values(value)
    errors = ulp_errors(got, exact, expected, fmt)  # of v̂: within δ/ulp of the true error
    row_ulp = row_max(errors)
    mode = rule.mode
    uncertain = np.zeros(n, dtype=bool)
    if mode == "correctly-rounded":
        differs = ~((got == expected) | (np.isnan(got) & np.isnan(expected)))
        failed = row_any(differs)
    elif mode in ("faithful", "max-ulp"):
        limit = 1.0 if mode == "faithful" else float(rule.max_ulp or 0.0)
        ulp_lo, ulp_hi = _ulp_range(errors, value, delta, fmt)
        if mode == "faithful":
            failed, sure = row_any(ulp_hi >= limit), (ulp_lo >= limit) | (ulp_hi < limit)
        else:
            failed, sure = row_any(ulp_hi > limit), (ulp_lo > limit) | (ulp_hi <= limit)
        uncertain = ~row_all(sure)
    elif mode == "bound" and op in COMPONENTWISE_OPS:  # else: the normwise bound
        failed, uncertain = _componentwise(op, fmt, rows, got, expected, value, misplaced, rule)
    else:
        bound = _batch_bounds(op, shifted, fmt, rule.ftz) * (1 + 1e-9)
        finite = np.isfinite(expected)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(finite, np.abs(got - value), 0.0)
            margin = np.where(finite, delta, 0.0)
        worst = row_max(np.nan_to_num(diff, nan=np.inf))
        slack = row_max(margin)
        failed = worst + slack > bound
        uncertain = (worst - slack <= bound) & failed
    uncertain &= ~misplaced
    code = np.where(failed, CLASSES.index(MODE_CLASS[mode]), CLASSES.index(PASS))
    code = np.where(saturated & ~failed, CLASSES.index(SATURATED), code)
    code = np.where(misplaced, CLASSES.index(MISPLACED), code).astype(np.int8)
    for r in np.flatnonzero(uncertain):
        code[r], row_ulp[r] = _judge_exactly(op, fmt, rows[r], got[r], expected[r], rule)
        code[r] = CLASSES.index(SATURATED) if saturated[r] and code[r] == 0 else code[r]
    alternative = accepted_alternative(op, rows, got, expected)
    code = np.where(alternative, CLASSES.index(ACCEPTABLE), code).astype(np.int8)
    row_ulp = np.where(alternative, 0.0, np.where(misplaced, np.inf, row_ulp))
    return BatchVerdict(code, row_ulp, int(uncertain.sum()))


def _componentwise(
    op: str,
    fmt: Format,
    rows: FloatArray,
    got: FloatArray,
    expected: FloatArray,
    value: FloatArray,
    misplaced: npt.NDArray[np.bool_],
    rule: PassRule,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(failed, uncertain) per row by the per-component rule of ``rule.kernel``
    (:func:`symsoftmax.validation.componentwise.judge_rows`, as ``validate`` judges a test).

    As in ``validate``, a row whose correctly rounded outputs hold a NaN is decided by where
    the NaNs are alone, and a row of correctly rounded outputs passes (θ = 0, D = 0 are always
    allowed: a test keeps this true on every float8 row of K = 2), so only the other rows are
    judged, with v̂ for the exact values. v̂ is within a relative 2^−38 of v, far inside the
    bounds (≥ u of the format, 2^−4 .. 2^−11 here); a row whose worst component's excess over
    its bound is within 2^−20 of 1 is ``uncertain`` and judged again from the authority."""
    n = rows.shape[0]
    same = row_all((got == expected) | (np.isnan(got) & np.isnan(expected)))
    judged = np.flatnonzero(~misplaced & ~same & ~row_any(np.isnan(expected)))
    failed = np.zeros(n, dtype=bool)
    uncertain = np.zeros(n, dtype=bool)
    if judged.size:
        verdict = _judge_components(op, fmt, rows[judged], value[judged], None, got[judged], rule)
        failed[judged] = ~verdict.passed
        uncertain[judged] = np.abs(verdict.excess - 1) < _EDGE
    return failed, uncertain


def _judge_components(
    op: str,
    fmt: Format,
    rows: FloatArray,
    hi: FloatArray,
    lo: FloatArray | None,
    got: FloatArray,
    rule: PassRule,
) -> RowVerdict:
    """:func:`judge_rows` of ``rows`` (R, K) with exact values ``hi`` (+ ``lo``), (R, outputs)."""
    return judge_rows(
        op,
        rows,
        hi,
        np.zeros_like(hi) if lo is None else lo,
        got,
        fmt,
        rule.kernel,
        ftz=rule.ftz,
    )


def accepted_alternative(
    op: str, rows: FloatArray, got: FloatArray, expected: FloatArray
) -> npt.NDArray[np.bool_]:
    """Rows whose outputs are exactly another named answer than the reference's, from the one
    table of special-value answers that ``validate``'s vector files use
    (:func:`symsoftmax.vectors.answers.named_answers`)."""
    n = rows.shape[0]
    got = got.reshape(n, -1)
    expected = expected.reshape(n, -1)
    key = EXPECTED_KEYS[op][0]
    accepted = np.zeros(n, dtype=bool)
    for answer in named_answers(op, {"z": rows}, {key: expected}):
        outputs = answer.outputs[key]
        accepted |= answer.rows & row_all((got == outputs) | (np.isnan(got) & np.isnan(outputs)))
    same_as_reference = row_all((got == expected) | (np.isnan(got) & np.isnan(expected)))
    return accepted & ~same_as_reference


def _ulp_range(
    errors: FloatArray, value: FloatArray, delta: FloatArray, fmt: Format
) -> tuple[FloatArray, FloatArray]:
    """Bounds on the true |got − v|/ulp(v) for v in [v̂ − δ, v̂ + δ], from ``errors`` (at v̂).

    While [v̂ − δ, v̂ + δ] stays in one binade (or below 2^emin, where the spacing is constant)
    the ulp is that at v̂, and the error moves by at most δ/ulp; otherwise it is unknown
    ([0, ∞]: the row goes to the authority).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(value)
        _, exponent = np.frexp(magnitude)
        binade = np.ldexp(1.0, exponent - 1)  # 2^⌊log2|v̂|⌋
        one_binade = (magnitude - delta > binade) & (magnitude + delta < 2 * binade)
        one_binade |= magnitude + delta < fmt.tiny
        spread = delta / ulp(value, fmt)
    finite = np.isfinite(errors)
    lo = np.where(one_binade, np.maximum(errors - spread, 0.0), 0.0)
    hi = np.where(one_binade, errors + spread, np.inf)
    return np.where(finite, lo, errors), np.where(finite, hi, errors)


def _judge_exactly(
    op: str, fmt: Format, row: FloatArray, got: FloatArray, expected: FloatArray, rule: PassRule
) -> tuple[int, float]:
    """(class code, ulp) of one row from the authority's exact values (40 digits)."""
    result = evaluate(op, row, dtype=fmt, digits=40)
    exact = ExactValues.parse(np.asarray(result.decimals).reshape(-1))
    errors = ulp_errors(got, exact, expected, fmt)
    worst = float(np.max(errors, initial=0.0))
    mode = rule.mode
    if mode == "correctly-rounded":
        failed = bool((~((got == expected) | (np.isnan(got) & np.isnan(expected)))).any())
    elif mode == "faithful":
        failed = bool((errors >= 1.0).any())
    elif mode == "max-ulp":
        failed = bool((errors > float(rule.max_ulp or 0.0)).any())
    elif mode == "bound" and op in COMPONENTWISE_OPS:
        shape = (1, -1)
        failed = (
            not bool(np.isnan(expected).any())
            and not _judge_components(
                op,
                fmt,
                row.reshape(shape),
                exact.hi.reshape(shape),
                exact.lo.reshape(shape),
                got.reshape(shape),
                rule,
            ).passed[0]
        )
    else:
        outputs = {"output": exact.hi.reshape(np.shape(result.rounded))}
        bound = output_bounds(op, {"z": row}, outputs, fmt, ftz=rule.ftz)["output"]
        abs_err, _norm = normwise_error(got, exact, expected)
        failed = abs_err > bound.absolute * (1 + 1e-9)
    code = CLASSES.index(MODE_CLASS[mode]) if failed else CLASSES.index(PASS)
    return code, worst
