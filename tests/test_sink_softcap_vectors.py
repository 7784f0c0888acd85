"""Vector families with attention sinks and soft-caps (issue 21 §3; docs/vectors.md).

The inputs "sink" and "softcap" sit beside "z" (hex, like "temperature"), only in the files of
the ops that take them; JSON and NPZ carry them; the expected values are the reference's with
sink= / softcap=; the families cover the cases the issue lists.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import symsoftmax.reference as ref
from symsoftmax.errors import InputError
from symsoftmax.ops import SINK_OPS, VECTOR_OPS
from symsoftmax.vectors import generate, load, save
from symsoftmax.vectors.io import read_npz_model


def _special_tests(vf: object) -> list[object]:
    return [
        tc
        for group in vf.groups  # type: ignore[attr-defined]
        for tc in group.tests
        if "sink" in tc.inputs or "softcap" in tc.inputs
    ]


@pytest.mark.parametrize("op", VECTOR_OPS)
def test_sink_and_softcap_tests_only_where_the_op_takes_them(op: str) -> None:
    tests = _special_tests(generate(op, "float16", "quick", 0))
    assert bool(tests) == (op in SINK_OPS)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float8_e4m3fn"])
def test_expected_values_are_the_references(dtype: str) -> None:
    vf = generate("log_softmax", dtype, "quick", 0)
    tests = _special_tests(vf)
    sinks = {float(tc.inputs["sink"]) for tc in tests if "sink" in tc.inputs}
    assert {100.0 if dtype != "float8_e4m3fn" else 96.0, 3.0, 2.5} <= sinks
    for tc in tests:
        kw = {key: float(tc.inputs[key]) for key in ("sink", "softcap") if key in tc.inputs}
        want = ref.evaluate("log_softmax", tc.inputs["z"], dtype=dtype, **kw).rounded
        np.testing.assert_array_equal(tc.expected["output"], want)


def test_families_cover_the_issue_cases() -> None:
    tests = _special_tests(generate("logsumexp", "float32", "quick", 0))
    caps = {float(tc.inputs["softcap"]) for tc in tests if "softcap" in tc.inputs}
    assert {50.0, 30.0, float(np.finfo(np.float32).max)} <= caps
    assert any(tc.inputs["z"].size == 0 for tc in tests)  # K = 0 with a sink: lse = s
    assert any(np.isneginf(tc.inputs.get("sink", 0.0)) for tc in tests)
    beyond = [
        tc
        for tc in tests
        if "softcap" in tc.inputs
        and (np.abs(tc.inputs["z"]) / tc.inputs["softcap"] > 88.7).any()
        and np.isfinite(tc.inputs["z"]).all()
    ]
    assert beyond and all(np.isfinite(tc.expected["output"]).all() for tc in beyond)
    both = [tc for tc in tests if "sink" in tc.inputs and "softcap" in tc.inputs]
    assert both


@pytest.mark.parametrize("fmt", ["json", "npz"])
def test_files_carry_sink_and_softcap(tmp_path: Path, fmt: str) -> None:
    vf = generate("softmax_vjp", "float16", "quick", 0)
    path = tmp_path / f"v.{fmt}"
    save(vf, path)
    back = load(path) if fmt == "json" else read_npz_model(path)
    before = {tc.tc_id: tc for tc in _special_tests(vf)}
    after = {tc.tc_id: tc for tc in _special_tests(back)}
    assert before.keys() == after.keys()
    for tc_id, tc in before.items():
        for key in ("sink", "softcap"):
            assert (key in tc.inputs) == (key in after[tc_id].inputs)
            if key in tc.inputs:
                assert float(tc.inputs[key]) == float(after[tc_id].inputs[key])


def test_sink_on_an_op_without_it_is_refused(tmp_path: Path) -> None:
    """A jacobian file whose test carries a sink: the schema allows the key, the check names
    the test and field."""
    vf = generate("jacobian", "float32", "quick", 0)
    path = tmp_path / "j.json"
    save(vf, path)
    document = json.loads(path.read_text())
    document["testGroups"][0]["tests"][0]["inputs"]["sink"] = "0x1p+0"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match="sink") as info:
        load(path)
    assert "\n" not in str(info.value)


def _softmax_with_sink(z: np.ndarray, sink: float = -np.inf, softcap: float = 0.0) -> np.ndarray:
    """A float64 candidate computing in float64: the sink takes part in the max."""
    v = z.astype(np.float64)
    if softcap:
        v = np.where(np.isneginf(v), -np.inf, softcap * np.tanh(v / softcap))
    top = max(np.max(v, initial=-np.inf), sink)
    if top == -np.inf:
        return np.zeros_like(z)
    e = np.exp(v - top)
    return (e / (e.sum() + np.exp(sink - top))).astype(z.dtype)


def _softmax_dropping_the_sink(z: np.ndarray, sink: float = -np.inf) -> np.ndarray:
    """The bug of the tracker: the sink dropped on a generic path."""
    e = np.exp(z.astype(np.float64) - np.max(z))
    return (e / e.sum()).astype(z.dtype)


def _plain_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z.astype(np.float64) - np.max(z))
    return (e / e.sum()).astype(z.dtype)


def _sink_report(fn: object) -> tuple[dict[str, int], list[object]]:
    from symsoftmax.validation.core import validate

    vf = generate("softmax", "float32", "quick", 0)
    sinks = {tc.tc_id for tc in _special_tests(vf)}
    report = validate(fn, vectors=vf, properties=False)  # type: ignore[arg-type]
    rows = [r for r in report.results if r.tc_id in sinks]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts, rows


def test_validate_passes_sink_and_softcap_as_keywords() -> None:
    counts, _rows = _sink_report(_softmax_with_sink)
    assert counts.get("skipped", 0) == 0 and counts.get("pass", 0) > 0
    assert counts.get("fail", 0) <= counts["pass"] // 4  # float64 tanh, e.g. tiny c, may miss


def test_validate_fails_a_candidate_dropping_the_sink() -> None:
    counts, _rows = _sink_report(_softmax_dropping_the_sink)
    assert counts.get("fail", 0) > 0


def test_validate_skips_sink_tests_of_a_candidate_without_the_keywords() -> None:
    counts, rows = _sink_report(_plain_softmax)
    assert counts == {"skipped": len(rows)}
    assert all("sink" in r.inputs or "softcap" in r.inputs for r in rows)
    assert all("takes no sink" in r.reason or "takes no softcap" in r.reason for r in rows)
