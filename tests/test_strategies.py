"""symsoftmax.testing.strategies: exact values, the hard structures reached, shrinking, the oracle.

The blockwise kernels of tests/blockwise_kernels.py are the planted bugs: each bug class fails a
property test over drawn cases, and Hypothesis shrinks the failure to the smallest row that shows
it (K = 1 for a finite sentinel or an unchecked tail, K = 2 for a dropped NaN, one masked block
and one entry for the masked-block bugs); the correct kernel passes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blockwise_kernels as bk
import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import round_array
from symsoftmax.testing import SoftmaxCase, assert_softmax_close
from symsoftmax.testing import strategies as sst
from symsoftmax.testing.strategies.catalogue_families import CATALOGUE_FAMILIES
from symsoftmax.vectors.catalogue import NOTES
from symsoftmax.vectors.model import OPS

# Reproducible in CI: the same examples on every run, no example database.
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)
SEARCH = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
KERNEL_BLOCK = 64  # the blockwise kernels' block; a user aims the strategies at theirs


def _is_exact(values: Any, dtype: str) -> bool:
    array = np.asarray(values, dtype=np.float64)
    return bool(np.array_equal(round_array(array, dtype), array, equal_nan=True))


# ---- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(FORMATS))
def test_format_values_are_values_of_the_format(dtype: str) -> None:
    fmt = get_format(dtype)
    seen: set[str] = set()

    @FAST
    @given(sst.format_values(dtype))
    def check(v: float) -> None:
        assert _is_exact([v], dtype)
        seen.add("nan" if math.isnan(v) else "inf" if math.isinf(v) else "finite")

    check()
    assert "finite" in seen
    # NaN, a landmark, is searched for rather than counted on among the 40 draws: which values
    # Hypothesis draws first changes with its version and with the modules imported so far.
    nan = find(sst.format_values(dtype), math.isnan, settings=settings(SEARCH, max_examples=2000))
    assert math.isnan(nan)
    landmarks = sst.landmarks(dtype)
    assert {0.0, fmt.max, -fmt.max, fmt.smallest_subnormal, fmt.exp_overflow_threshold} <= set(
        landmarks
    )
    assert (math.inf in landmarks) == fmt.infinities
    assert _is_exact(landmarks, dtype)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float8_e4m3fn"])
def test_format_values_keep_their_options(dtype: str) -> None:
    fmt = get_format(dtype)

    @FAST
    @given(
        sst.format_values(dtype, allow_nan=False, allow_infinity=False, allow_subnormal=False),
        sst.format_values(dtype, min_value=-2.0, max_value=1.0),
    )
    def check(normal: float, bounded: float) -> None:
        assert math.isfinite(normal) and (normal == 0 or abs(normal) >= fmt.tiny)
        assert -2.0 <= bounded <= 1.0 and _is_exact([normal, bounded], dtype)

    check()


def test_format_values_refuse_a_bound_outside_the_format() -> None:
    with pytest.raises(InputError, match=r"min_value=0\.1 is not a finite bfloat16 value"):
        sst.format_values("bfloat16", min_value=0.1)


# ---- rows: exact, of the dtype, and the hard structures reached --------------------------------


@pytest.mark.parametrize(
    "dtype",
    [
        "float32",
        "float8_e4m3fn",
        *(
            pytest.param(name, marks=pytest.mark.slow)
            for name in ("float64", "float16", "bfloat16", "float8_e5m2")
        ),
    ],
)
def test_rows_are_exact_rows_of_the_dtype(dtype: str) -> None:
    fmt = get_format(dtype)
    flags: set[str] = set()

    @settings(FAST, max_examples=30)
    @given(sst.drawn_rows(dtype), sst.rows(dtype, block=None, max_size=8))
    def check(row: sst.DrawnRow, array: np.ndarray) -> None:
        assert _is_exact(row.z, dtype), row.comment
        assert array.dtype == fmt.numpy_dtype and 1 <= array.size <= 8
        flags.update(row.flags)

    check()
    assert len(flags) >= 5  # many families in 30 examples, not one
    assert flags <= {*NOTES, "drawn"}  # every flag is documented by the catalogue


def _search(strategy: Any, condition: Callable[[Any], bool]) -> Any:
    return find(strategy, condition, settings=SEARCH)


def test_reaches_a_masked_leading_block_and_shrinks_it_to_one_block() -> None:
    row = _search(
        sst.blockwise_rows("float32", block=KERNEL_BLOCK),
        lambda z: (
            z.size > KERNEL_BLOCK
            and np.isneginf(z[:KERNEL_BLOCK]).all()
            and np.isfinite(z[KERNEL_BLOCK:]).any()
        ),
    )
    assert row.size == KERNEL_BLOCK + 1  # one masked block and one finite entry


def test_reaches_nan_at_a_block_start() -> None:
    row = _search(
        sst.rows("float32", block=KERNEL_BLOCK, families=["nan-in-block"]),
        lambda z: z.size > KERNEL_BLOCK and bool(np.isnan(z[KERNEL_BLOCK])),
    )
    assert row.size == KERNEL_BLOCK + 1 and np.isnan(row).sum() == 1


def test_reaches_rows_below_the_sentinel() -> None:
    far_below = bk.SENTINEL - 200  # e^(z − sentinel) underflows in float32
    row = _search(
        sst.rows("float16"), lambda z: z.size > 1 and bool((z.astype(float) < far_below).all())
    )
    assert row.size == 2


@pytest.mark.slow
def test_reaches_the_max_in_the_last_partial_block() -> None:
    def in_tail(z: np.ndarray) -> bool:
        tail = z.size % KERNEL_BLOCK
        finite = np.isfinite(z).all()
        return bool(finite and tail and z[:-tail].max() < z[-tail:].max() - 20)

    row = _search(sst.blockwise_rows("bfloat16", block=KERNEL_BLOCK), in_tail)
    assert row.size == KERNEL_BLOCK + 1


def test_block_families_follow_the_block_strategy() -> None:
    @FAST
    @given(sst.drawn_rows("float32", block=st.sampled_from([16, 32]), families=["nan-in-block"]))
    def check(row: sst.DrawnRow) -> None:
        assert row.flags == ("nan-in-block",) and 16 <= row.z.size < 4 * 32
        assert np.isnan(row.z).sum() == 1

    check()


def test_options_switch_families_off() -> None:
    @FAST
    @given(sst.rows("float32", allow_nan=False, allow_infinity=False, masked=False))
    def check(z: np.ndarray) -> None:
        assert np.isfinite(z).all()

    check()


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="unknown family 'masked'; expected one of drawn, "):
        sst.rows(families=["masked"])
    with pytest.raises(InputError, match="no row family of neg-inf-entries fits"):
        sst.rows("float8_e4m3fn", families=["neg-inf-entries"])  # no −inf in that format
    with pytest.raises(InputError, match="unknown op 'softmx'"):
        sst.cases("softmx")


# ---- cases and the oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_cases_carry_their_reference_and_pass_their_own_answer(op: str) -> None:
    dtype = "float32"

    @settings(FAST, max_examples=6)
    @given(sst.cases(op, dtype, temperature=True, block=16))
    def check(case: SoftmaxCase) -> None:
        assert case.op == op and case.dtype == dtype
        assert set(case.flags) <= {*NOTES, "drawn", "temperature"}
        assert_softmax_close(case.test.expected if op == "cross_entropy" else case.expected, case)

    check()


def test_a_wrong_output_fails_the_oracle() -> None:
    case = find(
        sst.cases("softmax", "float32", families=["constant-row"], min_size=2, max_size=2),
        lambda c: bool(np.isfinite(c.expected).all() and c.expected.max() > 0.25),
        settings=SEARCH,
    )
    wrong = case.expected.copy()
    wrong[np.argmax(wrong)] *= np.float32(1.01)
    with pytest.raises(AssertionError, match=r"output\[\d\] \(t = 0\): .* off the row's common"):
        assert_softmax_close(wrong, case)
    with pytest.raises(AssertionError, match="normwise error"):
        assert_softmax_close(wrong, case, mode="normwise")


# ---- the planted bugs: the blockwise kernels ------------------------------------------------


def _passes(kernel: Callable[..., np.ndarray], case: SoftmaxCase) -> bool:
    try:
        assert_softmax_close(kernel(case.z), case)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_the_correct_blockwise_kernel_passes_drawn_cases(dtype: str) -> None:
    """Complements tests/test_blockwise_families.py (the suite) with drawn rows."""

    @settings(FAST, max_examples=15)
    @given(sst.cases("softmax", dtype, block=st.sampled_from([32, 64, 128])))
    def check(case: SoftmaxCase) -> None:
        assert_softmax_close(bk.softmax(case.z, block=KERNEL_BLOCK), case)

    check()


@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_the_correct_blockwise_log_kernels_pass_drawn_cases(op: str) -> None:
    kernel = getattr(bk, op)

    @settings(FAST, max_examples=15)
    @given(sst.cases(op, "float32", block=KERNEL_BLOCK))
    def check(case: SoftmaxCase) -> None:
        assert_softmax_close(kernel(case.z, block=KERNEL_BLOCK), case)

    check()


# For each bug: the shrunk counterexample, as (K, a check of its entries).
SHRUNK: dict[str, tuple[int, Callable[[np.ndarray], bool]]] = {
    "sentinel": (1, lambda z: bool(z[0] < bk.SENTINEL - 100)),
    "nan_dropped": (2, lambda z: int(np.isnan(z).sum()) == 1),
    "no_tail_check": (1, lambda z: True),
    "inf_minus_inf": (KERNEL_BLOCK + 1, lambda z: bool(np.isneginf(z[:KERNEL_BLOCK]).all())),
    "masked_block_zero_max": (
        KERNEL_BLOCK + 1,
        lambda z: bool(np.isneginf(z[:KERNEL_BLOCK]).all() and z[KERNEL_BLOCK] < -80),
    ),
}


# Finding and shrinking the bugs behind a masked block or a sentinel takes 10–20 s each.
SLOW_TO_SHRINK = ("sentinel", "masked_block_zero_max", "inf_minus_inf")


@pytest.mark.parametrize(
    "bug",
    [pytest.param(b, marks=pytest.mark.slow) if b in SLOW_TO_SHRINK else b for b in bk.BUGS],
)
def test_each_bug_kernel_fails_and_shrinks_to_a_minimal_row(bug: str) -> None:
    def kernel(z: np.ndarray) -> np.ndarray:
        return bk.softmax(z, block=KERNEL_BLOCK, bug=bug)

    case = find(
        sst.cases("softmax", "float32", block=KERNEL_BLOCK),
        lambda c: not _passes(kernel, c),
        settings=SEARCH,
    )
    k, entries = SHRUNK[bug]
    z = case.z.astype(np.float64)
    assert z.size == k and entries(z), (bug, case.test.comment, z)


# ---- the core install has no Hypothesis ------------------------------------------------------


def test_import_without_hypothesis_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "try:\n    import symsoftmax.testing.strategies\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=True,
    )
    assert done.stdout.strip() == (
        "symsoftmax.testing.strategies needs Hypothesis: pip install 'symsoftmax[hypothesis]' "
        "(or hypothesis>=6.100)"
    )
    assert "import symsoftmax" not in done.stderr


# ---- the package's structure (issue 21 §4: strategies split by family) -----------------------


def test_strategies_are_split_by_family_and_reexported() -> None:
    """Each public name is defined in one family's module and re-exported by the package, and
    no module of the package grows back to the size of the old single file."""
    package = Path(sst.__file__).parent
    assert Path(sst.__file__).name == "__init__.py"
    homes = {
        "format_values": "values",
        "landmarks": "values",
        "DrawnRow": "spec",
        "rows": "rows",
        "drawn_rows": "rows",
        "blockwise_rows": "rows",
        "cases": "drawn_cases",
    }
    for name, module in homes.items():
        assert getattr(sst, name).__module__ == f"symsoftmax.testing.strategies.{module}", name
    assert list(sst.FAMILIES) == [*CATALOGUE_FAMILIES, *sst.BLOCK_FAMILIES]
    sizes = {path.name: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert max(sizes.values()) < 400, sizes
