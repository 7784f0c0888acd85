"""Fast path for soft-capped rows and rows with a temperature and a sink (softmax, log_softmax,
logsumexp), with a rigorous error bound; what the bound does not decide stays pending.

Definitions (docs/reference.md, "Sinks and soft-caps"; :mod:`symsoftmax.reference.engine`):
u_j = z_j/T (T = 1 without a temperature), the logit v_j = c·tanh(u_j/c) with a cap c (−inf
stays a mask, +inf becomes c), v_j = u_j without; the sink s is one more logit, neither divided
by T nor capped. Over the finite entries of the extended row [v, s]:
softmax_j = e^{v_j}/Σ e^{v_k}, log_softmax_j = v_j − log Σ e^{v_k}, logsumexp = T·log Σ e^{v_k}.
Every op is invariant under a common shift of the logits, so with any entry a and
t_j = v_j − v_a the ops are those of fast.py's exact shifts (its module docstring).

The method: logits v̂_j with a bound δ_j on |v̂_j − v_j|, shifts t̂_j with
|t̂_j − t_j| ≤ Δ_j; then e^{t_j} = e^{t̂_j}·e^{θ_j}, |θ_j| ≤ Δ_j, a relative error ≤ 1.02·Δ_j
on each term (Δ_j ≤ 2^−20) and ≤ 1.02·Δ_S on a sum of them (Δ_S = max Δ_j over its terms),
added to the bounds fast.py proves for exact shifts (CORE-MATH's two phases: Sibidanov,
Zimmermann & Glondu, ARITH 2022; u = 2^−53 below, "rel" a relative error).

Phase 1, formats narrower than float64 (:func:`_evaluate_float64`), in float64 NumPy. Their
values keep u = z/T and a = u/c normal (|z|, T, c ∈ [2^−149, 2^128]): u = fl(z/T), a = fl(u/c)
and v = fl(c·tanh a) with NumPy's tanh within 2^−43 (2^10 ulps, fast.py's libm margin); tanh's
relative sensitivity to a is 2a/sinh 2a ≤ 1, so rel(v) ≤ 1.01(2^−43 + 3u) (uncapped: u).
t̂_j = fl(v̂_j − v̂_a) with a = the argmax: Δ_j = 1.01(δ_j + δ_a + u|t̂_j|), t̂_a = 0. Then as
fast.py's phase 1 (α = 1.01·2^−43 for exp of the exact t̂; S summed with ``_row_sum_bounded``):
softmax ε_j = 1.02(2α + (n_S + 2)u) + 1.02(Δ_j + Δ_S), absolute η = 2^−990; L = log1p(S′)
with λ = 1.02(α + Ku + 2^−43) + 1.02Δ_S and 2K·2^−1000 absolute; log_softmax t̂_j − L̂ within
1.02u|·| + λL̂ + 2K·2^−1000 + Δ_j; logsumexp T·(v̂_a + L̂) within T(δ_a + λL̂ + 2K·2^−1000) +
2.02u|·|. Terms with t̂_j + Δ_j < −800 weigh nothing (e^{−800} < 2^−1154: their softmax is +0
in these formats) and are left out of Δ_S. Rows it leaves go on to phase 2.

Phase 2, float64 targets and phase 1's leftovers (:func:`_evaluate`), in double-double
(:mod:`symsoftmax.reference.double_double`). The logits:

* u_j = z_j/T by :func:`_div_by_double` (rel ≤ 8u² ≤ 2^−100; exact without T) and
  a = z_j/(T·c) by :func:`_div_dd` (T·c exactly by TwoProd: rel ≤ 32u² ≤ 2^−100), both on the
  significands (frexp) and scaled back by exact powers of two, so no magnitude of z, T, c
  over- or underflows them; a scaling rounds only where u or v leave float64's normal range.
* |a| < 2^−300: v = u, rel ≤ ε_u + 2^−590 (tanh(a)/a ∈ [1 − a²/3, 1]).
* |a| < 2^−12 (Taylor): tanh a = a·(1 − y/3 + 2y²/15 − 17y³/315 + R), y = a² (DLMF 4.33.3).
  The coefficient of a^{2n−1} is 2^{2n}(2^{2n} − 1)|B_{2n}|/(2n)! = 2(2^{2n} − 1)ζ(2n)/π^{2n}
  (DLMF 24.8.1, |B_{2n}| = 2(2n)!ζ(2n)/(2π)^{2n}), below 2ζ(2n)(4/π²)^n < 0.03 from n = 5 on,
  and decreasing; so |R| ≤ 0.031·y⁴ ≤ y⁴ relative to 1 − y/3 ≥ 0.99 (y ≤ 2^−24). y by
  DWTimesDW (7u²), y/3 in double-double, the y², y³ terms (≤ 2^−48) in float64, two low-word
  roundings ≤ 2^−100.9 each; v = u·g (7u²): rel ≤ ε_u + y⁴ + 40u².
* 2^−12 ≤ |a| ≤ 2^20: tanh|a| = (1 − E)/(1 + E), E = e^{−2|a|} = 2^m(mh + ml) by
  ``dd_exp_scaled``, rel ε_e = EXP_RELATIVE_ERROR (for a normalized low word, as −2(ah + al)
  is: its reduction adds it exactly, whatever |a| ≤ 2^20), plus 2^−1073
  absolute where 2^m(mh + ml) underflows and u²(1 + E) for the low words of 1 ∓ E: e_E in
  all. An error e_E on E moves 1 − E and 1 + E by e_E: rel of the quotient
  ≤ e_E(1/(1 − E) + 1/(1 + E)) = 2e_E/(1 − E²) (1 − E ≥ 2^−11.1), plus 32u² for
  :func:`_div_dd` and 3u² for ×c (on c's significand, then ×2^e_c); the input's error moves
  tanh by ≤ ε_a = 2^−100 relatively.
* |a| > 2^20: v = ±c; 0 < 1 − tanh|a| = 2E/(1 + E) < 2e^{−2^21}, far below c·2^−2000.
* δ_j = 1.02·rel·|v̂_j| + 2^−1070 (the floor covers the roundings, each ≤ 2^−1075, of parts
  that leave the normal range in the scalings and products), 0 for exact entries (uncapped
  logits without T, the sink, capped +inf, ±0).

Entries whose u = z/T overflows float64 where u is needed (uncapped, or |a| < 2^−12) leave
their row pending. The top entry a is the double-double maximum (the first
of equal ones), t̂_j = v̂_j − v̂_a by DWPlusDW (3u²|t_j|): Δ_j = 1.01(δ_j + δ_a + 4u²|t̂_j|),
t̂_a = 0 exactly (only entries equal to v̂_a give t̂ = 0, so fast.py's partition, which leaves
out the first entry with t̂ = 0, leaves out a). Terms left out of its sums (e^{t̂} < 2^−999 or
t̂ < −2^21) stay below 2^−997 each if Δ_j ≤ 1 (≤ 2^20 beyond the exp range): K·2^−996
relative to S ≥ 1, K·2^−96 relative to S′ ≥ 2^−900. With fast.py's bounds (``_softmax_dd``,
``_log_partition_dd``; t̂'s low words are DWPlusDW's, normalized, which ``dd_exp_scaled``
adds exactly: its EXP_RELATIVE_ERROR holds as it is, for every t̂ ∈ [−2^21, 0]):

* softmax: ε_j = ε_fast + 1.02(Δ_j + Δ_S), settled by ``_settle_scaled``;
* L = log1p(S′) with rel σ = σ_fast + 1.02Δ_S (``fast.log1p_dd``: series or Newton),
  absolute error err_L; for S′ < 2^−900, L ∈ [0, S′] is taken as 0 ± 1.02(S′ + K·2^−997);
  log_softmax_j = t̂_j − L̂ within 1.01(err_L + Δ_j) + 5u²|·|;
* logsumexp = T·(v̂_a + L̂) within 1.01T(δ_a + err_L) + 10u²(|·| + T(|v̂_a| + L̂)) (+ 2^−1070
  with T, for the product's underflow);

each decided by ``_settle_signed`` only where the whole interval rounds to one value of the
format (sign of zero included: softmax ≥ +0; log_softmax < 0 unless one finite entry, +0;
logsumexp by its sign). Rows with a NaN or ±inf sink, NaN entries, +inf entries without a cap,
no finite entry, or Δ_S > 2^−20 stay pending for the authority.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.reference.double_double import (
    EXP_RELATIVE_ERROR,
    dd_add,
    dd_div,
    dd_mul,
    two_prod,
    two_sum,
)
from symsoftmax.reference.double_double import dd_exp_scaled as _dd_exp
from symsoftmax.reference.fast import (
    _dd_partition,
    _row_sum_bounded,
    _settle_interval,
    _settle_relative,
    _settle_scaled,
    _settle_signed,
    log1p_dd,
)
from symsoftmax.rounding import round_array

__all__ = ["OPS", "settle"]

OPS = ("softmax", "log_softmax", "logsumexp")

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
_U = 2.0**-53
_U2 = _U * _U
# absolute floor of an inexact logit's error: roundings of parts that leave the normal range
# (each ≤ 2^−1075) in the scalings and products
_FLOOR = 2.0**-1070
_LIBM_ERROR = 2.0**-43  # NumPy's tanh, exp, log1p within 2^10 ulps (fast.py's margin)
_TINY = 2.0**-1000  # absolute allowance for underflowed terms (as fast.py)
_ETA = 2.0**-990
_BLOCK_ELEMENTS = 1 << 14  # rows per block: about this many entries, to stay in cache


def settle(problem: Any, out: npt.NDArray[Any], pending: Mask) -> None:
    """Fill ``out`` and clear ``pending`` where the bound decides (``problem``: a
    :class:`symsoftmax.reference._Problem` with a soft-cap, or with a temperature and a sink)."""
    if problem.op not in OPS:
        return
    sink = problem.sink
    if sink is not None and not math.isfinite(sink):
        return  # NaN and ±inf sinks: the authority's exact cases
    rows = problem.rows
    block = max(1, _BLOCK_ELEMENTS // max(rows.shape[1], 1))
    keep = out.shape[1]  # the logits' outputs (or logsumexp's one); the sink's is dropped
    # narrower formats: float64 first; the rows it leaves (logits too large for its absolute
    # error, near-breakpoints) and float64 targets: double-double
    phases = [_evaluate_float64, _evaluate] if problem.fmt.float64_extra_bits else [_evaluate]
    for evaluate in phases:
        left = np.flatnonzero(pending.any(axis=1))
        for start in range(0, left.size, block):
            index = left[start : start + block]
            value, ok = evaluate(
                problem.op, rows[index], problem.temperature, problem.softcap, sink, problem.fmt
            )
            take = ok[:, :keep] & pending[index]
            sub = out[index]
            np.copyto(sub, value[:, :keep], where=take)
            out[index] = sub
            pending[index] &= ~take


def _div_by_double(xh: Array, xl: Array, y: float | Array) -> tuple[Array, Array]:
    """(xh + xl)/y for a float64 y: q₁ = fl(xh/y); xh − fl(q₁y) is exact (Sterbenz) and the
    product's error exact by TwoProd; q₂ = fl((xh − p − e + xl)/y). Relative error ≤ 8u²
    (≤ 2^−100): the two roundings on a remainder ≤ 3u|x| and the division of it (each ≤ u of
    a term ≤ 3u of the quotient), with no underflow (|x|, |x/y| ≥ 2^−900) and no overflow in
    the splitting (|y|, |x/y| ≤ 2^900)."""
    q1 = xh / y
    p, e = two_prod(q1, np.broadcast_to(y, q1.shape))
    q2 = (((xh - p) - e) + xl) / y
    return _fast_two_sum(q1, q2)


def _div_dd(nh: Array, nl: Array, dh: Array, dl: Array) -> tuple[Array, Array]:
    """(nh + nl)/(dh + dl), relative error ≤ 32u² (as ``dd_div``'s bound), for quotients
    ≥ 2^−900: q₁ = fl(nh/dh); the remainder R = n − q₁d = (nh − p − e) + nl − q₁dl (nh − p
    exact by Sterbenz, e exact by TwoProd; three roundings of terms ≤ 6u|n|: ≤ 16u²|n|);
    q₂ = fl(R/dh), off R/d by |dl/dh| ≤ u and one rounding (each ≤ 3u² of q); q₁ + q₂ exact
    (Fast2Sum): ≤ 22u² + O(u³) in all."""
    q1 = nh / dh
    p, e = two_prod(q1, dh)
    q2 = ((((nh - p) - e) + nl) - q1 * dl) / dh
    return _fast_two_sum(q1, q2)


def _fast_two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """s + e = a + b exactly when |a| ≥ |b| (Dekker; Muller et al., Handbook, §4.3.1)."""
    s = a + b
    return s, b - (s - a)


def _logits(
    z: Array, temperature: float | None, cap: float | None
) -> tuple[Array, Array, Array, Mask]:
    """(vh, vl, δ, usable) of the (capped) logits v = c·tanh(z/(T·c)) or z/T in double-double
    (module docstring, phase 2); −inf entries stay −inf (δ = 0); ``usable`` is False where the
    bound is not available (NaN, +inf without a cap, z/T beyond float64 where it is needed).

    The divisions work on the significands (frexp: z = z₁·2^e exactly, z₁, T₁, c₁ ∈ [1/2, 1)),
    so no magnitude of the formats' values over- or underflows them; the quotients are scaled
    back by exact powers of two, which round only where u or v leave float64's normal range
    (≤ 2^−1075 per part: in the floor of δ).
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        finite = np.isfinite(z)
        all_finite = bool(finite.all())
        zf = z if all_finite else np.where(finite, z, 0.0)
        zero = zf == 0
        zm, ze = np.frexp(zf)
        zeros = np.zeros_like(zf)
        t_m, t_e = math.frexp(1.0 if temperature is None else temperature)
        if temperature is None:
            uh, ul = zf, zeros
            eps_u = 0.0
        else:  # u = (z₁/T₁)·2^(e − e_T), the quotient in (1/2, 2)
            qh, ql = _div_by_double(zm, zeros, t_m)
            shift = (ze - t_e).astype(np.int32, copy=False)  # |·| < 2^12: no overflow
            uh, ul = np.ldexp(qh, shift), np.ldexp(ql, shift)
            eps_u = 2.0**-100
        u_ok = finite & np.isfinite(uh)
        if cap is None:
            vh = uh if all_finite else np.where(finite, uh, z)
            delta = np.abs(uh) * (eps_u * 1.02)
            if temperature is not None:
                delta = np.where(finite & ~zero, delta + _FLOOR, 0.0)
            return vh, ul, delta, u_ok | (z == -np.inf)
        c = cap
        c_m, c_e = math.frexp(c)
        # a = z/(T·c) = (z₁/(T₁c₁))·2^(e − e_T − e_c): T₁c₁ exactly by TwoProd, in [1/4, 1)
        p_h, p_l = two_prod(np.array([t_m]), np.array([c_m]))
        a1h, a1l = _div_dd(zm, zeros, np.full_like(zm, p_h[0]), np.full_like(zm, p_l[0]))
        a_shift = (ze - t_e - c_e).astype(np.int32, copy=False)
        ah, al = np.ldexp(a1h, a_shift), np.ldexp(a1l, a_shift)  # exact where |a| ≥ 2^−300
        a0 = np.abs(ah)
        saturated = (a0 > 2.0**21) & finite
        tiny = (a0 < 2.0**-300) & ~zero & finite
        middle = ~tiny & ~saturated & ~zero & finite
        usable = ~np.isnan(z) & (~finite | zero | saturated | middle | (tiny & u_ok))
        # tiny a: v = u (tanh(a)/a ∈ [1 − a²/3, 1]); zeros: +0
        vh = np.where(zero, 0.0, uh)
        vl = np.where(zero, 0.0, ul)
        rel = np.full(z.shape, eps_u + 2.0**-590)
        if middle.all():  # the usual row: no indexing passes
            vh, vl, rel = _tanh_capped(ah, al, uh, ul, c, eps_u)
        elif middle.any():
            idx = np.nonzero(middle)
            vh[idx], vl[idx], rel[idx] = _tanh_capped(ah[idx], al[idx], uh[idx], ul[idx], c, eps_u)
        # saturated: v = ±c (the sign of z), relative error below 2^−2000
        if saturated.any():
            vh = np.where(saturated, np.where(zf < 0, -c, c), vh)
            vl = np.where(saturated, 0.0, vl)
            rel = np.where(saturated, 2.0**-1000 * 2.0**-1000, rel)
        inexact = finite & ~zero
        if not all_finite:  # capped +inf is c exactly; −inf stays a mask
            vh = np.where(z == np.inf, c, np.where(z == -np.inf, -np.inf, vh))
            vl = np.where(finite, vl, 0.0)
        delta = np.where(inexact, 1.02 * rel * np.abs(vh) + _FLOOR, 0.0)
        usable &= np.isfinite(delta) & (np.isfinite(vh) | (z == -np.inf))
    return vh, vl, delta, usable


def _tanh_capped(
    ah: Array, al: Array, uh: Array, ul: Array, c: float, eps_u: float
) -> tuple[Array, Array, Array]:
    """c·tanh(a) for 2^−300 ≤ |a| ≤ 2^21 (a = u/c, both given; module docstring, phase 2):
    (vh, vl, relative error). Taylor below |a| = 2^−12 (v = u·g), (1 − E)/(1 + E) above,
    v = ±c beyond |a| = 2^20."""
    eps_a = 2.0**-100  # a from z directly: _div_dd's 32u²
    c_m, c_e = math.frexp(c)
    aa = np.abs(ah)
    vh, vl, rel = np.empty_like(ah), np.empty_like(ah), np.empty_like(ah)
    taylor = aa < 2.0**-12
    sat = aa > 2.0**20
    expo = ~taylor & ~sat
    if taylor.any():
        th, tl = ah[taylor], al[taylor]
        yh, yl = dd_mul(th, tl, th, tl)
        y3h, y3l = _div_by_double(yh, yl, 3.0)
        small = yh * yh * (2.0 / 15.0) - yh * yh * yh * (17.0 / 315.0)  # ≤ 2^−48: float64
        gh, gl = _fast_two_sum(np.ones_like(yh), -y3h)  # |y/3| < 1: exact
        gh, gl = _fast_two_sum(gh, gl + (small - y3l))  # the low terms ≤ 2^−48: ≤ 2^−101
        wh, wl = dd_mul(uh[taylor], ul[taylor], gh, gl)
        y_up = yh * (1 + 2.0**-40)
        vh[taylor], vl[taylor] = wh, wl
        rel[taylor] = 1.02 * (eps_u + y_up * y_up * y_up * y_up + 40 * _U2)
    if expo.any():
        whole = bool(expo.all())
        sh, sl = (ah, al) if whole else (ah[expo], al[expo])
        negative = sh < 0
        sh, sl = np.where(negative, -sh, sh), np.where(negative, -sl, sl)
        m, mh, ml, _valid = _dd_exp(-2.0 * sh, -2.0 * sl)  # valid: −2|a| ≥ −2^21
        m32 = np.maximum(m, -2000).astype(np.int32)
        eh, el = np.ldexp(mh, m32), np.ldexp(ml, m32)
        eps_e = EXP_RELATIVE_ERROR  # the low word −2sl enters exactly (normalized)
        # + the rounding of each low word below (≤ u²(1 + E) absolute on 1 ∓ E)
        err_e = eps_e * eh * 1.01 + 2.0**-1073 + 2 * _U2
        # 1 − E and 1 + E: E ∈ (0, 1) in double-double, TwoSum with 1 then the low part
        nh, nl = two_sum(np.ones_like(eh), -eh)
        nh, nl = _fast_two_sum(nh, nl - el)
        dh, dl = two_sum(np.ones_like(eh), eh)
        dh, dl = _fast_two_sum(dh, dl + el)
        qh, ql = _div_dd(nh, nl, dh, dl)
        # c·q = (c₁q)·2^e_c: TwoProd with c₁ ∈ [1/2, 1), then an exact power of two (it rounds
        # only below 2^−1022: in δ's floor)
        wh, wl = two_prod(qh, np.full_like(qh, c_m))
        wh, wl = _fast_two_sum(wh, wl + ql * c_m)
        wh, wl = np.ldexp(wh, c_e), np.ldexp(wl, c_e)
        wh, wl = np.where(negative, -wh, wh), np.where(negative, -wl, wl)
        wrel = 1.02 * (err_e * 2 / (1 - eh * eh) + eps_a + 48 * _U2)
        if whole:
            return wh, wl, wrel
        vh[expo], vl[expo], rel[expo] = wh, wl, wrel
    if sat.any():
        vh[sat] = np.where(ah[sat] < 0, -c, c)
        vl[sat] = 0.0
        rel[sat] = 2.0**-1000 * 2.0**-1000
    return vh, vl, rel


def _logits_float64(
    z: Array, temperature: float | None, cap: float | None
) -> tuple[Array, Array, Mask]:
    """(v, δ, usable): the logits in float64 with |v̂ − v| ≤ δ, for values of the narrower
    formats. u = fl(z/T) (relative u), a = fl(u/c) (u), tanh (libm, 2^−43; its relative
    sensitivity to a is 2a/sinh 2a ≤ 1), ×c (u): rel ≤ 1.01(2^−43 + 3u)."""
    finite = np.isfinite(z)
    u = z if temperature is None else z / temperature
    rel = 0.0 if temperature is None else _U
    # normal (or zero) as they are for the table's narrower formats; a format built with a
    # wider exponent range gets its extreme rows checked, and left to phase 2
    usable = ~np.isnan(z) & (~finite | (z == 0) | (np.abs(u) >= 2.0**-1000))
    if cap is not None:
        a = u / cap
        usable &= ~finite | (z == 0) | (np.abs(a) >= 2.0**-1000)
        v = cap * np.tanh(np.where(finite, a, 0.0))  # tanh(±0) = ±0
        rel = 1.01 * (_LIBM_ERROR + 2 * _U + rel)
        v = np.where(z == np.inf, cap, np.where(finite, v, z))
    else:
        v = u
        usable &= z != np.inf
    delta = np.where(finite & (z != 0), rel * 1.01 * np.abs(v), 0.0)
    usable &= np.isfinite(v) | (z == -np.inf)
    return v, delta, usable


def _evaluate_float64(
    op: str,
    z: Array,
    temperature: float | None,
    cap: float | None,
    sink: float | None,
    fmt: Format,
) -> tuple[Array, Mask]:
    """(values, ok) for formats narrower than float64, in float64 NumPy (module docstring,
    "Narrower formats"): the logits' values of those formats keep u = z/T and a = u/c normal
    (|z|, T, c ∈ [2^−149, 2^128]), so every step below is one rounding of a normal float64."""
    n, k = z.shape
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        v, delta, usable = _logits_float64(z, temperature, cap)
        if sink is not None:
            v = np.hstack([v, np.full((n, 1), float(sink))])
            delta = np.hstack([delta, np.zeros((n, 1))])
            usable = np.hstack([usable, np.ones((n, 1), dtype=bool)])
        k = v.shape[1]
        masked = v == -np.inf
        live = usable.all(axis=1) & ~masked.all(axis=1)
        if not live.all():
            v = np.where(live[:, None], v, 0.0)
            masked &= live[:, None]
        r = np.arange(n)
        top_at = np.argmax(v, axis=1)
        top = v[r, top_at][:, None]
        t = v - top  # one rounding: u|t|
        t[r, top_at] = 0.0
        delta_top = delta[r, top_at][:, None]
        big_delta = 1.01 * (delta + delta_top + _U * np.abs(t))
        big_delta[r, top_at] = 0.0
        big_delta = np.where(masked, 0.0, big_delta)
        # terms that weigh nothing even at their error's end: e^{t+Δ} < e^{−800}
        negligible = (t + big_delta < -800.0) | masked
        delta_s = np.where(negligible, 0.0, big_delta).max(axis=1, keepdims=True)
        row_ok = live & (delta_s[:, 0] <= 2.0**-20)
        e = np.exp(t)  # exact t̂: relative α ≤ 2^−43 while normal, else ≤ 2^−1000 absolute
        alpha = 1.01 * _LIBM_ERROR
        theta = 1.02 * delta_s  # e^{Δ} − 1 ≤ 1.02Δ on the sums' terms
        if op == "softmax":
            total, additions = _row_sum_bounded(e)
            s = e / total
            eps = 1.02 * (2 * alpha + (additions + 2) * _U) + theta + 1.02 * big_delta
            value, ok = _settle_relative(s, eps, fmt)
            retry = ~ok
            if retry.any():  # subnormal results, near-breakpoints: interval ends with η
                s_r, eps_r = s[retry], eps[retry]
                lo = np.maximum(s_r * (1 - eps_r) - _ETA, 0.0)
                hi = s_r * (1 + eps_r) + _ETA
                value[retry], ok[retry] = _settle_interval(lo, hi, fmt)
            # beyond e^{−800} (masked: exactly 0): +0 in every narrower format
            value = np.where(negligible, 0.0, value)
            ok = (ok & (eps < 2.0**-20) | negligible) & row_ok[:, None]
            return value, ok
        others = e.copy()
        others[r, top_at] = 0.0
        s1 = others.sum(axis=1, keepdims=True)
        big_l = np.log1p(s1)
        lam = 1.02 * (alpha + k * _U + _LIBM_ERROR) + theta
        abs_l = 2 * k * _TINY
        if op == "log_softmax":
            raw = t - big_l
            rad = np.abs(raw) * 1.02 * _U + big_l * lam + abs_l + big_delta
            magnitude, ok = _settle_interval(np.maximum(-raw - rad, 0.0), -raw + rad, fmt)
            single = (~masked).sum(axis=1, keepdims=True) == 1  # t = 0, L = 0: +0
            value = np.where(single & (t == 0), 0.0, -magnitude)
            value = np.where(masked, -np.inf, value)
            ok = (ok & np.isfinite(raw) & (rad < np.abs(raw) * 2.0**-20 + 2.0**-900)) | masked
            return value, ok & row_ok[:, None]
        scale = 1.0 if temperature is None else temperature
        raw = (top + big_l) * scale
        rad = scale * (delta_top + big_l * lam + abs_l) + np.abs(raw) * 2.02 * _U
        value = round_array(raw, fmt)
        lo, hi = round_array(raw - rad, fmt), round_array(raw + rad, fmt)
        ok = (lo == value) & (hi == value) & np.isfinite(raw)
        ok &= (np.signbit(lo) == np.signbit(hi)) & (np.signbit(value) == np.signbit(hi))
        return value, ok & row_ok[:, None]


def _evaluate(
    op: str,
    z: Array,
    temperature: float | None,
    cap: float | None,
    sink: float | None,
    fmt: Format,
) -> tuple[Array, Mask]:
    """(values, ok) of ``op`` on the rows z (n, K) extended by the sink (n, K + 1 then; one
    column for logsumexp)."""
    vh, vl, delta, usable = _logits(z, temperature, cap)
    n, k0 = z.shape
    k = k0 + (sink is not None)
    if 2 < k <= 1024 and k & (k - 1):  # −inf columns up to a power of two: no padding per level
        k = 1 << (k - 1).bit_length()
    if k != k0:  # the sink's column, then the padding (masked, exact)

        def extend(x: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            wide = np.full((n, k), fill, dtype=x.dtype)
            wide[:, :k0] = x
            return wide

        vh, vl, delta, usable = (
            extend(vh, -np.inf),
            extend(vl, 0.0),
            extend(delta, 0.0),
            extend(usable, True),
        )
        if sink is not None:
            vh[:, k0] = sink
    width = 1 if op == "logsumexp" else k
    value = np.zeros((n, width))
    ok = np.zeros((n, width), dtype=bool)
    masked = vh == -np.inf
    live = usable.all(axis=1) & ~masked.all(axis=1)
    if not live.any():
        return value, ok
    rows: Any = slice(None)
    if not live.all():
        rows = np.flatnonzero(live)
        vh, vl, delta, masked = vh[rows], vl[rows], delta[rows], masked[rows]
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        # the top entry: the double-double maximum (hi first, then lo), first of ties
        top_h = vh.max(axis=1, keepdims=True)
        low = np.where(vh == top_h, vl, -np.inf)
        a = np.argmax(low, axis=1)
        r = np.arange(vh.shape[0])
        ah, al, delta_a = vh[r, a][:, None], vl[r, a][:, None], delta[r, a][:, None]
        th, tl = dd_add(vh, vl, -np.broadcast_to(ah, vh.shape), -np.broadcast_to(al, vh.shape))
        th = np.where(masked, -np.inf, th)
        tl = np.where(masked, 0.0, tl)
        th[r, a], tl[r, a] = 0.0, 0.0
        big_delta = 1.01 * (delta + delta_a + 4 * _U2 * np.abs(th))
        big_delta = np.where(masked, 0.0, big_delta)
        big_delta[r, a] = 0.0
        good = ~(th > 0).any(axis=1) & ~((th == 0) & (tl > 0)).any(axis=1)
        good &= ~np.isnan(th).any(axis=1) & np.isfinite(big_delta).all(axis=1)
        # fast.py's partition leaves out the first entry with t̂ = 0: a itself, as t̂_j = 0
        # exactly only where v̂_j = v̂_a, and a is the first of those
        fn = _softmax if op == "softmax" else _log_ops
        v, settled = fn(
            op, th, tl, big_delta, masked, ah[:, 0], al[:, 0], delta_a[:, 0], temperature, fmt
        )
        settled &= good[:, None]
    value[rows], ok[rows] = v, settled
    return value, ok


def _term_bounds(
    big_delta: Array, masked: Mask, m: npt.NDArray[np.int64], valid: Mask
) -> tuple[Array, Mask]:
    """(Δ over the sum's terms per row, rows whose left-out terms stay below 2^−997)."""
    in_sum = valid & (m >= -1000) & ~masked
    delta_s = np.where(in_sum, big_delta, 0.0).max(axis=1)
    left_out_ok = np.where(valid & ~in_sum & ~masked, big_delta <= 1.0, True).all(axis=1)
    left_out_ok &= np.where(~valid & ~masked, big_delta <= 2.0**20, True).all(axis=1)
    left_out_ok &= delta_s <= 2.0**-20
    return delta_s, left_out_ok


def _softmax(
    op: str,
    th: Array,
    tl: Array,
    big_delta: Array,
    masked: Mask,
    ah: Array,
    al: Array,
    delta_a: Array,
    temperature: float | None,
    fmt: Format,
) -> tuple[Array, Mask]:
    """s_j = e^{t_j}/S (fast.py ``_softmax_dd``'s evaluation; the bound of the module
    docstring)."""
    k = th.shape[1]
    part = _dd_partition(th, tl, without_top=False)
    delta_s, rows_ok = _term_bounds(big_delta, masked, part.m, part.valid)
    one = np.ones_like(part.sum_h)
    inv_h, inv_l = dd_div(one, np.zeros_like(one), part.sum_h, part.sum_l)
    eps_fast = 1.05 * (
        2 * EXP_RELATIVE_ERROR + (part.levels * 3 + 32 + 7 + 10) * _U2 + k * 2.0**-996
    )
    eps = eps_fast + 1.02 * (big_delta + delta_s[:, None])
    qh, ql = dd_mul(part.mh, part.ml, inv_h[:, None], inv_l[:, None])
    value, ok = _settle_scaled(part.m, qh, ql, eps, fmt)
    ok &= eps < 2.0**-20
    # masked entries are +0 exactly; beyond the exp range, e^{t} < e^{−2^20}: below every
    # format's smallest subnormal's half, so +0
    zero = ~part.valid
    value = np.where(zero, 0.0, value)
    ok = (ok | zero) & rows_ok[:, None]
    return value, ok


def _log_ops(
    op: str,
    th: Array,
    tl: Array,
    big_delta: Array,
    masked: Mask,
    ah: Array,
    al: Array,
    delta_a: Array,
    temperature: float | None,
    fmt: Format,
) -> tuple[Array, Mask]:
    """log_softmax and logsumexp from L = log1p(S′) (fast.py ``_log_partition_dd``'s
    evaluation; the bound of the module docstring)."""
    k = th.shape[1]
    part = _dd_partition(th, tl, without_top=True)
    delta_s, rows_ok = _term_bounds(big_delta, masked, part.m, part.valid)
    s1h, s1l = part.sum_h, part.sum_l
    sigma = 1.05 * (2 * EXP_RELATIVE_ERROR + part.levels * 3 * _U2 + k * 2.0**-96) + 1.02 * delta_s
    lh, ll, err_l = log1p_dd(s1h, s1l, sigma)
    single = (~masked).sum(axis=1) == 1  # one finite entry: L = 0 exactly
    # S′ below the double-double's reach: 0 ≤ L ≤ S′ ≤ s1h(1 + σ) + K·2^−997 (terms left out)
    below = (s1h < 2.0**-900) & ~single
    zero_l = single | below
    row_ok = ((np.isfinite(err_l) & ~below) | zero_l) & rows_ok
    lh = np.where(zero_l, 0.0, lh)
    ll = np.where(zero_l, 0.0, ll)
    err_l = np.where(single, 0.0, np.where(below, 1.02 * (s1h + k * 2.0**-997), err_l))
    if op == "log_softmax":
        # masked entries are −inf exactly: a finite stand-in keeps them off the slow settle
        vh, vl = dd_add(np.where(masked, -1.0, th), tl, -lh[:, None], -ll[:, None])
        err = (err_l[:, None] + big_delta) * 1.01 + 5 * _U2 * np.abs(vh)
        value, ok = _settle_signed(vh, vl, err, fmt)
        value = np.where(masked, -np.inf, value)
        ok = (ok & np.isfinite(vh) | masked) & row_ok[:, None]
        return value, ok
    scale = 1.0 if temperature is None else temperature
    vh, vl = dd_add(ah, al, lh, ll)
    if temperature is not None:
        vh, vl = dd_mul(vh, vl, np.full_like(vh, scale), np.zeros_like(vh))
    err = (
        scale * (delta_a + err_l) * 1.01
        + 10 * _U2 * (np.abs(vh) + scale * (np.abs(ah) + lh))
        + (_FLOOR if temperature is not None else 0.0)
    )
    value, ok = _settle_signed(vh, vl, err, fmt)
    ok &= np.isfinite(vh) & np.isfinite(err) & row_ok
    return value[:, None], ok[:, None]
