"""Differential test: the reference fast path against the authority path, bit for bit.

The fast path (:mod:`symsoftmax.reference.fast`) settles an output only where its error bound
decides the rounding; everything else goes to Ziv's loop on mpmath balls. The authority path is
``evaluate(..., fast=False)``, which never touches the fast path. Both must give the same value of
the format for every output, signed zeros and NaN included.

Rows are drawn over the whole range of each format, not a few scales: random bit patterns (every
binade, subnormals and ±0 alike), the largest finite values (x − max overflows float64 for
[max, −max]), rows near the overflow of x − max, rows whose outputs are subnormal or underflow,
ties at the maximum, −inf masks (including all but one entry masked), and a few NaN / +inf rows
(not settled by the fast path, but its eligibility test must leave them alone). Temperatures are
values of the format: 1, powers of two across the range, and random values.

The default run checks 2,900 rows (all formats; every op, half of them with a temperature) and
the slow run 43,500 (and 18,000 in float8_e5m2). float8_e5m2 is not in the formats table: built
from its parameters alone, as a new entry of the table would be, it needs nothing else (600 rows
by default).
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from bitwise import differ

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, Format
from symsoftmax.reference import fast as fast_path
from symsoftmax.reference.fast import FAST_OPS
from symsoftmax.rounding import round_array

FORMAT_NAMES = tuple(FORMATS)
# IEEE-style 8-bit format (p = 3, 5 exponent bits), as ml_dtypes implements it; not in FORMATS
FLOAT8_E5M2 = Format("float8_e5m2", 3, -14, 15, "ml_dtypes.float8_e5m2")
_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def _random_values(fmt: Format, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniformly random finite bit patterns of ``fmt`` (every binade equally likely), as float64."""
    bits = fmt.numpy_dtype.itemsize * 8
    raw = rng.integers(0, 2**bits, size=shape, dtype=_UINT[bits], endpoint=False)
    with np.errstate(invalid="ignore"):  # NaN patterns cast quietly, then replaced
        values = raw.view(fmt.numpy_dtype).astype(np.float64)
    return np.where(np.isfinite(values), values, 0.0)


def _near(fmt: Format, value: float, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` values of ``fmt`` within a few ulps of ``value`` (rounded into the format)."""
    steps = rng.integers(-4, 5, size=n)
    base = float(round_array(np.array([value]), fmt)[0])
    out = np.array([base] * n)
    with np.errstate(over="ignore"):  # stepping past max gives inf, replaced below
        for i, s in enumerate(steps):
            for _ in range(abs(int(s))):
                out[i] = np.nextafter(
                    out[i].astype(fmt.numpy_dtype), fmt.numpy_dtype.type(math.copysign(np.inf, s))
                ).astype(np.float64)
    return np.where(np.isfinite(out), out, base)


def _rows(fmt: Format, seed: int, n: int) -> list[np.ndarray]:
    """About ``n`` hard rows of mixed lengths for ``fmt`` (float64 arrays of format values)."""
    rng = np.random.default_rng(seed)
    big, tiny_out = fmt.max, math.log(fmt.smallest_subnormal)
    rows: list[np.ndarray] = []
    per = max(1, n // 12)
    for _ in range(per):  # random patterns over the whole range
        rows.append(_random_values(fmt, rng, (int(rng.integers(1, 9)),)))
    for _ in range(per):  # the extremes: ±max, ±tiny, ±0 and their neighbours
        k = int(rng.integers(2, 7))
        pool = np.concatenate(
            [
                _near(fmt, big, rng, 3),
                -_near(fmt, big, rng, 3),
                _near(fmt, fmt.smallest_subnormal, rng, 2),
                [0.0, -0.0, fmt.tiny, -fmt.tiny],
            ]
        )
        rows.append(rng.choice(pool, size=k))
    for _ in range(per):  # x − max near the float64 overflow (only float64 can reach it)
        a = float(_near(fmt, big / 2, rng, 1)[0])
        b = -float(_near(fmt, big / 2, rng, 1)[0])
        extra = _random_values(fmt, rng, (int(rng.integers(0, 3)),))
        rows.append(rng.permutation(np.concatenate([[a, b], extra])))
    for _ in range(per):  # outputs near the subnormal range and underflow
        k = int(rng.integers(2, 8))
        top = float(_random_values(fmt, rng, (1,))[0]) % 64
        offsets = tiny_out * rng.uniform(0.7, 1.05, size=k - 1)
        row = round_array(np.concatenate([[top], top + offsets]), fmt)
        rows.append(rng.permutation(row))
    for _ in range(per):  # ties at the maximum, constant rows
        k = int(rng.integers(2, 9))
        v = float(_random_values(fmt, rng, (1,))[0])
        row = np.full(k, v)
        row[rng.random(k) < 0.4] = float(_random_values(fmt, rng, (1,))[0])
        rows.append(row)
    for _ in range(per):  # −inf masks, including all but one masked
        k = int(rng.integers(2, 9))
        row = round_array(rng.normal(0, rng.choice([1.0, 30.0, 1e4]), size=k), fmt)
        mask = rng.random(k) < rng.choice([0.3, 0.9])
        row[mask] = -np.inf
        if np.isneginf(row).all():
            row[int(rng.integers(0, k))] = float(_random_values(fmt, rng, (1,))[0])
        rows.append(row)
    for _ in range(per):  # moderate scales, longer rows
        k = int(rng.choice([17, 33, 100]))
        rows.append(round_array(rng.normal(0, rng.choice([0.5, 10.0, 300.0]), size=k), fmt))
    for _ in range(max(1, per // 4)):  # special entries the fast path must not settle
        k = int(rng.integers(2, 5))
        row = round_array(rng.normal(0, 3.0, size=k), fmt)
        row[int(rng.integers(0, k))] = rng.choice([np.nan, np.inf])
        rows.append(row)
    return rows


def _temperatures(fmt: Format, rng: np.random.Generator, count: int) -> list[float]:
    """Format values for T: 1, powers of two across the range, random values in (0, max]."""
    exps = rng.integers(max(fmt.emin, -900), min(fmt.emax, 900) + 1, size=count)
    powers = [math.ldexp(1.0, int(e)) for e in exps]
    randoms = [abs(v) for v in _random_values(fmt, rng, (count,)) if v != 0]
    picks = [1.0, 1024.0, 0.75, *powers, *randoms]
    return [float(t) for t in round_array(np.array(picks), fmt) if 0 < t <= fmt.max]


def _mismatches(op: str, fmt: Format, row: np.ndarray, t: float | None) -> str | None:
    fast = ref.evaluate(op, row, dtype=fmt, temperature=t).rounded
    slow = ref.evaluate(op, row, dtype=fmt, temperature=t, fast=False).rounded
    fast, slow = np.atleast_1d(fast), np.atleast_1d(slow)
    mismatch = differ(fast, slow)
    if not mismatch.any():
        return None
    j = int(np.flatnonzero(mismatch)[0])
    row_hex = [float(v).hex() for v in row]
    return (
        f"{op} {fmt.name} T={t!r} row={row_hex}: [{j}] fast {float(fast[j]).hex()} "
        f"authority {float(slow[j]).hex()}"
    )


def _run(fmt: Format, seed: int, n_rows: int, t_count: int) -> None:
    rows = _rows(fmt, seed, n_rows)
    rng = np.random.default_rng(seed + 1)
    temperatures = _temperatures(fmt, rng, t_count)
    failures = []
    for i, row in enumerate(rows):
        t = None if i % 2 == 0 else temperatures[i % len(temperatures)]
        for op in FAST_OPS:
            problem = _mismatches(op, fmt, row, t)
            if problem:
                failures.append(problem)
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_fast_path_agrees_with_authority(fmt: str) -> None:
    _run(FORMATS[fmt], seed=2026, n_rows=1200, t_count=12)


def test_every_fast_op_has_a_double_double_routine() -> None:
    assert set(fast_path._DOUBLE_DOUBLE) == set(FAST_OPS)  # FAST_OPS comes from the operation table


def test_fast_path_agrees_with_authority_for_a_format_outside_the_table() -> None:
    assert FLOAT8_E5M2.max == float(ml_dtypes.finfo(ml_dtypes.float8_e5m2).max)
    _run(FLOAT8_E5M2, seed=2026, n_rows=600, t_count=12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", [*FORMATS.values(), FLOAT8_E5M2], ids=lambda f: f.name)
def test_fast_path_agrees_with_authority_many(fmt: Format, seed: int) -> None:
    _run(fmt, seed=seed, n_rows=6000, t_count=40)


def test_overflowing_shift_rows() -> None:
    """The audit's rows: x − max overflows float64 ([max, −max]); values from an independent
    ball-arithmetic engine, and the authority path agrees."""
    big = FORMATS["float64"].max
    cases = {
        None: ["-0x0.0p+0", "-inf"],
        1024.0: ["-0x0.0p+0", "-0x1.fffffffffffffp+1014"],
        2.0**53: ["-0x0.0p+0", "-0x1.fffffffffffffp+971"],
    }
    for t, want in cases.items():
        for fast in (True, False):
            got = ref.evaluate(
                "log_softmax", [big, -big], dtype="float64", temperature=t, fast=fast
            )
            assert [float(v).hex() for v in got.rounded] == want, (t, fast)
        soft = ref.evaluate("softmax", [big, -big], dtype="float64", temperature=t).rounded
        assert [float(v).hex() for v in soft] == ["0x1.0000000000000p+0", "0x0.0p+0"]
        lse = ref.evaluate("logsumexp", [big, -big], dtype="float64", temperature=t).rounded
        assert float(lse).hex() == big.hex()


def test_overflowing_shift_rows_every_op() -> None:
    """Every op on z = [max, −max] (float64): s = [1 − ε, ε] with ε = e^{−2·max} > 0, far below
    any spacing, so each value is decided by hand from its sign (signed zeros matter):
    softmax_vjp s₀s₁(g₀ − g₁) and s₀s₁(g₁ − g₀); log_softmax_vjp g − s·Σg;
    cross_entropy y₀·L + y₁·(2·max + L) with L = log(1 + ε); cross_entropy_grad s·Σy − y;
    jacobian [[s₀s₁, −s₀s₁], [−s₀s₁, s₀s₁]]."""
    big = FORMATS["float64"].max
    z = [big, -big]
    cases = {
        ("softmax_vjp", (1, 2)): [-0.0, 0.0],
        ("softmax_vjp", (1, 0)): [0.0, -0.0],
        ("log_softmax_vjp", (1, 2)): [-2.0, 2.0],
        ("log_softmax_vjp", (1, 0)): [0.0, -0.0],
        ("log_softmax_vjp", (0, 1)): [-1.0, 1.0],
        ("cross_entropy", (1, 0)): [0.0],
        ("cross_entropy", (0, 1)): [math.inf],
        ("cross_entropy_grad", (1, 0)): [-0.0, 0.0],
        ("cross_entropy_grad", (1, 2)): [2.0, -2.0],
    }
    for (op, other), want in cases.items():
        got = ref.evaluate(op, z, list(other), dtype="float64").rounded
        assert [float(v).hex() for v in np.ravel(got)] == [v.hex() for v in want], (op, other)
    jac = ref.evaluate("jacobian", z, dtype="float64").rounded
    assert [float(v).hex() for v in np.ravel(jac)] == [v.hex() for v in [0.0, -0.0, -0.0, 0.0]]
