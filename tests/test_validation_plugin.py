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
    assert "rule: each component within the derived bound of two-pass" in message
    with pytest.raises(AssertionError) as info:
        assert_softmax_close(off.astype(np.float32), case, mode="normwise")
    assert "bound:" in str(info.value) and "worst-case" in str(info.value)
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


BAD_MARKERS = [
    ('op="softmax", seed="x"', "seed must be an integer in 0..9223372036854775807, got 'x'"),
    ('op="softmax", seed=1.5', "seed must be an integer, got 1.5"),
    ('op="softmax", seed=True', "seed must be an integer, got True"),
    ('op="softmax", seed=-1', "seed must be an integer in 0..9223372036854775807, got -1"),
    ('op="nope"', "unknown op 'nope'"),
    ('op="softmax", dtype="float13"', "float13"),
    ('op="softmax", sute="quick"', "unknown argument 'sute'"),
    ('"softmax", "float32", "quick"', "at most 2 positional arguments (op, dtype), got 3"),
    ('"softmax", op="log_softmax"', "op given twice"),
    ('op=["softmax"]', "op must be a string, got ['softmax']"),
    ('op="softmax", vectors="missing.json"', "missing.json: cannot read"),
    ('op="softmax", vectors=3', "vectors must be a file path, got 3"),
    ('op="softmax", suite="quick", vectors="v.json"', "give either vectors or suite"),
]


def test_a_bad_marker_is_one_line_not_a_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker's arguments are checked: a mistake is a collection error of one line naming
    the test, never a traceback through the plugin (nor silently ignored, as `sute` was)."""
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    for i, (marker, _) in enumerate(BAD_MARKERS):  # one file each: each is its own error
        source = f"import pytest\n\n@pytest.mark.softmax_vectors({marker})\n"
        pytester.makepyfile(**{f"test_{i}": source + "def test_k(softmax_case):\n    pass\n"})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-n", "0")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection stopped, no test run
    text = result.stdout.str()
    assert "Traceback" not in text and "pytest_plugin.py" not in text, text
    assert f"{len(BAD_MARKERS)} errors during collection" in text, text
    for i, (marker, message) in enumerate(BAD_MARKERS):
        start = f"@pytest.mark.softmax_vectors on test_{i}.py::test_k: "
        lines = [line for line in result.outlines if line.startswith(start)]
        assert len(lines) == 1 and message in lines[0], (marker, lines, text)
