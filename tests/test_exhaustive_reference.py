"""The reference on short rows (issue 12 §3): the vectorized fast path equals the authority
(``evaluate(..., fast=False)``, Ziv on mpmath balls) bit for bit, signed zeros and NaN included,
on every float8 row of K = 2 and on random rows (random bit patterns: specials, subnormals, huge
spreads) of float16, bfloat16, float32 and float64 with K = 2 and 3."""

from __future__ import annotations

import numpy as np
import pytest
from bitwise import differ

from symsoftmax.formats import FORMATS
from symsoftmax.reference import evaluate
from symsoftmax.sweep.space import Space

OPS = ("softmax", "log_softmax", "logsumexp")


def assert_bitwise_equal(a: np.ndarray, b: np.ndarray) -> None:
    bad = differ(a, b)
    assert a.shape == b.shape and not bad.any(), (
        f"{int(bad.sum())} differ, first at {np.argwhere(bad)[:1]}"
    )


def _both(op: str, rows: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        fast = evaluate(op, rows, dtype=dtype).rounded
        authority = evaluate(op, rows, dtype=dtype, fast=False).rounded
    return fast, authority


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_fast_path_equals_the_authority_on_a_sixteenth_of_float8_k2(op: str, dtype: str) -> None:
    space = Space.of(dtype, 2)
    rows = space.rows(0, space.size)[::16].astype(np.float64)  # every row: the slow test below
    assert_bitwise_equal(*_both(op, rows, dtype))


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_fast_path_equals_the_authority_on_every_float8_k2_row(op: str, dtype: str) -> None:
    space = Space.of(dtype, 2)
    rows = space.rows(0, space.size).astype(np.float64)
    assert_bitwise_equal(*_both(op, rows, dtype))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_fast_path_equals_the_authority_on_random_bit_patterns(op: str, k: int, dtype: str) -> None:
    fmt = FORMATS[dtype]
    bits = fmt.numpy_dtype.itemsize * 8
    rng = np.random.default_rng([k, bits, len(op)])
    patterns = rng.integers(0, 1 << bits, size=(60, k), dtype=np.uint64)
    with np.errstate(invalid="ignore"):  # NaN patterns
        rows = patterns.astype(f"uint{bits}").view(fmt.numpy_dtype).astype(np.float64)
    assert_bitwise_equal(*_both(op, rows, dtype))


def test_fast_path_settles_special_rows_and_tiny_log_softmax_without_the_authority() -> None:
    """Rows of NaN/±inf and log_softmax outputs that round to −0 or sit on a midpoint minus a
    tiny L are decided by the fast path (phase 0 and 1), not left to the mpmath route."""
    from symsoftmax.reference import _prepare
    from symsoftmax.reference import fast as fast_path

    rows = np.array(
        [
            [np.nan, 1.0],
            [np.inf, 1.0],
            [np.inf, np.inf],
            [-np.inf, -np.inf],
            [18.75, -49.59375],  # l_0 rounds to −0; t_1 = −68.34375 is a float16 midpoint
            [384.5, -1001.0],  # S′ underflows in float64; t_1 = −1385.5 is a midpoint
        ]
    )
    for op in OPS:
        problem = _prepare(op, (rows,), "float16", -1, None)
        size = 1 if op == "logsumexp" else 2
        out = np.empty((len(rows), size))
        pending = np.ones((len(rows), size), dtype=bool)
        fast_path.settle(problem, out, pending)
        assert not pending.any(), op
        assert_bitwise_equal(out.reshape(-1), _both(op, rows, "float16")[1].reshape(-1))


def _without_the_authority(
    op: str, rows: np.ndarray, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> np.ndarray:
    """The reference of ``rows``, asserting that the fast path settled every one (no row went
    to the authority, ``engine.evaluate_row``, as the reference calls it)."""
    import symsoftmax.reference as reference

    called: list[object] = []
    original = reference.evaluate_row

    def counted(*args: object, **kwargs: object) -> object:
        called.append(args[1])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reference, "evaluate_row", counted)
    fast = evaluate(op, rows, dtype=dtype).rounded
    monkeypatch.undo()
    assert not called, f"{len(called)} rows reached the authority, e.g. {called[0]}"
    return fast


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_logsumexp_with_a_zero_maximum_is_settled_fast_and_right(
    dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max = ±0 and a far smaller entry ([0, −700], [−0, −inf]): the sum is T·L ≥ 0, which
    rounds to +0. Phase 1 once left these rows to mpmath one by one (its interval straddled
    ±0): they are now settled there (nothing reaches the authority) and equal to it."""
    fmt = FORMATS[dtype]
    finite = np.array([-(2.0**e) for e in range(-3, 17)] + [-700.0, -692.0, -1e4, -fmt.max])
    others = np.concatenate([finite, [-np.inf, 0.0, -0.0, 3.0]])
    zeros = np.array([0.0, -0.0])
    rows = np.concatenate(
        [
            np.stack([np.repeat(zeros, others.size), np.tile(others, 2)], axis=1),
            np.stack([np.tile(others, 2), np.repeat(zeros, others.size)], axis=1),
        ]
    )
    with np.errstate(over="ignore"):  # −1e4 is −inf in float16
        rows = rows.astype(fmt.numpy_dtype).astype(np.float64)  # values of the format
    fast = _without_the_authority("logsumexp", rows, dtype, monkeypatch)
    assert_bitwise_equal(fast, evaluate("logsumexp", rows, dtype=dtype, fast=False).rounded)


@pytest.mark.parametrize(
    ("dtype", "row"),
    [
        ("float16", [512.0, -179.75]),  # t = −691.75: a float16 midpoint; L ≈ 2^−998
        ("float16", [-179.75, 512.0, 1.0]),
        ("bfloat16", [2.0, 696.0]),  # t = −694, midway between −692 and −696
        ("bfloat16", [700.0, 0.0, 2.0]),
    ],
)
def test_log_softmax_midpoint_with_a_tiny_partition_is_settled_fast_and_right(
    dtype: str, row: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """t_j on a rounding midpoint with L below the allowance of underflowed terms
    (0 < L < 2^−900, not 0): the bound of _log_softmax_underflow decides it (it needs only
    L > 0 and L's upper bound), where it once went to mpmath; the result equals the authority,
    and so do 2000 random rows of that band."""
    fast = _without_the_authority("log_softmax", np.array([row]), dtype, monkeypatch)
    assert_bitwise_equal(fast, evaluate("log_softmax", [row], dtype=dtype, fast=False).rounded)
    rng = np.random.default_rng(len(row))
    a = rng.uniform(-3000, 3000, 2000)
    band = np.stack([a, a - rng.uniform(600, 800, 2000)], axis=1)
    band = band.astype(FORMATS[dtype].numpy_dtype).astype(np.float64)
    assert_bitwise_equal(*_both("log_softmax", band, dtype))
