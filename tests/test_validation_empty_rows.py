"""Empty rows (K = 0) through the validator and the scorer: judged, never a traceback.

An empty row is a test like any other (softmax of [] is [], logsumexp of [] is −inf, as SciPy and
ONNX have it; see docs/reference.md): a candidate that gets it right passes, one that gets it
wrong fails, and the properties (sum to one, shift, permutation, …) skip it, having nothing to say
about an empty row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symsoftmax.cli import main
from symsoftmax.rounding import format_hex
from symsoftmax.validation import score, validate
from symsoftmax.vectors import from_rows, save

ROWS = [[1.0, 2.0, 3.0], [], [0.5, -1.0], ["-inf", 0.0]]


def softmax(z: np.ndarray) -> np.ndarray:
    if z.size == 0:
        return z.copy()
    e = np.exp(z - z.max())
    return e / e.sum()


def logsumexp(z: np.ndarray) -> np.ndarray:
    if z.size == 0:
        return np.asarray(-np.inf, dtype=z.dtype)
    top = z.max()
    return np.asarray(top + np.log(np.exp(z - top).sum()), dtype=z.dtype)


def logsumexp_nan_on_empty(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.nan, dtype=z.dtype) if z.size == 0 else logsumexp(z)


@pytest.mark.parametrize("op, fn", [("softmax", softmax), ("logsumexp", logsumexp)])
def test_correct_candidate_passes_with_empty_rows(op: str, fn: object) -> None:
    vf = from_rows(op, "float32", ROWS)
    report = validate(fn, vectors=vf)  # type: ignore[arg-type]
    assert report.passed, report.summary_line()
    assert len(report.results) == 4


def test_wrong_empty_row_answer_fails() -> None:
    vf = from_rows("logsumexp", "float32", ROWS)
    report = validate(logsumexp_nan_on_empty, vectors=vf)
    assert not report.passed
    assert [r.tc_id for r in report.results if r.status == "fail"] == [2]


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp", "jacobian"])
def test_score_and_report_with_empty_rows(op: str, tmp_path: Path, capsys) -> None:
    vf = from_rows(op, "float32", ROWS)
    vectors_path = tmp_path / "v.json"
    save(vf, vectors_path)
    outputs = {
        str(tc.tc_id): [format_hex(v) for key in tc.expected for v in tc.expected[key].ravel()]
        for tc in vf.tests()
    }
    report = score(vf, outputs)
    assert report.passed
    report.to_markdown()
    outputs_path = tmp_path / "out.json"
    outputs_path.write_text(json.dumps(outputs))
    assert main(["score", str(vectors_path), str(outputs_path)]) == 0
    assert main(["score", str(vectors_path), str(outputs_path), "--json"]) == 0
    assert "Traceback" not in capsys.readouterr().err
