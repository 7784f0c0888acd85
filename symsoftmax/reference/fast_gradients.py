"""Fast path for the derivative ops: softmax_vjp, log_softmax_vjp, cross_entropy(_grad).

The design of :mod:`symsoftmax.reference.fast` (CORE-MATH's two phases, Sibidanov, Zimmermann &
Glondu, ARITH 2022): a vectorized double-double evaluation with a proven bound on its absolute
error; an output whose whole interval rounds to one value of the format is settled, every other
stays pending for the authority (:mod:`symsoftmax.reference.engine`). The definitions are the
engine's (docs/reference.md), on the finite entries F of a row z, a its first maximal entry,
t_j = z_j − max, e_j = e^{t_j}, S = Σ_F e_j, S′ = S − e_a, s_j = e_j/S (0 off F):

* softmax_vjp    dz_i = s_i·d_i,  d_i = g_i − ḡ,  ḡ = Σ_F s_j g_j;
* log_softmax_vjp  dz_i = g_i − Γ·s_i, Γ = Σ_j g_j over every entry; cross_entropy_grad is its
  negation with y for g (Γ s − y);
* cross_entropy  Γ_y·L − Σ_F y_j t_j, Γ_y = Σ_F y_j, L = log S; an entry off F with y_j ≠ 0
  makes it ±inf (NaN for both signs).

A sink s is one more entry [z, s] with g_s = 0 (its own output dropped), as in the engine:
:func:`symsoftmax.reference._settle_fast` passes such extended rows. Rows with a soft-cap
(another module's) or a temperature (these ops take none) are left alone; for capped rows
:mod:`symsoftmax.reference.fast_softcap_gradients` calls the VJPs below with a :class:`Chain`
(its shifts, a bound on their effect on s, and the chain factor sech² applied before rounding).

Error bounds (u = 2^−53; double-double operators of Joldes, Muller & Popescu, ACM TOMS 44(2),
2017: + 3u², × 7u², ÷ 32u² relative; exp by :func:`~symsoftmax.reference.double_double.
dd_exp_scaled` within ε_e = 2^−86 for any t̂ = th + tl ∈ [−2^21, 0] with |tl| ≤ ulp(th)/2, as
TwoSum's and DWPlusDW's low words are: its reduction adds tl exactly, so no term for tl, whose
½ulp(th) reaches 2^−32). All are absolute and built from the computed terms, so
cancellation (g_i ≈ ḡ, g_i ≈ Γ s_i) only widens the interval, and the output stays pending;
an interval is decided only if it excludes 0 (relative radius < 2^−20) and rounds to one value:

* t_j = z_j − max is exact (TwoSum) unless it overflows; entries with t_j < −2^21 or an
  overflowed shift are "far": e_j < 2^−3025000. S = Σ e_j ≥ 1 leaves out terms below 2^−1000
  (≤ 2^−999 each): relative error σ_S ≤ 1.05·(ε_e + 3λu² + K·2^−999), λ = ⌈log2 K⌉ + 1 bounding
  the levels of the pairwise sums. A pairwise sum of terms of both signs errs by at most
  3u²·Σ|T_j| per level (each level's partial sums are bounded by Σ|T_j|; Higham, "Accuracy
  and Stability of Numerical Algorithms", 2nd ed., §4.2); a sum of plain doubles is exact on
  its first level (TwoSum).
* Weighted sums Σ e_j·w_j are kept as 2^M·(nh + nl), M the largest exponent of a term of
  nonzero weight (:func:`_weighted_sum`): one-hot g at an entry of e = 2^−2000 keeps its
  precision. g (and y, t) are scaled by powers of two per row: exact but for values pushed
  below 2^−1022 (≤ 2^−1075 each, counted).
* softmax_vjp: by the shift invariance d_i = h_i − Q, h = g − g_a (exact), Q = Σ s_j h_j =
  2^M·N/S: |N̂ − N| ≤ 1.02·(ε_e + 7u² + 3λu²)·Σ|T_j| + K·2^−996; E_Q = 1.02·(E_N + |N|σ_S)/Ŝ
  + 33u²|Q̂|; d_i = h_i − Q̂ adds 3u²|d̂_i| (at h_i = 0, d_i = −Q stays scaled by 2^M); dz_i =
  e_i·d_i/S adds (ε_e + σ_S + 47u²) relative. Far entries round to a zero of d_i's sign; a Q
  made of far terms of one sign only has that sign and |Q| < 2^−3·10^6.
* log_softmax_vjp: |Γ̂ − Γ| ≤ 1.02·3(λ − 2)u²·Σ|g| + K·2^−1074. Form A: g_i − Γ̂ŝ_i (at
  g_i = 0 the product −Γs_i, scaled); at the first maximal entry also form B, (g_a − Γ) +
  Γ·S′/S with S′ = Σ_{j≠a} e_j a weighted sum: no cancellation in 1 − s_a when s_a ≈ 1.
  Far entries: g_i itself (the perturbation is below 2^−3·10^6), or a zero of sign −sign(Γ)
  at g_i = 0.
* cross_entropy: L = log1p(S′) by :func:`symsoftmax.reference.fast._log_partition_dd`
  (absolute error err_L; where S′ < 2^−900 only 0 < L ≤ S′ ≤ 1.01·Ŝ′ + K·2^−1000 is used), B =
  −Σ y_j t_j from exact TwoProd products (7u² for the low parts, 3λu² for the sum, of
  Σ|y_j t_j|), and Γ_y·L (|Γ̂|·err_L + L̂·E_Γ + 7u²|Γ̂L̂|), then + 3u².

Exact values, as the engine's (its exact zeros are +0, its ``key``): softmax_vjp +0 off F and
on all of F when g is constant there (ḡ = g); log_softmax_vjp g_i off F, and every g_i when
Γ = 0 (told from a tiny Γ by ``math.fsum``, a correctly rounded sum, 0 only for an exact 0);
cross_entropy +0 with one finite entry, B alone when Γ_y = 0 (+0 when every y_j t_j = 0), and
B + Γ_y·L decided from B and the sign of Γ_y where B is exactly a double (possibly a rounding
midpoint) and |Γ_y·L| is below a quarter of its float64 spacing (:func:`_base_plus_tiny`).
Rows of equal finite logits (s = 1/n) have dyadic VJPs, often rounding midpoints no bound
decides: for n a power of two they are computed exactly (:func:`_settle_uniform`).

Where a bound does not decide, the output goes to the authority: no value is ever guessed.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.reference.double_double import (
    EXP_RELATIVE_ERROR,
    dd_add,
    dd_div,
    dd_mul,
    dd_sum_last_axis,
    two_prod,
    two_sum,
)
from symsoftmax.reference.double_double import dd_exp_scaled as _dd_exp
from symsoftmax.reference.fast import _log_partition_dd, _power_of_two, _settle_scaled
from symsoftmax.reference.short_rows import row_all, row_any, row_max, row_sum
from symsoftmax.rounding import round_array

__all__ = ["GRADIENT_OPS", "settle"]

GRADIENT_OPS = ("softmax_vjp", "log_softmax_vjp", "cross_entropy", "cross_entropy_grad")
"""The ops this module settles (two inputs each: z and g, or z and y)."""

Array = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
_Settled = tuple[Array, Bools]
_U = 2.0**-53
_U2 = _U * _U
_EPS_E = EXP_RELATIVE_ERROR
_BLOCK_ELEMENTS = 1 << 15  # rows per block: about this many entries (cache-sized passes)


def settle(problem: Any, out: npt.NDArray[Any], pending: npt.NDArray[np.bool_]) -> None:
    """Fill ``out`` and clear ``pending`` wherever the bounds decide the rounding.

    ``problem`` is :class:`symsoftmax.reference._Problem` (rows of z, ``other_rows`` of g or y).
    """
    if problem.op not in GRADIENT_OPS or problem.other_rows is None:
        return
    if problem.softcap is not None or problem.temperature is not None or problem.sink is not None:
        # soft-capped logits are another module's; these ops take no temperature; a sink comes
        # as the extended rows [z, s] with g_s = 0 (symsoftmax.reference._settle_fast)
        return
    rows, other = problem.rows, problem.other_rows
    n, k = rows.shape
    if n == 0 or k == 0:
        return
    block = max(1, _BLOCK_ELEMENTS // k)
    for start in range(0, n, block):
        stop = min(start + block, n)
        value, ok = _settle_block(problem.op, rows[start:stop], other[start:stop], problem.fmt)
        ok &= pending[start:stop]
        np.copyto(out[start:stop], value, where=ok)
        pending[start:stop] &= ~ok


def _settle_block(op: str, z: Array, g: Array, fmt: Format) -> _Settled:
    """(value, ok) for a block of rows, (n, K) for the VJPs and the grad, (n, 1) for the loss."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        # the engine's special rows: NaN in z or a non-finite g/y → NaN everywhere; a row of
        # −inf → NaN; +inf entries → the limit (0 at the +inf entries, −inf elsewhere)
        nan_row = row_any(np.isnan(z) | ~np.isfinite(g))
        posinf = z == np.inf
        inf_row = row_any(posinf) & ~nan_row
        if inf_row.any():
            z = np.where(inf_row[:, None], np.where(posinf, 0.0, -np.inf), z)
        clean = ~nan_row
        z = np.where(clean[:, None], z, 0.0)
        g = np.where(clean[:, None], g, 0.0)
        finite = np.isfinite(z)
        no_finite = ~row_any(finite)
        z = np.where(no_finite[:, None], 0.0, z)  # computed as a row of zeros, overwritten
        finite = finite | no_finite[:, None]
        if op == "softmax_vjp":
            value, ok = _softmax_vjp(z, g, finite, fmt)
        elif op == "cross_entropy":
            value, ok = _cross_entropy(z, g, finite, fmt)
        else:
            value, ok = _log_softmax_vjp(
                z, g, finite, fmt, -1.0 if op != "log_softmax_vjp" else 1.0
            )
        if op != "cross_entropy":
            _settle_uniform(op, z, g, finite, fmt, value, ok)
        special = (nan_row | no_finite)[:, None]  # the engine's NaN rows
        value = np.where(special, np.nan, value)
        ok = ok | special
    return value, ok


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------


class _Exps:
    """e^{t_j} = 2^m·(mh + ml) on F (``valid``: t_j ∈ [−2^21, 0], else "far"), the first
    maximal entry ``a``, Ŝ = Σ e_j and σ_S (its relative error), λ (levels of the sums).

    The shifts' low words (TwoSum's, or the given DWPlusDW ones) are normalized, |tl| ≤
    ulp(th)/2, which ``dd_exp_scaled`` requires and adds exactly: ε_e needs no term for them.
    """

    def __init__(self, z: Array, finite: Bools, shifts: tuple[Array, Array] | None = None) -> None:
        n, k = z.shape
        if shifts is None:
            top = row_max(np.where(finite, z, -np.inf), keepdims=True)
            th, tl = two_sum(z, np.broadcast_to(-top, z.shape))  # exact unless it overflows
        else:  # given shifts t̂ ≤ 0 (double-double, 0 at a maximal entry): the ops at t̂
            th, tl = shifts
        usable = finite & np.isfinite(th) & np.isfinite(tl)
        self.th = np.where(usable, th, -np.inf)
        self.tl = np.where(usable, tl, 0.0)
        self.m, self.mh, self.ml, valid = _dd_exp(self.th, self.tl)
        self.valid = valid & usable
        self.far = finite & ~self.valid  # e_j < 2^−3·10^6 (or t_j overflowed: smaller still)
        self.in_sum = self.valid & (self.m >= -1000)
        power = _power_of_two(np.where(self.in_sum, self.m, -1023))
        self.eh, self.el = self.mh * power, self.ml * power  # 0 outside the sums
        self.levels = max(1, math.ceil(math.log2(k)) + 1)
        self.sh, self.sl = _dd_sum(self.eh, self.el)
        self.a = np.argmax(finite & (self.th == 0.0), axis=1)
        self.rows = np.arange(n)
        self.sigma_s = 1.05 * (_EPS_E + 3 * self.levels * _U2 + k * 2.0**-999)
        one = np.ones_like(self.sh)
        self.inv_h, self.inv_l = dd_div(one, np.zeros_like(one), self.sh, self.sl)  # 1/Ŝ


def _dd_sum(hi: Array, lo: Array) -> tuple[Array, Array]:
    """:func:`dd_sum_last_axis` of rows padded once with exact zeros to a power-of-two width
    (its ⌈log2 K⌉ levels, as counted in the bounds; one pad instead of one per odd level)."""
    k = hi.shape[1]
    width = 1 << max(0, (k - 1).bit_length())
    if width != k:
        pad = np.zeros((hi.shape[0], width - k))
        hi, lo = np.hstack([hi, pad]), np.hstack([lo, pad])
    return dd_sum_last_axis(hi, lo)


def _plain_levels(k: int) -> int:
    """Levels of :func:`_dd_sum` that may round on a sum of K plain doubles (low parts 0): its
    first level is TwoSum of two doubles, exact, and the others add ≤ 3u² each."""
    return max(0, math.ceil(math.log2(max(k, 1))) - 1)


def _scale_exponent(values: Array, where: Bools) -> Ints:
    """Per row σ with max|v|·2^σ in [1, 2) over ``where`` (0 where all are 0)."""
    biggest = row_max(np.where(where, np.abs(values), 0.0))
    _, e = np.frexp(biggest)
    return np.where(biggest > 0, 1 - e.astype(np.int64), 0)


class Chain(Protocol):
    """What :mod:`symsoftmax.reference.fast_softcap_gradients` hands the VJPs below: the
    exponentials of its shifts t̂ (``exps``), a per-row bound ``spread`` on |ŝ_i − s_i|
    relative to both ŝ_i and s_i (the shifts' error), and ``settle``, which rounds each
    output times its chain factor (``at``: the (rows, columns) of the outputs, None for all)."""

    exps: _Exps
    spread: Array

    def settle(
        self, m: Ints, vh: Array, vl: Array, err: Array, fmt: Format, at: Any = None
    ) -> _Settled: ...


def _settle_exp(m: Ints, vh: Array, vl: Array, err: Array, fmt: Format) -> _Settled:
    """Round v = 2^m·(vh + vl), |v − 2^m(vh + vl)| ≤ 2^m·err, to ``fmt``, sign included, where
    every real of the interval rounds to one value (only intervals that exclude 0: the relative
    radius must be below 2^−20). The magnitude by :func:`fast._settle_scaled`."""
    negative = vh < 0
    ah = np.abs(vh)
    al = np.where(negative, -vl, vl)
    eps = np.where(ah > 0, err / np.where(ah > 0, ah, 1.0) * (1 + 2.0**-40), np.inf)
    ok_eps = np.isfinite(eps) & (eps < 2.0**-20)
    eps = np.where(ok_eps, eps, 0.0)
    magnitude, ok = _settle_scaled(
        m, np.where(ok_eps, ah, 1.0), np.where(ok_eps, al, 0.0), eps, fmt
    )
    return np.where(negative, -magnitude, magnitude), ok & ok_eps


def _exactly_zero_sums(values: Array, rows: npt.NDArray[np.intp], where: Bools) -> Bools:
    """Whether Σ over ``where`` of each row of ``rows`` is exactly 0: math.fsum rounds the
    exact sum correctly, and a nonzero sum of float64 values is ≥ 2^−1074 in magnitude."""
    zero = np.zeros(rows.size, dtype=bool)
    for i, r in enumerate(rows):
        try:
            zero[i] = math.fsum(values[r][where[r]].tolist()) == 0.0
        except OverflowError:  # intermediate overflow: not 0 is not known either
            zero[i] = False
    return zero


def _round_dd(hi: Array, lo: Array, fmt: Format) -> Array:
    """The value of ``fmt`` nearest the exact hi + lo (a normalized double-double: hi =
    fl(hi + lo), hi normal), ties to even.

    float64: hi itself. Narrower formats: their rounding breakpoints (midpoints) are float64
    values at least two float64 spacings apart, and hi + lo lies within half a spacing of hi,
    so it rounds like hi unless hi is a midpoint and lo ≠ 0: then like hi's float64 neighbour
    on lo's side (IEEE 754-2019 §4.3.1)."""
    if fmt.float64_extra_bits == 0:
        return hi.copy()
    _, e = np.frexp(hi)
    scaled = np.ldexp(np.abs(hi), -fmt.quantum_exponent_array(e.astype(np.int64) - 1))
    midpoint = scaled - np.floor(scaled) == 0.5  # exact: scaled < 2^p
    toward = np.nextafter(hi, np.where(lo > 0, np.inf, -np.inf))
    return round_array(np.where(midpoint & (lo != 0), toward, hi), fmt)


def _settle_uniform(
    op: str, z: Array, g: Array, finite: Bools, fmt: Format, value: Array, ok: Bools
) -> None:
    """Exact values on rows whose finite entries are all equal, n = |F| a power of two, in place.

    There s_i = 1/n exactly (the engine's rational case), so on F softmax_vjp is
    (n·g_i − Σ_F g)/n² and log_softmax_vjp ±(n·g_i − Γ)/n: dyadic values that may be rounding
    midpoints, which no error bound decides. With g scaled by 2^σ (exact for these rows: none
    pushed below 2^−1022), n·g_i is exact; the sum is exact as one or two doubles when math.fsum
    (a correctly rounded sum) shows a zero remainder; the exact numerator is then TwoSum(n·g_i,
    −sum), or per entry fsum's hi + lo with a zero remainder, and :func:`_round_dd` rounds it.
    Only rows with an output still undecided are worked on (a Python loop: few rows)."""
    col = (slice(None), None)
    top = row_max(np.where(finite, z, -np.inf), keepdims=True)
    uniform = row_all(~finite | (z == top))
    count = row_sum(finite.astype(np.int64))
    power = (count & (count - 1)) == 0
    todo = np.flatnonzero(uniform & power & row_any(~ok & finite))
    if todo.size == 0:
        return
    sign = -1.0 if op == "cross_entropy_grad" else 1.0
    sigma = _scale_exponent(g[todo], np.ones_like(finite[todo]))
    gs = np.ldexp(g[todo], sigma[col])
    lossy = row_any((g[todo] != 0) & (np.abs(gs) < 2.0**-1022))
    for i, r in enumerate(todo):
        over = finite[r] if op == "softmax_vjp" else np.ones_like(finite[r])
        terms = gs[i][over].tolist()
        total = math.fsum(terms)
        if lossy[i] or not math.isfinite(total):
            continue
        low = math.fsum([*terms, -total])  # the sum as total + low, if that is exact
        if math.fsum([*terms, -total, -low]) != 0.0:
            continue
        n = int(count[r])
        if low == 0.0:
            nh, nl = two_sum(gs[i] * n, np.full(gs.shape[1], -total))
        else:  # n·g_i − total − low, entry by entry (rows of float64 g whose sum needs 2 parts)
            nh, nl = np.zeros(gs.shape[1]), np.full(gs.shape[1], np.nan)
            for j in np.flatnonzero(finite[r] & ~ok[r]):
                parts = [float(gs[i, j]) * n, -total, -low]
                nh[j] = math.fsum(parts)
                nl[j] = math.fsum([*parts, -nh[j]])
                if math.fsum([*parts, -nh[j], -nl[j]]) != 0.0:
                    nl[j] = np.nan  # not a double-double: left pending
        shift = -int(sigma[i]) - (2 if op == "softmax_vjp" else 1) * (n.bit_length() - 1)
        hi, lo = np.ldexp(sign * nh, shift), np.ldexp(sign * nl, shift)
        exact = (np.ldexp(hi, -shift) == sign * nh) & (np.ldexp(lo, -shift) == sign * nl)
        exact &= np.abs(nl) <= np.abs(nh) * 2.0**-53  # normalized (fsum's parts are)
        exact &= np.abs(hi) >= 2.0**-1022
        rounded = np.where((nh == 0) & (nl == 0), 0.0, _round_dd(hi, lo, fmt))
        take = finite[r] & ~ok[r] & (exact | ((nh == 0) & (nl == 0)))
        value[r, take] = rounded[take]
        ok[r, take] = True


# --------------------------------------------------------------------------------------------
# softmax_vjp
# --------------------------------------------------------------------------------------------


def _weighted_sum(
    x: _Exps, wh: Array, wl: Array, use: Bools, w_max: float
) -> tuple[Ints, Array, Array, Array, Array]:
    """Σ_{j ∈ use} e_j·w_j = 2^M·(nh + nl) within 2^M·err, M the largest m_j over ``use``, and
    the sum's sign (±1) where only far terms of one sign make it (else 0).

    M is taken over the terms of nonzero weight; scaled by 2^−M as :func:`fast._tiny_l` scales
    S′, so that sums of tiny terms (one-hot g at an entry of e_j = 2^−2000) keep their relative
    precision. Terms below 2^(M−1000) are left
    out (each ≤ 2^−999·w_max in units of 2^M); products of the exact double-double e_j (7u²)
    may underflow (≤ 2^−1070 each); far entries weigh < 2^(−3025000 − M)·w_max each, below
    2^−1000 for M > −3·10^6 (else err is inf). |w_j| ≤ w_max. err = 0 for an empty sum.
    """
    k = wh.shape[1]
    weighted = use & ((wh != 0) | (wl != 0))
    near = weighted & x.valid
    floor = -(1 << 40)
    big_m = row_max(np.where(near, x.m, floor))
    empty = big_m == floor
    big_m = np.where(empty, 0, big_m)
    shift = x.m - big_m[:, None]
    in_sum = near & (shift >= -1000)
    power = _power_of_two(np.where(in_sum, shift, -1023))
    th, tl = dd_mul(x.mh * power, x.ml * power, wh, wl)
    nh, nl = _dd_sum(th, tl)
    total = row_sum(np.abs(th)) * (1 + k * 2.0**-50)
    err = 1.02 * (_EPS_E + 7 * _U2 + 3 * x.levels * _U2) * total + k * (w_max * 2.0**-998)
    far = row_any(weighted & x.far)
    err = np.where(far & (big_m <= -3_000_000), np.inf, err)
    # only far terms, all of one sign: the sum has that sign and is below 2^(−3·10^6)
    up, down = row_any(weighted & x.far & (wh > 0)), row_any(weighted & x.far & (wh < 0))
    far_sign = np.where(empty & (up != down), np.where(up, 1.0, -1.0), 0.0)
    return big_m, nh, nl, np.where(empty & ~far, 0.0, err), far_sign


def _softmax_vjp(
    z: Array, g: Array, finite: Bools, fmt: Format, chain: Chain | None = None
) -> _Settled:
    """s_i·(h_i − Q) (module docstring); with ``chain``, at its shifts t̂, the shifts' error
    added (|ŝ_j − s_j| ≤ r·ŝ_j: Q moves by ≤ r·Σ ŝ_j|h_j|, dz_i by r|ŝ_i d_i| + s_i·that) and
    each output rounded times its chain factor."""
    k = z.shape[1]
    col = (slice(None), None)
    x = _Exps(z, finite) if chain is None else chain.exps
    sigma = _scale_exponent(g, finite)
    gs = np.ldexp(g, sigma[col])
    # rows with g values pushed below 2^−1022 by the scaling (float64 g spanning more than
    # 2^1022): each h_j is then within 2^−1074 of its true value, an error absolute in units of
    # 2^0, added below to the sums kept in units of 2^M
    lossy = row_any(finite & (g != 0) & (np.abs(gs) < 2.0**-1022))
    ga = gs[x.rows, x.a][:, None]
    hh, hl = two_sum(gs, np.broadcast_to(-ga, gs.shape))  # h = g − g_a, exact (|g·2^σ| < 2)
    hh = np.where(finite, hh, 0.0)
    hl = np.where(finite, hl, 0.0)
    # Q = Σ s_j h_j = 2^M·N/S: ḡ − g_a, so d_i = h_i − Q
    big_m, nh, nl, e_n, far_sign = _weighted_sum(x, hh, hl, finite, 4.0)
    far_sign = np.where(lossy, 0.0, far_sign)  # the signs of lost h_j are not known
    far_only = far_sign != 0  # |Q| < 2^(−3·10^6): within the 2^−1073 allowance below
    e_n = np.where(far_only, 0.0, e_n)
    lost = np.ldexp(2.0**-1073, np.clip(-big_m, 0, 2000))  # 2^−1073 in units of 2^M
    lost = np.where(lossy, np.where(big_m < -2000, np.inf, lost), 0.0)
    e_n += 2.02 * k * lost  # Σ e_j·|Δh_j| ≤ S·2^−1074, S ≤ K
    qh, ql = dd_div(nh, nl, x.sh, x.sl)
    n_up = np.abs(nh) * (1 + 2.0**-50) + e_n  # ≥ |N|
    e_q = 1.02 * (e_n + n_up * x.sigma_s) / x.sh + 33 * _U2 * np.abs(qh)
    spread = 0.0 if chain is None else chain.spread[:, None]
    if chain is not None:  # Σ ŝ_j|h_j| (same nonzero weights as N: same M), times r
        habs = hh < 0
        m_a, ah, al, e_a, _ = _weighted_sum(
            x, np.where(habs, -hh, hh), np.where(habs, -hl, hl), finite, 4.0
        )
        a_up = np.ldexp(np.abs(ah) + np.abs(al) + e_a, m_a - big_m)  # in units of 2^M
        e_q = e_q + 1.02 * chain.spread * a_up / x.sh
    # h_i = 0 (g_i = g_a): d_i = −2^M·Q/2^M, a product; else h_i − Q at 2^0 (Q's underflow
    # ≤ 2^−1074 per part)
    h_zero = (hh == 0) & (hl == 0)
    m_q = np.clip(big_m, -2000, 0)[col]
    qh0, ql0 = np.ldexp(qh[col], m_q), np.ldexp(ql[col], m_q)
    dh, dl = dd_add(hh, hl, np.broadcast_to(-qh0, hh.shape), np.broadcast_to(-ql0, hh.shape))
    e_d = np.ldexp(e_q[col], m_q) + 2.0**-1073 + 1.02 * 3 * _U2 * np.abs(dh)
    dh = np.where(h_zero, -qh[col], dh)
    dl = np.where(h_zero, -ql[col], dl)
    e_d = np.where(h_zero, e_q[col] + lost[col], e_d)
    d_exp = np.where(h_zero, big_m[col], 0)
    # dz_i = 2^(m_i + d_exp)·(mh + ml)·d_i/S
    ph, pl = dd_mul(x.mh, x.ml, dh, dl)
    inv_h, inv_l = np.broadcast_to(x.inv_h[col], ph.shape), np.broadcast_to(x.inv_l[col], ph.shape)
    vh, vl = dd_mul(ph, pl, inv_h, inv_l)
    rel = _EPS_E + x.sigma_s + 47 * _U2 + 1.02 * spread
    err = 1.03 * (np.abs(vh) * rel + (x.mh + np.abs(x.ml)) * x.inv_h[col] * e_d * (1 + spread))
    if chain is None:
        value, ok = _settle_exp(x.m + d_exp - sigma[col], vh, vl, err, fmt)
    else:
        value, ok = chain.settle(x.m + d_exp - sigma[col], vh, vl, err, fmt)
    ok &= x.valid
    # far entries: s_i·|d_i| < 2^(−3·10^6 + 1026) rounds to a zero of d_i's sign
    sign_known = x.far & (np.abs(dh) > 1.01 * (e_d + np.abs(dl)))
    value = np.where(sign_known, np.copysign(0.0, dh), value)
    # far-only Q: d_i = −Q at h_i = 0, and s_i·|Q| < 2^(−3·10^6) rounds to a zero of −Q's sign
    tiny = far_only[col] & h_zero
    value = np.where(tiny, np.copysign(0.0, -far_sign[col]), value)
    ok = ok | sign_known | tiny
    # exact zeros (+0, the engine's key): off F (s_i = 0), and all of F when g is constant on F
    constant = row_all(~finite | (g == g[x.rows, x.a][:, None]))
    zero = ~finite | constant[col]
    return np.where(zero, 0.0, value), ok | zero


# --------------------------------------------------------------------------------------------
# log_softmax_vjp and cross_entropy_grad
# --------------------------------------------------------------------------------------------


def _log_softmax_vjp(
    z: Array, g: Array, finite: Bools, fmt: Format, sign: float, chain: Chain | None = None
) -> _Settled:
    """sign·(g_i − Γ s_i): sign 1 for log_softmax_vjp, −1 for cross_entropy_grad (y for g).
    With ``chain``: at its shifts t̂, Γ·s_i within r|Γ|ŝ_i more (S′/S in form B within r of
    itself), each output rounded times its chain factor (exact g_i too)."""
    n, k = z.shape
    x = _Exps(z, finite) if chain is None else chain.exps
    spread = 0.0 if chain is None else chain.spread[:, None]
    everywhere = np.ones_like(finite)
    sigma = _scale_exponent(g, everywhere)
    gs = np.ldexp(g, sigma[:, None])
    gam_h, gam_l = _dd_sum(gs, np.zeros_like(gs))
    e_gam = 1.02 * 3 * _plain_levels(k) * _U2 * row_sum(np.abs(gs)) * (1 + k * 2.0**-50)
    e_gam += k * 2.0**-1074  # g's scaling
    gamma_known = np.abs(gam_h) > 1.01 * (e_gam + np.abs(gam_l))  # Γ ≠ 0, its sign that of Γ̂
    gamma_zero = np.zeros(n, dtype=bool)
    unsure = np.flatnonzero(~gamma_known)
    if unsure.size:
        gamma_zero[unsure] = _exactly_zero_sums(g, unsure, everywhere)
    col = (slice(None), None)
    gh_b, gl_b = np.broadcast_to(gam_h[col], z.shape), np.broadcast_to(gam_l[col], z.shape)
    # s_i·Γ = 2^m·(e_i·Γ/S): kept scaled, so that tiny s_i keep their relative precision
    ph, pl = dd_mul(x.mh, x.ml, gh_b, gl_b)
    ph, pl = dd_mul(
        ph, pl, np.broadcast_to(x.inv_h[col], z.shape), np.broadcast_to(x.inv_l[col], z.shape)
    )
    s_over = (x.mh + np.abs(x.ml)) * x.inv_h[col]  # ≥ s_i/2^m (up to 2^−100)
    e_p = 1.03 * (
        np.abs(ph) * (_EPS_E + x.sigma_s + 47 * _U2 + 1.02 * spread)
        + s_over * e_gam[col] * (1 + spread)
    )
    # form A at g_i ≠ 0: g_i − Γ s_i with Γ s_i brought to 2^0 (its underflow ≤ 2^−1074)
    shift = np.clip(x.m, -2000, 0)  # m ≤ 0; below 2^−2000 both ldexps give 0
    qh, ql = np.ldexp(ph, shift), np.ldexp(pl, shift)
    vh, vl = dd_add(gs, np.zeros_like(gs), -qh, -ql)
    err = np.ldexp(e_p, shift) + 2.0**-1073 + 1.02 * 3 * _U2 * np.abs(vh)
    # form A at g_i = 0: −Γ s_i, a product kept at 2^m (one settling pass for both)
    g0 = g == 0
    vh = np.where(g0, -ph, vh)
    vl = np.where(g0, -pl, vl)
    err = np.where(g0, e_p, err)
    m_v = np.where(g0, x.m, 0) - sigma[col]
    if chain is None:
        value, ok = _settle_exp(m_v, sign * vh, sign * vl, err, fmt)
    else:
        value, ok = chain.settle(m_v, sign * vh, sign * vl, err, fmt)
    ok &= x.valid
    # form B at the first maximal entry: (g_a − Γ) + Γ·S′/S, no cancellation in 1 − s_a
    left = np.flatnonzero(~ok[x.rows, x.a] & x.valid[x.rows, x.a])
    if left.size:
        bv, bok = _form_b(x, gs, gam_h, gam_l, e_gam, sigma, fmt, sign, g, finite, chain)
        value[left, x.a[left]] = bv[left]
        ok[left, x.a[left]] = bok[left]
    # far entries: g_i itself (exact, a format value), or at g_i = 0 a zero of −sign·sign(Γ)
    far_zero = x.far & (g == 0) & gamma_known[col]
    value = np.where(x.far, np.where(g0, np.copysign(0.0, -sign * gam_h[col]), sign * g), value)
    ok = np.where(x.far, (g != 0) | far_zero, ok)
    # exact values (the engine's key: +0 for a zero): off F, and every entry when Γ = 0
    exact = ~finite | gamma_zero[col]
    exact_value = np.where(g == 0, 0.0, sign * g)
    if chain is None:
        return np.where(exact, exact_value, value), ok | exact
    # through the chain, g_i becomes g_i·factor_i: rounded by the chain (gs exact unless the
    # scaling pushed it below 2^−1022: ≤ 2^−1074 off)
    carried = (x.far | exact) & (g != 0)
    g_err = np.where((np.abs(gs) < 2.0**-1022) & (g != 0), 2.0**-1074, 0.0)
    zeros = np.zeros_like(gs)
    gv, gok = chain.settle(np.broadcast_to(-sigma[col], gs.shape), sign * gs, zeros, g_err, fmt)
    value = np.where(exact, exact_value, value)
    ok = ok | (exact & (g == 0))
    return np.where(carried, gv, value), np.where(carried, gok, ok)


def _form_b(
    x: _Exps,
    gs: Array,
    gam_h: Array,
    gam_l: Array,
    e_gam: Array,
    sigma: Ints,
    fmt: Format,
    sign: float,
    g: Array,
    finite: Bools,
    chain: Chain | None = None,
) -> _Settled:
    """sign·((g_a − Γ) + Γ·S′/S) at the first maximal entry a, one per row.

    S′ = Σ_{j≠a} e_j = 2^M·(S′ scaled) by :func:`_weighted_sum` (relative to its largest term,
    so a tiny S′ keeps its precision). g_a − Γ is exactly 0 where math.fsum says so (one-hot g
    at a); then the value is the product sign·Γ·S′/S, else (g_a − Γ) + 2^M·Γ·S′/S at 2^0."""
    rows, a = x.rows, x.a
    others = finite.copy()
    others[rows, a] = False
    ones = np.ones_like(gs)
    big_m, s1h, s1l, e_s1, _ = _weighted_sum(x, ones, np.zeros_like(gs), others, 1.0)
    rh, rl = dd_mul(s1h, s1l, x.inv_h, x.inv_l)  # 2^−M·S′/S
    spread = 0.0 if chain is None else chain.spread  # S′/S = Σ_{j≠a} s_j: within r of itself
    e_r = 1.03 * (np.abs(rh) * (x.sigma_s + 40 * _U2 + 1.02 * spread) + e_s1 * x.inv_h)
    wh, wl = dd_mul(gam_h, gam_l, rh, rl)  # 2^−M·Γ·S′/S
    gamma_up = np.abs(gam_h) * (1 + 2.0**-50) + e_gam  # ≥ |Γ|
    r_up = np.abs(rh) * (1 + 2.0**-50) + e_r  # ≥ 2^−M·S′/S
    e_w = 1.02 * (np.abs(wh) * 7 * _U2 + gamma_up * e_r + e_gam * r_up)
    ga = gs[rows, a]
    dh, dl = dd_add(ga, np.zeros_like(ga), -gam_h, -gam_l)
    e_dd = e_gam + 1.02 * 3 * _U2 * np.abs(dh)
    exact_zero = np.zeros(len(rows), dtype=bool)
    unsure = np.flatnonzero(np.abs(dh) <= 1.01 * (e_dd + np.abs(dl)))
    if unsure.size:  # g_a − Γ = −Σ_{j≠a} g_j over every entry: 0 when its fsum is
        rest = np.ones_like(finite)
        rest[rows, a] = False
        exact_zero[unsure] = _exactly_zero_sums(g, unsure, rest)

    def settle(m: Ints, vh: Array, vl: Array, err: Array) -> _Settled:
        if chain is None:
            return _settle_exp(m, vh, vl, err, fmt)
        return chain.settle(m, vh, vl, err, fmt, (rows, a))

    product = settle(big_m - sigma, sign * wh, sign * wl, e_w)
    m_w = np.clip(big_m, -2000, 0)
    vh, vl = dd_add(dh, dl, np.ldexp(wh, m_w), np.ldexp(wl, m_w))
    err = e_dd + np.ldexp(e_w, m_w) + 2.0**-1073 + 1.02 * 3 * _U2 * np.abs(vh)
    value, ok = settle(-sigma, sign * vh, sign * vl, err)
    return np.where(exact_zero, product[0], value), np.where(exact_zero, product[1], ok)


# --------------------------------------------------------------------------------------------
# cross_entropy
# --------------------------------------------------------------------------------------------


def _cross_entropy(z: Array, y: Array, finite: Bools, fmt: Format) -> _Settled:
    n, k = z.shape
    col = (slice(None), None)
    part = _log_partition_dd(np.where(finite, z, -np.inf), None)
    th, tl = part.th, np.where(finite, part.tl, 0.0)
    # entries off F with y_j ≠ 0: y_j·(−l_j) = y_j·(+inf)
    outside = ~finite & (y != 0)
    up, down = row_any(outside & (y > 0)), row_any(outside & (y < 0))
    infinite = up | down
    inf_value = np.where(up & down, np.nan, np.where(up, np.inf, -np.inf))
    # scales: y·2^σy and t·2^−τ (t only shrinks; float64 rows of ±max have |t| up to 2^1025)
    sigma_y = _scale_exponent(y, finite)
    ys = np.where(finite, np.ldexp(y, sigma_y[col]), 0.0)
    t_big = row_max(np.where(finite & np.isfinite(th), np.abs(th), 0.0))
    _, e_t = np.frexp(t_big)
    tau = np.maximum(e_t.astype(np.int64), 0)
    far_t = finite & ~np.isfinite(th)  # x − max overflowed: no double-double t
    ths = np.where(finite & ~far_t, np.ldexp(th, -tau[col]), 0.0)
    tls = np.where(finite & ~far_t, np.ldexp(tl, -tau[col]), 0.0)
    levels = max(1, math.ceil(math.log2(k)) + 1)
    # B = −Σ y_j t_j (scaled by 2^(σy − τ)); products by TwoProd of y with th and tl
    bh_t, bl_t = dd_mul(ys, np.zeros_like(ys), ths, tls)
    bh, bl = _dd_sum(-bh_t, -bl_t)
    e_b = 1.02 * (7 * _U2 + 3 * levels * _U2) * row_sum(np.abs(bh_t)) * (1 + k * 2.0**-50)
    e_b += k * 2.0**-1060  # t's scaling and the products' underflow
    gh, gl = _dd_sum(ys, np.zeros_like(ys))
    e_g = 1.02 * 3 * _plain_levels(k) * _U2 * row_sum(np.abs(ys)) * (1 + k * 2.0**-50)
    e_g += k * 2.0**-1074  # y's scaling
    gamma_known = np.abs(gh) > 1.01 * (e_g + np.abs(gl))
    gamma_zero = np.zeros(n, dtype=bool)
    unsure = np.flatnonzero(~gamma_known)
    if unsure.size:
        gamma_zero[unsure] = _exactly_zero_sums(y, unsure, finite)
    # S′ below the double-double's reach (< 2^−900): 0 < L ≤ S′ ≤ l_up (terms left out of
    # the sum weigh ≤ 2^−1000 each, as in fast._logsumexp_dd); L = l_up/2 ± l_up/2
    tiny_s = ~part.row_ok & (part.s1h < 2.0**-900)
    l_up = part.s1h * 1.01 + k * 2.0**-1000
    row_ok = part.row_ok | tiny_s
    l_mid = np.where(tiny_s, l_up / 2, part.lh)
    l_err = np.where(tiny_s, l_up / 2 * 1.01, part.err_l)
    # Γ·L, L scaled by 2^−τ
    lh, ll = np.ldexp(l_mid, -tau), np.ldexp(np.where(tiny_s, 0.0, part.ll), -tau)
    e_l = np.ldexp(l_err, -tau) + 2.0**-1073
    ph, pl = dd_mul(gh, gl, lh, ll)
    e_p = 1.02 * (
        np.abs(gh) * (1 + 2.0**-50) * e_l + (np.abs(lh) + e_l) * e_g + 7 * _U2 * np.abs(ph)
    )
    vh, vl = dd_add(ph, pl, bh, bl)
    err = e_p + e_b + 1.02 * 3 * _U2 * np.abs(vh)
    scale = sigma_y - tau  # value = 2^−scale·(vh + vl)
    loss, ok = _settle_exp(-scale, vh, vl, err, fmt)
    ok &= row_ok & ~row_any(far_t)
    # Γ_y = 0: the rational B alone; +0 when every y_j t_j is 0 (then B = 0 exactly)
    if gamma_zero.any():
        base, base_ok = _settle_exp(-scale, bh, bl, e_b, fmt)
        terms_zero = row_all(~finite | (ys == 0) | ((ths == 0) & (tls == 0) & ~far_t))
        base = np.where(terms_zero, 0.0, base)
        base_ok = (base_ok & ~row_any(far_t)) | terms_zero
        loss = np.where(gamma_zero, base, loss)
        ok = np.where(gamma_zero, base_ok, ok)
    # one finite entry: L = 0 and t_a = 0, the loss is +0
    single = row_sum(finite.astype(np.int64)) == 1
    loss = np.where(single, 0.0, loss)
    ok |= single
    # B exactly a double, maybe a rounding midpoint, and Γ·L far below its spacing
    left = np.flatnonzero(~ok & ~infinite & gamma_known & row_ok & ~row_any(far_t))
    if left.size:
        gamma_up = np.ldexp(np.abs(gh) * (1 + 2.0**-50) + e_g, -sigma_y)  # ≥ |Γ_y|
        l_up = np.abs(l_mid) * (1 + 2.0**-50) + l_err  # ≥ L (|ll| ≤ ulp(lh)/2)
        for r in left:
            found = _base_plus_tiny(y[r], th[r], tl[r], finite[r])
            if found is not None and gamma_up[r] * l_up[r] * (1 + 2.0**-50) < found[1]:
                side = np.sign(gh[r : r + 1]) * 2.0**-1074  # P's sign: Γ_y's (L > 0)
                loss[r], ok[r] = _round_dd(np.array([found[0]]), side, fmt)[0], True
    loss = np.where(infinite, inf_value, loss)
    ok |= infinite
    return loss[:, None], ok[:, None]


def _base_plus_tiny(y: Array, th: Array, tl: Array, finite: Bools) -> tuple[float, float] | None:
    """(B, room) for one row's loss B + P, P = Γ_y·L ≠ 0 of known sign, where B = −Σ y_j t_j is
    exactly one nonzero normal double (else None): the t_j are exact doubles (tl = 0), the
    products y_j·t_j exact by TwoProd (no underflow or overflow in Dekker's product: |y_j·t_j|
    in [2^−960, 2^1000], factors below 2^995) and math.fsum shows their sum exact.

    room = ulp(B)/4: for |P| below it, B + P lies strictly between B and its float64 neighbour
    on P's side, so it rounds like B, or, where B is a rounding midpoint of the format, to the
    side of P (:func:`_round_dd` with a low part of P's sign; the breakpoints are doubles).
    """
    use = finite & (y != 0)
    a, b = y[use], th[use]
    if np.any(tl[use] != 0) or not np.all(np.isfinite(b)):
        return None
    if np.any((np.abs(a) > 2.0**995) | (np.abs(b) > 2.0**995)):
        return None
    ph, pl = two_prod(a, b)
    big = np.abs(ph)
    if np.any((b != 0) & ((big < 2.0**-960) | (big > 2.0**1000))):
        return None
    parts = [*(-ph).tolist(), *(-pl).tolist()]
    total = math.fsum(parts)
    if abs(total) < 2.0**-1021 or math.fsum([*parts, -total]) != 0.0:
        return None
    return total, math.ulp(total) / 4
