"""Fast path: vectorized evaluation with a rigorous error bound, settling most outputs at once.

The two-phase design of CORE-MATH (Sibidanov, Zimmermann & Glondu, "The CORE-MATH project",
ARITH 2022): a fast evaluation returns an approximation v̂ with a proven bound ε on its relative
error; if every real in [v̂(1−ε), v̂(1+ε)] rounds to the same target value, that value is the
correctly rounded result. Elements whose interval contains a rounding breakpoint stay pending
and go to the next phase, finally to the mpmath route (:mod:`symsoftmax.reference.engine`).

Phase 1 (float32, float16, bfloat16 targets): float64 NumPy. Error bounds (u = 2^−53), taking
NumPy's exp/log1p to be within 2^10 ulps (a generous margin: they are documented < 4 ulp):

* t_j = (x_j − max)/T: relative error ≤ 2u (subtraction, division);
* e_j = exp(t_j): relative error α ≤ 1.01·(|t_j|·2u + 2^−43) while e_j is normal; below
  2^−1000 the absolute error is ≤ 2^−1000 (the result is 0 or subnormal);
* S = Σe (positive terms; pairwise beyond 7 entries, :func:`_row_sum_bounded`): relative
  error ≤ α + n_S·u (n_S = K − 1, or ⌈log2 K⌉ pairwise), plus K·2^−1000 absolute;
* softmax s = e/S: ε = 1.02·(2α + (n_S + 2)u), absolute η = 2^−990 (S ≥ 1);
* log_softmax l_j = t_j − L, L = log1p(S′), S′ = S − (one max term) summed directly:
  log1p(x(1+δ)) differs from log1p(x) by at most |δ|·log1p(x) (as log1p(x) ≥ x/(1+x)); t_j ≤ 0
  and L ≥ 0, so |l_j| = |t_j| + L has no cancellation: relative error ≤ max(2u, λ) + u;
* logsumexp = max + T·L: absolute error ≤ T·L·(λ + u) + |result|·u (cancellation possible: the
  check simply fails and the element goes on).

Phase 2 (float64 targets, and softmax elements phase 1 left pending): double-double
(:mod:`symsoftmax.reference.double_double`), with x − max exact by TwoSum (where it does not
overflow float64: such entries are told apart from −inf entries and left to the authority unless
their rounding is forced), ÷T to 2^−100, exp to 2^−86, a
pairwise double-double sum and division: relative error about 2^−85 for softmax; the test is
made on the scaled double-double directly (see :func:`_settle_scaled`). float64 log_softmax and
logsumexp: :func:`_log_partition_dd`; entries exactly on a float64 rounding midpoint minus a tiny
L by its sign (:func:`_midpoint_minus_l`), and −L or logsumexp's T·L at max = ±0 below 2^−799
from a row-scaled sum (:func:`_tiny_l`). float64 softmax and log_softmax entries are first
tried by a test in few passes (:func:`_softmax_float64`, :func:`_log_softmax_float64`: both
ends of the error interval, as float64 sums, round to one value); the general routines take
what it leaves.

Ops with a fast path of their own (``OWN_MODULES``: the Jacobian,
:mod:`symsoftmax.reference.fast_jacobian`) are handed to it by :func:`settle`.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import FORMATS, Format
from symsoftmax.ops import OPERATIONS
from symsoftmax.reference.double_double import (
    EXP_RELATIVE_ERROR,
    _split,
    dd_add,
    dd_div,
    dd_mul,
    dd_sum_last_axis,
    scratch,
    two_prod,
    two_sum,
)
from symsoftmax.reference.double_double import dd_exp_scaled as _dd_exp
from symsoftmax.reference.short_rows import (
    COLUMNS_UP_TO,
    row_all,
    row_any,
    row_max,
    row_min,
    row_sum,
)
from symsoftmax.rounding import round_array

__all__ = ["FAST_OPS", "settle"]

FAST_OPS = tuple(name for name, op in OPERATIONS.items() if op.fast_path)
# ops of FAST_OPS whose fast path is a module of its own (it imports this one: loaded on use)
OWN_MODULES = {
    "jacobian": "symsoftmax.reference.fast_jacobian",
    **dict.fromkeys(
        ("softmax_vjp", "log_softmax_vjp", "cross_entropy", "cross_entropy_grad"),
        "symsoftmax.reference.fast_gradients",
    ),
}

Array = npt.NDArray[np.float64]
_Settled = tuple[Array, npt.NDArray[np.bool_]]  # values, and where they are decided
_U = 2.0**-53
_LIBM_ERROR = 2.0**-43  # 2^10 ulps of float64
_TINY = 2.0**-1000  # absolute error allowance for underflowed terms
_ETA = 2.0**-990
_BLOCK_ELEMENTS = 1 << 15
# Long rows are worked through in column chunks of this many entries (a power of two, so the
# chunked pairwise sum keeps the tree of the whole row's): each ufunc's temporary stays small.
# Whole-row temporaries of 2^15 doubles (256 KiB) each grew and trimmed the heap, a page fault
# per 4 KiB: the double-double exp of a 32768-entry row took 4× its arithmetic time. 2^12 (32 KiB
# temporaries) beat 2^11 by 8–10% on float64 rows of 32768 (fewer ufunc calls); 2^13 lost.
_CHUNK = 1 << 12


def settle(problem: Any, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]) -> None:
    """Fill ``out`` and clear ``pending`` wherever the fast path decides the rounding."""
    if problem.op not in FAST_OPS:
        return
    if problem.op in OWN_MODULES:
        importlib.import_module(OWN_MODULES[problem.op]).settle(problem, out, pending)
        return
    rows = problem.rows
    all_finite = row_all(np.isfinite(rows))
    if all_finite.all():
        eligible = np.arange(rows.shape[0])
    else:
        rows, eligible = _settle_specials(problem.op, rows, out, pending)
    if eligible.size == 0:
        return
    fmt: Format = problem.fmt
    temperature = problem.temperature
    # Blocks of about 2^15 elements keep the many elementwise passes in cache.
    block = max(1, _BLOCK_ELEMENTS // rows.shape[1])
    narrower = fmt.float64_extra_bits > 0  # phase 1 (float64 NumPy) decides those
    if narrower:
        for start in range(0, eligible.size, block):
            index = eligible[start : start + block]
            _phase1(problem.op, rows[index], fmt, temperature, index, out, pending)
    if not _dd_temperature_ok(temperature):
        return
    if narrower and problem.op != "softmax":
        return  # the few elements phase 1 left go to mpmath
    phase2 = _DOUBLE_DOUBLE[problem.op]
    left = eligible[row_any(pending[eligible])]
    for start in range(0, left.size, block):
        index = left[start : start + block]
        _store(out, pending, index, *phase2(rows[index], fmt, temperature))


def _settle_specials(
    op: str, rows: Array, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]
) -> tuple[Array, npt.NDArray[np.intp]]:
    """The engine's exact cases of rows with NaN or ±inf entries, vectorized (phase 0).

    As :func:`symsoftmax.reference.engine.evaluate_row` (docs/reference.md): a NaN entry makes
    every output NaN; a row of −inf entries only has softmax and log_softmax NaN and logsumexp
    −inf; a row with +inf entries is the limit, logsumexp +inf and the others those of the row
    with 0 at the +inf entries and −inf elsewhere (the +inf entries tie at the maximum, the rest
    vanish: s = 1/m, l = −log m), which phases 1 and 2 then settle like any finite row.
    Returns the rows to go on with (the +inf rows so replaced) and the indices of the rows left
    for phases 1 and 2.
    """
    with np.errstate(invalid="ignore"):
        nan_row = row_any(np.isnan(rows))
        posinf = rows == np.inf
        inf_row = row_any(posinf) & ~nan_row
        no_finite = ~row_any(np.isfinite(rows)) & ~nan_row & ~inf_row
    empty_value = -np.inf if op == "logsumexp" else np.nan
    settled = [(np.nan, nan_row), (empty_value, no_finite)]
    if op == "logsumexp":
        settled.append((np.inf, inf_row))
    elif inf_row.any():
        rows = rows.copy()
        rows[inf_row] = np.where(posinf[inf_row], 0.0, -np.inf)
    for value, where in settled:
        out[where] = value
        pending[where] = False
    done = nan_row | no_finite | (inf_row if op == "logsumexp" else False)
    return rows, np.flatnonzero(~done)


def _dd_temperature_ok(temperature: float | None) -> bool:
    return temperature is None or 2.0**-900 <= temperature <= 2.0**900


def _store(
    out: npt.NDArray[Any],
    pending: npt.NDArray[np.bool_],
    index: npt.NDArray[np.intp],
    values: Array,
    ok: npt.NDArray[np.bool_],
) -> None:
    """Write the settled values of the rows ``index`` (ok marks which), where still pending."""
    rows: Any = index
    if index.size and index[-1] - index[0] + 1 == index.size:  # contiguous: work on views
        rows = slice(int(index[0]), int(index[-1]) + 1)
    sub_pending = pending[rows]
    take = ok.reshape(sub_pending.shape) & sub_pending
    if isinstance(rows, slice):
        np.copyto(out[rows], values.reshape(sub_pending.shape), where=take)
        sub_pending &= ~take
        return
    sub_out = out[rows]
    sub_out[take] = values.reshape(sub_pending.shape)[take]
    out[rows] = sub_out
    sub_pending[take] = False
    pending[rows] = sub_pending


def _phase1(
    op: str,
    rows: Array,
    fmt: Format,
    temperature: float | None,
    index: npt.NDArray[np.intp],
    out: npt.NDArray[Any],
    pending: npt.NDArray[np.bool_],
) -> None:
    k = rows.shape[1]
    # eligible rows have no NaN or +inf and a finite entry: the maximum is finite
    top = row_max(rows, keepdims=True)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        t = rows - top
        if temperature is not None:
            t /= temperature
        e = np.exp(t)
        spread = top - row_min(rows, keepdims=True)
        if temperature is not None:
            spread /= temperature
        t_max = np.minimum(spread, 746.0)  # |t_j| ≤ spread; beyond 746 e_j < 2^−1076
        alpha = 1.01 * (t_max * 2 * _U + _LIBM_ERROR)
        if op == "softmax":
            total, additions = _row_sum_bounded(e)
            s = e / total
            eps = 1.02 * (2 * alpha + (additions + 2) * _U)
            value, ok = _settle_relative(s, eps, fmt)
            retry = ~ok
            if retry.any():  # subnormal results, near-breakpoints: interval ends with η
                s_r = s[retry]
                eps_r = np.broadcast_to(eps, s.shape)[retry]
                lo = np.maximum(s_r * (1 - eps_r) - _ETA, 0.0)
                hi = s_r * (1 + eps_r) + _ETA
                value[retry], ok[retry] = _settle_interval(lo, hi, fmt)
            _store(out, pending, index, value, ok)
            return
        first_max = np.argmax(rows == top, axis=1)
        others = e.copy()
        others[np.arange(rows.shape[0]), first_max] = 0.0
        s1 = row_sum(others, keepdims=True)
        big_l = np.log1p(s1)
        # relative error of L (incl. the absolute allowance of underflowed terms, relative to
        # L ≥ S′/K when S′ > 0; S′ = 0 exactly only with one finite entry, then L = 0 exactly)
        lam = 1.02 * (alpha + k * _U + _LIBM_ERROR)
        abs_l = 2 * k * _TINY
        if op == "log_softmax":
            value_raw = t - big_l
            rel = 1.02 * (np.maximum(2 * _U if temperature else _U, lam) + _U)
            rad = np.abs(value_raw) * rel + abs_l
            rad = np.where(np.isfinite(value_raw), rad, 0.0)
            # magnitudes: |l| ∈ [|l̂| − rad, |l̂| + rad]; l ≤ 0
            magnitude, ok = _settle_interval(
                np.maximum(-value_raw - rad, 0.0), -value_raw + rad, fmt
            )
            # l_j = t_j − L is +0 exactly when the row has one finite entry (t_j = 0, L = 0);
            # otherwise l_j < 0 (t_j ≤ 0 and L ≥ log 2 or L > 0), and a zero magnitude is −0
            single = row_sum(np.isfinite(rows).astype(np.int32), keepdims=True) == 1
            value = np.where(single & (t == 0), 0.0, -magnitude)
            retry = ~ok & np.isfinite(value_raw)
            if retry.any() and _dd_temperature_ok(temperature):
                # t_j may itself be a rounding midpoint with L far below its spacing (then
                # fl(t_j − L) = t_j): decide t_j − L as the exact double-double t_j + (−L)
                value[retry], ok[retry] = _log_softmax_pairs(
                    rows, top, temperature, big_l, lam, abs_l, retry, fmt
                )
            # S′ underflowed, or is below the absolute allowance of underflowed terms (float16
            # [512, −179.75]: t = −691.75, a rounding midpoint, with L ≈ 2^−998)
            retry = ~ok & np.isfinite(value_raw) & (big_l < 2.0**-900)
            if retry.any() and _dd_temperature_ok(temperature):
                value[retry], ok[retry] = _log_softmax_underflow(rows, top, temperature, retry, fmt)
            _store(out, pending, index, value, ok)
            return
        scale = 1.0 if temperature is None else temperature
        shift = scale * big_l
        value_raw = top + shift
        rad = shift * (lam + 2 * _U) + abs_l * scale + np.abs(value_raw) * _U * 1.01
        value = round_array(value_raw, fmt)
        # the exact value is max + T·L ≥ max (L ≥ 0), and ≥ +0 for max = ±0 (0 only when L = 0:
        # log 1, +0): without this lower end a row like float16 [0, −700], whose L is below
        # the underflow allowance, straddled ±0 and went to mpmath (0.65% of the float16 K = 2
        # rows, 77% of an exhaustive logsumexp run's time)
        lower = np.maximum(value_raw - rad, top)
        lower = np.where((top == 0) & (lower <= 0), 0.0, lower)
        lo, hi = round_array(lower, fmt), round_array(value_raw + rad, fmt)
        ok = (lo == value) & (hi == value) & np.isfinite(value_raw)
        ok &= (np.signbit(lo) == np.signbit(hi)) | (rad == 0)
        _store(out, pending, index, value, ok)


def _row_sum_bounded(e: Array) -> tuple[Array, int]:
    """Row sums of e ≥ 0 (n, K) → (n, 1), and the most roundings on any term's way into them.

    Up to :data:`COLUMNS_UP_TO` entries, left to right (K − 1 additions); longer rows by
    pairwise halving (odd widths padded with an exact 0): ⌈log2 K⌉ additions, so the relative
    error is ≤ (1 + u)^⌈log2 K⌉ − 1 instead of the (K − 1)u of a sum in unknown order (2^−38
    against 2^−49 at K = 32768, where phase 1 left entries of nearly every float32 row).
    """
    k = e.shape[1]
    if k <= COLUMNS_UP_TO:
        return row_sum(e, keepdims=True), max(k - 1, 0)
    additions = 0
    while e.shape[1] > 1:
        if e.shape[1] % 2:
            e = np.pad(e, [(0, 0), (0, 1)])
        e = e[:, 0::2] + e[:, 1::2]
        additions += 1
    return e, additions


def _settle_relative(s: Array, eps: Array, fmt: Format) -> _Settled:
    """:func:`_settle_interval` for [s(1−ε) − η, s(1+ε) + η], s ≥ 0, on bit patterns.

    A relative error ε spans at most ⌈ε·2^54⌉ + 1 float64 spacings on either side of s (the
    spacing below a power of two is half that above it), so the interval of patterns
    [I − δ, I + δ] contains the real one; the absolute allowance η (2^−990) is far below one
    spacing of any value this is used on. Elements above max are left unsettled.
    """
    d = fmt.float64_extra_bits
    tiny = fmt.tiny
    # Below 2^emin the format's spacing is the constant subnormal quantum, which is also the
    # spacing of the binade [2^emin, 2^(emin+1)): y = s + 2^emin maps the subnormal range there
    # (one float64 rounding, hence δ + 1), and y − 2^emin is exact (Sterbenz).
    subnormal = s < tiny
    y = np.where(subnormal, s + tiny, s)
    half = np.int64(1 << (d - 1))
    delta = (np.ceil(eps * 2.0**54) + 2).astype(np.int64)
    i_y = y.view(np.int64) - half
    cell_lo = (i_y - delta) >> d
    ok = cell_lo == ((i_y + delta) >> d)
    value = ((cell_lo + 1) << d).view(np.float64)
    value = np.where(subnormal, value - tiny, value)
    ok &= s <= fmt.max
    return value, ok


def _settle_interval(lo: Array, hi: Array, fmt: Format) -> _Settled:
    """Round every real in [lo, hi] (0 ≤ lo ≤ hi) to ``fmt``: (value, whether it is unique).

    Where lo is normal in the format (≥ 2^emin) and hi ≤ max, this works on the float64 bit
    patterns, which are monotone in the value: with D = 53 − p dropped bits and h = 2^(D−1), the
    rounding breakpoints (midpoints) are the patterns ≡ h mod 2^D, in every binade alike. All of
    [lo, hi] rounds to one value iff ⌊(I_lo − h)/2^D⌋ = ⌊(I_hi − h)/2^D⌋ and I_lo is not itself a
    midpoint; the value is then that quotient + 1, times 2^D. Below 2^emin the spacing is the
    fixed subnormal quantum; intervals across 2^emin or past max use
    :func:`~symsoftmax.rounding.round_array` on both ends.
    """
    d = fmt.float64_extra_bits
    half = np.int64(1 << (d - 1))
    i_lo = lo.view(np.int64)
    i_hi = hi.view(np.int64)
    cell_lo = (i_lo - half) >> d
    cell_hi = (i_hi - half) >> d
    ok = (cell_lo == cell_hi) & (((i_lo - half) & np.int64((1 << d) - 1)) != 0)
    value = ((cell_lo + 1) << d).view(np.float64)
    ok &= (lo >= fmt.tiny) & (hi <= fmt.max)
    subnormal = hi < fmt.tiny
    if subnormal.any():
        # fixed quantum q = 2^(emin − p + 1): breakpoints at (n + 1/2)·q; scaling is exact
        qe = fmt.quantum_exponent(fmt.emin)
        y_lo = np.ldexp(lo, -qe) - 0.5
        y_hi = np.ldexp(hi, -qe) - 0.5
        c_lo = np.floor(y_lo)
        sub_ok = (c_lo == np.floor(y_hi)) & (c_lo != y_lo)
        ok = np.where(subnormal, sub_ok, ok)
        value = np.where(subnormal, np.ldexp(c_lo + 1, qe), value)
    odd = ~ok & ~subnormal & ((lo < fmt.tiny) | (hi > fmt.max))
    if odd.any():  # intervals across 2^emin or beyond the largest value (few): exact rounding
        r_lo = round_array(lo[odd], fmt)
        r_hi = round_array(hi[odd], fmt)
        value[odd] = r_hi
        ok[odd] = (r_lo == r_hi) & ~np.isnan(r_hi)
    return value, ok


def _log_softmax_pairs(
    rows: Array,
    top: Array,
    temperature: float | None,
    big_l: Array,
    lam: Array,
    abs_l: float,
    retry: npt.NDArray[np.bool_],
    fmt: Format,
) -> _Settled:
    """log_softmax at the ``retry`` positions as the double-double t_j − L̂ (phase 1's L̂).

    t_j is exact (x_j − max by TwoSum, which cannot overflow for these narrower formats' values)
    or within 2^−100 (÷T); L̂ carries its relative bound λ
    and absolute allowance from phase 1.
    """
    x = rows[retry]
    l_hat = np.broadcast_to(big_l, rows.shape)[retry]
    lam_r = np.broadcast_to(lam, rows.shape)[retry]
    _, th, tl = _shifted_dd(x, temperature, np.broadcast_to(top, rows.shape)[retry])
    with np.errstate(over="ignore", invalid="ignore"):
        vh, vl = dd_add(th, tl, -l_hat, np.zeros_like(l_hat))
        err = (np.abs(th) * _shift_error(temperature) + l_hat * lam_r * 1.01 + abs_l) * 1.01
        # TwoSum of two doubles is exact: dd_add errs (≤ 3u²) only where t has a low part
        err += np.where(tl == 0, 0.0, 4 * _U * _U * np.abs(vh))
    value, ok = _settle_signed(vh, vl, err, fmt)
    return value, ok & np.isfinite(vh)


def _log_softmax_underflow(
    rows: Array,
    top: Array,
    temperature: float | None,
    retry: npt.NDArray[np.bool_],
    fmt: Format,
    shifts: tuple[Array, Array] | None = None,
) -> _Settled:
    """log_softmax where S′ underflowed in float64: 0 < L ≤ L_up = (K−1)·e^{t₂} (t₂: second
    largest shift), far below the spacing of t_j.

    With E = ⌊log2|t_j|⌋ and L_up < 2^(E−115): if t_j = th exactly (tl = 0), no breakpoint other
    than t_j lies within 2^(E−54) of it, so every t_j − L rounds like the centre
    th − 2^(E−116) of [th − 2^(E−115), th); if tl ≠ 0, t_j − L lies within 2^(E−115) of th + tl.
    The largest entry (t = 0): l = −L rounds to −0 when L_up is below half the smallest subnormal
    (2^underflow_exponent, :attr:`Format.underflow_threshold`).
    Rows whose float64 S′ is 0 or below 2^−900 with more than one finite entry only reach here
    (the bound needs no value of S′, only that it is positive). ``shifts``: the rows' (th, tl)
    from :func:`_shifted_dd` when the caller has them.
    """
    k = rows.shape[1]
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        th_all, tl_all = _shifted_dd(rows, temperature, top)[1:] if shifts is None else shifts
        t2 = _second_shift(th_all)[:, None]
        # log2 L_up ≤ log2 K + 1.44269·t₂ + 2 (1.44269 < log2 e and t₂ < 0)
        log2_up = math.log2(k) + 1.44269 * t2 + 2
        log2_up = np.broadcast_to(log2_up, rows.shape)[retry]
        two_finite = np.broadcast_to(np.isfinite(t2), rows.shape)[retry]  # else L = 0 exactly
        th, tl = th_all[retry], tl_all[retry]
        _, exponent = np.frexp(th)
        big_e = exponent.astype(np.float64) - 1
        unit = np.ldexp(1.0, (big_e - 116).astype(np.int64))
        far = (log2_up < big_e - 115) & (th != 0)
        centre_l = np.where(tl == 0, -unit, tl)
        # radius unit/2: [th − 1.5·unit, th − 0.5·unit] stays inside [th − 2^(E−115), th)
        # after _settle_scaled's own margins (×1.01)
        err = np.where(tl == 0, unit / 2, 2 * unit)
        value, ok = _settle_signed(th, centre_l, err, fmt)
        ok &= far & np.isfinite(th) & two_finite
        top_entry = (th == 0) & (log2_up < fmt.underflow_exponent) & two_finite
    return np.where(top_entry, -0.0, value), ok | top_entry


def _second_shift(th: Array) -> Array:
    """t₂ per row: the largest shift once one maximal entry (the first, th = 0) is removed;
    −inf when no other entry is usable."""
    others = th.copy()
    others[np.arange(th.shape[0]), np.argmax(th == 0.0, axis=1)] = -np.inf
    return row_max(others)


def _tiny_l(
    th: Array, tl: Array, temperature: float | None, fmt: Format, scale: float = 1.0
) -> _Settled:
    """scale·L rounded to ``fmt`` (a magnitude, ≥ +0), one value per row, for rows with a tiny
    S′ (< 2^−799): log_softmax's −L at the largest entry, logsumexp's T·L when the maximum is ±0.

    S′ = Σ_{j≠a} e^{t_j} (a: the first maximal entry) is summed in double-double scaled by 2^−M
    (M: the largest exponent m_j of e^{t_j} = 2^{m_j}·(mh_j + ml_j), j ≠ a), so terms far below
    2^−1000 keep their precision: :func:`_dd_partition`'s unscaled sum leaves them out, and
    could neither round a subnormal L nor tell it from ±0. Terms below 2^(M−1000) (and entries
    outside the exp range, below e^(−2^21)) are left out: each weighs < 2^−998 of the sum
    (≥ 0.99·2^M). Then L = log1p(S′) ∈ [S′(1 − S′/2), S′]: a relative error ≤ 2^−800 more.
    """
    k = th.shape[1]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        m, mh, ml, valid = _dd_exp(th, tl)
        use = valid.copy()
        use[np.arange(th.shape[0]), np.argmax(th == 0.0, axis=1)] = False
        big_m = row_max(np.where(use, m, np.int64(-(1 << 40))), keepdims=True)
        shift = m - big_m
        use &= shift >= -1000
        power = _power_of_two(np.where(use, shift, -1023))  # 2^(m − M), or 0 outside the sum
        sum_h, sum_l = dd_sum_last_axis(mh * power, ml * power)
        if scale != 1.0:  # T·S′: T ∈ [2^−900, 2^900], the sum ∈ [0.99, 2.01·K]
            sum_h, sum_l = dd_mul(sum_h, sum_l, np.full_like(sum_h, scale), np.zeros_like(sum_h))
        t_abs = np.where(np.isfinite(th), np.abs(th), 0.0)
        levels = max(1, math.ceil(math.log2(k)) + 1)
        eps = (
            1.05
            * (
                2 * EXP_RELATIVE_ERROR
                + (levels * 3 + 7) * _U * _U
                + k * 2.0**-997  # terms left out (< 2^−998 of the sum each), ml underflows
                + _shift_error(temperature) * t_abs.max(axis=1).clip(max=2.0**21)
            )
            + 2.0**-800
        )  # L = S′(1 − θ), 0 ≤ θ ≤ S′/2
        big_m = big_m[:, 0]
        # S′ < K·2.01·2^M: the log1p bound above needs S′ < 2^−799 (and M above the exp range's
        # floor, so that entries outside it are below 2^(M−1000))
        in_range = (big_m + math.log2(k) + 2 < -799) & (big_m > -3_000_000) & (sum_h > 0)
        magnitude, ok = _settle_scaled(big_m, sum_h, sum_l, eps, fmt)
    return magnitude, ok & in_range


def _settle_tiny_l(
    value: Array,
    ok: npt.NDArray[np.bool_],
    where: npt.NDArray[np.bool_],
    part: _LogPartition,
    temperature: float | None,
    fmt: Format,
    factor: float,
) -> None:
    """Settle the entries ``where`` (at most one per row, in rows with S′ < 2^−799) as
    factor·L by :func:`_tiny_l`, in place (−1 for log_softmax, T for logsumexp)."""
    row_of = np.nonzero(where)[0]
    rows = np.unique(row_of)
    magnitude, good = _tiny_l(part.th[rows], part.tl[rows], temperature, fmt, abs(factor))
    at = np.searchsorted(rows, row_of)
    value[where] = math.copysign(1.0, factor) * magnitude[at]
    ok[where] = good[at]


def _shifted_dd(
    rows: Array, temperature: float | None, top: Array | None = None
) -> tuple[Array, Array, Array]:
    """(max, th, tl): t = (x − max)/T as a double-double, −inf where unusable.

    Unusable: −inf entries, and finite entries whose x − max or (x − max)/T overflows float64;
    callers that need to tell the two apart test ``np.isfinite(rows)``.

    ``top`` (the maximum, broadcastable to rows) is computed per row unless given.
    """
    finite = np.isfinite(rows)
    all_finite = bool(finite.all())  # the usual case: no masking passes
    if top is None:
        top = row_max(rows if all_finite else np.where(finite, rows, -np.inf), keepdims=True)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        th, tl = _two_sum_by_chunks(rows, -top)  # exact unless it overflows
        if temperature is not None:
            # (th + tl)/T: q1 = th/T, remainder by TwoProd; relative error ≤ 2^−100
            q1 = th / temperature
            ph, pl = two_prod(q1, np.full_like(q1, temperature))
            q2 = ((th - ph) - pl + tl) / temperature
            th, tl = two_sum(q1, q2)
        usable = finite & np.isfinite(th) & np.isfinite(tl)
    if all_finite and usable.all():
        return top, th, tl
    return top, np.where(usable, th, -np.inf), np.where(usable, tl, 0.0)


def _two_sum_by_chunks(rows: Array, shift: Array) -> tuple[Array, Array]:
    """TwoSum(rows, shift) (shift broadcastable to rows), long 2-D rows chunk by chunk."""
    if rows.ndim != 2 or rows.shape[1] <= _CHUNK:
        return two_sum(rows, np.broadcast_to(shift, rows.shape))
    th, tl = scratch("shift_h", rows.shape), scratch("shift_l", rows.shape)
    for cols in _column_chunks(rows.shape[1]):
        part = rows[:, cols]
        th[:, cols], tl[:, cols] = two_sum(part, np.broadcast_to(shift, part.shape))
    return th, tl


class _Partition(NamedTuple):
    """e^t per entry as 2^m·(mh + ml) (``valid``: inside the exp range) and a row sum in
    double-double, sum_h + sum_l, from a pairwise sum of ``levels`` levels (error ≤ levels·3u²)."""

    m: npt.NDArray[np.int64]
    mh: Array
    ml: Array
    valid: npt.NDArray[np.bool_]
    sum_h: Array
    sum_l: Array
    levels: int


def _dd_partition(th: Array, tl: Array, *, without_top: bool, terms: bool = True) -> _Partition:
    """e^(th + tl) per entry and per row S = Σ e^t, or S′ = S − 1 without the first maximal entry.

    Terms below 2^−1000 (or outside the exp range: e^t < 2^−180000) leave the exact sum; each is
    bounded by _TINY, so the sum carries at most K·2^−1000 absolute error from them. The others
    enter as 2^m·mh (exact: normal results) + 2^m·ml (may underflow: ≤ 2^−1075 per term).
    Long rows' terms are computed by column chunks (:data:`_CHUNK`), then summed as one row.
    ``terms=False``: only the sum is wanted (m, mh, ml and valid are then empty).
    """
    n, k = th.shape
    levels = max(1, math.ceil(math.log2(k)) + 1)
    top_at = np.argmax(th == 0.0, axis=1) if without_top else None
    chunks = _column_chunks(k)
    if len(chunks) == 1:
        m, mh, ml, valid, scaled_h, scaled_l = _partition_chunk(th, tl, top_at)
        return _Partition(m, mh, ml, valid, *dd_sum_last_axis(scaled_h, scaled_l), levels)
    shape = (n, k) if terms else (n, 0)
    m = scratch("exp_m", shape, np.int64)
    mh, ml = scratch("exp_h", shape), scratch("exp_l", shape)
    valid = scratch("exp_valid", shape, np.bool_)
    scaled_h, scaled_l = scratch("terms_h", (n, k)), scratch("terms_l", (n, k))
    for cols in chunks:
        at = None if top_at is None else top_at - cols.start
        m_c, mh_c, ml_c, valid_c, scaled_h[:, cols], scaled_l[:, cols] = _partition_chunk(
            th[:, cols], tl[:, cols], at
        )
        if terms:
            m[:, cols], mh[:, cols], ml[:, cols], valid[:, cols] = m_c, mh_c, ml_c, valid_c
    return _Partition(m, mh, ml, valid, *dd_sum_last_axis(scaled_h, scaled_l), levels)


def _partition_chunk(
    th: Array, tl: Array, top_at: npt.NDArray[np.intp] | None
) -> tuple[npt.NDArray[np.int64], Array, Array, npt.NDArray[np.bool_], Array, Array]:
    """:func:`_dd_partition` on columns of the rows: the terms, and the terms of the sum
    (0 where left out). ``top_at``: each row's left-out column, in these columns' numbering."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        m, mh, ml, valid = _dd_exp(th, tl)
        in_sum = valid & (m >= -1000)
        if top_at is not None:
            here = (top_at >= 0) & (top_at < th.shape[1])
            in_sum[np.flatnonzero(here), top_at[here]] = False
        scale = _power_of_two(np.where(in_sum, m, -1023))  # 2^m, or 0 outside the sum
    return m, mh, ml, valid, mh * scale, ml * scale


def _column_chunks(k: int) -> list[slice]:
    """Slices of ≤ :data:`_CHUNK` columns covering a row of ``k`` entries."""
    return [slice(start, min(start + _CHUNK, k)) for start in range(0, k, _CHUNK)]


def _shift_error(temperature: float | None) -> float:
    """Relative error of t = (x − max)/T from :func:`_shifted_dd`: x − max is exact; ÷T 2^−100."""
    return 0.0 if temperature is None else 2.0**-100


class _LogPartition(NamedTuple):
    """Per row L = log1p(S′) ≈ lh + ll within err_l (absolute; decided where ``row_ok``), and
    the shifts t = th + tl (|t| as ``t_abs``, 0 where unusable, and a broadcast 0 without a
    temperature, where it weighs nothing) and maximum it comes from."""

    top: Array
    th: Array
    tl: Array
    t_abs: Array
    lh: Array
    ll: Array
    err_l: Array
    row_ok: npt.NDArray[np.bool_]
    s1h: Array


def _log_partition_dd(rows: Array, temperature: float | None) -> _LogPartition:
    """L = log1p(S′) per row in double-double (float64 targets), with an absolute error bound.

    S′ = Σ_{j≠a} e^{t_j} (a = first maximal entry) as for softmax, relative error σ. Then per
    row L = log1p(S′): for S′ ≤ 2^−20 by the series S′ − S′²/2 + S′³/3 − S′⁴/4 (truncation
    ≤ 2^−100·S′); otherwise y0 = log1p(S′h) in float64, δ = (1 + S′)·e^{−y0} − 1 in
    double-double, and L = y0 + log1p(δ) = y0 + δ − δ²/2 + O(δ³), with |δ| < 2^−35 checked,
    so |L̂ − L| ≤ 1.02·((σ + 2^−86 + 10u²)(1 + |δ|) + u|δ| + |δ|³). Rows with 0 < S′ < 2^−900
    (underflowed terms would weigh too much) are left to the next phase.
    """
    k = rows.shape[1]
    top, th, tl = _shifted_dd(rows, temperature)
    part = _dd_partition(th, tl, without_top=True, terms=False)
    s1h, s1l = part.sum_h, part.sum_l
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if temperature is None:  # |t| only weighs the error of ÷T
            t_abs = np.broadcast_to(np.zeros((th.shape[0], 1)), th.shape)
        else:
            t_abs = np.where(np.isfinite(th), np.abs(th), 0.0)
        sigma = 1.05 * (
            2 * EXP_RELATIVE_ERROR
            + part.levels * 3 * _U * _U
            + k * 2.0**-100
            + _shift_error(temperature) * row_max(t_abs).clip(max=2.0**21)
        )
        lh, ll, err_l = log1p_dd(s1h, s1l, sigma)
        # One finite entry: L = 0 exactly. Counted on x, not on t: an entry whose x − max
        # overflows has t = −inf here but still adds e^t > 0 to the sum (L is then tiny, not 0).
        finite = np.isfinite(rows)
        if k > 1 and finite.all():
            exact_l = np.zeros(rows.shape[0], dtype=bool)
        else:
            exact_l = row_sum(finite.astype(np.int64)) == 1
        row_ok = (np.isfinite(err_l) & (s1h >= 2.0**-900)) | exact_l
        lh = np.where(exact_l, 0.0, lh)
        ll = np.where(exact_l, 0.0, ll)
        err_l = np.where(exact_l, 0.0, err_l)
    return _LogPartition(top, th, tl, t_abs, lh, ll, err_l, row_ok, s1h)


def log1p_dd(s1h: Array, s1l: Array, sigma: Array) -> tuple[Array, Array, Array]:
    """L = log1p(S′) for S′ = s1h + s1l ≥ 0 with relative error σ, in double-double: (lh, ll,
    absolute error bound; inf where it is not found). Where S′ ≤ 2^−20 the series
    S′ − S′²/2 + S′³/3 − S′⁴/4, whose remainder is below S′⁵/5 < 2^−100·S′, so that the bound is
    S′(σ + 2^−99)·1.02; elsewhere :func:`_log1p_newton` (σ ≥ 30: most rows take the series)."""
    small = s1h <= 2.0**-20
    sq_h, sq_l = two_prod(s1h, s1h)
    sq_l = sq_l + 2 * s1h * s1l
    cube = sq_h * s1h
    tail = cube / 3 - cube * s1h / 4
    lh_s, ll_s = dd_add(s1h, s1l, -0.5 * sq_h, -0.5 * sq_l + tail)
    err_s = s1h * (sigma + 2.0**-99) * 1.02
    big = ~small
    lh_n, ll_n, err_n = np.zeros_like(s1h), np.zeros_like(s1h), np.full_like(s1h, np.inf)
    if big.all():
        lh_n, ll_n, err_n = _log1p_newton(s1h, s1l, sigma)
    elif big.any():
        lh_n[big], ll_n[big], err_n[big] = _log1p_newton(s1h[big], s1l[big], sigma[big])
    return (
        np.where(small, lh_s, lh_n),
        np.where(small, ll_s, ll_n),
        np.where(small, err_s, err_n),
    )


def _log1p_newton(s1h: Array, s1l: Array, sigma: Array) -> tuple[Array, Array, Array]:
    """L = log1p(S′) for S′ = s1h + s1l (relative error σ) as y0 + log1p(δ) (see
    :func:`_log_partition_dd`): (lh, ll, absolute error bound; inf where |δ| ≥ 2^−35)."""
    y0 = np.log1p(s1h)
    em, eh, el, _ = _dd_exp(-y0, np.zeros_like(y0))
    e_scale = _power_of_two(np.maximum(em, -1022))
    ph, pl = dd_add(np.ones_like(s1h), np.zeros_like(s1h), s1h, s1l)
    ph, pl = dd_mul(ph, pl, eh * e_scale, el * e_scale)
    delta = (ph - 1.0) + pl
    corr = delta - 0.5 * delta * delta
    lh, ll = two_sum(y0, corr)
    ad = np.abs(delta)
    err = 1.02 * ((sigma + 2.0**-86 + 10 * _U * _U) * (1 + ad) + _U * ad + ad**3)
    return lh, ll, np.where(ad < 2.0**-35, err, np.inf)


def _logsumexp_dd(rows: Array, fmt: Format, temperature: float | None) -> _Settled:
    """logsumexp = max + T·L in double-double (float64 targets), L by :func:`_log_partition_dd`."""
    part = _log_partition_dd(rows, temperature)
    lh = part.lh
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        t_ = 1.0 if temperature is None else temperature
        vh, vl = dd_mul(lh, part.ll, np.full_like(lh, t_), np.zeros_like(lh))
        vh, vl = dd_add(part.top[:, 0], np.zeros_like(lh), vh, vl)
        err = t_ * part.err_l * 1.01 + 10 * _U * _U * (np.abs(vh) + t_ * lh)
        value, ok = _settle_signed(vh, vl, err, fmt)
        ok &= part.row_ok & np.isfinite(vh)
        # S′ below the double-double's reach: 0 < L ≤ S′ ≤ l_up (terms left out of the sum
        # weigh ≤ 2^−1000 each), and S′ ≤ (K − 1)·e^{t₂} (t₂: the largest shift once one
        # maximal entry is removed; 1.44269 < log2 e, t₂ ≤ 0). Where T·L is below 2^−60·|max|,
        # far below half an ulp of max, max + T·L rounds to max itself, a format value.
        if ok.all():  # the usual case: no row left for the two routes below
            return value[:, None], ok[:, None]
        top = part.top[:, 0]
        k = rows.shape[1]
        l_up = part.s1h * 1.01 + k * _TINY
        t2 = _second_shift(part.th)
        log2_up = math.log2(max(k - 1, 1)) + 1.44269 * t2 + math.log2(t_) + 1
        _, top_exponent = np.frexp(top)
        below = (t_ * l_up * 2.0**60 < np.abs(top)) | (log2_up < top_exponent - 62)
        negligible = ~part.row_ok & below & np.isfinite(top) & (top != 0)
        value = np.where(negligible, top, value)
        ok |= negligible
        # max = ±0: the value is T·L itself, tiny (+0 when it rounds to zero: L > 0)
        zero_top = ~ok & (top == 0) & (part.s1h < 2.0**-800) & np.isfinite(t2)
        if zero_top.any():
            _settle_tiny_l(value, ok, zero_top, part, temperature, fmt, t_)
    return value[:, None], ok[:, None]


def _log_softmax_dd(rows: Array, fmt: Format, temperature: float | None) -> _Settled:
    """log_softmax l_j = t_j − L in double-double (float64 targets), L from
    :func:`_log_partition_dd`; rows whose S′ underflowed go to :func:`_log_softmax_underflow`."""
    part = _log_partition_dd(rows, temperature)
    th = part.th
    minus_lh, minus_ll = -part.lh[:, None], -part.ll[:, None]
    err_l = part.err_l[:, None]

    def settled(th: Array, tl: Array, t_abs: Array) -> _Settled:
        value, ok = _log_softmax_float64(th, tl, part, temperature, t_abs)
        if ok.all():
            return value, ok
        rest = ~ok  # the general routine: near breakpoints, tiny or non-finite values
        th, tl, t_abs = th[rest], tl[rest], np.broadcast_to(t_abs, rest.shape)[rest]
        at = np.broadcast_to(np.arange(rest.shape[0])[:, None], rest.shape)[rest]
        vh, vl = dd_add(th, tl, minus_lh[at, 0], minus_ll[at, 0])
        err = (err_l[at, 0] + t_abs * _shift_error(temperature)) * 1.01
        err += 5 * _U * _U * np.abs(vh)
        value[rest], ok[rest] = _settle_signed(vh, vl, err, fmt)
        return value, ok

    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        value, ok = _by_columns(settled, th, part.tl, part.t_abs)
        ok &= part.row_ok[:, None]
        # −inf entries give −inf. An entry whose x − max overflowed (|x − max| > max) also
        # rounds to −inf without a temperature (t − L < −max − ulp/2); with T, (x − max)/T may be
        # finite: left pending for the authority path.
        minus_inf = np.isneginf(rows)
        if temperature is None:
            minus_inf |= ~np.isfinite(th)
        value = np.where(minus_inf, -np.inf, value)
        ok = np.where(np.isfinite(th), ok, minus_inf)
        retry = ~ok & (part.s1h < 2.0**-900)[:, None]  # S′ below the double-double's reach
        if retry.any():
            value[retry], ok[retry] = _log_softmax_underflow(
                rows, part.top, temperature, retry, fmt, (th, part.tl)
            )
        # the largest entry, −L not flushed to −0 (e^t₂ ∈ [2^−1075, 2^−800]); no ties there
        top_left = ~ok & (th == 0) & (part.s1h < 2.0**-800)[:, None]
        if top_left.any():
            _settle_tiny_l(value, ok, top_left, part, temperature, fmt, -1.0)
        # t_j exactly a float64 rounding midpoint (exact as th + tl only without T)
        midpoint = ~ok & (part.tl != 0)
        if temperature is None and fmt.float64_extra_bits == 0 and midpoint.any():
            log2_up = math.log2(max(rows.shape[1] - 1, 1)) + 1.44269 * _second_shift(th) + 1
            log2_up = np.broadcast_to(log2_up[:, None], th.shape)[midpoint]
            value[midpoint], ok[midpoint] = _midpoint_minus_l(
                th[midpoint], part.tl[midpoint], log2_up
            )
    return value, ok


def _log_softmax_float64(
    th: Array, tl: Array, part: _LogPartition, temperature: float | None, t_abs: Array
) -> _Settled:
    """float64 l_j = (th + tl) − (lh + ll) where the bound decides, in few passes (the rest
    go to :func:`_settle_signed`).

    s + e = th − lh exactly (TwoSum); low = fl(e + fl(tl − ll)). With |tl| ≤ u|th| and
    |ll| ≤ u·lh (normalized double-doubles), |s + low − (t − L̂)| ≤ 2.01u²(|th| + lh + |s|).
    The margin E = 1.01·(err_L + |t|·2^−100 with T) + 4u²(|th| + lh + |s|) + 2^−1070 covers
    that, L̂'s own bound, the rounding of E and of low ± E (≤ u(|low| + E), |low| ≤
    u(|s| + |th| + lh)·(1 + u)) and subnormal roundings, so s + fl(low − E) ≤ l ≤
    s + fl(low + E). Rounding to nearest is monotone: where both sums round to one float64 X
    (IEEE 754-2019 §4.3.1), l rounds to X. A non-finite th gives NaN sums: not decided.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        lh, ll = part.lh[:, None], part.ll[:, None]
        s, low = two_sum(th, -lh)
        low += tl - ll
        size = np.abs(th)
        size += np.abs(s)
        size += lh
        margin = size * (4 * _U * _U)
        margin += part.err_l[:, None] * 1.01 + 2.0**-1070
        if temperature is not None:
            margin += t_abs * (_shift_error(temperature) * 1.01)
        high = low + margin
        low -= margin
        high += s
        low += s
    return high, high == low


def _midpoint_minus_l(th: Array, tl: Array, log2_up: Array) -> _Settled:
    """float64 l_j = t_j − L where t_j = th + tl (exact) is a rounding midpoint of float64 and
    0 < L ≤ 2^log2_up is far below its spacing.

    The double-double th + (tl − L) cannot hold L (tl is half an ulp of th, L maybe 2^−400 of
    it), and no error bound around t_j decides a value on a breakpoint; its sign does. L > 0
    strictly: entry j is finite and not the first maximal entry, so S′ ≥ e^{t_j} > 0. So
    t_j − L lies strictly below the midpoint t_j, and rounds to its lower neighbour (th if
    tl > 0, else th + 2·tl; t_j < 0, so the lower one is the larger in magnitude) as long as L
    stays below the distance to the next breakpoint below, (f₂ − f₀)/2 ≥ ulp(th)/2 for the
    neighbours f₀ < f₁ < t_j < f₂ (IEEE 754-2019 §4.3.1, round to nearest: the rounding is
    constant between consecutive midpoints). t_j is such a midpoint iff |tl| is half the spacing
    from th towards tl: ulp(th), or ulp(th)/2 where |th| is a power of two and tl points to 0.
    Narrower targets never get here: their midpoints have at most 25 significant bits, while
    t = th + tl with tl ≠ 0 needs more than 53.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        bits = th.view(np.int64)
        biased = (bits >> 52) & 0x7FF
        ulp = _power_of_two(np.maximum(biased - 1075, -1023))  # 2^(E−52); 0 if th is tiny
        toward_zero = np.signbit(th) != np.signbit(tl)
        halved = ((bits & np.int64(0x000FFFFFFFFFFFFF)) == 0) & toward_zero
        half_spacing = np.where(halved, 0.25, 0.5) * ulp
        midpoint = (np.abs(tl) == half_spacing) & (biased >= 4) & (th < 0)
        far = log2_up < (biased - 1023).astype(np.float64) - 56  # L < 2^(E−56) < ulp(th)/2
        value = np.where(tl > 0, th, th + 2 * tl)
    return value, midpoint & far


def _settle_signed(vh: Array, vl: Array, err: Array, fmt: Format) -> _Settled:
    """Round vh + vl (± err, absolute) to ``fmt`` when the bound decides, sign included.

    float64 targets first try :func:`_settle_at_high` (a few passes: vh itself is the answer
    for nearly every entry of a long row); the general routine takes only what it leaves.
    """
    if fmt.float64_extra_bits == 0 and vh.size:
        value, ok = _settle_at_high(vh, vl, err)
        if not ok.all():
            rest = ~ok
            value[rest], ok[rest] = _settle_signed_general(vh[rest], vl[rest], err[rest], fmt)
        return value, ok
    return _settle_signed_general(vh, vl, err, fmt)


def _settle_at_high(vh: Array, vl: Array, err: Array) -> _Settled:
    """float64 rounding of v ∈ [vh + vl − err, vh + vl + err] where it is vh itself.

    For normal vh (|vh| ≥ 2^−1021) the breakpoints nearest vh are vh ± half its spacing, and
    only a quarter of it on the side towards zero when |vh| is a power of two (the spacing
    halves below it; IEEE 754-2019 §4.3.1). The interval lies strictly between them iff
    a + err < room away from zero and err − a < room towards zero, a = vl·sign(vh); both
    sides are evaluated with a 2^−40 relative margin on the sums, far above their rounding.
    Elsewhere (zeros, subnormals, non-finite values) ``ok`` is False.
    """
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        bits = vh.view(np.int64)
        magnitude_bits = bits & np.int64(0x7FFFFFFFFFFFFFFF)
        binade = (bits & np.int64(0x7FF0000000000000)).view(np.float64)  # 2^⌊log2|vh|⌋
        half = binade * 2.0**-53
        power_of_two = (bits & np.int64(0x000FFFFFFFFFFFFF)) == 0
        away = np.where(vh < 0, -vl, vl)  # the low part, positive away from zero
        margin = 1 + 2.0**-40
        ok = (away + err) * margin < half
        ok &= (err - away) * margin < np.where(power_of_two, 0.5 * half, half)
        ok &= (magnitude_bits >= np.int64(0x0020000000000000)) & (
            magnitude_bits < np.int64(0x7FF0000000000000)
        )
    return vh.copy(), ok


def _settle_signed_general(vh: Array, vl: Array, err: Array, fmt: Format) -> _Settled:
    """:func:`_settle_signed` by :func:`_settle_scaled` on the magnitude (any format)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        negative = vh < 0
        ah = np.abs(vh)
        al = np.where(negative, -vl, vl)
        eps = np.where(ah > 0, err / ah * (1 + 2.0**-40), np.inf)
        ok0 = (ah == 0) & (err == 0) & (vl == 0)
        magnitude, ok = _settle_scaled(np.zeros(ah.shape, dtype=np.int64), ah, al, eps, fmt)
        ok &= np.isfinite(eps) & (eps < 2.0**-20)
    value = np.where(negative, -magnitude, magnitude)
    return np.where(ok0, 0.0, value), ok | ok0


def _softmax_dd(rows: Array, fmt: Format, temperature: float | None) -> _Settled:
    """softmax in double-double, kept as 2^m·(qh + ql) so tiny outputs keep their precision.

    S ≥ 1 carries a relative error ≤ K·2^−1000 from the terms left out of its exact sum.
    """
    k = rows.shape[1]
    _top, th, tl = _shifted_dd(rows, temperature)
    part = _dd_partition(th, tl, without_top=False)
    one = np.ones_like(part.sum_h)
    inv_h, inv_l = dd_div(one, np.zeros_like(one), part.sum_h, part.sum_l)  # 1/S per row
    eps = 1.05 * (
        2 * EXP_RELATIVE_ERROR + (part.levels * 3 + 32 + 7 + 10) * _U * _U + k * 2.0**-999
    )

    def outputs(
        m: npt.NDArray[np.int64], mh: Array, ml: Array, valid: npt.NDArray[np.bool_]
    ) -> _Settled:
        if fmt.float64_extra_bits == 0:
            value, ok = _softmax_float64(m, mh, ml, inv_h[:, None], inv_l[:, None], eps)
            rest = ~ok & valid  # the general routine: near breakpoints, tiny outputs
            if rest.any():
                at = np.broadcast_to(np.arange(m.shape[0])[:, None], m.shape)[rest]
                qh, ql = dd_mul(mh[rest], ml[rest], inv_h[at], inv_l[at])
                value[rest], ok[rest] = _settle_float64(m[rest], qh, ql, eps)
        else:
            qh, ql = dd_mul(mh, ml, inv_h[:, None], inv_l[:, None])
            value, ok = _settle_scaled(m, qh, ql, eps, fmt)
        # entries outside the exp range (e^t < 2^−180000) and −inf entries are 0 (+0)
        zero = ~valid
        return np.where(zero, 0.0, value), ok | zero

    return _by_columns(outputs, part.m, part.mh, part.ml, part.valid)


def _softmax_float64(
    m: npt.NDArray[np.int64], mh: Array, ml: Array, inv_h: Array, inv_l: Array, eps: float
) -> _Settled:
    """float64 s = 2^m·(mh + ml)·(1/S) where the bound decides, in few passes (the rest go
    to :func:`_settle_float64`; entries outside the exp range come out decided as +0).

    (ph, pl) are dd_mul's operations in its order without its final FastTwoSum (exact), so
    ph + pl is its value, within ε of Q = s/2^m, and |pl| ≤ 3.1u·ph. With
    E = ph·(1.01ε + 2^−100) (covering ε·Q ≤ ε·ph(1 + 4u), the rounding of E and of pl ± E,
    below 2^−103·ph), ph + fl(pl − E) ≤ Q ≤ ph + fl(pl + E); rounding to nearest is
    monotone, so where both sums round to one float64 X, Q rounds to X (IEEE 754-2019 §4.3.1),
    and s to 2^m·X while 2^m·X stays normal: m ≥ −900, Q ≥ 0.49/K.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        i_hi, i_lo = _split(inv_h)  # Dekker's halves of 1/S, once per row (as two_prod's)
        ph = mh * inv_h
        m_hi, m_lo = _split(mh)
        pl = m_hi * i_hi
        pl -= ph
        pl += m_hi * i_lo
        pl += m_lo * i_hi
        pl += m_lo * i_lo
        cross = mh * inv_l
        cross += ml * inv_h
        pl += cross
        margin = ph * (1.01 * eps + 2.0**-100)
        high = pl + margin
        pl -= margin
        high += ph
        pl += ph
        ok = (high == pl) & (m >= -900)
        high *= _power_of_two(np.maximum(m, -900))
    return high, ok


def _by_columns(func: Callable[..., _Settled], *columns: npt.NDArray[Any]) -> _Settled:
    """func(*columns) (elementwise (value, ok) of (n, K) arrays), long rows chunk by chunk."""
    chunks = _column_chunks(columns[0].shape[1])
    if len(chunks) == 1:
        return func(*columns)
    value = np.empty(columns[0].shape)
    ok = np.empty(columns[0].shape, dtype=bool)
    for cols in chunks:
        value[:, cols], ok[:, cols] = func(*(c[:, cols] for c in columns))
    return value, ok


_DOUBLE_DOUBLE = {  # phase 2, per op of FAST_OPS
    "softmax": _softmax_dd,
    "log_softmax": _log_softmax_dd,
    "logsumexp": _logsumexp_dd,
}


def _power_of_two(m: npt.NDArray[np.int64]) -> Array:
    """2^m for integers m ≥ −1022 built from the bit pattern; 0 for m = −1023."""
    return ((m + 1023) << 52).view(np.float64)


def _settle_float64(m: npt.NDArray[np.int64], qh: Array, ql: Array, eps: float) -> _Settled:
    """:func:`_settle_scaled` for float64 targets with a normal result 2^m·qh.

    qh = fl(qh + ql) (a normalized double-double), so the correctly rounded value is
    2^m·qh exactly when |ql| + ε·qh stays below half the spacing at qh — a quarter of it below
    a power of two, where the spacing halves. Results below 2^−1020 go to the general routine.
    """
    with np.errstate(invalid="ignore", under="ignore", over="ignore"):
        bits = qh.view(np.int64)
        binade = (bits & np.int64(0x7FF0000000000000)).view(np.float64)  # 2^⌊log2 qh⌋
        half_spacing = binade * 2.0**-53
        power_of_two = (bits & np.int64(0x000FFFFFFFFFFFFF)) == 0
        room = np.where(power_of_two & (ql < 0), half_spacing * 0.5, half_spacing)
        ok = (np.abs(ql) + eps * 1.01 * qh < room) & (qh > 0)
        normal = m + ((bits >> 52) & 0x7FF) - 1023 >= -1021  # 2^m·qh ≥ 2^−1021: normal
        value = qh * _power_of_two(np.where(normal, m, 0))
    if not normal.all():
        odd = ~normal
        value[odd], ok[odd] = _settle_scaled(m[odd], qh[odd], ql[odd], eps, FORMATS["float64"])
    return value, ok & np.isfinite(qh)


def _settle_scaled(
    m: npt.NDArray[np.int64], qh: Array, ql: Array, eps: float | Array, fmt: Format
) -> _Settled:
    """Round v = 2^m·(qh + ql) > 0, known to relative error ε, to ``fmt`` if the bound decides.

    With E = ⌊log2 v⌋ (from qh) and quantum 2^qe, qe = max(E, emin) − p + 1, y = v/2^qe is
    formed exactly as a double-double; n is the integer nearest yh + yl and f = (yh − n) + yl
    (kept unevaluated). The result is n·2^qe when [f − r, f + r] (r = ε·y) avoids the rounding
    breakpoints: +1/2 above, −1/2 below — or −1/4 when n·2^qe is a power of two above the
    subnormal range (the spacing halves below it).
    """
    p, emin = fmt.precision, fmt.emin
    with np.errstate(invalid="ignore", under="ignore", over="ignore"):
        _, e_hi = np.frexp(qh)
        big_e = e_hi.astype(np.int64) - 1 + m
        qe = fmt.quantum_exponent_array(big_e)
        shift = np.clip(m - qe, -2000, 2000)
        yh = np.ldexp(qh, shift)
        yl = np.ldexp(ql, shift)
        n = np.rint(yh)
        f_h = yh - n  # exact; the fraction is f_h + yl, kept unevaluated
        # rint breaks a tie in yh to even whatever yl says: move to the integer nearest yh + yl
        step = np.where((f_h == 0.5) & (yl > 0), 1.0, np.where((f_h == -0.5) & (yl < 0), -1.0, 0.0))
        n += step
        f_h -= step
        r = eps * (np.abs(yh) + np.abs(yl)) * 1.01 + 2.0**-1000
        lower = np.where((n == 2.0 ** (p - 1)) & (big_e > emin), -0.25, -0.5)
        # f_h + yl − r > lower and f_h + yl + r < 1/2, decided without losing yl: the gaps
        # f_h − lower and 1/2 − f_h are exact, and either 0 (compare yl with r exactly) or at
        # least ulp(yh), where one rounding of gap ± yl is covered by the 2^−50 on r
        gap_lo = f_h - lower
        gap_hi = 0.5 - f_h
        wide = r * (1 + 2.0**-50)
        ok_lo = np.where(gap_lo == 0, yl > r, gap_lo + yl > wide)
        ok_hi = np.where(gap_hi == 0, -yl > r, gap_hi - yl > wide)
        ok = ok_lo & ok_hi & (qh > 0)
        value = np.ldexp(n, np.clip(qe, -1100, 1100))
        value = np.where(value > fmt.max, fmt.overflow_value(False), value)
    return value, ok & np.isfinite(qh)
