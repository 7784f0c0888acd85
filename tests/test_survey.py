"""scripts/accuracy_survey.py in its quick form: tables per op, verdicts, unavailable frameworks."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

# the generated-suite cache shared by the test workers (as in test_validation.py)
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"

ROOT = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "accuracy_survey", ROOT / "scripts" / "accuracy_survey.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["accuracy_survey"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_quick_survey_writes_one_table_per_op(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    survey = _load_script()
    output = tmp_path / "accuracy.md"
    code = survey.main(
        ["--quick", "-o", str(output), "--ops", "softmax,softmax_vjp", "--formats", "float32"]
    )
    assert code == 0
    text = output.read_text()
    assert "## softmax\n" in text and "## softmax_vjp\n" in text
    assert "| implementation | float32 |" in text
    assert "jax (not installed" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "FAIL" in rows["NumPy naive"] and "∞" in rows["NumPy naive"]
    assert "PASS" in rows["NumPy max-shifted"]
    assert "not provided" in text  # scipy has no softmax VJP
    assert "Why the failures failed" in text and "exp-overflow" in text


def test_unknown_implementation_is_a_usage_error(tmp_path):
    survey = _load_script()
    with pytest.raises(SystemExit) as info:
        survey.main(["--quick", "-o", str(tmp_path / "a.md"), "--implementations", "matlab"])
    assert info.value.code == 2
