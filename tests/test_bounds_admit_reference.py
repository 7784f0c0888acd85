"""Every bound admits the correctly rounded answer: on each quick suite, and where z − max
overflows in float64."""

from __future__ import annotations

import pytest

from symsoftmax.formats import FORMATS
from symsoftmax.ops import VECTOR_OPS
from symsoftmax.testing import assert_softmax_close, cases
from symsoftmax.vectors import from_rows

MAX = "0x1.fffffffffffffp+1023"


@pytest.mark.parametrize("op", ["log_softmax", "logsumexp", "softmax"])
@pytest.mark.parametrize("temperature", ["1024", "0x1p53", "0x1p1000"])
def test_correctly_rounded_answer_passes_when_z_minus_max_overflows(
    op: str, temperature: str
) -> None:
    """z = [max, −max] with T > 1: (z − max) overflows to −inf, (z − max)/T does not.

    The bound took the second log_softmax entry as −inf (left out of ‖l‖∞), so the correctly
    rounded log_softmax at T = 1024 failed by 8e-25 u against a bound of 1e-305 u.
    """
    vf = from_rows(op, "float64", [{"z": [MAX, "-" + MAX], "temperature": temperature}])
    (case,) = cases(op, "float64", vectors=vf)
    assert_softmax_close(case.expected, case)


@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_correctly_rounded_answer_passes_every_quick_temperature_test(op: str) -> None:
    tested = 0
    for case in cases(op, "float64", suite="quick"):
        if case.test.inputs.get("temperature") is not None:
            assert_softmax_close(case.expected, case)
            tested += 1
    assert tested > 0


@pytest.mark.parametrize("dtype", sorted(FORMATS))
@pytest.mark.parametrize("op", VECTOR_OPS)
def test_the_reference_answers_pass_their_own_quick_suite(op: str, dtype: str) -> None:
    """Every bound admits the correctly rounded answer, on every op × format quick suite.

    A bound that rejects it (as the log_softmax bound did where z − max overflowed) is a bug in
    the bound, whatever the candidate."""
    tested = 0
    for case in cases(op, dtype, suite="quick"):
        assert_softmax_close(dict(case.test.expected), case)
        tested += 1
    assert tested > 0
