"""The batched row makers of the generator give the rows of the row-by-row construction.

:mod:`symsoftmax.vectors.values` makes many short rows at once (``random_normal_rows``,
``random_uniform_rows``, ``random_logspaced_rows``, ``uniform_draws`` + ``uniform_values``):
one generator call per row, in row order, then the arithmetic and one :func:`round_array` for
all the rows. These tests rebuild each row on its own from the formulas of the docstrings (a
generator call, a power-of-two scaling, a rounding per row) and compare bit for bit, in every
format, with rows that overflow, underflow to subnormals and zero, and empty rows; the
generators must also be left at the same position. The block families' ``_below_rows`` and
the sum-near-bound search (``sequential_sum_errors``) are checked the same way. Whole suites
are checked byte for byte by tests/test_vectors_bytes_stable.py.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from symsoftmax.formats import FORMATS, Format
from symsoftmax.rounding import round_array
from symsoftmax.vectors.blocks import _below_rows
from symsoftmax.vectors.catalogue import sequential_sum_errors, state_format
from symsoftmax.vectors.family import Context
from symsoftmax.vectors.values import (
    random_logspaced_rows,
    random_normal_rows,
    random_uniform_rows,
    split_rows,
    uniform_draws,
    uniform_values,
)

FORMAT_NAMES = tuple(FORMATS)
SEED = 20261206


def _scales(fmt: Format) -> list[int]:
    """Scales that reach overflow (±inf, NaN in float8_e4m3fn), the subnormals and zero."""
    return [0, 3, -1, fmt.emax - 1, fmt.emax + 3, fmt.emin, fmt.emin - fmt.precision - 2]


def _shapes(fmt: Format) -> list[tuple[int, int]]:
    sizes = [3, 0, 1, 8, 5, 0, 17]
    return [(size, scale) for size, scale in zip(sizes, _scales(fmt), strict=True)]


def _same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == np.float64 and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # signed zeros and NaN included


def _same_position(a: np.random.Generator, b: np.random.Generator) -> None:
    assert a.bit_generator.state == b.bit_generator.state


def _normal_row(rng: np.random.Generator, fmt: Format, size: int, scale: int) -> np.ndarray:
    draws = rng.integers(0, 1 << 20, size=(size, 12), dtype=np.int64)
    centred = draws.sum(axis=1) - 6 * (1 << 20)
    return round_array(np.ldexp(centred.astype(np.float64), scale - 20), fmt)


def _uniform_row(
    rng: np.random.Generator, fmt: Format, size: int, scale: int, negative: bool
) -> np.ndarray:
    k = rng.integers(-(1 << 52), 0 if negative else 1 << 52, size=size, dtype=np.int64)
    return round_array(np.ldexp(k.astype(np.float64), scale - 52), fmt)


def _logspaced_row(
    rng: np.random.Generator, fmt: Format, size: int, low: int, high: int
) -> np.ndarray:
    p = fmt.precision
    exponents = rng.integers(low, high + 1, size=size, dtype=np.int64)
    significands = rng.integers(1 << (p - 1), 1 << p, size=size, dtype=np.int64)
    signs = rng.integers(0, 2, size=size, dtype=np.int64) * 2 - 1
    values = np.ldexp((signs * significands).astype(np.float64), (exponents - p + 1).astype(int))
    return round_array(values, fmt)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the top scales
@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_random_normal_rows_are_the_rows_one_by_one(name: str) -> None:
    fmt = FORMATS[name]
    shapes = _shapes(fmt)
    one, many = np.random.default_rng(SEED), np.random.default_rng(SEED)
    want = [_normal_row(one, fmt, size, scale) for size, scale in shapes]
    _same(random_normal_rows(many, fmt, shapes), want)
    _same_position(one, many)
    assert any(np.isnan(row).any() or np.isinf(row).any() for row in want)  # overflow reached
    assert any((row == 0).any() for row in want)  # and underflow to zero


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the top scales
@pytest.mark.parametrize("name", FORMAT_NAMES)
@pytest.mark.parametrize("negative", [False, True])
def test_random_uniform_rows_are_the_rows_one_by_one(name: str, negative: bool) -> None:
    fmt = FORMATS[name]
    shapes = _shapes(fmt)
    one, many, drawn = (np.random.default_rng(SEED) for _ in range(3))
    want = [_uniform_row(one, fmt, size, scale, negative) for size, scale in shapes]
    _same(random_uniform_rows(many, fmt, shapes, negative=negative), want)
    draws = [uniform_draws(drawn, size, negative=negative) for size, _ in shapes]
    _same(uniform_values(fmt, draws, shapes), want)
    _same_position(one, many)
    _same_position(one, drawn)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_random_logspaced_rows_are_the_rows_one_by_one(name: str) -> None:
    fmt = FORMATS[name]
    sizes = [4, 0, 1, 9, 16]
    low, high = fmt.emin - fmt.precision - 3, fmt.emax  # from below the subnormals to the top
    one, many = np.random.default_rng(SEED), np.random.default_rng(SEED)
    want = [_logspaced_row(one, fmt, size, low, high) for size in sizes]
    _same(random_logspaced_rows(many, fmt, sizes, low, high), want)
    _same_position(one, many)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_no_rows(name: str) -> None:
    fmt = FORMATS[name]
    rng = np.random.default_rng(SEED)
    before = rng.bit_generator.state
    assert random_normal_rows(rng, fmt, []) == []
    assert random_uniform_rows(rng, fmt, []) == []
    assert random_logspaced_rows(rng, fmt, [], 0, 3) == []
    assert uniform_values(fmt, [], []) == []
    assert rng.bit_generator.state == before


def test_split_rows_are_disjoint() -> None:
    flat = np.arange(6.0)
    rows = split_rows(flat, [(2, 0), (0, 0), (4, 0)])
    assert [row.tolist() for row in rows] == [[0.0, 1.0], [], [2.0, 3.0, 4.0, 5.0]]
    rows[0][-1] = -1.0  # writing into a row leaves the next one alone
    assert rows[2][0] == 2.0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the top scales
@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_below_rows_are_below_one_by_one(name: str) -> None:
    fmt = FORMATS[name]
    # highs of every kind: ±0, the top of the range (sums overflow to ±inf or NaN), subnormal
    parts = [(5, -1.0, 3), (0, 2.0, 1), (7, fmt.max, 0), (3, -0.0, 2), (4, fmt.tiny, fmt.emin)]
    parts += [(6, 0.0, fmt.emin - fmt.precision - 1), (9, -fmt.max, fmt.emax + 2)]
    one = Context(fmt, "standard", "softmax", np.random.default_rng(SEED))
    many = Context(fmt, "standard", "softmax", np.random.default_rng(SEED))
    # one row at a time, as the docstring says: high plus the negative uniform values, rounded
    want = [
        round_array(high + _uniform_row(one.rng, fmt, k, width, True), fmt)
        for k, high, width in parts
    ]
    _same(_below_rows(many, parts), want)
    _same_position(one.rng, many.rng)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_sequential_sum_errors_are_the_sums_one_by_one(name: str) -> None:
    state = state_format(FORMATS[name])
    ks = (1, 2, 100, 4096, 333)
    for x in (0.5, 0.1, 2.0**-30, 0.36787944117144233):
        x = float(round_array(x, state))
        want = []
        for k in ks:  # the recursive sum of [1, x, …, x] (k terms), one IEEE addition a step
            terms = np.full(k, x, dtype=state.numpy_dtype)
            terms[0] = 1
            exact = 1 + (k - 1) * Fraction(x)
            want.append(abs(Fraction(float(np.add.accumulate(terms)[-1])) - exact) / exact)
        assert sequential_sum_errors(x, ks, state) == want
