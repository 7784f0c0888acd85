"""The fast path of the derivative ops (symsoftmax/reference/fast_gradients.py) against the
authority path (``evaluate(..., fast=False)``), bit for bit: signed zeros and NaN included.

softmax_vjp, log_softmax_vjp, cross_entropy and cross_entropy_grad, in every format of the table
and float8_e5m2 (a format built from its parameters alone), on the hard logit rows of
tests/test_fast_path_differential.py (whole-range bit patterns, ±max, subnormal outputs, ties,
−inf masks, NaN/+inf entries) with second inputs of every hard kind (tests/second_inputs.py:
cancellation, constant, one-hot, ±max, subnormal, Γ = 0 exactly, NaN/±inf entries), with and
without a sink; plus constructed cases for each exact rule of the module (constant g, Γ = 0,
one-hot g at an entry of s ≈ 1, rows of equal logits whose outputs are rounding midpoints,
far entries, one finite entry), K from 1 to 300, and a check that ordinary rows are settled by
the fast path (so that a fast path silently doing nothing fails).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from bitwise import differ
from second_inputs import KINDS, second_inputs, second_row
from test_fast_path_differential import _rows

import symsoftmax.reference as ref
from symsoftmax.formats import FORMATS, Format
from symsoftmax.ops import OPERATIONS
from symsoftmax.reference import fast as fast_path
from symsoftmax.reference import fast_gradients
from symsoftmax.rounding import round_array, round_exact

OPS = fast_gradients.GRADIENT_OPS
VJPS = ("softmax_vjp", "log_softmax_vjp")
ALL_FORMATS = list(FORMATS.values())  # float8_e5m2 included


def _both(op: str, z: np.ndarray, other: np.ndarray, fmt: Format, sink: float | None = None):
    """(fast result, authority result, pending mask of the fast path), rows of (n, outputs)."""
    z, other = np.atleast_2d(z), np.atleast_2d(other)
    fast = ref.evaluate(op, z, other, dtype=fmt, sink=sink).rounded.reshape(len(z), -1)
    slow = ref.evaluate(op, z, other, dtype=fmt, sink=sink, fast=False).rounded
    problem = ref._prepare(op, (z, other), fmt, -1, None, sink)
    size = OPERATIONS[op].size(z.shape[1])
    out = np.empty((len(z), size))
    pending = np.ones((len(z), size), dtype=bool)
    ref._settle_fast(problem, out, pending)
    # what the fast path settled is what evaluate returned there
    assert not differ(out[~pending], fast[~pending]).any()
    return fast, slow.reshape(len(z), -1), pending


def _report(op: str, fmt: Format, z: np.ndarray, other: np.ndarray, fast, slow, sink) -> str:
    bad = differ(fast, slow)
    r, c = (int(v[0]) for v in np.nonzero(bad))
    z, other = np.atleast_2d(z), np.atleast_2d(other)
    return (
        f"{op} {fmt.name} sink={sink} z={[float(v).hex() for v in z[r]]} "
        f"other={[float(v).hex() for v in other[r]]} [{c}]: fast {float(fast[r, c]).hex()} "
        f"authority {float(slow[r, c]).hex()}"
    )


def _check(op, fmt, z, other, sink=None, settled: bool = False) -> np.ndarray:
    """Fast = authority bit for bit; ``settled``: and the fast path left nothing pending."""
    fast, slow, pending = _both(op, z, other, fmt, sink)
    assert not differ(fast, slow).any(), _report(op, fmt, z, other, fast, slow, sink)
    if settled:
        assert not pending.any(), (op, fmt.name, sink, np.atleast_2d(z)[pending.any(axis=1)][0])
    return pending


# ---- hard rows × hard second inputs, every format --------------------------------------------


def _sinks(fmt: Format) -> list[float | None]:
    return [None, 0.0, -3.5, float(round_array(np.array([fmt.max / 3]), fmt)[0]), -np.inf]


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_hard_rows_agree_with_authority(fmt: Format) -> None:
    """The differential run: about 60 hard logit rows per format, each op, a second input of a
    kind drawn per row (a few with NaN/±inf), VJPs also with a sink."""
    rows = _rows(fmt, 77, 60)
    rng = np.random.default_rng(78)
    settled = total = 0
    for i, row in enumerate(rows):
        for op in OPS:
            other = second_inputs(fmt, rng, (1, row.size), specials=0.05)
            sinks = _sinks(fmt) if op in VJPS else [None]
            pending = _check(op, fmt, row, other, sinks[i % len(sinks)])
            settled += int((~pending).sum())
            total += pending.size
    assert settled > 0.8 * total  # hard rows, yet most outputs never reach the authority


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_hard_rows_agree_with_authority_many(fmt: Format, seed: int) -> None:
    rows = _rows(fmt, seed, 1500)
    rng = np.random.default_rng(seed + 100)
    for i, row in enumerate(rows):
        for op in OPS:
            other = second_inputs(fmt, rng, (1, row.size), specials=0.03)
            sinks = [*_sinks(fmt), np.nan, np.inf] if op in VJPS else [None]
            _check(op, fmt, row, other, sinks[i % len(sinks)])


# ---- the exact rules ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_exact_zeros_and_exact_values(fmt: Format) -> None:
    """Constant g: softmax_vjp is +0 everywhere (ḡ = g exactly), with −inf masks too; Γ = 0:
    log_softmax_vjp is g itself, +0 for ±0 entries (the engine's zeros are +0); one finite
    entry: the loss is +0 and the grad y·(1 − Σy)... all settled by the fast path."""
    rng = np.random.default_rng(5)
    z = round_array(rng.normal(0.0, 3.0, (40, 6)), fmt)
    masked = -np.inf if fmt.infinities else -fmt.max  # float8_e4m3fn has no −inf
    z[::3, 1] = masked
    g = np.repeat(round_array(rng.normal(0.0, 5.0, (40, 1)).clip(-400, 400), fmt), 6, axis=1)
    g[::4] = -0.0
    fast, _, _ = _both("softmax_vjp", z, g, fmt)
    assert np.all(fast == 0) and not np.signbit(fast).any()
    _check("softmax_vjp", fmt, z, g, settled=True)
    half = round_array(rng.normal(0.0, 2.0, (40, 3)), fmt)
    zero_sum = np.concatenate([half, -half], axis=1)
    zero_sum[:, 0] = -0.0  # with its partner +0: Σ = 0 still
    zero_sum[:, 3] = 0.0
    fast, _, _ = _both("log_softmax_vjp", z, zero_sum, fmt)
    assert not differ(fast, np.where(zero_sum == 0, 0.0, zero_sum)).any()
    for op in ("log_softmax_vjp", "cross_entropy_grad", "cross_entropy"):
        _check(op, fmt, z, zero_sum, settled=op != "cross_entropy")
    single = np.full((3, 4), masked)
    single[:, 2] = [1.0, -2.0, 0.0]
    y = round_array(rng.normal(0.0, 1.0, (3, 4)), fmt)
    y[:, [0, 1, 3]] = 0.0
    for op in OPS:
        _check(op, fmt, single, y, settled=fmt.infinities)


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_one_hot_at_an_entry_of_probability_near_one(fmt: Format) -> None:
    """g = e_a at the largest entry, the others 40 to 1500 below: 1 − s_a and s_j·s_a down to
    e^−1500 (below float64's range, so the sums must keep their scale), and far entries
    (t < −2^21 in float64). log_softmax_vjp takes (g_a − Γ) + Γ·S′/S with g_a − Γ = 0."""
    offsets = [[0.0, -40.0, -800.0, -1500.0], [0.0, -3.0, -700.0, -745.5], [0.0, -1.0, -2.0, -4.0]]
    if fmt.name == "float64":
        offsets.append([0.0, -1.0, -(2.0**22), -(2.0**40)])
    z = round_array(np.array(offsets), fmt)
    z = np.where(np.isfinite(z), z, -fmt.max)  # offsets beyond the format's range: its −max
    for hot in range(4):
        g = np.zeros_like(z)
        g[:, hot] = 1.0
        for op in OPS:
            _check(op, fmt, z, g, settled=op != "cross_entropy" or hot == 0)


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_rows_of_equal_logits_round_their_midpoints(fmt: Format) -> None:
    """All finite logits equal, n a power of two: s = 1/n exactly and the VJPs are dyadic
    ((n·g_i − Σg)/n², ±(n·g_i − Γ)/n), often exactly a rounding midpoint of the format, which no
    error bound decides: the exact path rounds them (ties to even), as the authority does."""
    rng = np.random.default_rng(9)
    midpoints = 0
    for n in (2, 4, 8, 16):
        z = np.zeros((30, n))
        z[::5, 0] = -np.inf if fmt.infinities else -fmt.max  # not all equal: the general path
        g = round_array(1.0 + rng.normal(0.0, 2.0**-5, (30, n)), fmt)
        for op in ("softmax_vjp", "log_softmax_vjp", "cross_entropy_grad"):
            pending = _check(op, fmt, z, g)
            assert not pending[np.arange(30) % 5 != 0].any(), op  # the rows of n equal logits
        # count outputs that are midpoints of the format (the rule is exercised)
        for row in g[1:4]:
            total = sum(Fraction(float(v)) for v in row)
            exact = [(n * Fraction(float(v)) - total) / n**2 for v in row]
            midpoints += sum(_is_midpoint(v, fmt) for v in exact)
    if fmt.precision < 53:
        assert midpoints > 0


def _is_midpoint(value: Fraction, fmt: Format) -> bool:
    """Whether ``value`` lies exactly halfway between two neighbouring values of ``fmt``."""
    if value == 0:
        return False
    nearest = round_exact(value, fmt)
    if not math.isfinite(nearest):
        return False
    e = math.frexp(abs(float(value)))[1] - 1
    half = Fraction(2) ** fmt.quantum_exponent(e) / 2
    return abs(value - Fraction(nearest)) == half


@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_loss_on_a_midpoint_plus_a_tiny_gamma_l(fmt: str) -> None:
    """cross_entropy = B + Γ_y·L with B = −y_j·t_j exactly a rounding midpoint of the format
    (t_j = z_j − max needs one bit more than the format) and L = log(1 + e^t_j) far below its
    spacing: no error bound decides it, B and the sign of Γ_y·L do (rounds away from B's
    neighbour below). Settled by the fast path and equal to the authority."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(21)
    z = round_array(rng.normal(0.0, 300.0, (6000, 2)), f)
    low = np.argmin(z, axis=1)
    t = z[np.arange(len(z)), low] - z.max(axis=1)
    picked = [i for i in range(len(z)) if t[i] < -40 and _is_midpoint(-Fraction(t[i]), f)]
    assert len(picked) > 10
    y = np.zeros((len(picked), 2))
    y[np.arange(len(picked)), low[picked]] = rng.choice([1.0, 0.5, 3.0], len(picked))
    _check("cross_entropy", f, z[picked], y, settled=True)


def test_round_dd_is_the_exact_rounding() -> None:
    """_round_dd(hi, lo): the nearest format value of the exact hi + lo, ties to even, also
    where hi is a midpoint and lo breaks the tie either way (against Fraction rounding)."""
    rng = np.random.default_rng(11)
    for fmt in ALL_FORMATS[1:]:
        # midpoints of the format, and values off them, each with a low part of either sign
        values = round_array(rng.normal(0.0, 4.0, 400), fmt)
        spacing = np.ldexp(1.0, fmt.quantum_exponent_array(np.frexp(values)[1] - 1))
        hi = values + spacing * rng.choice([0.5, 0.25, -0.5, 0.0], 400)
        lo = np.where(rng.random(400) < 0.5, 0.0, np.ldexp(np.abs(hi), -60))
        lo *= rng.choice([-1.0, 1.0], 400)
        got = fast_gradients._round_dd(hi, lo, fmt)
        for h, low, value in zip(hi, lo, got, strict=True):
            want = round_exact(Fraction(float(h)) + Fraction(float(low)), fmt)
            assert value == want or (math.isnan(value) and math.isnan(want)), (fmt.name, h, low)


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_special_values(fmt: Format) -> None:
    """NaN/±inf in z or in g/y, a row of −inf, +inf logits (the limit), and NaN/±inf sinks:
    the engine's conventions, settled by the fast path where they are exact."""
    big = fmt.max
    z = np.array(
        [
            [1.0, np.nan, 0.0],
            [-np.inf, -np.inf, -np.inf],
            [np.inf, 1.0, -2.0],
            [np.inf, np.inf, -np.inf],
            [-np.inf, 0.5, -np.inf],
            [big, -big, 0.0],
            [1.0, 2.0, 3.0],
        ]
    )
    for other in ([0.5, -1.0, 2.0], [1.0, np.inf, 0.0], [np.nan, 0.0, 0.0], [0.0, 0.0, -np.inf]):
        g = np.tile(np.array(other), (len(z), 1))
        for op in OPS:
            _check(op, fmt, z, g)
        for sink in (np.nan, np.inf, -np.inf, 0.0):
            for op in VJPS:
                _check(op, fmt, z, g, sink)


@pytest.mark.parametrize("k", [1, 2, 3, 8, 9, 64, 300])
def test_row_lengths(k: int) -> None:
    """K from 1 to 300 (pairwise sums of every depth, padded widths): equal to the authority on
    a few rows per format (one-hot, cancellation and random second inputs)."""
    rng = np.random.default_rng(k)
    for fmt in (FORMATS["float64"], FORMATS["bfloat16"]):
        z = round_array(rng.normal(0.0, 4.0, (3, k)), fmt)
        other = np.stack(
            [second_row(fmt, rng, k, kind) for kind in ("one-hot", "nearly-constant", "normal")]
        )
        for op in OPS:
            _check(op, fmt, z, other)


# ---- the fast path does the work on ordinary rows -------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=lambda f: f.name)
def test_ordinary_rows_are_settled_by_the_fast_path(fmt: Format) -> None:
    """N(0, σ²) logits with N(0, 1) cotangents or soft targets: at least 99 % of the outputs
    are settled without the authority (the fast path calls nothing of it), sinks included."""
    rng = np.random.default_rng(3)
    for k in (2, 16, 128):
        z = round_array(rng.normal(0.0, 3.0, (200, k)), fmt)
        cotangents = second_inputs(
            fmt, rng, z.shape, kinds=("normal", "one-hot", "nearly-constant", "alternating")
        )
        targets = second_inputs(fmt, rng, z.shape, kinds=("normal", "one-hot", "smoothed"))
        for op in OPS:
            other = targets if op.startswith("cross") else cotangents
            for sink in [None, 1.0] if op in VJPS else [None]:
                problem = ref._prepare(op, (z, other), fmt, -1, None, sink)
                size = OPERATIONS[op].size(k)
                out = np.empty((len(z), size))
                pending = np.ones((len(z), size), dtype=bool)
                ref._settle_fast(problem, out, pending)
                assert pending.mean() <= 0.01, (op, fmt.name, k, sink, pending.mean())


def test_ops_table_routes_the_derivative_ops_here() -> None:
    """The operation table marks the four ops as fast, and fast.settle hands them to this
    module (so the exhaustive sweeps, single-input, do not list them)."""
    from symsoftmax.cli.exhaustive import _OPS as cli_ops
    from symsoftmax.sweep.runner import EXHAUSTIVE_OPS

    for op in OPS:
        assert OPERATIONS[op].fast_path
        assert fast_path.OWN_MODULES[op] == "symsoftmax.reference.fast_gradients"
        assert op not in EXHAUSTIVE_OPS
    assert cli_ops == EXHAUSTIVE_OPS  # the CLI's --op choices are the sweep's ops
    assert set(KINDS) >= {"one-hot", "constant", "zero-sum", "nearly-constant"}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize("op", OPS)
def test_long_rows_agree_with_authority(op: str, fmt: str) -> None:
    """K = 4096 rows (the suites' longest for these ops): the fast path settles every output and
    a sample of them equals the authority's (engine.evaluate_row at those indices)."""
    from symsoftmax.reference.engine import evaluate_row
    from symsoftmax.reference.rounders import FormatRounder

    f = FORMATS[fmt]
    rng = np.random.default_rng(4096)
    z = round_array(rng.normal(0.0, 4.0, 4096), f)
    for kind in ("normal", "one-hot", "nearly-constant", "smoothed"):
        other = second_row(f, rng, 4096, kind)
        fast, _, pending = _both_fast_only(op, z, other, f)
        assert not pending.any(), kind
        indices = [0] if op == "cross_entropy" else sorted({0, 4095, *rng.integers(0, 4096, 6)})
        exact = evaluate_row(op, z, other, None, FormatRounder(f), indices)
        slow = np.array([exact[i] for i in indices])
        assert not differ(fast[0, indices], slow).any(), kind


def _both_fast_only(op: str, z: np.ndarray, other: np.ndarray, fmt: Format):
    z2, other2 = z[None, :], other[None, :]
    fast = ref.evaluate(op, z2, other2, dtype=fmt).rounded.reshape(1, -1)
    problem = ref._prepare(op, (z2, other2), fmt, -1, None)
    size = OPERATIONS[op].size(z.size)
    out = np.empty((1, size))
    pending = np.ones((1, size), dtype=bool)
    ref._settle_fast(problem, out, pending)
    return fast, None, pending
