"""The pytest plugin and symsoftmax.testing, run on a tiny user test file in-process."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from symsoftmax.testing import SoftmaxCase, assert_softmax_close, cases
from symsoftmax.validation.sources import custom_vectors

pytest_plugins = ["pytester"]

# the generated-suite cache shared by the test workers (as in test_validation.py)
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"

USER_TESTS = """
import numpy as np
import pytest
from symsoftmax.testing import assert_softmax_close


@pytest.mark.softmax_vectors(op="softmax", dtype="float16", suite="quick")
def test_naive(softmax_case):
    with np.errstate(all="ignore"):
        e = np.exp(softmax_case.z)
        assert_softmax_close(e / e.sum(), softmax_case, mode="faithful")
"""


def test_plugin_parametrizes_over_the_vectors(pytester: pytest.Pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-n", "0")
    n = len(list(cases("softmax", "float16", suite="quick")))
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] + outcomes["failed"] == n
    assert outcomes["passed"] > 0  # NaN rows and small ones are right even without the shift
    assert outcomes["failed"] > 0
    failed_ids = [line for line in result.outlines if line.startswith("FAILED")]
    assert any("test_naive[tc" in line and "exp-overflow" in line for line in failed_ids)


def test_fixture_without_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(softmax_case):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-n", "0")
    result.stdout.fnmatch_lines(["*softmax_case needs @pytest.mark.softmax_vectors*"])


def test_assert_softmax_close_message_names_tcid_flags_component_and_bound() -> None:
    vf = custom_vectors("softmax", "float32", [[1000.0, 999.0]], flags=("big-offset",))
    case = SoftmaxCase("softmax", "float32", next(vf.tests()))
    good = case.expected
    assert_softmax_close(good, case)
    assert_softmax_close(good, case, mode="correctly-rounded")
    off = good.astype(np.float64) * (1 + 2.0**-16)
    with pytest.raises(AssertionError) as info:
        assert_softmax_close(off.astype(np.float32), case)
    message = str(info.value)
    assert "tcId 1 [big-offset] softmax float32" in message
    assert "worst component output[" in message and "ulp" in message
    assert "bound:" in message and "worst-case" in message
    with pytest.raises(AssertionError, match="shape"):
        assert_softmax_close(good[:1], case)
    with pytest.raises(AssertionError, match=r"output\[1\]: malformed"):
        assert_softmax_close(["0.5", "x"], case)


def test_assert_softmax_close_for_cross_entropy_pairs() -> None:
    vf = custom_vectors("cross_entropy", "float32", [{"z": [1.0, 2.0], "y": [0.5, 0.5]}])
    case = SoftmaxCase("cross_entropy", "float32", next(vf.tests()))
    loss, grad = case.test.expected["loss"], case.test.expected["grad"]
    assert_softmax_close((loss, grad), case)
    assert_softmax_close({"loss": loss, "grad": grad}, case)
    with pytest.raises(AssertionError, match="grad"):
        assert_softmax_close((loss, -grad), case)
