"""The block-structured families (issue 10 §1): what their rows hold, and the bugs they catch.

Rows are checked against what each flag's note promises (masked blocks where it says, logits
below the sentinel, block maxima rising, NaN at the boundary, ...). Then the verdicts: the five
bug classes of tests/blockwise_kernels.py fail and the correct kernel passes, and the flags of
the failing tests say which families catch each bug. Bugs 2 (a masked block sets the running
maximum to 0) and 3 ((−inf) − (−inf) = NaN) fail on block-structured flags only: the catalogue
without them passed both kernels. The default run uses the quick suites (b = 16 and 64); the
standard suites, every block size, are behind ``slow``.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import blockwise_kernels as bk
import numpy as np
import pytest

from symsoftmax.formats import get_format
from symsoftmax.validation import ValidationReport, validate
from symsoftmax.validation.sources import suite_vectors
from symsoftmax.vectors import OPS, VectorFile
from symsoftmax.vectors.blocks import (
    BLOCK_FAMILIES,
    BLOCK_FLAGS,
    BLOCK_SIZES,
    MAX_BLOCK_K_JACOBIAN,
    SENTINEL_DROP,
    SENTINELS,
    STATE_FORMATS,
)
from symsoftmax.vectors.builder import Draft, draft_rows
from symsoftmax.vectors.catalogue import ATTENTION_OPS, NOTES, long_row_lengths
from symsoftmax.vectors.family import Context, family_rng
from symsoftmax.vectors.values import next_down, next_up

SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"
KERNEL_FORMATS = ("float32", "float16", "bfloat16")
FORMATS = ("float64", *KERNEL_FORMATS)
KERNELS = {"softmax": bk.softmax, "log_softmax": bk.log_softmax, "logsumexp": bk.logsumexp}
INF = math.inf


@pytest.fixture(autouse=True, scope="module")
def _shared_cache() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
        yield


@functools.cache
def drafts(op: str, dtype: str, suite: str) -> list[Draft]:
    return draft_rows(op, dtype, suite, 0)


def rows_of(flag: str, dtype: str = "float32", suite: str = "standard", op: str = "softmax"):
    """(z, comment) of every test of ``flag``."""
    return [(d.inputs["z"], d.comment) for d in drafts(op, dtype, suite) if flag in d.flags]


def block_of(comment: str) -> int:
    """The block size b a row was built for (its comment starts "b=16...")."""
    return int(comment.split(":")[0].split(",")[0].removeprefix("b="))


# ----------------------------------------------------------------------- what the rows hold


def test_every_block_flag_has_a_note_citing_its_tracker() -> None:
    assert set(BLOCK_FLAGS) <= set(NOTES)
    cited = "".join(NOTES[flag].catches for flag in BLOCK_FLAGS)
    for issue in ("flashinfer #4267", "flash-attention #2082", "flashinfer #4401", "burn #4697"):
        assert issue in cited
    assert "lattice #740" in cited and "NNkernels.jl #16" in cited


@pytest.mark.parametrize("dtype", KERNEL_FORMATS)
def test_block_sizes_per_suite(dtype: str) -> None:
    def sizes(suite: str, op: str = "softmax") -> set[int]:
        return {
            block_of(c)
            for d in drafts(op, dtype, suite)
            if set(d.flags) & set(BLOCK_FLAGS) and (c := d.comment).startswith("b=")
        }

    assert sizes("standard") == set(BLOCK_SIZES["standard"]) == {16, 32, 64, 128, 256}
    assert sizes("quick") == {16, 64}
    assert sizes("standard", "jacobian") == {16}
    jacobian = [d for d in drafts("jacobian", dtype, "standard") if set(d.flags) & set(BLOCK_FLAGS)]
    assert max(d.k for d in jacobian) <= MAX_BLOCK_K_JACOBIAN
    assert {f for d in jacobian for f in d.flags} == set(BLOCK_FLAGS)


@pytest.mark.parametrize("dtype", FORMATS)
def test_masked_blocks_are_where_the_flags_say(dtype: str) -> None:
    for flag in ("masked-leading-block", "masked-middle-block", "masked-tail-block"):
        for z, comment in rows_of(flag, dtype):
            b, masked = block_of(comment), np.isneginf(z)
            blocks = [masked[i : i + b] for i in range(0, z.size, b)]
            full = [i for i, blk in enumerate(blocks) if blk.all()]
            assert full and not masked.all() and not np.isnan(z).any(), comment
            assert all(blk.all() or not blk.any() for blk in blocks), comment  # whole blocks
            if flag == "masked-leading-block":
                assert full[0] == 0
            elif flag == "masked-middle-block":
                assert 0 not in full and len(blocks) - 1 not in full
            else:
                assert len(blocks) - 1 in full and 0 not in full


@pytest.mark.parametrize("dtype", FORMATS)
def test_far_below_rows_underflow_from_zero_in_each_state_format(dtype: str) -> None:
    rows = rows_of("masked-block-far-below", dtype)
    # e^z rounds to 0 in a format below ln(2^(emin − p)), half its smallest subnormal
    thresholds = {name: get_format(name).underflow_exponent * math.log(2) for name in STATE_FORMATS}
    caught = set()
    for z, comment in rows:
        b = block_of(comment)
        assert np.isneginf(z[:b]).all() and np.isfinite(z[b:]).all(), comment
        assert z[b:].max() < thresholds["float16"], comment  # below all: e^z is 0 in float16
        caught |= {name for name, t in thresholds.items() if z[b:].max() < t}
    assert caught == set(STATE_FORMATS)


@pytest.mark.parametrize("dtype", FORMATS)
def test_sentinel_rows_sit_on_either_side(dtype: str) -> None:
    fmt = get_format(dtype)
    held = [s for s in SENTINELS if -s <= fmt.max]
    assert held == (list(SENTINELS[:3]) if dtype == "float16" else list(SENTINELS))
    for s in held:
        tag = f"the sentinel {s:g},"
        just_below = [z for z, c in rows_of("below-sentinel", dtype) if f"just below {tag}" in c]
        far_below = [z for z, c in rows_of("below-sentinel", dtype) if f"far below {tag}" in c]
        above = [z for z, c in rows_of("below-sentinel", dtype) if f"just above {tag}" in c]
        assert len(just_below) == len(far_below) == len(above) == len(BLOCK_SIZES["standard"])
        for z in just_below:
            assert z.max() < s <= next_up(z.max(), fmt)
        for z in far_below:
            assert z.max() < s - SENTINEL_DROP
        for z in above:
            assert next_down(z.max(), fmt) <= s < z.max()


def block_maxima(z: np.ndarray, b: int) -> list[float]:
    return [float(z[i : i + b].max()) for i in range(0, z.size, b)]


@pytest.mark.parametrize("dtype", FORMATS)
def test_block_maxima_rise_fall_and_end_in_the_tail(dtype: str) -> None:
    for flag, ordered in (("block-max-increasing", 1), ("block-max-decreasing", -1)):
        for z, comment in rows_of(flag, dtype):
            maxima = block_maxima(z, block_of(comment))
            assert len(maxima) >= 3 and z.size % block_of(comment), comment  # a partial tail
            assert all(ordered * (b - a) > 0 for a, b in itertools.pairwise(maxima)), comment
    for z, comment in rows_of("max-in-last-block", dtype):
        b = block_of(comment)
        maxima = block_maxima(z, b)
        assert z.size % b and int(np.argmax(z)) >= z.size - z.size % b, comment
        assert max(maxima[:-1]) <= maxima[-1] - 15, comment


@pytest.mark.parametrize("dtype", FORMATS)
def test_lengths_around_block_multiples(dtype: str) -> None:
    seen: dict[int, set[tuple[int, float]]] = {}
    for z, comment in rows_of("block-boundary-length", dtype):
        seen.setdefault(block_of(comment), set()).add((z.size, float(z[-1])))
        assert z[:-1].max() < z[-1] or z[-1] == -INF, comment
    for b, cases in seen.items():
        lengths = {b - 1, b, b + 1, 2 * b - 1, 2 * b + 1}
        assert cases == {(k, last) for k in lengths for last in (-0.5, -INF)}


@pytest.mark.parametrize("dtype", FORMATS)
def test_nan_at_block_boundaries(dtype: str) -> None:
    places: dict[int, list[tuple[int, ...]]] = {}
    for z, comment in rows_of("nan-in-block", dtype):
        b = block_of(comment)
        places.setdefault(b, []).append(tuple(np.flatnonzero(np.isnan(z)) % b))
    for b, where in places.items():
        assert (0,) in where and (b - 1,) in where and (b - 1, 0) in where
        assert (b // 2 - 1,) in where  # the last entry of the partial tail, K = 2b + b/2


def test_long_attention_rows() -> None:
    for op in OPS:
        lengths = long_row_lengths(op, "standard")
        assert ({8192, 32768} <= set(lengths)) == (op in ATTENTION_OPS)
        assert not {8192, 32768} & set(long_row_lengths(op, "quick"))
    assert max(long_row_lengths("softmax", "exhaustive")) == 1 << 20
    long = [d.k for d in drafts("logsumexp", "bfloat16", "standard") if "long-row" in d.flags]
    assert long.count(8192) == long.count(32768) == 3


def test_a_family_is_a_pure_function_of_its_context() -> None:
    for family in BLOCK_FAMILIES:
        made = [
            family.make(
                Context(get_format("bfloat16"), "quick", "softmax", family_rng(5, family.name))
            )
            for _ in range(2)
        ]
        assert [r.comment for r in made[0]] == [r.comment for r in made[1]]
        for a, b in zip(*made, strict=True):
            np.testing.assert_array_equal(a.z, b.z)


# -------------------------------------------------------------------------------- verdicts


def verdict(op: str, dtype: str, suite: str, bug: str | None, block: int = 64) -> ValidationReport:
    kernel = KERNELS[op]

    def candidate(z: np.ndarray) -> np.ndarray:
        return kernel(z, block=block, bug=bug)

    return validate(candidate, vectors=vectors_of(op, dtype, suite), batch=True)


@functools.cache
def vectors_of(op: str, dtype: str, suite: str) -> VectorFile:
    """The suite from the shared cache, loaded once per worker."""
    return suite_vectors(op, dtype, suite, 0)


def failing_flags(report: ValidationReport) -> set[str]:
    return {flag for result in report.failures for flag in result.flags}


# For each bug: the flags that must fail, and (bugs 2 and 3) the only flags that may.
MUST_FAIL = {
    "sentinel": {"below-sentinel"},
    "masked_block_zero_max": {"masked-block-far-below"},
    "inf_minus_inf": {"masked-leading-block", "masked-block-far-below"},
    "nan_dropped": {"nan-in-block", "nan-input"},
    "no_tail_check": {"block-boundary-length", "max-in-last-block"},
}
ONLY_BLOCK_FLAGS = {"masked_block_zero_max", "inf_minus_inf"}


def check_verdict(op: str, dtype: str, suite: str, bug: str | None, block: int = 64) -> None:
    report = verdict(op, dtype, suite, bug, block)
    if bug is None:
        assert report.passed, report.summary_line()
        return
    failing = failing_flags(report)
    assert not report.passed
    assert MUST_FAIL[bug] <= failing, (bug, failing)
    if bug in ONLY_BLOCK_FLAGS:
        # "all-neg-inf": logsumexp of a fully masked row is −inf only; NaN is the same bug
        assert failing <= {*BLOCK_FLAGS, "all-neg-inf"}, (bug, failing)


@pytest.mark.parametrize("bug", [None, *bk.BUGS])
@pytest.mark.parametrize("dtype", KERNEL_FORMATS)
def test_quick_softmax_verdicts(dtype: str, bug: str | None) -> None:
    check_verdict("softmax", dtype, "quick", bug)


@pytest.mark.parametrize("bug", [None, *bk.BUGS])
@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_quick_log_form_verdicts(op: str, bug: str | None) -> None:
    check_verdict(op, "float32", "quick", bug)


@pytest.mark.parametrize("bug", [None, "masked_block_zero_max", "inf_minus_inf"])
def test_quick_verdicts_with_the_smallest_tile(bug: str | None) -> None:
    check_verdict("softmax", "float32", "quick", bug, block=16)


@pytest.mark.slow
@pytest.mark.parametrize("bug", [None, *bk.BUGS])
@pytest.mark.parametrize("dtype", KERNEL_FORMATS)
def test_standard_softmax_verdicts(dtype: str, bug: str | None) -> None:
    check_verdict("softmax", dtype, "standard", bug)


@pytest.mark.slow
@pytest.mark.parametrize("bug", [None, *bk.BUGS])
@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_standard_log_form_verdicts(op: str, bug: str | None) -> None:
    check_verdict(op, "float32", "standard", bug)


@pytest.mark.slow
@pytest.mark.parametrize("block", [16, 32, 128, 256])
@pytest.mark.parametrize("bug", [None, "masked_block_zero_max", "inf_minus_inf", "no_tail_check"])
def test_standard_verdicts_at_every_tile_width(bug: str | None, block: int) -> None:
    check_verdict("softmax", "float32", "standard", bug, block)
