"""The Jacobian's fast path (:mod:`symsoftmax.reference.fast_jacobian`) against the authority.

The authority is ``evaluate("jacobian", ..., fast=False)`` (Ziv's loop on mpmath balls, which
never touches the fast path); both must give the same value of the format for every entry, bit
for bit (signed zeros, NaN), over every format of :data:`symsoftmax.formats.FORMATS`. Rows: one
dominant entry (σ_a ≈ 1, 1 − σ_a tiny, down to below every subnormal), products −σ_iσ_j near
and below the subnormal range, entries within 2^−2p of a rounding breakpoint, ties and constant
rows, −inf masks (all but one masked too), K = 1, random bit patterns (every binade, ±0, ±max:
x − max overflows float64), and NaN / ±inf rows (phase 0). Rows of K² beyond one pass are
checked at a sample of entries against the engine directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bitwise import differ
from test_fast_path_differential import _near, _random_values

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, Format
from symsoftmax.reference import _prepare
from symsoftmax.reference import fast as fast_path
from symsoftmax.reference.engine import evaluate_row
from symsoftmax.reference.fast_jacobian import error_bound
from symsoftmax.reference.rounders import FormatRounder
from symsoftmax.rounding import round_array

ALL_FORMATS = list(FORMATS.values())


def _format_row(values: list[float] | np.ndarray, fmt: Format) -> np.ndarray:
    """Finite values rounded into ``fmt`` (clipped to ±max first), ±inf and NaN kept."""
    row = np.array(values, dtype=np.float64)
    finite = np.isfinite(row)
    clipped = np.clip(np.where(finite, row, 0.0), -fmt.max, fmt.max)
    return np.where(finite, round_array(clipped, fmt), row)


def _hard_rows(fmt: Format, seed: int, per: int) -> list[np.ndarray]:
    """Rows of K ≤ 8 that attack the Jacobian's bound and its zeros (module docstring)."""
    rng = np.random.default_rng(seed)
    tiny_out = math.log(fmt.smallest_subnormal)  # e^t below it: σ under every subnormal
    rows: list[np.ndarray] = []
    for _ in range(per):  # one dominant entry: 1 − σ_a = S′/S from e^−2 down to e^(2·tiny_out)
        k = int(rng.integers(2, 9))
        d = -tiny_out * rng.uniform(0.0, 2.0) + rng.uniform(0.0, 3.0)
        top = float(_random_values(fmt, rng, (1,))[0]) % 16
        rest = top - d - rng.uniform(0.0, 2.0, k - 1) * rng.choice([0.0, 1.0])
        rows.append(rng.permutation(_format_row([top, *rest], fmt)))
    for _ in range(per):  # products σ_iσ_j around the subnormal range and the underflow
        k = int(rng.integers(2, 7))
        scale = rng.choice([0.5, 1.0]) * rng.uniform(0.8, 1.1, k - 1)
        rows.append(rng.permutation(_format_row([0.0, *(tiny_out * scale)], fmt)))
    for _ in range(per):  # ties at the maximum, constant rows
        k = int(rng.integers(2, 9))
        row = np.full(k, float(_random_values(fmt, rng, (1,))[0]))
        row[rng.random(k) < 0.4] = float(_random_values(fmt, rng, (1,))[0])
        rows.append(row)
    for _ in range(per):  # −inf masks, all but one masked included
        k = int(rng.integers(2, 9))
        row = _format_row(rng.normal(0.0, rng.choice([1.0, 30.0, 1e4]), size=k), fmt)
        row[rng.random(k) < rng.choice([0.3, 0.9])] = -np.inf
        if np.isneginf(row).all():
            row[int(rng.integers(0, k))] = float(_random_values(fmt, rng, (1,))[0])
        rows.append(row)
    for _ in range(per):  # random bit patterns, the extremes (±max: x − max overflows float64)
        k = int(rng.integers(1, 7))
        pool = np.concatenate(
            [
                _random_values(fmt, rng, (6,)),
                _near(fmt, fmt.max, rng, 2),
                -_near(fmt, fmt.max, rng, 2),
                [0.0, -0.0, fmt.smallest_subnormal, -fmt.tiny],
            ]
        )
        rows.append(rng.choice(pool, size=k))
    # near a breakpoint: [0, −δ] has σ₀σ₁ = sech²(δ/2)/4 = 1/4 − δ²/16 + O(δ⁴), and with
    # δ² ≈ 2^(1−p) that is within 2^−2p of the midpoint 1/4 − 2^(−p−3) below 1/4: a bound
    # that is too tight decides some of these wrongly (the correct one leaves them pending)
    p = fmt.precision
    for e in np.arange(-(p + 1) / 2 - 1, -(p - 1) / 2 + 1.01, 0.25):
        for step in range(-3, 4):
            d = float(_format_row([2.0**e * (1 + step * 2.0 ** (1 - p))], fmt)[0])
            rows += [np.array([0.0, -d]), np.array([-d, 0.0, -d])]
    for _ in range(max(1, per // 4)):  # NaN and ±inf entries, K = 1 rows
        k = int(rng.integers(1, 5))
        row = _format_row(rng.normal(0.0, 3.0, size=k), fmt)
        row[int(rng.integers(0, k))] = rng.choice([np.nan, np.inf, -np.inf])
        rows.append(row)
        rows.append(np.array([float(_random_values(fmt, rng, (1,))[0])]))
    return rows


def _mismatches(fmt: Format, rows: list[np.ndarray]) -> list[str]:
    """Rows (batched by length) where the fast path's answer differs from the authority's."""
    failures = []
    for k in sorted({row.size for row in rows}):
        batch = np.array([row for row in rows if row.size == k])
        with np.errstate(all="ignore"):
            fast = ref.evaluate("jacobian", batch, dtype=fmt).rounded
            slow = ref.evaluate("jacobian", batch, dtype=fmt, fast=False).rounded
        bad = differ(fast, slow).reshape(len(batch), -1)
        for r in np.flatnonzero(bad.any(axis=1))[:3]:
            c = int(np.flatnonzero(bad[r])[0])
            failures.append(
                f"{fmt.name} row={[float(v).hex() for v in batch[r]]} J[{divmod(c, k)}]: fast "
                f"{float(fast[r].ravel()[c]).hex()} authority {float(slow[r].ravel()[c]).hex()}"
            )
    return failures


def _pending(fmt: Format, rows: np.ndarray) -> np.ndarray:
    """The entries the fast path leaves to the authority, (rows, K²)."""
    problem = _prepare("jacobian", (rows,), fmt, -1, None)
    k = rows.shape[1]
    out = np.empty((len(rows), k * k))
    pending = np.ones((len(rows), k * k), dtype=bool)
    fast_path.settle(problem, out, pending)
    return pending


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_fast_jacobian_agrees_with_authority(fmt: Format) -> None:
    failures = _mismatches(fmt, _hard_rows(fmt, seed=2026, per=40))
    assert not failures, "\n".join(failures[:5])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_fast_jacobian_agrees_with_authority_many(fmt: Format, seed: int) -> None:
    failures = _mismatches(fmt, _hard_rows(fmt, seed=seed, per=400))
    assert not failures, "\n".join(failures[:5])


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_ordinary_rows_are_settled_by_the_fast_path(fmt: Format) -> None:
    """N(0, σ²) rows of K = 16: the fast path decides (nearly) every entry, so the
    differential tests above compare its values, not the authority's with itself."""
    rng = np.random.default_rng(16)
    rows = round_array(rng.normal(0.0, 1.0, (64, 16)) * rng.choice([0.5, 4.0, 30.0], (64, 1)), fmt)
    pending = _pending(fmt, rows)
    assert pending.mean() < 0.001, pending.mean()
    assert not differ(
        ref.evaluate("jacobian", rows[:4], dtype=fmt).rounded,
        ref.evaluate("jacobian", rows[:4], dtype=fmt, fast=False).rounded,
    ).any()


def test_signed_zeros_decided_by_hand() -> None:
    """Zeros from the definition, each settled by the fast path (nothing pending): masked
    entries (σ = 0 exactly) give +0; −σ_iσ_j below half the smallest subnormal is −0 and
    σ_i(1 − σ_i) there +0; one finite entry (σ = 1): J = 0, +0."""
    fmt = FORMATS["float64"]
    cases = {
        (0.0, -np.inf): [0.0, 0.0, 0.0, 0.0],
        (-np.inf, 3.0, -np.inf): [0.0] * 9,
        (0.0, -800.0): [0.0, -0.0, -0.0, 0.0],  # e^−800 < 2^−1075
        (0.0, -np.inf, -800.0): [0.0, 0.0, -0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0],
        (2.5,): [0.0],
        (fmt.max, -fmt.max): [0.0, -0.0, -0.0, 0.0],  # x − max overflows float64
    }
    for row, want in cases.items():
        rows = np.array([row])
        assert not _pending(fmt, rows).any(), row
        got = ref.evaluate("jacobian", rows, dtype=fmt).rounded.ravel()
        assert [float(v).hex() for v in got] == [v.hex() for v in want], row


def test_a_dominant_entry_keeps_one_minus_sigma_without_cancellation() -> None:
    """J_aa = σ_a(1 − σ_a) with 1 − σ_a = e^−d/(1 + e^−d) far below u = 2^−53 (d = 40 … 700):
    σ_a rounds to 1 and a subtraction 1 − σ_a would give 0; the fast path gives the nonzero,
    correctly rounded value (that of the authority), settled without it."""
    fmt = FORMATS["float64"]
    d = np.array([40.0, 100.0, 300.0, 700.0])
    rows = np.stack([np.zeros_like(d), -d], axis=1)
    assert not _pending(fmt, rows).any()
    fast = ref.evaluate("jacobian", rows, dtype=fmt).rounded
    assert (fast[:, 0, 0] > 0).all() and (fast[:, 0, 0] < 2.0**-53).all()
    assert not differ(fast, ref.evaluate("jacobian", rows, dtype=fmt, fast=False).rounded).any()


@pytest.mark.parametrize("fmt", ["float64", "bfloat16"])
def test_rows_beyond_one_pass_at_sampled_entries(fmt: str) -> None:
    """K = 200 (K² > 2^15: J is worked through in slabs of rows; the diagonal crosses the
    slab boundary) and a batch of two rows: sampled entries against the engine directly."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(200)
    rows = round_array(rng.normal(0.0, 4.0, (2, 200)), f)
    rows[1, 17] = -np.inf
    rows[1, 60] = rows[1].max()  # a tie at the maximum
    fast = ref.evaluate("jacobian", rows, dtype=f).rounded.reshape(2, -1)
    k = rows.shape[1]
    step = 32768 // k
    picks = {0, k * k - 1, (step - 1) * (k + 1), step * (k + 1), step * k, 17 * k + 60}
    picks |= {int(i) for i in rng.integers(0, k * k, 40)}
    picks |= {int(i) * (k + 1) for i in rng.integers(0, k, 10)}  # diagonal entries
    indices = sorted(picks)
    for r in range(2):
        exact = evaluate_row("jacobian", rows[r], None, None, FormatRounder(f), indices)
        slow = np.array([exact[i] for i in indices])
        assert not differ(fast[r, indices], slow).any(), r
    assert not _pending(f, rows).mean() > 0.001


def test_error_bound_is_near_the_exp_bound() -> None:
    """The bound (module docstring) stays a small multiple of the double-double exp's 2^−86
    for every row length of use, and grows with K (the terms left out of S′)."""
    assert 2.0**-86 * 4 < error_bound(1) <= error_bound(260) < error_bound(1 << 20) < 2.0**-82
