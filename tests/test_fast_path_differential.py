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
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from bitwise import differ
from second_inputs import second_inputs, seeded

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, Format
from symsoftmax.ops import OPERATIONS
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


ONE_INPUT_OPS = tuple(op for op in FAST_OPS if len(OPERATIONS[op].inputs) == 1)


def _inputs(op: str, fmt: Format, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The op's inputs for the logits ``rows``: with a hard second input (g or y, of a kind
    drawn per row from tests/second_inputs.py, seeded by the rows) for the two-input ops."""
    if len(OPERATIONS[op].inputs) == 1:
        return (rows,)
    batch = np.atleast_2d(rows)
    other = second_inputs(fmt, seeded(batch), batch.shape, specials=0.02)
    return (rows, other.reshape(np.shape(rows)))


def _mismatches(op: str, fmt: Format, row: np.ndarray, t: float | None) -> str | None:
    inputs = _inputs(op, fmt, row)
    fast = ref.evaluate(op, *inputs, dtype=fmt, temperature=t).rounded
    slow = ref.evaluate(op, *inputs, dtype=fmt, temperature=t, fast=False).rounded
    fast, slow = np.atleast_1d(fast), np.atleast_1d(slow)
    mismatch = differ(fast, slow)
    if not mismatch.any():
        return None
    j = int(np.flatnonzero(mismatch)[0])
    row_hex = [[float(v).hex() for v in part] for part in inputs]
    return (
        f"{op} {fmt.name} T={t!r} row={row_hex}: [{j}] fast {float(fast[j]).hex()} "
        f"authority {float(slow[j]).hex()}"
    )


def _run(fmt: Format, seed: int, n_rows: int, t_count: int, pairs_every: int = 16) -> None:
    """``pairs_every``: the two-input ops (g or y drawn per row, :func:`_inputs`) take one row in
    this many (the authority's VJP rows cost about 2 ms each)."""
    rows = _rows(fmt, seed, n_rows)
    rng = np.random.default_rng(seed + 1)
    temperatures = _temperatures(fmt, rng, t_count)
    failures = []
    for i, row in enumerate(rows):
        t = None if i % 2 == 0 else temperatures[i % len(temperatures)]
        for op in FAST_OPS:
            if t is not None and not OPERATIONS[op].temperature:
                continue  # the Jacobian takes no temperature
            if OPERATIONS[op].dims == 2 and (row.size > 9 or i % 8):
                continue  # K² outputs, ~0.5 ms a row in the authority: short rows, one in eight
            if len(OPERATIONS[op].inputs) > 1 and i % pairs_every:
                continue
            problem = _mismatches(op, fmt, row, t)
            if problem:
                failures.append(problem)
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_fast_path_agrees_with_authority(fmt: str) -> None:
    _run(FORMATS[fmt], seed=2026, n_rows=1200, t_count=12)


def test_every_fast_op_has_a_double_double_routine() -> None:
    # FAST_OPS comes from the operation table; an op has a routine here or a module of its own
    assert not set(fast_path._DOUBLE_DOUBLE) & set(fast_path.OWN_MODULES)
    assert set(fast_path._DOUBLE_DOUBLE) | set(fast_path.OWN_MODULES) == set(FAST_OPS)


def test_fast_path_agrees_with_authority_for_a_format_outside_the_table() -> None:
    assert FLOAT8_E5M2.max == float(ml_dtypes.finfo(ml_dtypes.float8_e5m2).max)
    _run(FLOAT8_E5M2, seed=2026, n_rows=600, t_count=12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", [*FORMATS.values(), FLOAT8_E5M2], ids=lambda f: f.name)
def test_fast_path_agrees_with_authority_many(fmt: Format, seed: int) -> None:
    _run(fmt, seed=seed, n_rows=6000, t_count=40, pairs_every=2)


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


# --------------------------------------------------------------------------------------------
# Hard float64 rows (issue 19 §3): N(0, σ²) rows, rounding midpoints minus a tiny L
# --------------------------------------------------------------------------------------------

SIGMAS = (1.0, 4.0, 30.0, 300.0, 3000.0)
_HARD_FORMATS = ("float64", "float32", "float16", "bfloat16")


def _normal_rows(fmt: Format, sigma: float, seed: int, n: int, k: int = 2) -> np.ndarray:
    """``n`` rows of ``k`` N(0, σ²) draws rounded to ``fmt`` (as float64)."""
    rng = np.random.default_rng(seed)
    return round_array(rng.normal(0.0, sigma, size=(n, k)), fmt)


def _batch_mismatches(op: str, fmt: Format, rows: np.ndarray, t: float | None = None) -> list[str]:
    """Rows where the fast path's batch answer differs from the authority's, bit for bit."""
    inputs = _inputs(op, fmt, rows)
    fast = ref.evaluate(op, *inputs, dtype=fmt, temperature=t).rounded
    slow = ref.evaluate(op, *inputs, dtype=fmt, temperature=t, fast=False).rounded
    bad = differ(fast, slow).reshape(len(rows), -1).any(axis=1)
    return [
        f"{op} {fmt.name} T={t} row={[[float(v).hex() for v in part[i]] for part in inputs]}: fast "
        f"{[float(v).hex() for v in np.ravel(fast[i])]} authority "
        f"{[float(v).hex() for v in np.ravel(slow[i])]}"
        for i in np.flatnonzero(bad)[:5]
    ]


def _pending(op: str, fmt: Format, rows: np.ndarray, t: float | None = None) -> np.ndarray:
    """The outputs the fast path leaves to the authority, (rows, outputs per row)."""
    problem = ref._prepare(op, _inputs(op, fmt, rows), fmt, -1, t)
    size = OPERATIONS[op].size(rows.shape[1])
    out = np.empty((len(rows), size))
    pending = np.ones((len(rows), size), dtype=bool)
    fast_path.settle(problem, out, pending)
    return pending


def _is_float64_midpoint(t: Fraction) -> bool:
    """Whether t is exactly halfway between two neighbouring float64 values (independent of
    the fast path: Python's float(Fraction) rounds correctly, math.nextafter steps)."""
    near = float(t)
    if Fraction(near) == t or not math.isfinite(near):
        return False
    other = math.nextafter(near, math.inf if Fraction(near) < t else -math.inf)
    return Fraction(near) + Fraction(other) == 2 * t


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("fmt", _HARD_FORMATS)
def test_normal_rows_agree_with_authority(fmt: str, sigma: float) -> None:
    """N(0, σ²) pairs and 5-entry rows of every fast op: fast path = authority, bit for bit."""
    n = 400 if fmt == "float64" else 150
    for k, seed in ((2, 19), (5, 20)):
        rows = _normal_rows(FORMATS[fmt], sigma, seed, n if k == 2 else n // 4, k)
        failures = [
            m
            for op in FAST_OPS
            # the Jacobian (K² outputs; its own tests: test_fast_jacobian.py) on one row in eight
            for m in _batch_mismatches(
                op, FORMATS[fmt], rows[::8] if OPERATIONS[op].dims == 2 else rows
            )
        ]
        assert not failures, "\n".join(failures)


@pytest.mark.parametrize("sigma", (30.0, 300.0, 3000.0))
@pytest.mark.parametrize("fmt", _HARD_FORMATS)
def test_normal_pairs_are_settled_by_the_fast_path(fmt: str, sigma: float) -> None:
    """No output of N(0, σ²) pairs goes to the authority (before: 25 % of the float64
    log_softmax rows at σ = 300, t_j a rounding midpoint or −L in [2^−1075, 2^−900])."""
    rows = _normal_rows(FORMATS[fmt], sigma, seed=7, n=4000)
    # the two-input ops with hard g/y leave some (a loss on a midpoint plus a tiny Γ·L):
    # their share is tests/test_fast_gradients.py's
    for op in ONE_INPUT_OPS:
        pending = _pending(op, FORMATS[fmt], rows)
        assert not pending.any(), (op, [float(v).hex() for v in rows[pending.any(axis=1)][0]])


def _midpoint_pairs(rng: np.random.Generator, exponent: int, count: int) -> list[list[float]]:
    """[a, b] with a > 0 > b in the binades below 2^exponent and t = b − a exactly a float64
    midpoint (found by exact arithmetic)."""
    pairs: list[list[float]] = []
    while len(pairs) < count:
        a = math.ldexp(float(rng.uniform(0.5, 1.0)), exponent)
        b = -math.ldexp(float(rng.uniform(0.5, 1.0)), exponent)
        if _is_float64_midpoint(Fraction(b) - Fraction(a)):
            pairs.append([a, b] if rng.random() < 0.5 else [b, a])
    return pairs


def test_midpoint_minus_tiny_l_attack() -> None:
    """log_softmax entries t_j = x_j − max exactly on a float64 rounding midpoint, with L from
    ≈ 2^−30 (the double-double holds it) to ≈ 2^−10^6 (far below any spacing): below and above
    the power-of-two edge (where the spacing halves), tl of both signs, pairs and longer rows.
    Each must be settled by the fast path and agree with the authority; where L is tiny the
    answer is the neighbour of t_j below it, never t_j's other neighbour."""
    rng = np.random.default_rng(1903)
    fmt = FORMATS["float64"]
    rows = [pair for e in (5, 6, 7, 8, 9, 10, 12, 16, 20) for pair in _midpoint_pairs(rng, e, 6)]
    for k in (8, 9, 10, 11):  # |th| a power of two: t = −2^(k+1) ± a quarter / half ulp
        edge = math.ldexp(1.0, k)
        below = math.nextafter(edge, 0.0)
        rows += [[edge, -below], [below, -edge], [edge + math.ulp(edge), -edge]]
    rows += [[*pair, pair[1] - 1.0] for pair in rows[:10]]  # a third, smaller entry
    width = max(len(r) for r in rows)
    batch = np.array([r + [-np.inf] * (width - len(r)) for r in rows])  # −inf pads: masked
    midpoints = sum(
        _is_float64_midpoint(Fraction(float(v)) - Fraction(float(max(r))))
        for r in rows
        for v in r
        if v != max(r)
    )
    assert midpoints >= len(rows) - 12  # the attack is on midpoints, not just any rows
    pending = _pending("log_softmax", fmt, batch)
    assert not pending.any(), [float(v).hex() for v in batch[pending.any(axis=1)][0]]
    failures = _batch_mismatches("log_softmax", fmt, batch)
    assert not failures, "\n".join(failures)
    # the tiny-L answer by hand: t = −(2^10 − 2^−44) for [2^9, −(2^9 − 2^−44)] sits halfway
    # between −2^10 and −(2^10 − 2^−43); t − L (L ≈ e^−1024) rounds to −2^10
    lsm = ref.log_softmax([512.0, -math.nextafter(512.0, 0.0)], dtype="float64")
    assert float(lsm[1]) == -1024.0


def test_tiny_minus_l_at_the_largest_entry() -> None:
    """l_a = −L at the largest entry with L = log1p(Σ e^−d) from 2^−850 down past half the
    smallest subnormal (d ∈ [590, 760]): normal, subnormal and −0 outputs, all settled by the
    fast path and equal to the authority's (signed zeros included), in pairs and triples; with
    temperatures too (l = x/T − L: no factor T on L; logsumexp = max + T·L with max = 0)."""
    fmt = FORMATS["float64"]
    d = np.concatenate([np.linspace(590.0, 760.0, 120), [708.4, 744.44, 745.13, 745.14]])
    pairs = np.stack([np.zeros_like(d), -d], axis=1)
    pairs = np.concatenate([pairs, pairs[:, ::-1] + 3.25])  # the maximum second, off zero
    triples = np.column_stack([pairs, pairs.min(axis=1) - 0.5])
    for rows in (pairs, triples):
        for op in FAST_OPS:
            pending = _pending(op, fmt, rows)
            if op in ONE_INPUT_OPS:  # (the two-input ops: as above)
                assert not pending.any(), (op, [v.hex() for v in rows[pending.any(axis=1)][0]])
            failures = _batch_mismatches(op, fmt, rows)
            assert not failures, "\n".join(failures)
    for t in (0.75, 2.5):  # d/T sweeps the band again
        scaled = np.column_stack([pairs * t, pairs[:, 1] * t - 0.5])
        for op in (op for op in FAST_OPS if OPERATIONS[op].temperature):
            failures = _batch_mismatches(op, fmt, scaled, t)
            assert not failures, "\n".join(failures)
        assert not _pending("log_softmax", fmt, scaled, t).any()
    top = ref.log_softmax(pairs[: len(d)], dtype="float64")[:, 0]
    assert (np.signbit(top) & (top == 0)).any() and (top < 0).any()  # −0 and nonzero outputs
    assert ((top < 0) & (np.abs(top) < fmt.tiny)).any()  # and subnormal ones


def test_midpoint_rule_needs_l_far_below_the_spacing() -> None:
    """The midpoint rule decides only where L is provably below the distance to the next
    breakpoint: on a midpoint with an L bound near ulp(t) it must leave the entry pending (the
    double-double path settles such entries first, so only a direct call can attack this)."""
    th = np.array([-512.0, -300.0])
    tl = np.array([2.0**-45, -math.ulp(300.0) / 2])  # both exactly midpoints
    decided = fast_path._midpoint_minus_l(th, tl, np.array([-200.0, -200.0]))[1]
    assert decided.all()
    for log2_up in (-45.0, -40.0, 0.0):  # L up to ≈ the spacing: no longer decidable
        assert not fast_path._midpoint_minus_l(th, tl, np.full(2, log2_up))[1].any()
    not_midpoint = fast_path._midpoint_minus_l(th, tl / 2, np.full(2, -200.0))[1]
    assert not not_midpoint.any()


# ---- long rows (attention lengths): the fast path's chunked evaluation against the authority

_LONG_K = 32768
# not K² outputs; the two-input ops' long rows (K = 4096): tests/test_fast_gradients.py
_LONG_OPS = tuple(op for op in FAST_OPS if OPERATIONS[op].dims < 2 and op in ONE_INPUT_OPS)
_LONG_DISTRIBUTIONS = ("uniform", "normal", "late-ties", "wide")


def _long_row(kind: str, fmt: Format, k: int, seed: int) -> np.ndarray:
    """A row of ``k`` entries of ``fmt``: U[−1, 0), N(0, 4²), N(0, 1) with its maximum tied in
    the last column chunk (the left-out first maximal entry of log_softmax's S′ is found there),
    or spread over [−700, 0] (outputs across many binades, some subnormal in float64)."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        row = rng.uniform(-1.0, 0.0, k)
    elif kind == "normal":
        row = rng.normal(0.0, 4.0, k)
    elif kind == "late-ties":
        row = rng.normal(0.0, 1.0, k)
        row[[k - 7, k - 3, k - 1]] = 6.0
    else:
        row = -np.abs(rng.normal(0.0, 250.0, k)).clip(max=700.0)
    return round_array(row, fmt)


def _long_indices(op: str, row: np.ndarray, rng: np.random.Generator, count: int) -> list[int]:
    """Outputs to compare: both ends, the column chunk boundaries, the largest and smallest
    entries and random ones (logsumexp has one output)."""
    if OPERATIONS[op].dims == 0:
        return [0]
    k = row.size
    chunk = fast_path._CHUNK
    picked = {0, k - 1, chunk - 1, chunk, k - chunk, int(np.argmax(row)), int(np.argmin(row))}
    picked |= {int(i) for i in rng.integers(0, k, count)}
    return sorted(i for i in picked if 0 <= i < k)


def _long_row_mismatches(op: str, fmt: Format, kind: str, t: float | None, seed: int) -> list[str]:
    """The fast path's evaluation of one long row against the authority (Ziv's loop on mpmath
    balls, :func:`symsoftmax.reference.engine.evaluate_row`) at a sample of its outputs: the
    authority sums every entry in mpmath, so a whole row of outputs would take minutes."""
    from symsoftmax.reference.engine import evaluate_row
    from symsoftmax.reference.rounders import FormatRounder

    row = _long_row(kind, fmt, _LONG_K, seed)
    inputs = _inputs(op, fmt, row)
    fast = np.atleast_1d(ref.evaluate(op, *inputs, dtype=fmt, temperature=t).rounded)
    assert not _pending(op, fmt, row[None, :], t).all(), "the fast path settled nothing"
    indices = _long_indices(op, row, np.random.default_rng(seed + 1), 6)
    exact = evaluate_row(
        op, row, inputs[1] if len(inputs) > 1 else None, t, FormatRounder(fmt), indices
    )
    slow = np.array([exact[i] for i in indices])
    bad = differ(fast[indices], slow)
    return [
        f"{op} {fmt.name} {kind} seed={seed} T={t}: [{i}] fast {float(fast[i]).hex()} "
        f"authority {float(s).hex()}"
        for i, s in zip(np.array(indices)[bad], slow[bad], strict=True)
    ]


@pytest.mark.parametrize(
    ("op", "fmt", "kind"),
    [
        ("softmax", "float64", "wide"),
        ("softmax", "float32", "uniform"),
        ("log_softmax", "float64", "late-ties"),
        ("logsumexp", "float64", "late-ties"),
    ],
)
def test_long_rows_agree_with_authority(op: str, fmt: str, kind: str) -> None:
    """K = 32768 (the standard suites' attention rows): chunked exp, sum and settling."""
    assert not _long_row_mismatches(op, FORMATS[fmt], kind, None, 7)


@pytest.mark.slow
@pytest.mark.parametrize("kind", _LONG_DISTRIBUTIONS)
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("op", _LONG_OPS)
def test_long_rows_agree_with_authority_every_format(op: str, fmt: str, kind: str) -> None:
    """Every fast op × format × distribution, with and without a temperature."""
    failures = []
    for t in (None, 0.75):
        failures += _long_row_mismatches(op, FORMATS[fmt], kind, t, 11)
    assert not failures, "\n".join(failures[:5])


def test_settle_at_high_keeps_inside_the_breakpoints() -> None:
    """float64 vh + vl ± err settled as vh only where every real of the interval rounds to vh:
    each settled interval's exact ends (Fractions) round to vh (IEEE 754 round to nearest).
    The cases crowd the breakpoints, powers of two included (the spacing halves below them,
    so the breakpoint towards zero is a quarter of the spacing above away)."""
    from symsoftmax.rounding import round_exact

    rng = np.random.default_rng(3)
    n = 4000
    exponents = rng.integers(-1020, 1020, n)
    mantissas = np.where(rng.random(n) < 0.5, 1.0, rng.uniform(1.0, 2.0, n))  # half powers of 2
    vh = np.ldexp(mantissas, exponents) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    spacing = np.ldexp(1.0, exponents - 52)
    vl = spacing * rng.choice([-0.5, -0.26, -0.24, -0.1, 0.0, 0.1, 0.24, 0.26, 0.49], n)
    err = spacing * rng.choice([0.0, 0.01, 0.2, 0.23, 0.26, 0.3, 0.45], n)
    value, ok = fast_path._settle_at_high(vh, vl, err)
    fmt = FORMATS["float64"]
    assert ok.any() and not ok.all()
    for i in np.flatnonzero(ok):
        centre = Fraction(float(vh[i])) + Fraction(float(vl[i]))
        for end in (centre - Fraction(float(err[i])), centre + Fraction(float(err[i]))):
            assert round_exact(end, fmt) == value[i], (vh[i].hex(), vl[i], err[i])


def test_long_rows_on_threads_keep_their_own_work_arrays() -> None:
    """Long rows evaluated at once on several threads give the answers of one thread: the
    work arrays kept between calls (``double_double.scratch``) are per thread, and each call
    copies what it returns out of them."""
    from concurrent.futures import ThreadPoolExecutor

    fmt = FORMATS["float64"]
    rows = [_long_row(kind, fmt, 2 * fast_path._CHUNK + 77, 5) for kind in _LONG_DISTRIBUTIONS]
    jobs = [(op, row) for op in _LONG_OPS for row in rows]
    jobs = [(op, _inputs(op, fmt, row)) for op, row in jobs]
    alone = [ref.evaluate(op, *inputs, dtype=fmt).rounded for op, inputs in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            together = list(
                pool.map(lambda job: ref.evaluate(job[0], *job[1], dtype=fmt).rounded, jobs)
            )
            assert all(not differ(a, b).any() for a, b in zip(alone, together, strict=True))
