"""The reference engine against an independent brute force at 1200 bits.

The brute force below is written separately from symsoftmax.reference: the textbook formulas
(no shift tricks, no balls, no Ziv loop) evaluated with mpmath at 1200 bits, then rounded with
``rounding.round_exact`` from both ends of a generous error interval. Where the two ends differ
the brute force cannot decide at 1200 bits (values within ~2^−1100 of a rounding breakpoint,
exact zeros) and the element is skipped; the tests check that such skips stay rare. Rows whose
finite entries are all equal are computed exactly with Fractions (s = 1/k).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import as_format_array, round_array, round_exact

PREC = 1200
FORMAT_NAMES = tuple(FORMATS)


# --------------------------------------------------------------------------------------------
# the brute force (textbook formulas at 1200 bits; documented special-value conventions)
# --------------------------------------------------------------------------------------------


def _brute_exact(op: str, x: list[float], other: list[float] | None, t: float | None) -> Any:
    """Exact or 1200-bit values as a list of (value, is_exact); value an mpf or Fraction."""
    k = len(x)
    nan, inf = float("nan"), float("inf")
    if any(math.isnan(v) for v in x) or (other and not all(math.isfinite(v) for v in other)):
        n = 1 if op in ("logsumexp", "cross_entropy") else k * k if op == "jacobian" else k
        return [(nan, True)] * n
    if inf in x:  # limit: uniform over +inf entries
        x = [0.0 if v == inf else -inf for v in x]
        if op == "logsumexp":
            return [(inf, True)]
    finite = [i for i in range(k) if math.isfinite(x[i])]
    if not finite:
        if op == "logsumexp":
            return [(-inf, True)]
        n = 1 if op == "cross_entropy" else k * k if op == "jacobian" else k
        return [(nan, True)] * n
    top = max(x[i] for i in finite)
    equal = all(x[i] == top for i in finite)
    with mpmath.workprec(PREC):
        scale = mpmath.mpf(1) if t is None else mpmath.mpf(t)
        ts = {i: (mpmath.mpf(x[i]) - mpmath.mpf(top)) / scale for i in finite}
        es = {i: mpmath.exp(ts[i]) for i in finite}
        total = mpmath.fsum(es.values())
        if equal:
            s: list[Any] = [Fraction(1, len(finite)) if i in ts else Fraction(0) for i in range(k)]
        else:
            s = [es[i] / total if i in ts else Fraction(0) for i in range(k)]
        log_total = mpmath.log(total)
        g = other or []
        if op == "softmax":
            return [(v, isinstance(v, Fraction)) for v in s]
        if op == "log_softmax":
            return [(ts[i] - log_total, False) if i in ts else (-inf, True) for i in range(k)]
        if op == "logsumexp":
            return [(mpmath.mpf(top) + scale * log_total, False)]
        if op == "jacobian":
            return [
                (s[i] * ((i == j) - s[j]), equal or s[i] == 0 or s[j] == 0)
                for i in range(k)
                for j in range(k)
            ]
        if op == "softmax_vjp":
            if equal:
                gbar_q = sum(Fraction(g[j]) * s[j] for j in range(k))
                return [(s[i] * (Fraction(g[i]) - gbar_q), True) for i in range(k)]
            gbar = mpmath.fsum(g[j] * s[j] for j in finite)
            return [(s[i] * (g[i] - gbar), s[i] == 0) for i in range(k)]
        if op in ("log_softmax_vjp", "cross_entropy_grad"):
            gamma = sum(Fraction(v) for v in g)
            sign = -1 if op == "cross_entropy_grad" else 1
            out = []
            for i in range(k):
                if equal or s[i] == 0 or gamma == 0:
                    # Γ = 0 (frequent in float8) leaves g_i, whatever s_i is (an mpf there)
                    product = gamma * s[i] if gamma else Fraction(0)
                    out.append((sign * (Fraction(g[i]) - product), True))
                else:
                    gamma_mp = mpmath.mpf(gamma.numerator) / gamma.denominator
                    out.append((sign * (g[i] - s[i] * gamma_mp), False))
            return out
        if op == "cross_entropy":
            outside = [g[i] for i in range(k) if i not in ts and g[i] != 0]
            if outside:
                signs = {v > 0 for v in outside}
                return [(nan if len(signs) == 2 else (inf if True in signs else -inf), True)]
            loss = -mpmath.fsum(g[i] * (ts[i] - log_total) for i in finite)
            return [(loss, False)]
    raise AssertionError(op)


def _round_interval(value: Any, exact: bool, fmt: str, scale: Any) -> float | None:
    if isinstance(value, float):
        return value
    if exact:
        if isinstance(value, mpmath.mpf):  # an exact product with a zero, or a dyadic value
            sign, man, exp, _ = value._mpf_
            value = Fraction(-man if sign else man) * Fraction(2) ** exp
        return round_exact(value, fmt)
    with mpmath.workprec(PREC + 64):
        err = abs(value) * mpmath.mpf(2) ** -1100 + mpmath.mpf(2) ** -1100 * (1 + scale)
        lo, hi = value - err, value + err
    a, b = round_exact(lo, fmt), round_exact(hi, fmt)
    if a == b and math.copysign(1, a) == math.copysign(1, b):
        return a
    return None


def brute_force(
    op: str, x: list[float], other: list[float] | None, fmt: str, t: float | None = None
) -> list[float | None]:
    finite_in = [abs(v) for v in x + (other or []) if math.isfinite(v)]
    scale = mpmath.mpf(max(finite_in, default=1.0)) ** 2 * len(x)
    return [_round_interval(v, e, fmt, scale) for v, e in _brute_exact(op, x, other, t)]


def _check(
    op: str, x: np.ndarray, other: np.ndarray | None, fmt: str, t: float | None = None
) -> tuple[int, int]:
    """Compare every row; return (compared, skipped)."""
    # the rows as the format holds them: float8_e4m3fn has no ±inf (they convert to NaN)
    x = as_format_array(x, fmt)
    other = None if other is None else as_format_array(other, fmt)
    inputs = (x,) if other is None else (x, other)
    got = ref.evaluate(op, *inputs, dtype=fmt, temperature=t).rounded
    rows = x.reshape(-1, x.shape[-1])
    got_rows = got.reshape(rows.shape[0], -1)
    compared = skipped = 0
    for r in range(rows.shape[0]):
        o = None if other is None else [float(v) for v in other.reshape(rows.shape)[r]]
        expected = brute_force(op, [float(v) for v in rows[r]], o, fmt, t)
        for c, e in enumerate(expected):
            if e is None:
                skipped += 1
                continue
            g = float(got_rows[r, c])
            same = (math.isnan(e) and math.isnan(g)) or (
                e == g and math.copysign(1, e) == math.copysign(1, g)
            )
            assert same, f"{op} {fmt} row {rows[r].tolist()} other {o} T={t}: [{c}] {g!r} != {e!r}"
            compared += 1
    return compared, skipped


def _in_format(values: np.ndarray, fmt: str) -> np.ndarray:
    return round_array(np.asarray(values, dtype=np.float64), fmt)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _random_rows(fmt: str, seed: int, n: int, k: int, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _in_format(rng.standard_normal((n, k)) * scale, fmt)


def _edge_rows(fmt_name: str) -> list[list[float]]:
    """Per-format edge cases: underflow thresholds, exp overflow, max values, ties, masks."""
    fmt = get_format(fmt_name)
    ln2 = math.log(2)
    rows: list[list[float]] = []
    # e^a around the smallest subnormal, half of it, and the smallest normal
    for power in (fmt.emin - fmt.precision + 1, fmt.emin - fmt.precision, fmt.emin):
        a = power * ln2
        for delta in (-2.0, -0.01, 0.0, 0.01, 2.0):
            rows.append([0.0, float(_in_format(np.array([a + delta]), fmt_name)[0])])
    # exp overflow threshold, format max, −max
    big = fmt.exp_overflow_threshold
    rows.append([float(_in_format(np.array([big]), fmt_name)[0]), 0.0, -1.0])
    rows.append([fmt.max, fmt.max, -fmt.max])
    rows.append([fmt.max, -fmt.max])
    rows.append([fmt.tiny, -fmt.tiny, fmt.smallest_subnormal, 0.0])
    # constant rows (1/k exact), near-ties, −inf masks, +inf, NaN, all −inf
    rows += [[1.5] * 3, [-2.0] * 5, [0.0] * 4, [0.0, 0.0, fmt.smallest_subnormal]]
    rows += [[0.0, -math.inf, 1.0], [-math.inf, -math.inf, 2.0], [-math.inf] * 3]
    rows += [[1.0, math.inf, math.inf], [math.inf, 0.0], [1.0, math.nan, 0.0]]
    rows.append([1.0, 1.0 + 2 * fmt.unit_roundoff, 1.0 - fmt.unit_roundoff])
    return rows


def _pad(rows: list[list[float]]) -> np.ndarray:
    k = max(len(r) for r in rows)
    return np.array([r + [-math.inf] * (k - len(r)) for r in rows])


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

SINGLE = ["softmax", "log_softmax", "logsumexp", "jacobian"]
PAIRED = ["softmax_vjp", "log_softmax_vjp", "cross_entropy", "cross_entropy_grad"]


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", SINGLE)
def test_random_rows_single_input(op: str, fmt: str) -> None:
    total = skipped = 0
    for seed, scale in ((1, 1.0), (2, 8.0), (3, 60.0)):
        x = _random_rows(fmt, seed, 6, 7, scale)
        c, s = _check(op, x, None, fmt)
        total, skipped = total + c, skipped + s
    assert skipped <= total // 50


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", PAIRED)
def test_random_rows_paired(op: str, fmt: str) -> None:
    total = skipped = 0
    for seed, scale in ((4, 1.0), (5, 10.0)):
        x = _random_rows(fmt, seed, 6, 6, scale)
        other = _random_rows(fmt, seed + 100, 6, 6, 1.0)
        if op.startswith("cross"):
            other = np.abs(other)
        c, s = _check(op, x, other, fmt)
        total, skipped = total + c, skipped + s
    assert skipped <= total // 50


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", SINGLE)
def test_edge_rows(op: str, fmt: str) -> None:
    for row in _edge_rows(fmt):
        _check(op, np.array([row]), None, fmt)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", PAIRED)
def test_edge_rows_paired(op: str, fmt: str) -> None:
    for i, row in enumerate(_edge_rows(fmt)):
        rng = np.random.default_rng(i)
        other = _in_format(rng.standard_normal(len(row)), fmt)
        _check(op, np.array([row]), other[None, :], fmt)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_temperature(fmt: str) -> None:
    x = _random_rows(fmt, 9, 3, 5, 4.0)
    for t in (0.25, 3.0, get_format(fmt).tiny):
        t = float(_in_format(np.array([t]), fmt)[0])
        for op in ("softmax", "log_softmax", "logsumexp"):
            _check(op, x, None, fmt, t)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_long_rows(fmt: str) -> None:
    x = _random_rows(fmt, 11, 1, 4096, 3.0)
    x[0, 17] = -math.inf
    for op in ("softmax", "log_softmax", "logsumexp"):
        c, s = _check(op, x, None, fmt)
        assert s <= c // 100


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_long_rows_paired(fmt: str) -> None:
    x = _random_rows(fmt, 11, 1, 4096, 3.0)
    x[0, 17] = -math.inf
    other = np.abs(_random_rows(fmt, 12, 1, 4096, 1.0))
    for op in ("softmax_vjp", "log_softmax_vjp", "cross_entropy", "cross_entropy_grad"):
        c, s = _check(op, x, other, fmt)
        assert s <= c // 100


def test_long_row_softmax_vjp_mixed_signs() -> None:
    # one K = 4096 row with a cotangent of both signs, a tie at the maximum and a −inf entry:
    # the engine shares ḡ across the row (O(K)), every element must still match
    x = _random_rows("float32", 13, 1, 4096, 3.0)
    x[0, 5] = x[0].max()
    x[0, 40] = -math.inf
    other = _random_rows("float32", 14, 1, 4096, 1.0)
    c, s = _check("softmax_vjp", x, other, "float32")
    assert s <= c // 100


def _deep_cancellation_rows(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows where the shared ḡ (or Γ s_i) cannot settle outputs below 2^−800 relative.

    Row 0: 64 maxima with g = 1 and a tail near −600 whose g sums to 0, so g_i − ḡ and
    g_i − Γ s_i are ~e^−600 for all 64 maxima (one exact-coefficient sum shared by them).
    Row 1: two maxima with g = [2^(2−p), −4], so their softmax VJP is ±(1 + 2^−p) — a rounding
    midpoint — perturbed by ~e^−600.
    """
    p = get_format(fmt).precision
    tail_z = [-600.0, -600.0, -608.0, -608.0]
    tail_g = [1.5, -3.0, 0.25, 1.25]
    x = [[0.0] * 64 + tail_z, [0.0, 0.0, *tail_z] + [-math.inf] * 62]
    g = [[1.0] * 64 + tail_g, [2.0 ** (2 - p), -4.0, *tail_g] + [0.0] * 62]
    return np.array(x), np.array(g)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", ["softmax_vjp", "log_softmax_vjp", "cross_entropy_grad"])
def test_vjp_deep_cancellation(op: str, fmt: str) -> None:
    x, other = _deep_cancellation_rows(fmt)
    c, s = _check(op, x, other, fmt)
    assert s == 0 and c == x.size


def test_brute_force_is_independent_and_sharp() -> None:
    """The brute force itself: it decides ordinary values and refuses an exact midpoint."""
    assert brute_force("softmax", [0.0, 0.0], None, "float64") == [0.5, 0.5]
    # 2^25 equal entries in float16: 2^-25 is half the smallest subnormal, a tie → 0
    exact = _brute_exact("softmax", [0.0, 0.0, 0.0], None, None)
    assert exact[0] == (Fraction(1, 3), True)
    # a value that is exactly a midpoint at 1200 bits cannot be decided by the interval test
    with mpmath.workprec(PREC):
        mid = mpmath.mpf(1) + mpmath.mpf(2) ** -24
    assert _round_interval(mid, False, "float32", 1.0) is None
