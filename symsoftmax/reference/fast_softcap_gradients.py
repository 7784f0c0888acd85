"""Fast path for soft-capped softmax_vjp and log_softmax_vjp rows, with a rigorous error bound;
what the bound does not decide stays pending for the authority.

Definitions (the engine's, :mod:`symsoftmax.reference.engine`, ``_CapChain``; docs/reference.md,
"Sinks and soft-caps"): the capped logits v_j = c·tanh(a_j), a_j = z_j/c (these ops take no
temperature; +inf is capped to c, −inf stays a mask), extended by the sink s (uncapped, g_s = 0,
its own output dropped). The VJP with respect to z is the VJP with respect to v (the module
docstring of :mod:`symsoftmax.reference.fast_gradients`) times dv_j/dz_j = sech²(a_j):

    dz_j = D_j(v, g)·F_j,  F_j = sech²(a_j) = 4E_j/(1 + E_j)²,  E_j = e^{−2|a_j|};

F_j = 1 exactly at z_j = 0, and the engine's exact outputs: +0 at z_j = ±inf (capped +inf,
masked −inf), D_j itself where D_j is an exact zero (F_j > 0 keeps its sign).

Bound (u = 2^−53; Joldes, Muller & Popescu, ACM TOMS 44(2), 2017, for the double-double steps:
+ 3u², × 7u², ÷ 32u²; the exponential of :mod:`~symsoftmax.reference.double_double`):

* The logits v̂_j and their bounds δ_j are :func:`symsoftmax.reference.fast_softcap._logits`
  (its module docstring, phase 2). The shifts t̂_j = v̂_j − v̂_a (a the double-double maximum,
  DWPlusDW) are off t_j by Δ_j = 1.01(δ_j + δ_a + 4u²|t̂_j|) (as fast_softcap); their low
  words are normalized, which ``dd_exp_scaled`` adds exactly, so its EXP_RELATIVE_ERROR
  (fast_gradients' ε_e) holds as it is over all of [−2^21, 0]. With
  Δ = max_F Δ_j ≤ 2^−24: e^{t_j} = e^{t̂_j}e^{θ_j}, |θ_j| ≤ Δ, and S/Ŝ ∈ e^{±Δ}, so
  s_j/ŝ_j ∈ e^{±2Δ} and |ŝ_j − s_j| ≤ r·min(s_j, ŝ_j)·(1 + 2^−20), r = 2.02Δ (each s_j
  relatively, the left-out and far terms included).
* The VJPs at t̂ are fast_gradients' evaluation with its bounds; the perturbation adds
  (:class:`~symsoftmax.reference.fast_gradients.Chain`): softmax_vjp, Q = Σ s_j h_j moves by
  ≤ r·Σ ŝ_j|h_j| (a weighted sum of |h|, so a one-hot g keeps its relative precision), and
  dz_i = s_i d_i by ≤ r|ŝ_i d̂_i| + s_i|d̂_i − d_i|; log_softmax_vjp, Γs_i by ≤ r|Γ|ŝ_i, and in
  form B S′/S = Σ_{j≠a} s_j by ≤ r·S′/S. Cancellation (g_i ≈ ḡ, g_i ≈ Γs_i) only widens the
  absolute interval.
* F_j: a_j = z_j/c by ``_div_by_double`` on the significands (relative ≤ 8u² ≤ 2^−100, scaled
  back by an exact power of two for |a| ≥ 2^−300). |a| < 2^−300: F ∈ [1 − a², 1], taken as 1
  within 2^−600. 2^−300 ≤ |a| ≤ 1400: e^{−|a|} by ``dd_exp_scaled`` (a's low word normalized),
  relative ε₁ = EXP_RELATIVE_ERROR + 1.01|a|·2^−100 (a's error: e^{|a|ε_a} − 1), squared
  (DWTimesDW) to E = e^{−2|a|}:
  ε_E = 1.02(2ε₁ + 7u²); F's relative sensitivity to E is (1 − E)/(1 + E) < 1; 1 + E in
  double-double (a low-word rounding ≤ 2u², E's parts below 2^−1022 lost: ≤ 2^−1073), squared
  (7u²), 4(mh + ml)/(1 + E)² (32u²): F = 2^m·F̂, F̂ ∈ [0.99, 8.1], relative
  ε_F = 1.02(ε_E + 2(2u² + 2^−1073) + 39u²). |a| > 1400: F < 4e^{−2800} < 2^−4037.
* dz = 2^m(vh + vl) within 2^m·err (fast_gradients) times F: P̂ = DWTimesDW(v̂, F̂) in units of
  2^{m + m_F}, |P − P̂| ≤ 1.01(|P̂|(7u² + ε_F) + err·F̂(1 + ε_F)) + 2^−1070 (low products that
  underflow); settled by fast_gradients' ``_settle_exp`` only where the whole interval excludes
  0 and rounds to one value (subnormal results and zeros of the format included: the scaled
  rounding takes any exponent). |a| > 1400: |D| ≤ (K + 1)·2^1024 (|s_i(g_i − ḡ)| ≤ 2max|g|,
  |g_i − Γs_i| ≤ (K + 1)max|g|), so |dz| < 2^(1025 + log2(K + 1) − 4037) rounds to the zero of
  D's sign (K < 2^1000), settled where D's interval excludes 0.

Rows left pending: NaN or ±inf sinks, NaN entries or non-finite g (the engine's NaN rows), no
finite entry, an unusable logit (fast_softcap's ``usable``), Δ > 2^−24.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.reference import fast_gradients as fg
from symsoftmax.reference.double_double import (
    EXP_RELATIVE_ERROR,
    dd_add,
    dd_div,
    dd_mul,
    two_sum,
)
from symsoftmax.reference.double_double import dd_exp_scaled as _dd_exp
from symsoftmax.reference.fast_softcap import _div_by_double, _fast_two_sum, _logits

__all__ = ["OPS", "settle"]

OPS = ("softmax_vjp", "log_softmax_vjp")
"""The ops this module settles, on rows with a soft-cap."""

Array = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
_U = 2.0**-53
_U2 = _U * _U
_MAX_DELTA = 2.0**-24  # shifts' error beyond which a row is left to the authority
_VANISH = 1400.0  # |z/c| beyond which sech² < 4e^{−2800} < 2^−4037
_BLOCK_ELEMENTS = 1 << 14  # rows per block: about this many entries


def settle(problem: Any, out: npt.NDArray[Any], pending: Mask) -> None:
    """Fill ``out`` and clear ``pending`` where the bound decides (``problem``: a
    :class:`symsoftmax.reference._Problem` of softmax_vjp or log_softmax_vjp with a soft-cap)."""
    if problem.op not in OPS or problem.softcap is None or problem.other_rows is None:
        return
    sink = problem.sink
    if problem.temperature is not None or (sink is not None and not math.isfinite(sink)):
        return  # NaN and ±inf sinks: the authority's exact cases
    rows, other = problem.rows, problem.other_rows
    n, k = rows.shape
    if n == 0 or k == 0:
        return
    block = max(1, _BLOCK_ELEMENTS // (k + 1))
    left = np.flatnonzero(pending.any(axis=1))
    for start in range(0, left.size, block):
        index = left[start : start + block]
        value, ok = _evaluate(
            problem.op, rows[index], other[index], float(problem.softcap), sink, problem.fmt
        )
        take = ok & pending[index]
        sub = out[index]
        np.copyto(sub, value, where=take)
        out[index] = sub
        pending[index] &= ~take


class _Chain:
    """The shifts' exponentials, their spread r per row, and the factors F = 2^m_F·(fh + fl)
    (relative error ε_F; ``vanish``: F < 2^−4037) of the extended rows (module docstring)."""

    def __init__(self, exps: fg._Exps, spread: Array, factor: tuple[Any, ...]) -> None:
        self.exps = exps
        self.spread = spread
        self.fm, self.fh, self.fl, self.feps, self.vanish = factor

    def settle(
        self, m: Ints, vh: Array, vl: Array, err: Array, fmt: Format, at: Any = None
    ) -> tuple[Array, Mask]:
        """Round F·2^m(vh + vl) (within F·2^m·err) to ``fmt`` where the bound decides."""
        where = (slice(None), slice(None)) if at is None else at
        fm, fh, fl = self.fm[where], self.fh[where], self.fl[where]
        feps, vanish = self.feps[where], self.vanish[where]
        ph, pl = dd_mul(vh, vl, fh, fl)
        e_p = 1.01 * (np.abs(ph) * (7 * _U2 + feps) + err * fh * (1 + feps)) + 2.0**-1070
        value, ok = fg._settle_exp(m + fm, ph, pl, e_p, fmt)
        # F below 2^−4037: the product rounds to the zero of D's sign where that is known
        sign_known = np.abs(vh) > 1.01 * (err + np.abs(vl))
        value = np.where(vanish, np.copysign(0.0, vh), value)
        return value, np.where(vanish, sign_known, ok)


def _factors(z: Array, cap: float) -> tuple[Ints, Array, Array, Array, Mask]:
    """(m_F, fh, fl, ε_F, vanish) of F = sech²(z/c) (module docstring); F = 1 exactly at 0 and
    ±inf's factor (0) is the caller's."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return _factors_of(z, cap)


def _factors_of(z: Array, cap: float) -> tuple[Ints, Array, Array, Array, Mask]:
    finite = np.isfinite(z)
    zf = np.where(finite, z, 0.0)
    zm, ze = np.frexp(zf)
    c_m, c_e = math.frexp(cap)
    qh, ql = _div_by_double(np.where(zf == 0, 0.5, zm), np.zeros_like(zm), c_m)
    shift = (ze - c_e).astype(np.int32, copy=False)
    ah, al = np.ldexp(np.abs(qh), shift), np.ldexp(np.where(qh < 0, -ql, ql), shift)
    a0 = np.where(zf == 0, 0.0, ah)  # |a|
    al = np.where(zf == 0, 0.0, al)
    vanish = finite & ~(a0 <= _VANISH)
    middle = finite & (a0 >= 2.0**-300) & ~vanish
    fm = np.zeros(z.shape, dtype=np.int64)
    fh, fl = np.ones_like(zf), np.zeros_like(zf)
    feps = np.where(finite & (zf != 0), 2.0**-600, 0.0)  # tiny |a|: F ∈ [1 − a², 1]
    if middle.any():
        idx = np.nonzero(middle)
        sh, sl = a0[idx], al[idx]
        # e^{−|a|}, squared
        m1, mh1, ml1, _ = _dd_exp(-sh, -sl)
        eps_1 = EXP_RELATIVE_ERROR + 1.01 * sh * 2.0**-100
        eps_e = 1.02 * (2 * eps_1 + 7 * _U2)
        mh, ml = dd_mul(mh1, ml1, mh1, ml1)
        m = 2 * m1
        m32 = np.maximum(m, -2000).astype(np.int32)
        eh, el = np.ldexp(mh, m32), np.ldexp(ml, m32)  # E ≤ 1; below 2^−1022: ≤ 2^−1074 off
        dh, dl = two_sum(np.ones_like(eh), eh)
        dh, dl = _fast_two_sum(dh, dl + el)
        d2h, d2l = dd_mul(dh, dl, dh, dl)
        f_h, f_l = dd_div(4 * mh, 4 * ml, d2h, d2l)
        fm[idx] = m
        fh[idx], fl[idx] = f_h, f_l
        feps[idx] = 1.02 * (eps_e + 2 * (2 * _U2 + 2.0**-1073) + 39 * _U2)
    return fm, fh, fl, feps, vanish


def _evaluate(
    op: str, z: Array, g: Array, cap: float, sink: float | None, fmt: Format
) -> tuple[Array, Mask]:
    """(values, ok) of ``op`` on the rows z (n, K) with cotangents g, through the cap."""
    n, k0 = z.shape
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        vh, vl, delta, usable = _logits(z, None, cap)
        fm, fh, fl, feps, vanish = _factors(z, cap)
        gx = g
        if sink is not None:  # the sink: one more exact, uncapped entry with g_s = 0, F_s = 1

            def extend(x: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
                return np.hstack([x, np.full((n, 1), fill, dtype=x.dtype)])

            vh, vl, delta, usable = (
                extend(vh, float(sink)),
                extend(vl, 0.0),
                extend(delta, 0.0),
                extend(usable, True),
            )
            fm, fh, fl = extend(fm, 0), extend(fh, 1.0), extend(fl, 0.0)
            feps, vanish, gx = extend(feps, 0.0), extend(vanish, False), extend(g, 0.0)
        live = usable.all(axis=1) & (vh != -np.inf).any(axis=1) & np.isfinite(g).all(axis=1)
        live &= ~np.isnan(z).any(axis=1)
        if not live.all():  # dead rows: computed as rows of zeros, not taken
            dead = ~live[:, None]
            vh, vl = np.where(dead, 0.0, vh), np.where(dead, 0.0, vl)
            delta, gx = np.where(dead, 0.0, delta), np.where(dead, 0.0, gx)
        finite = vh != -np.inf
        # the top entry: the double-double maximum (hi first, then lo), first of ties
        r = np.arange(n)
        top_h = np.where(finite, vh, -np.inf).max(axis=1, keepdims=True)
        low = np.where(vh == top_h, vl, -np.inf)
        a = np.argmax(low, axis=1)
        ah, al, delta_a = vh[r, a][:, None], vl[r, a][:, None], delta[r, a][:, None]
        th, tl = dd_add(vh, vl, -np.broadcast_to(ah, vh.shape), -np.broadcast_to(al, vh.shape))
        th = np.where(finite, th, -np.inf)
        tl = np.where(finite, tl, 0.0)
        th[r, a], tl[r, a] = 0.0, 0.0
        big_delta = 1.01 * (delta + delta_a + 4 * _U2 * np.abs(th))
        big_delta[r, a] = 0.0
        big_delta = np.where(finite, big_delta, 0.0)
        worst = np.where(finite & np.isfinite(th), big_delta, 0.0).max(axis=1)
        good = live & ~((th > 0) | ((th == 0) & (tl > 0))).any(axis=1)
        good &= ~np.isnan(th).any(axis=1) & (worst <= _MAX_DELTA)
        x = fg._Exps(th, finite, shifts=(th, tl))
        chain = _Chain(x, 2.02 * np.where(good, worst, 0.0), (fm, fh, fl, feps, vanish))
        if op == "softmax_vjp":
            value, ok = fg._softmax_vjp(th, gx, finite, fmt, chain)
        else:
            value, ok = fg._log_softmax_vjp(th, gx, finite, fmt, 1.0, chain)
        value, ok = value[:, :k0], ok[:, :k0]
        # the chain's exact zeros: +0 at z = ±inf (sech² = 0 at a capped +inf, s = 0 at −inf)
        infinite = np.isinf(z)
        value = np.where(infinite, 0.0, value)
        ok = (ok | infinite) & good[:, None]
    return value, ok
