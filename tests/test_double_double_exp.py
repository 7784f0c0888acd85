"""dd_exp_scaled against mpmath: its documented bound EXP_RELATIVE_ERROR over the whole range.

:func:`symsoftmax.reference.double_double.dd_exp_scaled` claims e^(th + tl) = 2^m·(mh + ml)
within relative error 2^−86 for th ∈ [−2^21, 0] and any normalized low word |tl| ≤ ulp(th)/2.
The exact value is taken from mpmath at 400 bits (e^t·2^−m, exact doubles in, no rounding of
the comparison that could hide an error above 2^−300). Arguments:

* random th in every binade of [−2^21, 0] (subnormals included), with random low words, the
  extreme ones ±ulp(th)/2 and 0;
* the reduction's worst cases: th + tl as close as a double-double gets to a multiple k·ln2/4096
  (r ≈ 0, where the low word outweighs th − k·c and the last Fast2Sum is used outside its
  order condition), and to (k + ½)·ln2/4096 (|r| at its largest, k's rounding at a tie), for
  k spread over [1, 2^33.5] and each side of the short reduction's limit 2^23;
* the ends of the range, −2^21 and −1400 (where the wide reduction takes over), and −2048
  (where the single 30-bit first constant stopped being exact).

Each array runs once whole (any entry below −1400: the wide reduction for all) and once
restricted to th ≥ −1400 (the short one), so both reductions are checked on the same points.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from symsoftmax.reference import double_double as dd
from symsoftmax.reference.double_double import EXP_RELATIVE_ERROR, dd_exp_scaled

_PREC = 400
_C = math.log(2) / 4096  # only to place points; the exact value is mpmath's


def _ulp(x: np.ndarray) -> np.ndarray:
    return np.spacing(np.abs(x))


def _relative_errors(th: np.ndarray, tl: np.ndarray) -> np.ndarray:
    """|2^m(mh + ml) − e^(th + tl)| / e^(th + tl) per entry (all must be valid)."""
    m, mh, ml, valid = dd_exp_scaled(th, tl)
    assert valid.all()
    assert ((mh + ml >= 0.99) & (mh + ml <= 2.01)).all()
    out = np.empty(th.shape)
    with mpmath.workprec(_PREC):
        for i in range(th.size):
            exact = mpmath.exp(mpmath.mpf(float(th[i])) + mpmath.mpf(float(tl[i])))
            exact = mpmath.ldexp(exact, -int(m[i]))
            got = mpmath.mpf(float(mh[i])) + mpmath.mpf(float(ml[i]))
            out[i] = float(abs(got - exact) / exact)
    return out


def _check(th: np.ndarray, tl: np.ndarray) -> float:
    """The largest relative error of both reductions on (th, tl); asserts the bound."""
    worst = 0.0
    short = th >= -1400.0
    for sel in (np.ones_like(short), short):
        if not sel.any():
            continue
        err = _relative_errors(th[sel], tl[sel])
        bad = np.flatnonzero(err > EXP_RELATIVE_ERROR)
        assert bad.size == 0, [
            (float(th[sel][i]).hex(), float(tl[sel][i]).hex(), math.log2(err[i])) for i in bad[:5]
        ]
        worst = max(worst, float(err.max()))
    return worst


def _binade_points(rng: np.random.Generator, per_binade: int) -> tuple[np.ndarray, np.ndarray]:
    """th = −2^e·(1 + f) for every e from −1074 to 20, plus −2^21 and 0; tl random within
    ±ulp(th)/2, every third entry at an extreme (±ulp/2) and every fifth 0."""
    exps = np.repeat(np.arange(-1074, 21), per_binade)
    th = -np.ldexp(1.0 + rng.random(exps.size), exps)
    th = np.concatenate([th, [-(2.0**21), -0.0, 0.0]])
    half = _ulp(th) / 2
    tl = half * rng.uniform(-1.0, 1.0, th.size)
    tl[::3] = half[::3] * rng.choice([-1.0, 1.0], th[::3].size)
    tl[::5] = 0.0
    tl[th == 0] = 0.0
    return th, tl


def _near_multiples(ks: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Double-doubles th + tl nearest to −(k + offset)·ln2/4096, and th stepped 1–2 ulps off
    (tl then the rest of the way, as far as ½ulp(th) allows), all within [−2^21, 0]."""
    ths: list[float] = []
    tls: list[float] = []
    with mpmath.workprec(_PREC):
        c = mpmath.log(2) / 4096
        for k in ks:
            target = -(mpmath.mpf(int(k)) + offset) * c
            base = float(target)
            for step in (0, 1, -1, 2):
                th = base
                for _ in range(abs(step)):
                    th = math.nextafter(th, math.inf if step > 0 else -math.inf)
                if not -(2.0**21) <= th <= 0.0:
                    continue
                half = math.ulp(th) / 2
                tl = min(max(float(target - th), -half), half)
                ths.append(th)
                tls.append(tl)
    return np.array(ths), np.array(tls)


def _sample_ks(rng: np.random.Generator, n: int) -> np.ndarray:
    top = 2.0**21 / _C
    ks = np.exp(rng.uniform(0.0, math.log(top), n)).astype(np.int64)
    edges = [1, 2, 3, 2**23 - 1, 2**23, 2**23 + 1, int(1400 / _C), int(2048 / _C), int(top) - 1]
    return np.unique(np.concatenate([ks, edges]))


def test_every_binade() -> None:
    th, tl = _binade_points(np.random.default_rng(1), 3)
    _check(th, tl)


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_near_multiples_of_the_reduction_step(offset: float) -> None:
    th, tl = _near_multiples(_sample_ks(np.random.default_rng(2), 120), offset)
    _check(th, tl)


def test_range_ends() -> None:
    points = [-(2.0**21), -1400.0, -2048.0, -1419.0, -1420.0, -1.0, -(2.0**-1074)]
    th = np.array(
        [q for p in points for q in (p, math.nextafter(p, 0.0), math.nextafter(p, -math.inf))]
    )
    th = th[(th >= -(2.0**21)) & (th <= 0.0)]
    for sign in (-1.0, 0.0, 1.0):
        _check(th, sign * _ulp(th) / 2)


def test_out_of_range_entries_are_flagged_and_leave_the_rest_alone() -> None:
    inside = np.array([-3.0, -1500.0, -(2.0**21)])
    outside = np.array([np.nextafter(-(2.0**21), -np.inf), 1e-300, np.inf, -np.inf, np.nan])
    th = np.concatenate([inside, outside])
    tl = np.zeros_like(th)
    m, mh, ml, valid = dd_exp_scaled(th, tl)
    assert valid.tolist() == [True] * inside.size + [False] * outside.size
    assert (mh[~valid] == 0).all() and (ml[~valid] == 0).all()
    m0, mh0, ml0, _ = dd_exp_scaled(inside, tl[: inside.size])
    assert (m[valid] == m0).all() and (mh[valid] == mh0).all() and (ml[valid] == ml0).all()


def test_constants_make_the_products_exact() -> None:
    """k·c1 needs 53 bits at most: c1's significant bits plus |k|'s largest bit length."""

    def bits(x: float) -> int:
        n, _ = x.as_integer_ratio()
        return n.bit_length() - (n & -n).bit_length() + 1

    k_wide = math.ceil(2.0**21 / _C) + 1
    k_short = math.ceil(1400 / _C) + 1
    assert bits(dd._C1_WIDE) + k_wide.bit_length() <= 53
    assert bits(dd._C1) + k_short.bit_length() <= 53
    assert bits(dd._C2_HI) + k_short.bit_length() <= 53
    assert bits(dd._C2_LO) + k_short.bit_length() <= 53


@pytest.mark.slow
def test_sweep() -> None:
    rng = np.random.default_rng(3)
    _check(*_binade_points(rng, 40))
    for offset in (0.0, 0.5, 0.25):
        _check(*_near_multiples(_sample_ks(rng, 3000), offset))
