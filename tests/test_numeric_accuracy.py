"""The generated NumPy functions against mpmath at 50 digits, error measured in ulps.

Reference: brute force from the definitions, evaluated from the float inputs (exact binary values)
at 50 significant digits (log Σ as log1p of the terms after the maximum, 1 − σ_i as Σ_{k≠i} σ_k, so
that tails like e^{-400} are not lost next to 1): σ_j = e^{z_j/T}/Σ e^{z_k/T},
lse = log Σ e^{z_k/T}, log σ_j = z_j/T − lse, J_ij = σ_i(δ_ij − σ_j)/T,
VJP_i = σ_i(g_i − Σ g_k σ_k)/T. mpmath's exponent range is unbounded, so e^{−1e300} is fine.

Error bounds, in ulps (u = unit roundoff of the dtype), first order, from the operations the
generated code performs (Blanchard, Higham & Higham 2021, §3–4, for the shifted algorithm):

* exp, log1p, division, final addition: C = 3 ulps together;
* the partition sum of K nonnegative terms: S = K − 1 (recursive summation, any order);
* rounding of y_k = (z_k − m)/T (t = 1 or 2 roundings): exp(y_k) is then off by t·|y_k| ulps —
  the conditioning term κ_j = t|y_j| (own exponential) and κ̄ = t·Σ_k σ_k|y_k| (partition).

softmax_j: C + S + κ_j + κ̄ (relative). log_softmax_j: C + S + κ̄ + κ_s·L/(|y_j| + L), L = log1p(s)
(relative; y_j ≤ 0 and −L ≤ 0 never cancel). logsumexp: C + S + κ̄ + κ_s in ulps of |m/T| + L
(m/T + L may cancel).
Jacobian: 2(C + S) + κ_i + κ_j + 2κ̄ + κ_s relative (κ_s: conditioning of s = Σ_{k≠argmax} e^{y_k},
used on the diagonal). VJP: 2(C + S) + κ_i + 2κ̄ + κ_g in ulps of σ_i(|g_i| + Σ|g_k|σ_k)/T, κ_g the
κ_k weighted by |g_k|σ_k (g_i − ⟨g, σ⟩ may cancel: that loss belongs to the problem).

Where σ_k is subnormal it has only absolute accuracy (one subnormal spacing, η); the Jacobian and
the VJP may scale that by up to 1/T and |g|, so their checks allow that absolute term on top.

A second, tight check: where every y_k is exact (differences of floats within a factor 2 of each
other, Sterbenz) and K ≤ 64, softmax, log_softmax and logsumexp are within 4 ulps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symsoftmax
from symsoftmax.rounding import round_exact, ulp

DPS = 50
C_OPS = 3.0


# ------------------------------------------------------------------------------------------
# reference
# ------------------------------------------------------------------------------------------


@dataclass
class RowReference:
    softmax: list[mpmath.mpf]
    log_softmax: list[mpmath.mpf]
    logsumexp: mpmath.mpf
    y: np.ndarray  # (z_k − max)/T as floats (−inf for masked entries)
    m_over_t: float
    log_partition: float

    def jacobian(self, temperature: float | None) -> list[mpmath.mpf]:
        s, t = self.softmax, _t(temperature)
        # 1 − σ_i as Σ_{k≠i} σ_k: at 50 digits 1 − (1 − e^{-400}) would be 0
        rest = [mpmath.fsum(s[:i] + s[i + 1 :]) for i in range(len(s))]
        return [
            s[i] * (rest[i] if i == j else -s[j]) / t for i in range(len(s)) for j in range(len(s))
        ]

    def vjp(self, g: Sequence[float], temperature: float | None) -> list[mpmath.mpf]:
        s, t = self.softmax, _t(temperature)
        inner = mpmath.fsum(mpmath.mpf(float(gk)) * sk for gk, sk in zip(g, s, strict=True))
        return [si * (mpmath.mpf(float(gi)) - inner) / t for gi, si in zip(g, s, strict=True)]


def _t(temperature: float | None) -> mpmath.mpf:
    return mpmath.mpf(1 if temperature is None else temperature)


def reference_row(z: Sequence[float], temperature: float | None = None) -> RowReference:
    """Reference values of one row of finite or −inf logits, at least one finite."""
    with mpmath.workdps(DPS):
        t = _t(temperature)
        scaled = [mpmath.mpf(float(v)) / t for v in z]
        top = max(v for v in scaled if mpmath.isfinite(v))
        terms = [mpmath.exp(v - top) if mpmath.isfinite(v) else mpmath.mpf(0) for v in scaled]
        partition = mpmath.fsum(terms)
        # log Σ as log1p of the terms after the first maximum (whose term is exactly 1): at 50
        # digits, 1 + e^{-400} would round to 1 and log Σ to 0
        first_top = next(n for n, v in enumerate(scaled) if v == top)
        log_partition = mpmath.log1p(mpmath.fsum(terms[:first_top] + terms[first_top + 1 :]))
        return RowReference(
            softmax=[e / partition for e in terms],
            # (v − top) − log Σ, not v − lse: lse may hold a tiny log Σ beside a large top
            log_softmax=[(v - top) - log_partition for v in scaled],
            logsumexp=top + log_partition,
            y=np.array([float(v - top) for v in scaled]),
            m_over_t=float(top),
            log_partition=float(log_partition),
        )


def differences(computed: np.ndarray, exact: Sequence[mpmath.mpf]) -> np.ndarray:
    """|computed − exact| as floats (0 where both are the same infinity, inf if only one is)."""
    diffs = np.empty(len(exact))
    with mpmath.workdps(DPS):
        for n, (c, x) in enumerate(zip(np.ravel(computed), exact, strict=True)):
            if not mpmath.isfinite(x):
                diffs[n] = 0.0 if float(c) == float(x) else np.inf
            else:
                diffs[n] = float(abs(mpmath.mpf(float(c)) - x))
    return diffs


def spacing_at(exact: Sequence[mpmath.mpf], dtype: str) -> np.ndarray:
    """ulp of each exact value rounded to ``dtype`` (symsoftmax.rounding)."""
    rounded = [round_exact(x, dtype) if mpmath.isfinite(x) else 1.0 for x in exact]
    return ulp(np.array(rounded), dtype)


def ulp_errors(computed: np.ndarray, exact: Sequence[mpmath.mpf], dtype: str) -> np.ndarray:
    """|computed − exact| in ulps of the exact value rounded to ``dtype``."""
    return differences(computed, exact) / spacing_at(exact, dtype)


# ------------------------------------------------------------------------------------------
# bounds
# ------------------------------------------------------------------------------------------


def _kappa(ref: RowReference, temperature: float | None) -> tuple[np.ndarray, float, float]:
    """(κ_j, κ̄, κ_s) in ulps: conditioning of exp on the rounding of y.

    κ_j = t|y_j|, κ̄ = t Σ_k σ_k|y_k| (relative error of Σ e^{y_k}), κ_s = t Σ' e^{y_k}|y_k| / s
    (relative error of s = Σ' e^{y_k}, the sum without the first maximum).
    """
    rounding = 1.0 if temperature is None else 2.0
    y = np.where(np.isfinite(ref.y), np.abs(ref.y), 0.0)
    sigma = np.array([float(s) for s in ref.softmax])
    rest = np.exp(np.where(np.isfinite(ref.y), ref.y, -np.inf))
    rest[np.argmax(ref.y)] = 0.0
    s = float(np.sum(rest))
    kappa_s = rounding * float(np.sum(rest * y)) / s if s > 0 else 0.0
    return rounding * y, rounding * float(np.sum(sigma * y)), kappa_s


def _share(part: float, whole: np.ndarray) -> np.ndarray:
    """part/whole, 0 where whole is 0 (then part is 0 too)."""
    return np.divide(part, whole, out=np.zeros_like(whole), where=whole > 0)


def check_row(
    z: np.ndarray, temperature: float | None, dtype: str = "float64", g: np.ndarray | None = None
) -> dict[str, float]:
    """Compare all five functions on one row with the bounds; return worst error/bound ratios."""
    K = z.shape[-1]
    ref = reference_row(z, temperature)
    kappa, kappa_bar, kappa_s = _kappa(ref, temperature)
    log_part = ref.log_partition
    base = C_OPS + (K - 1)
    worst = {}

    tiny = float(ulp(0.0, dtype))  # the subnormal spacing

    def record(
        name: str,
        computed: np.ndarray,
        exact: Sequence[mpmath.mpf],
        spacing: np.ndarray,
        bound: np.ndarray | float,
        underflow: np.ndarray | float = 0.0,
    ) -> None:
        """diff ≤ bound·spacing + underflow: ``underflow`` is the absolute error that one
        subnormal spacing in σ becomes downstream (a subnormal σ_k has no relative accuracy)."""
        diff = differences(computed, exact)
        ratio = np.maximum(diff - np.ravel(underflow), 0.0) / (np.ravel(bound) * spacing)
        assert np.all(ratio <= 1), (
            f"{name} K={K} T={temperature} {dtype}: error {np.max(diff / spacing):.3g} ulps"
            f" > bound; z={z.tolist()}"
        )
        worst[name] = float(ratio.max())

    record(
        "softmax",
        symsoftmax.lambdify_softmax(K, temperature)(z),
        ref.softmax,
        spacing_at(ref.softmax, dtype),
        base + kappa + kappa_bar,
    )
    record(
        "log_softmax",
        symsoftmax.lambdify_log_softmax(K, temperature)(z),
        ref.log_softmax,
        spacing_at(ref.log_softmax, dtype),
        base + kappa_bar + kappa_s * _share(log_part, np.abs(ref.y) + log_part),
    )
    # T·logsumexp(z/T) = m + T·L (the operation table's definition), so ulps of |m| + T·L
    t = 1.0 if temperature is None else temperature
    scale = np.array([abs(ref.m_over_t) * t + ref.log_partition * t])
    with mpmath.workdps(DPS):
        exact_lse = ref.logsumexp * _t(temperature)
    record(
        "logsumexp",
        symsoftmax.lambdify_logsumexp(K, temperature)(z),
        [exact_lse],
        ulp(np.maximum(scale, tiny), dtype),
        base + kappa_bar + kappa_s,
    )
    if K <= 16:
        t = 1.0 if temperature is None else temperature
        exact_jacobian = ref.jacobian(temperature)
        record(
            "jacobian",
            symsoftmax.lambdify_jacobian(K, temperature)(z),
            exact_jacobian,
            spacing_at(exact_jacobian, dtype),
            (2 * base + kappa[:, None] + kappa[None, :] + 2 * kappa_bar + kappa_s).ravel(),
            underflow=4 * tiny / t,
        )
        g = np.linspace(-1.0, 2.0, K).astype(z.dtype) if g is None else g
        sigma = np.array([float(s) for s in ref.softmax])
        scale_g = np.abs(g) + np.sum(np.abs(g) * sigma)
        # conditioning of ⟨g, σ⟩: the κ_k weighted by the size of their terms |g_k|σ_k
        weights = np.abs(g) * sigma
        kappa_g = float(np.sum(weights * kappa) / np.sum(weights)) if np.sum(weights) else 0.0
        record(
            "vjp",
            symsoftmax.lambdify_vjp(K, temperature)(z, g),
            ref.vjp(g, temperature),
            ulp(np.maximum(sigma * scale_g / t, tiny), dtype),
            2 * base + kappa + 2 * kappa_bar + kappa_g,
            underflow=2 * tiny * (scale_g + sigma * np.sum(np.abs(g))) / t,
        )
    return worst


# ------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------


def _extreme(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Magnitudes 1e-300 .. 1e300, random signs."""
    return rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-300, 300, shape)


def _masked(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    z = rng.standard_normal(shape) * 3
    mask = rng.random(shape) < 0.4
    mask[..., 0] = False  # at least one finite entry per row
    return np.where(mask, -np.inf, z)


def _exact_offset(offset: float) -> Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]:
    """offset + multiples of 2^-10 up to ±2^10: every z_k − m is exact (Sterbenz)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return offset + rng.integers(-(2**20), 2**20, shape) / 1024.0

    return make


INPUTS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "normal": lambda rng, shape: rng.standard_normal(shape),
    "wide normal": lambda rng, shape: 30 * rng.standard_normal(shape),
    "offset +1e6": _exact_offset(1e6),
    "offset -1e6": _exact_offset(-1e6),
    "extreme spread": _extreme,
    "tiny": lambda rng, shape: (
        rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-308, -290, shape)
    ),
    "huge close": lambda rng, shape: 1e300 * (1 + rng.integers(0, 4, shape) * 2.0**-52),
    "-inf mask": _masked,
    "dominant": lambda rng, shape: np.where(
        np.arange(shape[-1]) == 0, 0.0, -40 - 10 * rng.random(shape)
    ),
}


@pytest.mark.parametrize("temperature", [None, 0.25, 3.0])
@pytest.mark.parametrize("K", [1, 2, 5, 16, 64])
@pytest.mark.parametrize("kind", list(INPUTS))
def test_all_functions_within_bounds(kind: str, K: int, temperature: float | None) -> None:
    rng = np.random.default_rng([K, len(kind), 7])
    rows = 3 if K <= 16 else 2
    z = INPUTS[kind](rng, (rows, K))
    for row in z:
        check_row(row, temperature)


@pytest.mark.parametrize("kind", ["normal", "offset +1e6", "-inf mask", "extreme spread"])
def test_large_k_within_bounds(kind: str) -> None:
    rng = np.random.default_rng(1024)
    check_row(INPUTS[kind](rng, (1, 1024))[0], None)


@pytest.mark.parametrize("K", [2, 8, 64])
@pytest.mark.parametrize("offset", [1e6, -1e6, 0.0])
def test_exact_shift_is_within_four_ulps(K: int, offset: float) -> None:
    """Where every z_k − m is exact, only exp, the sum and one division/log1p remain."""
    rng = np.random.default_rng([K, 4])
    z = offset + rng.integers(-(2**12), 2**12, (4, K)) / 64.0
    funcs = {
        name: getattr(symsoftmax, f"lambdify_{name}")(K) for name in ("softmax", "log_softmax")
    }
    lse = symsoftmax.lambdify_logsumexp(K)
    for row in z:
        ref = reference_row(row)
        assert ulp_errors(funcs["softmax"](row), ref.softmax, "float64").max() <= 4
        assert ulp_errors(funcs["log_softmax"](row), ref.log_softmax, "float64").max() <= 4
        if offset != 0.0:  # away from the cancellation of m + log Σ near 0
            assert ulp_errors(lse(row), [ref.logsumexp], "float64").max() <= 4


def test_dominant_entry_keeps_relative_accuracy() -> None:
    """log1p form: log_softmax and logsumexp near 0, and the Jacobian diagonal σ(1 − σ) ≈ s."""
    z = np.array([0.0, -50.0, -60.0])
    ref = reference_row(z)
    assert ulp_errors(symsoftmax.lambdify_log_softmax(3)(z), ref.log_softmax, "float64").max() <= 2
    assert ulp_errors(symsoftmax.lambdify_logsumexp(3)(z), [ref.logsumexp], "float64").max() <= 2
    jac = symsoftmax.lambdify_jacobian(3)(z)
    assert ulp_errors(jac, ref.jacobian(None), "float64").max() <= 4


@pytest.mark.parametrize("K", [2, 8, 64])
def test_float32_within_bounds(K: int) -> None:
    rng = np.random.default_rng([K, 32])
    for row in (4 * rng.standard_normal((3, K))).astype(np.float32):
        ref = reference_row(row)
        out = symsoftmax.lambdify_softmax(K)(row)
        assert out.dtype == np.float32
        kappa, kappa_bar, _ = _kappa(ref, None)
        assert np.all(ulp_errors(out, ref.softmax, "float32") <= C_OPS + K - 1 + kappa + kappa_bar)


finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    z=st.integers(1, 6).flatmap(lambda k: st.lists(finite, min_size=k, max_size=k)),
    temperature=st.sampled_from([None, 0.5, 7.0]),
)
def test_hypothesis_rows_within_bounds(z: list[float], temperature: float | None) -> None:
    check_row(np.array(z), temperature)


@settings(max_examples=40, deadline=None)
@given(
    z=st.lists(st.floats(-50, 50), min_size=4, max_size=4),
    g=st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=4),
)
def test_hypothesis_vjp_within_bounds(z: list[float], g: list[float]) -> None:
    check_row(np.array(z), None, g=np.array(g))


def test_reference_is_independent_of_the_shift() -> None:
    """Sanity of the brute-force reference itself: σ sums to 1 and matches a direct evaluation."""
    z = [0.5, -1.25, 3.0]
    ref = reference_row(z)
    with mpmath.workdps(DPS):
        direct = [mpmath.exp(v) / mpmath.fsum(mpmath.exp(w) for w in z) for v in z]
        assert all(
            abs(a - b) < mpmath.mpf(10) ** -45 for a, b in zip(ref.softmax, direct, strict=True)
        )
        assert abs(mpmath.fsum(ref.softmax) - 1) < mpmath.mpf(10) ** -45
        assert abs(ref.logsumexp - mpmath.log(mpmath.fsum(mpmath.exp(w) for w in z))) < 1e-45
    assert math.isclose(ref.log_partition + ref.m_over_t, float(ref.logsumexp))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_sweep_within_bounds(seed: int) -> None:
    """A longer sweep (pytest -m slow): 300 rows mixing every input kind, K, T and g."""
    rng = np.random.default_rng([seed, 99])
    kinds = [*INPUTS, "mixed magnitudes"]
    for _ in range(300):
        K = int(rng.choice([1, 2, 3, 4, 7, 12]))
        kind = kinds[rng.integers(len(kinds))]
        if kind == "mixed magnitudes":
            z = rng.choice([-1.0, 1.0], K) * 10.0 ** rng.uniform(-5, 3, K)
        else:
            z = INPUTS[kind](rng, (1, K))[0]
        temperature = [None, 0.1, 0.5, 3.0, 1e-3][rng.integers(5)]
        g = rng.choice([0.0, 1.0, -1.0, 1e3], K) * rng.standard_normal(K)
        check_row(z, temperature, g=g if rng.random() < 0.5 else None)
