"""The soft-cap / temperature-and-sink fast path against the authority path, bit for bit.

:mod:`symsoftmax.reference.fast_softcap` settles softmax, log_softmax and logsumexp of rows with a
soft-cap c (logits c·tanh(z/(T·c))) or with both a temperature and a sink, where its error bound
decides the rounding. ``evaluate(..., fast=False)`` (mpmath, Ziv's strategy) is the authority;
every output must be the same value of the format, signed zeros and NaN included, in every format
of :data:`symsoftmax.formats.FORMATS`.

Rows: random bit patterns over the whole range (subnormals, ±0, ±max), normal logits, entries far
beyond the cap (everything saturates at ±c: near ties), entries far below it (z/c in the Taylor
region, z ≈ v), subnormal z, −inf masks (all but one masked), K = 1, +inf (capped to c) and NaN
entries; caps from the format's smallest values to its largest; sinks at, above and below the
capped range; temperatures. Also: the capped logits' own bound against mpmath, and that the
fast path settles nearly every output of ordinary capped rows (so the differential test cannot
pass by the fast path deciding nothing).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from bitwise import differ

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, Format
from symsoftmax.reference import _prepare, fast_softcap
from symsoftmax.reference.engine import output_size
from symsoftmax.rounding import round_array

OPS = fast_softcap.OPS
FORMAT_NAMES = tuple(FORMATS)
_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def _random_values(fmt: Format, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniformly random finite bit patterns of ``fmt`` (every binade alike), as float64."""
    bits = fmt.numpy_dtype.itemsize * 8
    raw = rng.integers(0, 2**bits, size=shape, dtype=_UINT[bits], endpoint=False)
    with np.errstate(invalid="ignore"):
        values = raw.view(fmt.numpy_dtype).astype(np.float64)
    return np.where(np.isfinite(values), values, 0.0)


def _value(fmt: Format, x: float) -> float:
    return float(round_array(np.array([x]), fmt)[0])


def _caps(fmt: Format, rng: np.random.Generator) -> list[float]:
    """Caps from the smallest subnormal to max, the Gemma values, and a random one."""
    picks = [fmt.smallest_subnormal, fmt.tiny, 0.01, 1.0, 30.0, 50.0, 2.0**20, fmt.max]
    picks.append(abs(float(_random_values(fmt, rng, (1,))[0])) or 1.0)
    return sorted({c for c in (_value(fmt, p) for p in picks) if 0 < c <= fmt.max})


def _row(fmt: Format, cap: float, rng: np.random.Generator, k: int, kind: int) -> np.ndarray:
    """One row of ``k`` format values of the given kind, relative to the cap."""
    if kind == 0:  # any bit pattern
        return _random_values(fmt, rng, (k,))
    if kind == 1:  # around the cap: tanh's middle
        row = cap * rng.normal(0, 2.0, size=k)
    elif kind == 2:  # far beyond it: every logit saturates at ±c (near ties)
        row = cap * rng.choice([-1, 1], size=k) * 2.0 ** rng.uniform(3, 40, size=k)
    elif kind == 3:  # far below it: z/c in the Taylor region, v ≈ z
        row = cap * rng.normal(0, 1.0, size=k) * 2.0 ** rng.uniform(-60, -8, size=k)
    elif kind == 4:  # subnormal z (and ±0)
        row = fmt.smallest_subnormal * rng.integers(-8, 9, size=k).astype(float)
    elif kind == 5:  # ties and near ties at one value
        row = np.full(k, cap * rng.normal(0, 3.0))
        row[rng.random(k) < 0.5] *= 1 + 2.0 ** -float(rng.integers(1, fmt.precision + 1))
    else:  # ordinary logits
        row = rng.normal(0, 32.0, size=k)
    row = np.clip(np.nan_to_num(row, nan=0.0), -fmt.max, fmt.max)
    return round_array(row, fmt)


def _rows(fmt: Format, cap: float, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, K) rows of format values around the cap ``cap`` (K drawn once, 1 to 9)."""
    k = int(rng.integers(1, 10))
    kind = rng.integers(0, 7, size=n)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond ±max: clipped
        rows = np.array([_row(fmt, cap, rng, k, int(kind[i])) for i in range(n)])
    # masks (one row all but one masked), a +inf (capped to c) and a NaN entry
    # (formats without infinities read −inf as NaN: masks only where −inf exists)
    if fmt.infinities:
        rows[rng.random(rows.shape) < 0.15] = -np.inf
    if n > 3:
        if fmt.infinities:
            rows[0, :] = -np.inf
            rows[0, int(rng.integers(0, k))] = 1.0
        rows[1, int(rng.integers(0, k))] = np.inf
        rows[2, int(rng.integers(0, k))] = np.nan
    return rows


def _mismatches(
    op: str,
    fmt: Format,
    rows: np.ndarray,
    temperature: float | None,
    sink: float | None,
    cap: float | None,
) -> list[str]:
    options = {"temperature": temperature, "sink": sink, "softcap": cap}
    fast = ref.evaluate(op, rows, dtype=fmt, **options).rounded
    slow = ref.evaluate(op, rows, dtype=fmt, fast=False, **options).rounded
    fast = fast.reshape(rows.shape[0], -1)
    slow = slow.reshape(rows.shape[0], -1)
    bad = differ(fast, slow)
    return [
        f"{op} {fmt.name} T={temperature!r} sink={sink!r} c={cap!r} "
        f"row={[float(v).hex() for v in rows[i]]}: [{j}] fast {float(fast[i, j]).hex()} "
        f"authority {float(slow[i, j]).hex()}"
        for i, j in zip(*np.nonzero(bad), strict=True)
    ]


def _cases(
    fmt: Format, seed: int, rows_per_cap: int
) -> list[tuple[np.ndarray, float | None, float | None, float | None]]:
    """(rows, T, sink, cap) cases: every cap of :func:`_caps`, with and without T and sinks;
    and uncapped rows with both a temperature and a sink."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[np.ndarray, float | None, float | None, float | None]] = []
    temperatures = [_value(fmt, t) for t in (0.75, 2.0, 0.125)]
    for i, cap in enumerate(_caps(fmt, rng)):
        t = None if i % 2 == 0 else temperatures[i % len(temperatures)]
        sinks = [
            None,
            _value(fmt, cap),
            _value(fmt, rng.normal(0, 4.0)),
            -_value(fmt, min(3 * cap, fmt.max)),
        ]
        sink = sinks[i % len(sinks)]
        cases.append((_rows(fmt, cap, rng, rows_per_cap), t, sink, cap))
    for t in temperatures:
        sink = _value(fmt, rng.normal(0, 8.0))
        rows = round_array(rng.normal(0, 4.0, size=(rows_per_cap, 5)), fmt)
        if fmt.infinities:
            rows[rng.random(rows.shape) < 0.1] = -np.inf
        cases.append((rows, t, sink, None))
    return cases


def _run(fmt_name: str, seed: int, rows_per_cap: int) -> None:
    fmt = FORMATS[fmt_name]
    failures: list[str] = []
    for rows, t, sink, cap in _cases(fmt, seed, rows_per_cap):
        for op in OPS:
            failures += _mismatches(op, fmt, rows, t, sink, cap)
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_capped_rows_agree_with_authority(fmt: str) -> None:
    _run(fmt, seed=11, rows_per_cap=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_capped_rows_agree_with_authority_many(fmt: str, seed: int) -> None:
    _run(fmt, seed=seed, rows_per_cap=60)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["float64", "float32", "bfloat16"])
def test_long_capped_rows_agree_with_authority(fmt: str) -> None:
    """K = 3000 (beyond fast.py's column chunks of 2048), a tenth masked, with a sink."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(17)
    rows = round_array(rng.normal(0, 32.0, size=(1, 3000)), f)
    rows[0, rng.random(3000) < 0.1] = -np.inf
    for op in OPS:
        assert not _mismatches(op, f, rows, None, 1.5, _value(f, 30.0))
        assert _fast_share(op, f, rows, None, 1.5, _value(f, 30.0)) > 0.99


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_edge_rows_agree_with_authority(fmt: str) -> None:
    """K = 1, every logit masked with a sink, ±max under small and huge caps, sink = c."""
    f = FORMATS[fmt]
    cases = [
        (np.array([[1.5], [-f.max], [f.smallest_subnormal], [0.0], [-0.0]]), None, None, 30.0),
        (np.array([[-np.inf, -np.inf], [f.max, -f.max], [f.max, f.max]]), None, 2.5, 50.0),
        (np.array([[f.max, -f.max, 0.0], [-f.max, -f.max, -f.tiny]]), None, None, f.max),
        (np.array([[f.max, 1.0, -1.0], [2.0, 2.0, 2.0]]), None, None, f.smallest_subnormal),
        (np.array([[f.max, 0.0, -2.0, 3.0]]), 2.0, _value(f, 50.0), 50.0),
        (np.array([[1.0, 2.0, 3.0], [-1.0, -np.inf, 0.5]]), 0.75, 1.0, None),
        # temperatures and caps at the ends of the range (z/T, z/(T·c) beyond float64's range)
        (
            np.array([[1.0, -2.0, 0.5], [f.max, f.tiny, -f.smallest_subnormal]]),
            f.smallest_subnormal,
            None,
            f.max,
        ),
        (
            np.array([[1.0, -2.0, 0.5], [f.max, f.tiny, -f.smallest_subnormal]]),
            f.max,
            1.0,
            f.smallest_subnormal,
        ),
        (np.array([[3.0, 2.0, 0.5], [f.tiny, 0.0, -f.tiny]]), f.smallest_subnormal, 2.0, f.tiny),
        (np.array([[f.max, 1.0, -1.0], [f.tiny, 2 * f.tiny, 0.0]]), f.max, -1.0, None),
        (
            np.array([[f.smallest_subnormal, 0.0, -f.smallest_subnormal]]),
            f.smallest_subnormal,
            0.5,
            None,
        ),
    ]
    failures: list[str] = []
    for rows, t, sink, cap in cases:
        cap_v = None if cap is None else _value(f, cap)
        t_v = None if t is None else _value(f, t)
        for op in OPS:
            failures += _mismatches(op, f, round_array(rows, f), t_v, sink, cap_v)
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])


def _fast_share(
    op: str, fmt: Format, rows: np.ndarray, t: float | None, sink: float | None, cap: float | None
) -> float:
    """The share of outputs the soft-cap fast path settles on these rows."""
    problem = _prepare(op, (rows,), fmt, -1, t, sink, cap)
    n, k = problem.rows.shape
    out = np.empty((n, output_size(op, k)))
    pending = np.ones(out.shape, dtype=bool)
    fast_softcap.settle(problem, out, pending)
    return 1.0 - float(pending.mean())


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_fast_path_settles_ordinary_capped_rows(fmt: str) -> None:
    """Gemma-style rows (σ = 32, c = 30 or 50, K = 32), with a sink or T, are settled at once."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(5)
    rows = round_array(rng.normal(0, 32.0, size=(50, 32)), f)
    cap = _value(f, 30.0)
    for op in OPS:
        for t, sink in ((None, None), (_value(f, 2.0), None), (None, _value(f, 2.5))):
            assert _fast_share(op, f, rows, t, sink, cap) > 0.99, (op, t, sink)
        assert _fast_share(op, f, rows, _value(f, 0.75), _value(f, 1.5), None) > 0.99, op


def _exact_logit(z: float, t: float | None, cap: float | None) -> mpmath.mpf:
    with mpmath.workprec(2400):
        u = mpmath.mpf(z) / (1 if t is None else mpmath.mpf(t))
        return u if cap is None else mpmath.mpf(cap) * mpmath.tanh(u / mpmath.mpf(cap))


@pytest.mark.parametrize(
    ("cap", "t"),
    [(30.0, None), (30.0, 0.75), (2.0**-1060, None), (2.0**1000, 2.0**-1000), (1e300, 1e-300)],
)
def test_capped_logit_bound_holds_in_every_region(cap: float, t: float | None) -> None:
    """|v̂ − v| ≤ δ for a = z/(T·c) in every region (Taylor, exp, saturated) and at the
    region boundaries 2^−300, 2^−12, 2^20, 2^21, with caps and temperatures whose products
    leave float64's range, against mpmath at 2400 bits."""
    rng = np.random.default_rng(3)
    edges = [2.0**-300, 2.0**-12, 2.0**20, 2.0**21]
    a = [e * (1 + s * 2.0**-40) for e in edges for s in (-1, 0, 1)]
    a += list(2.0 ** rng.uniform(-320, 24, size=200))
    with np.errstate(over="ignore", under="ignore"):
        z = np.array([s * v * cap * (1.0 if t is None else t) for v in a for s in (1, -1)])
    z = z[np.isfinite(z) & (z != 0)]
    assert z.size > 20
    vh, vl, delta, usable = fast_softcap._logits(z[None, :], t, cap)
    assert usable.all()
    for j, zj in enumerate(z):
        exact = _exact_logit(float(zj), t, cap)
        with mpmath.workprec(2400):
            err = abs(mpmath.mpf(float(vh[0, j])) + mpmath.mpf(float(vl[0, j])) - exact)
            assert err <= mpmath.mpf(float(delta[0, j])), (zj, t, float(err), delta[0, j])
        # the bound is useful: relative 2^−70 or better outside the saturated region
        assert delta[0, j] <= abs(vh[0, j]) * 2.0**-70 + 2.0**-1000, (zj, t, delta[0, j])


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16", "float8_e4m3fn"])
def test_float64_logit_bound_holds(fmt: str) -> None:
    """The narrower formats' float64 logits: |v̂ − v| ≤ δ for random format values of z, c
    and T (every binade), against mpmath."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(7)
    z = _random_values(f, rng, (400,))
    caps = np.abs(_random_values(f, rng, (400,)))
    caps = np.where(caps > 0, caps, 1.0)
    temperatures = np.where(rng.random(400) < 0.5, 1.0, caps[::-1])
    for j in range(z.size):
        t = None if temperatures[j] == 1.0 else float(temperatures[j])
        for cap in (float(caps[j]), None):
            v, delta, usable = fast_softcap._logits_float64(z[j : j + 1], t, cap)
            assert usable.all()
            exact = _exact_logit(float(z[j]), t, cap)
            with mpmath.workprec(2400):
                err = abs(mpmath.mpf(float(v[0])) - exact)
                assert err <= mpmath.mpf(float(delta[0])), (z[j], t, cap, float(err), delta[0])


def test_rows_the_bound_cannot_take_stay_pending() -> None:
    """NaN entries, +inf without a cap, an infinite or NaN sink: nothing settled here, and
    the results still match the authority (its exact cases)."""
    f = FORMATS["float32"]
    rows = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 0.0]])
    for op in OPS:
        assert _fast_share(op, f, rows[:1], None, None, 30.0) == 0.0
        assert _fast_share(op, f, rows[1:], 2.0, 1.0, None) == 0.0
        for sink in (np.inf, -np.inf, np.nan):
            assert _fast_share(op, f, np.ones((1, 3)), None, sink, 30.0) == 0.0
            assert not _mismatches(op, f, rows, None, sink, 30.0)
        assert not _mismatches(op, f, rows, 2.0, 1.0, None)


def test_magnitude_bound_stays_meaningful_for_huge_caps() -> None:
    """With c near float64's max the logits are huge: the row is settled only where its
    whole error interval rounds to one value (and matches the authority)."""
    f = FORMATS["float64"]
    rows = np.array([[f.max, f.max / 2, 1.0], [1.0, 2.0, 3.0], [-f.max, 0.0, 2.0**-1074]])
    for op in OPS:
        assert not _mismatches(op, f, rows, None, None, f.max)
        assert not _mismatches(op, f, rows, None, None, math.ldexp(1.0, 1000))
