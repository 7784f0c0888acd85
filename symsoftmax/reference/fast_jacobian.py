"""Fast path of the softmax Jacobian: J_ij = σ_i(δ_ij − σ_j), vectorized in double-double.

The two-phase design of :mod:`symsoftmax.reference.fast` (Sibidanov, Zimmermann & Glondu, "The
CORE-MATH project", ARITH 2022): each entry is evaluated with a proven relative error bound ε;
where every real within it rounds to one value of the format, that value is the correctly
rounded result, and the other entries stay pending for the authority
(:mod:`symsoftmax.reference.engine`, Ziv's loop on mpmath balls).

Per row (the Jacobian takes no temperature, sink or soft-cap: :mod:`symsoftmax.ops`), with
t = x − max exact by TwoSum and a the first maximal entry (t_a = 0):

* e_j = e^{t_j} = 2^{m_j}·(mh_j + ml_j) by
  :func:`~symsoftmax.reference.double_double.dd_exp_scaled`, relative error ≤ ε_e = 2^−86
  (``EXP_RELATIVE_ERROR``);
* S′ = Σ_{j≠a} e_j = 2^M·(s′h + s′l), summed pairwise in double-double scaled by 2^−M
  (M: the largest m_j, j ≠ a), so a tiny S′ keeps its relative precision; terms below 2^(M−1000)
  (and entries outside the exp range, e^t < e^(−2^21), where M > −3·10^6) are left out, each
  < 2^−998 of the sum: ε_S′ ≤ ε_e + 3u²·levels + K·2^−997 (u = 2^−53; Joldes, Muller &
  Popescu, ACM TOMS 44(2) 2017: 3u² per double-double addition of nonnegative terms);
* S = 1 + S′ (dd_add, 3u²; S′ below 2^−1074 lost: ≤ 2^−1000 relative, S ≥ 1):
  ε_S ≤ ε_S′ + 3u² + 2^−1000; 1/S by dd_div (32u²): ε_inv ≤ 1.01·ε_S + 32u²;
* σ_j = 2^{m_j}·q_j, q_j = (mh_j + ml_j)·(1/S) (dd_mul, 7u²): ε_q ≤ ε_e + ε_inv + 7u²;
* off the diagonal −σ_iσ_j = −2^{m_i+m_j}·q_i·q_j: ε ≤ 2ε_q + 7u²;
* on the diagonal σ_i(1 − σ_i) = σ_i·S_{−i}/S, S_{−i} = Σ_{k≠i} e_k, without cancellation
  (as the engine does): for i = a, S_{−a} = S′ (kept scaled by 2^M): ε ≤ ε_q + ε_S′ + ε_inv
  + 14u²; for i ≠ a, e_i ≤ e_a = 1 ≤ S − e_i, so S_{−i} = S − e_i ≥ S/2 has no cancellation:
  |error| ≤ ε_S·S + ε_e·S/2 + 2^−999 (e_i left out below 2^−998) gives ε ≤ 2ε_S + ε_e
  + 2^−995 + 3u², and the entry ε_q + that + ε_inv + 14u².

The bound used is 1.05 times the largest of these (the factor covers the products of two
ε's, ≤ 2^−160). Rounding decisions are those of :func:`~symsoftmax.reference.fast._settle_float64`
(float64) and :func:`~symsoftmax.reference.fast._settle_scaled` (any format), on the scaled
double-double 2^m·(qh + ql), so subnormal and underflowing products are decided like normal
ones. Signed zeros as the engine gives them (docs/reference.md): an off-diagonal product
that rounds to zero is −0 (the value is negative), a diagonal one +0; an entry whose row or
column is a −inf (masked) entry is +0 (σ = 0 exactly: the engine's exact value 0); a finite
entry outside the exp range (t < −2^21, or x − max overflowing float64) has σ > 0 below any
subnormal, so its off-diagonal entries are −0 and its diagonal +0. Rows with NaN or ±inf
entries follow :func:`~symsoftmax.reference.fast._settle_specials` (NaN everywhere for a NaN
entry or an all −inf row; +inf entries: the limit row). A row with one finite entry has
J = 0 exactly (+0).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.reference.double_double import (
    EXP_RELATIVE_ERROR,
    _split,
    dd_add,
    dd_div,
    dd_mul,
    dd_sum_last_axis,
)
from symsoftmax.reference.double_double import dd_exp_scaled as _dd_exp
from symsoftmax.reference.fast import (
    _power_of_two,
    _settle_float64,
    _settle_relative,
    _settle_scaled,
    _settle_specials,
    _shifted_dd,
)
from symsoftmax.reference.short_rows import row_all, row_max

__all__ = ["error_bound", "settle"]

Array = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]
_U2 = 2.0**-106  # u², u = 2^−53
_BLOCK_ELEMENTS = 1 << 14  # outputs per pass: the temporaries stay in cache
_NO_TERM = -(1 << 40)  # M of a row with no term in S′
_LOWEST_M = -3_000_000  # below it, entries outside the exp range would not be negligible
_U = 2.0**-53
# Rows whose factors are all ≥ 2^−441 (and K ≤ 2^20) take the unscaled route: every product
# is then ≥ 2^−940, where Dekker's product is exact and no part of a double-double underflows.
_SIMPLE_M = -440
_SIMPLE_K = 1 << 20


def error_bound(k: int) -> float:
    """Relative error bound ε of every Jacobian entry of a row of K = ``k`` entries (module
    docstring)."""
    levels = max(1, math.ceil(math.log2(max(k, 1))) + 1)
    eps_e = EXP_RELATIVE_ERROR
    eps_s1 = eps_e + 3 * levels * _U2 + k * 2.0**-997
    eps_s = eps_s1 + 3 * _U2 + 2.0**-1000
    eps_inv = 1.01 * eps_s + 32 * _U2
    eps_q = eps_e + eps_inv + 7 * _U2
    off = 2 * eps_q + 7 * _U2
    diag_top = eps_q + eps_s1 + eps_inv + 14 * _U2
    diag = eps_q + (2 * eps_s + eps_e + 2.0**-995 + 3 * _U2) + eps_inv + 14 * _U2
    return 1.05 * max(off, diag_top, diag)


def settle(problem: Any, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]) -> None:
    """Fill ``out`` (rows of K² entries, J in C order) and clear ``pending`` wherever the
    bound decides the rounding."""
    if problem.temperature is not None or getattr(problem, "softcap", None) is not None:
        return  # not the Jacobian's options (the op table gives it none): leave all pending
    if getattr(problem, "sink", None) is not None:
        return
    rows = problem.rows
    if row_all(np.isfinite(rows)).all():
        eligible = np.arange(rows.shape[0])
    else:
        rows, eligible = _settle_specials("jacobian", rows, out, pending)
    k = rows.shape[1]
    if eligible.size == 0 or k == 0:
        return
    eps = error_bound(k)
    per_block = max(1, _BLOCK_ELEMENTS // (k * k))
    for start in range(0, eligible.size, per_block):
        index = eligible[start : start + per_block]
        factors = _factors(rows[index])
        step = max(1, _BLOCK_ELEMENTS // (index.size * k))  # rows of J per pass
        for i0 in range(0, k, step):
            i1 = min(k, i0 + step)
            value, ok = _entries(factors, i0, i1, eps, problem.fmt)
            _store(out, pending, index, i0 * k, i1 * k, value, ok)


class _Factors(NamedTuple):
    """Per entry of each row: σ_j = 2^m·(qh + ql); the diagonal's second factor
    S_{−j}/S = 2^mr·(rh + rl); which entries are −inf (masked) and which have σ below every
    subnormal (``tiny``: outside the exp range, or +0 diagonal of a row whose S′ is negligible)."""

    m: _Ints
    qh: Array
    ql: Array
    mr: _Ints
    rh: Array
    rl: Array
    masked: npt.NDArray[np.bool_]
    tiny: npt.NDArray[np.bool_]
    zero_diagonal: npt.NDArray[np.bool_]
    simple: bool  # every entry usable and ≥ 2^−441: the unscaled route (_simple_entries)


def _factors(rows: Array) -> _Factors:
    """σ and S_{−j}/S of rows without NaN or +inf and with a finite entry (module docstring)."""
    n, k = rows.shape
    masked = ~np.isfinite(rows)
    _top, th, tl = _shifted_dd(rows, None)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        m, mh, ml, valid = _dd_exp(th, tl)
        first = (np.arange(n), np.argmax(th == 0.0, axis=1))
        use = valid.copy()
        use[first] = False
        big_m = row_max(np.where(use, m, np.int64(_NO_TERM)), keepdims=True)
        use &= (m - big_m >= -1000) & (big_m > _LOWEST_M)
        power = _power_of_two(np.where(use, m - big_m, -1023))  # 2^(m − M), or 0: left out
        # zeros pad the terms to a power of two (exact; the same ⌈log2 K⌉ levels), so that no
        # level of the pairwise sum pads again
        width = 1 << max(0, (k - 1).bit_length())
        terms_h, terms_l = np.zeros((n, width)), np.zeros((n, width))
        np.multiply(mh, power, out=terms_h[:, :k])
        np.multiply(ml, power, out=terms_l[:, :k])
        s1h, s1l = dd_sum_last_axis(terms_h, terms_l)  # S′ = 2^M·(s1h + s1l)
        big_m = big_m[:, 0]
        at = np.clip(big_m, -1100, 0)
        one, zero = np.ones(n), np.zeros(n)
        sh, sl = dd_add(one, zero, np.ldexp(s1h, at), np.ldexp(s1l, at))  # S = 1 + S′
        inv_h, inv_l = dd_div(one, zero, sh, sl)
        inv_h, inv_l = inv_h[:, None], inv_l[:, None]
        qh, ql = dd_mul(mh, ml, inv_h, inv_l)
        # S − e_j for j ≠ a: e_j unscaled (exact for m ≥ −1000; left out below)
        scale = _power_of_two(np.where(valid & (m >= -1000), np.maximum(m, -1022), -1023))
        ch, cl = dd_add(sh[:, None], sl[:, None], -mh * scale, -ml * scale)
        rh, rl = dd_mul(ch, cl, inv_h, inv_l)
        mr = np.zeros((n, k), dtype=np.int64)
        # j = a: S_{−a} = S′ itself, kept scaled by 2^M
        rh[first], rl[first] = dd_mul(s1h, s1l, inv_h[:, 0], inv_l[:, 0])
        mr[first] = np.where(s1h > 0, big_m, 0)
    # S′ = 0 in the sum: one finite entry (J = 0 exactly), or every other term below
    # e^(−2^21) or 2^(−3·10^6) (J_aa ≤ S′ < K·2^(−2999999)): +0 either way
    zero_diagonal = np.zeros((n, k), dtype=bool)
    zero_diagonal[first] = s1h == 0
    simple = bool(
        k <= _SIMPLE_K
        and valid.all()
        and (s1h > 0).all()
        and m.min() >= _SIMPLE_M
        and mr.min() >= _SIMPLE_M
    )
    return _Factors(m, qh, ql, mr, rh, rl, masked, ~valid & ~masked, zero_diagonal, simple)


def _entries(
    f: _Factors, i0: int, i1: int, eps: float, fmt: Format
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """J[:, i0:i1, :] of the rows of ``f``: (values, decided), shape (n, i1 − i0, K)."""
    if f.simple:
        return _simple_entries(f, i0, i1, eps, fmt)
    rows_i = slice(i0, i1)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        ph, pl = dd_mul(f.qh[:, rows_i, None], f.ql[:, rows_i, None], f.qh[:, None], f.ql[:, None])
        m = f.m[:, rows_i, None] + f.m[:, None, :]
        # the diagonal of this slab: σ_i·(S_{−i}/S)
        d = np.arange(i0, i1)
        local = d - i0
        dh, dl = dd_mul(f.qh[:, d], f.ql[:, d], f.rh[:, d], f.rl[:, d])
        ph[:, local, d], pl[:, local, d] = dh, dl
        m[:, local, d] = f.m[:, d] + f.mr[:, d]
        if fmt.float64_extra_bits == 0:
            magnitude, ok = _settle_float64(m, ph, pl, eps)
        else:
            magnitude, ok = _settle_scaled(m, ph, pl, eps, fmt)
    value = -magnitude
    value[:, local, d] = magnitude[:, local, d]
    # exact zeros: −inf rows/columns (+0), σ below every subnormal (−0 off, +0 on the diagonal)
    masked = f.masked[:, rows_i, None] | f.masked[:, None, :]
    tiny = (f.tiny[:, rows_i, None] | f.tiny[:, None, :]) & ~masked
    value[tiny] = -0.0
    ok |= tiny
    diagonal_zero = f.masked[:, d] | f.tiny[:, d] | f.zero_diagonal[:, d]
    masked[:, local, d] |= diagonal_zero
    value[masked] = 0.0
    ok |= masked
    return value, ok


def _simple_entries(
    f: _Factors, i0: int, i1: int, eps: float, fmt: Format
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """:func:`_entries` of rows whose factors are all ≥ 2^−441 (no −inf entry, none outside
    the exp range): σ = σh + σl = 2^m·(qh + ql) unscaled exactly, every product ≥ 2^−940.

    float64: (ph, pl) are dd_mul's operations in its order (Dekker's TwoProd, the factors
    split once per entry, then pl + (σh_i·σl_j + σl_i·σh_j)), without its final FastTwoSum
    (exact): the same real value, within ε of J, and |pl| ≤ 3.1u·ph. With
    E = ph·(1.02ε + 2^−100) (covering ε·J ≤ ε·ph·(1 + 2^−50) and the rounding of pl ± E, below
    2^−103·ph), ph + fl(pl − E) ≤ J ≤ ph + fl(pl + E); rounding to nearest is monotone, so where
    both sums round to the same float64 X (each a correctly rounded addition, IEEE 754-2019
    §4.3.1, §5.4.1), J rounds to X. Narrower formats: the float64 product v̂ = fl(σh_i·σh_j)
    (dropping the low parts costs ≤ u each, the product u: relative error ≤ ε + 3u) decides on
    bit patterns (:func:`~symsoftmax.reference.fast._settle_relative`); the few entries that
    leaves go through dd_mul and :func:`~symsoftmax.reference.fast._settle_scaled`.
    """
    d = np.arange(i0, i1)
    local = d - i0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        scale = _power_of_two(f.m)  # exact: m ≥ −440
        sh, sl = f.qh * scale, f.ql * scale
        rscale = _power_of_two(f.mr[:, d])
        # the diagonal: σ_i·(S_{−i}/S)
        dh, dl = dd_mul(sh[:, d], sl[:, d], f.rh[:, d] * rscale, f.rl[:, d] * rscale)
        a_h, b_h = sh[:, i0:i1, None], sh[:, None, :]
        ph = a_h * b_h
        if fmt.float64_extra_bits > 0:
            ph[:, local, d] = dh
            magnitude, ok = _settle_relative(ph, np.array(1.01 * (eps + 3 * _U)), fmt)
            if not ok.all():
                rest = ~ok
                m = f.m[:, i0:i1, None] + f.m[:, None, :]
                m[:, local, d] = f.m[:, d] + f.mr[:, d]
                shape = ph.shape
                qh_j = np.broadcast_to(f.qh[:, None, :], shape).copy()
                ql_j = np.broadcast_to(f.ql[:, None, :], shape).copy()
                qh_j[:, local, d], ql_j[:, local, d] = f.rh[:, d], f.rl[:, d]
                qh2, ql2 = dd_mul(
                    np.broadcast_to(f.qh[:, i0:i1, None], shape)[rest],
                    np.broadcast_to(f.ql[:, i0:i1, None], shape)[rest],
                    qh_j[rest],
                    ql_j[rest],
                )
                magnitude[rest], ok[rest] = _settle_scaled(m[rest], qh2, ql2, eps, fmt)
        else:
            hi, lo = _split(sh)
            a_hi, a_lo = hi[:, i0:i1, None], lo[:, i0:i1, None]
            b_hi, b_lo = hi[:, None, :], lo[:, None, :]
            pl = a_hi * b_hi
            pl -= ph
            pl += a_hi * b_lo
            pl += a_lo * b_hi
            pl += a_lo * b_lo
            cross = a_h * sl[:, None, :]
            cross += sl[:, i0:i1, None] * b_h
            pl += cross
            ph[:, local, d], pl[:, local, d] = dh, dl
            margin = ph * (1.02 * eps + 2.0**-100)
            high = pl + margin
            pl -= margin
            high += ph
            pl += ph
            ok = high == pl
            magnitude = high
    value = -magnitude
    value[:, local, d] = magnitude[:, local, d]
    return value, ok


def _store(
    out: npt.NDArray[Any],
    pending: npt.NDArray[np.bool_],
    index: npt.NDArray[np.intp],
    c0: int,
    c1: int,
    value: Array,
    ok: npt.NDArray[np.bool_],
) -> None:
    """Write the decided values of columns c0:c1 of the rows ``index``, where still pending."""
    shape = (index.size, c1 - c0)
    value, ok = value.reshape(shape), ok.reshape(shape)
    if index[-1] - index[0] + 1 == index.size:  # contiguous rows: work on views
        rows = slice(int(index[0]), int(index[-1]) + 1)
        sub_pending = pending[rows, c0:c1]
        if ok.all() and sub_pending.all():  # the usual case: one plain copy
            out[rows, c0:c1] = value
            sub_pending[...] = False
            return
        take = ok & sub_pending
        np.copyto(out[rows, c0:c1], value, where=take)
        sub_pending &= ~take
        return
    sub_pending = pending[index, c0:c1]
    take = ok & sub_pending
    sub_out = out[index, c0:c1]
    sub_out[take] = value[take]
    out[index, c0:c1] = sub_out
    pending[index, c0:c1] = sub_pending & ~take
