"""Reports that diagnose (issue 20 §4): each finding tested on a small kernel built to have the
defect, and a correct kernel gets none. Findings come from the failing tests and how they
fail (their outputs judged again, the candidate not called again), never from a name."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.special

from symsoftmax.formats import get_format
from symsoftmax.validation import PassRule, validate
from symsoftmax.validation.componentwise import KernelClass
from symsoftmax.validation.diagnosis import CAUSES
from symsoftmax.validation.sources import custom_vectors, suite_vectors

INF = math.inf
F32_MAX = float(np.finfo(np.float32).max)


def _finite_max(z: Any) -> float:
    return float(get_format(str(z.dtype)).max)


def _shifted(x: Any, op: str = "softmax") -> Any:
    """softmax / log_softmax / logsumexp of float64 rows by the shifted algorithm."""
    with np.errstate(all="ignore"):
        m = x.max(axis=-1, keepdims=True)
        total = np.exp(x - m).sum(axis=-1, keepdims=True)
        if op == "softmax":
            return np.exp(x - m) / total
        if op == "log_softmax":
            return x - m - np.log(total)
        return (m + np.log(total))[..., 0]


def correct(z: Any) -> Any:
    """Softmax in float64, rounded once to the input's format."""
    return _shifted(z.astype(np.float64)).astype(z.dtype)


def log_correct(z: Any) -> Any:
    return _shifted(z.astype(np.float64), "log_softmax").astype(z.dtype)


def lse_correct(z: Any) -> Any:
    return scipy.special.logsumexp(z.astype(np.float64)).astype(z.dtype)


def in_float32(z: Any) -> Any:
    """A float64 softmax computed in float32: errors at float32's u, and range lost."""
    return _shifted(z.astype(np.float32)).astype(np.float64)


def slightly_off(z: Any) -> Any:
    """Float64 outputs off by 2^-40 relative: fails the float64 bound, far from float32's u."""
    return correct(z) * (1 + 2.0**-40)


def sums_in_format(z: Any) -> Any:
    """Exponentials and their sum in the data's own 16-bit format (NumPy's pairwise sum)."""
    e = np.exp(z - z.max())
    return (e / e.sum(dtype=z.dtype)).astype(z.dtype)


def flushes(z: Any) -> Any:
    """A correct softmax whose subnormal results are flushed to zero."""
    y = correct(z)
    return np.where(np.abs(y) < get_format(str(z.dtype)).tiny, 0, y).astype(z.dtype)


def drops_nan(z: Any) -> Any:
    """nanmax and a NaN lane's weight taken as 0: [max, nan, 0] → [1, 0, 0]."""
    x = z.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.nanmax(x) if not np.isnan(x).all() else 0.0
        e = np.where(np.isnan(x), 0, np.exp(x - m))
        return (e / e.sum()).astype(z.dtype)


def drops_nan_and_flushes(z: Any) -> Any:
    y = drops_nan(z)
    return np.where(np.abs(y) < get_format(str(z.dtype)).tiny, 0, y).astype(z.dtype)


def finite_mask(op: str) -> Any:
    """Masks −inf with −0.7·max (JAX's dot_product_attention): [−max, −inf, −inf] → [0, ½, ½]."""

    def kernel(z: Any) -> Any:
        x = np.where(np.isneginf(z), -0.7 * _finite_max(z), z.astype(np.float64))
        return _shifted(x, op).astype(z.dtype)

    return kernel


def clamps_inf(op: str) -> Any:
    """+inf taken as the format's largest value: [inf, max] → [½, ½]."""

    def kernel(z: Any) -> Any:
        x = np.minimum(z.astype(np.float64), _finite_max(z))
        return _shifted(x, op).astype(z.dtype)

    return kernel


def returns_float64(z: Any) -> Any:
    """Right values in the wrong dtype (numba's logsumexp returned float64 for float32)."""
    return scipy.special.logsumexp(z.astype(np.float64), axis=-1)


def _causes(report: Any) -> list[str]:
    return [f.cause for f in report.diagnosis]


def _failing(report: Any) -> set[int]:
    return {r.tc_id for r in report.results if r.status == "fail"}


# ---------------------------------------------------------------- a correct kernel: nothing


@pytest.mark.parametrize(
    ("fn", "op", "dtype"),
    [
        (correct, "softmax", "float32"),
        (correct, "softmax", "float64"),
        (correct, "softmax", "float16"),
        (correct, "softmax", "bfloat16"),
        (log_correct, "log_softmax", "float32"),
        (lse_correct, "logsumexp", "bfloat16"),
    ],
)
def test_a_correct_kernel_gets_no_diagnosis(fn: Any, op: str, dtype: str) -> None:
    report = validate(fn, vectors=suite_vectors(op, dtype, "quick"), properties=False)
    assert report.passed and not report.diagnosis, report.summary_line()
    assert json.loads(report.to_json())["diagnosis"] == []


def test_a_name_is_no_evidence() -> None:
    """A correct kernel named after every defect has no finding."""
    vf = custom_vectors("softmax", "float32", [[0, -100], [F32_MAX, math.nan, 0], [INF, 0]])
    report = validate(correct, vectors=vf, name="flush_to_zero_nan_dropped_float32")
    assert report.passed and not report.diagnosis


# ---------------------------------------------------------------- re-judged findings


def test_computed_in_float32_is_diagnosed_in_a_float64_run() -> None:
    vf = suite_vectors("softmax", "float64", "quick")
    calls = []

    def counted(z: Any) -> Any:
        calls.append(1)
        return in_float32(z)

    report = validate(counted, vectors=vf, properties=False)
    assert not report.passed and _causes(report) == ["float32-compute"]
    assert len(calls) == report.tests  # judged again, not called again
    finding = report.diagnosis[0]
    assert finding.detail.startswith("consistent with computing in float32: the ")
    assert "median error" in finding.detail and "cannot hold" in finding.detail
    assert set(finding.tc_ids) <= _failing(report) and finding.tc_ids
    assert "--dtype float32" in finding.hint


def test_errors_far_below_float32s_u_are_not_float32() -> None:
    """Off by 2^-40: it fails the float64 bound and would pass a float32 state's, but its
    errors do not cluster at float32's u."""
    report = validate(slightly_off, vectors=suite_vectors("softmax", "float64", "quick"))
    assert not report.passed and "float32-compute" not in _causes(report)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_accumulated_in_the_storage_format_is_diagnosed(dtype: str) -> None:
    vf = suite_vectors("softmax", dtype, "quick")
    report = validate(sums_in_format, vectors=vf, properties=False)
    assert not report.passed and _causes(report) == ["narrow-accumulation"]
    finding = report.diagnosis[0]
    assert set(finding.tc_ids) == _failing(report)
    assert f"--state {dtype}" in finding.hint
    declared = PassRule(kernel=KernelClass(state=dtype))  # what the hint says: then it passes
    judged = validate(sums_in_format, vectors=vf, properties=False, rule=declared)
    assert judged.passed and not judged.diagnosis


def test_flushed_subnormals_are_diagnosed_as_flush_to_zero() -> None:
    vf = custom_vectors("softmax", "float32", [[0, -100], [0, -1], [3, -95, 1]])
    report = validate(flushes, vectors=vf, properties=False)
    assert _causes(report) == ["flush-to-zero"]
    assert report.diagnosis[0].detail.endswith(
        "all 2 failing tests pass when subnormal results may be 0"
    )


# ---------------------------------------------------------------- per-entry findings


def test_a_dropped_nan_is_diagnosed() -> None:
    rows = [[F32_MAX, math.nan, 0], [1, 2, math.nan], [1, 2], [math.nan]]
    report = validate(drops_nan, vectors=custom_vectors("softmax", "float32", rows))
    assert _causes(report) == ["nan-dropped"]
    finding = report.diagnosis[0]
    assert set(finding.tc_ids) == _failing(report) and len(finding.tc_ids) == 2  # not [nan]
    assert "nan" in finding.detail and "IEEE 754-2019" in finding.hint


def test_two_defects_give_two_findings() -> None:
    """The NaN rows are explained by the dropped NaN, the others by the flush."""
    rows = [[F32_MAX, math.nan, 0], [0, -100], [3, -95, 1], [1, 2]]
    report = validate(drops_nan_and_flushes, vectors=custom_vectors("softmax", "float32", rows))
    assert _causes(report) == ["nan-dropped", "flush-to-zero"]
    nan, flush = report.diagnosis
    assert len(nan.tc_ids) == 1 and len(flush.tc_ids) == 2
    assert "the 2 other failing tests pass" in flush.detail
    assert set(nan.tc_ids) | set(flush.tc_ids) == _failing(report)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_leaking_masked_entries_are_diagnosed(op: str) -> None:
    rows = [[-F32_MAX, -INF, -INF], [0, -INF, 1], [1, 2], [-INF, -INF]]
    report = validate(finite_mask(op), vectors=custom_vectors(op, "float32", rows))
    assert "masked-leak" in _causes(report)
    leak = report.diagnosis[0]
    assert leak.cause == "masked-leak" and set(leak.tc_ids) == _failing(report)
    assert "−inf" in leak.detail


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_a_clamped_inf_is_diagnosed(op: str) -> None:
    rows = [[INF, F32_MAX], [INF, 0, 1], [1, 2], [INF, INF, -1]]
    report = validate(clamps_inf(op), vectors=custom_vectors(op, "float32", rows))
    assert _causes(report) == ["inf-clamped"], report.summary_line()
    assert set(report.diagnosis[0].tc_ids) == _failing(report)
    assert validate(clamps_inf(op), vectors=custom_vectors(op, "float32", [[1, 2]])).passed


# ---------------------------------------------------------------- a wrong dtype, said once


def test_a_wrong_dtype_is_said_once_in_the_summary() -> None:
    vf = suite_vectors("logsumexp", "float32", "quick")
    report = validate(returns_float64, vectors=vf, batch=True, properties=False)
    assert _causes(report) == ["wrong-dtype"]
    errors = [r for r in report.results if r.status == "error"]
    assert (
        report.diagnosis[0].detail == f"returned float64 for float32 input on {len(errors)} tests"
    )
    assert report.summary_line().count("returned float64 for float32 input") == 1
    assert {r.reason for r in errors} == {"output: wrong dtype float64, expected float32"}
    stopped = validate(returns_float64, vectors=vf, properties=False)  # one row a call: stops
    assert stopped.stopped and "returned float64 for float32 input" in stopped.stopped
    assert stopped.summary_line().count("returned float64 for float32 input") == 1
    assert _causes(stopped) == ["wrong-dtype"]  # the JSON keeps it


# ---------------------------------------------------------------- the report


def test_the_diagnosis_is_a_documented_list_in_json_and_a_line_in_text() -> None:
    rows = [[F32_MAX, math.nan, 0], [0, -100], [1, 2]]
    report = validate(drops_nan_and_flushes, vectors=custom_vectors("softmax", "float32", rows))
    data = json.loads(report.to_json())
    assert [set(f) for f in data["diagnosis"]] == [{"cause", "detail", "hint", "tcIds"}] * 2
    assert all(f["cause"] in CAUSES for f in data["diagnosis"])
    assert [f["tcIds"] for f in data["diagnosis"]] == [list(f.tc_ids) for f in report.diagnosis]
    assert str(report.diagnosis) in report.summary_line()
    assert f"* flush-to-zero: {report.diagnosis[1].text()}" in report.to_markdown()


def test_non_finite_numbers_are_spelled_one_way_everywhere() -> None:
    """JSON has no inf or NaN: the report writes "inf", "-inf", "nan" (docs/validation.md),
    also for an unbounded --max-ulp, and never the non-JSON Infinity/NaN."""

    def refuse(token: str) -> None:
        raise AssertionError(f"bare {token} in the JSON report")

    vf = custom_vectors("softmax", "float32", [[1, 2], [0, -INF]])
    report = validate(drops_nan, vectors=vf, rule=PassRule(max_ulp=INF))
    data = json.loads(report.to_json(all_results=True), parse_constant=refuse)
    assert data["maxUlpAllowed"] == "inf"
    assert isinstance(data["seconds"]["total"], float)
    naive = validate(
        lambda z: np.exp(z) / np.exp(z).sum(),
        vectors=custom_vectors("softmax", "float32", [[1000, 0]]),
    )
    data = json.loads(naive.to_json(), parse_constant=refuse)
    assert data["max_ulp"] == "inf" and data["max_ulp_tcId"] == 1
