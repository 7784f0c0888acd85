"""The batched measurement of the judge (checks.measure_many: outputs of one shape stacked)
gives every test the Evaluation that measuring it alone gives, bit for bit in every field, for
correct and buggy candidates (errors, NaN/inf misplaced, flushed subnormals, wrong shapes), by
every pass rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from symsoftmax.formats import get_format
from symsoftmax.rounding import round_array
from symsoftmax.validation.checks import Evaluation, PassRule, PreparedTest, evaluate, measure_many
from symsoftmax.validation.core import prepare
from symsoftmax.validation.sources import suite_vectors
from symsoftmax.vectors.model import VectorFile


def _bits(value: Any) -> Any:
    """A value comparable bit for bit: arrays and floats by their bytes (NaN equals NaN)."""
    if isinstance(value, np.ndarray):
        return (value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, float | np.floating):
        return np.float64(value).tobytes()
    if isinstance(value, dict):
        return {key: _bits(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_bits(item) for item in value]
    return value


def _fields(evaluation: Evaluation) -> dict[str, Any]:
    return {f.name: _bits(getattr(evaluation, f.name)) for f in dataclasses.fields(evaluation)}


def _buggy(vf: VectorFile, seed: int) -> list[dict[str, np.ndarray] | None]:
    """Outputs of a buggy kernel: relative errors of a few ulps, some components far off,
    NaN and inf where they do not belong, subnormals flushed, a few wrong shapes, a few tests
    not run; each value rounded to the format."""
    rng = np.random.default_rng(seed)
    fmt = get_format(vf.dtype)
    outputs: list[dict[str, np.ndarray] | None] = []
    for test in vf.tests():
        if rng.random() < 0.05:
            outputs.append(None)
            continue
        got = {}
        for key, expected in test.expected.items():
            values = np.asarray(expected, dtype=np.float64).copy()
            scale = 1 + rng.integers(-4, 5, values.shape) * fmt.unit_roundoff
            values = values * scale
            kind = rng.random()
            if values.size and kind < 0.1:
                values.flat[rng.integers(values.size)] = np.nan
            elif values.size and kind < 0.2:
                values.flat[rng.integers(values.size)] = np.inf
            elif values.size and kind < 0.3:
                values.flat[rng.integers(values.size)] *= 1.5
            elif kind < 0.4:
                values[np.abs(values) < fmt.tiny] = 0.0
            elif values.size > 1 and kind < 0.43:
                values = values.ravel()[:-1]  # a wrong shape: the evaluation refuses it
            with np.errstate(invalid="ignore", over="ignore"):
                got[key] = round_array(values, fmt)
        outputs.append(got)
    return outputs


def _correct(vf: VectorFile) -> list[dict[str, np.ndarray] | None]:
    return [{k: np.asarray(v, dtype=np.float64) for k, v in t.expected.items()} for t in vf.tests()]


def _one_by_one(
    item: PreparedTest, got: dict[str, np.ndarray], op: str, rule: PassRule, vf: VectorFile
) -> dict[str, Any] | str:
    try:
        return _fields(evaluate(item, got, op, get_format(vf.dtype), rule))
    except (ValueError, KeyError, TypeError) as exc:
        return f"raised {type(exc).__name__}"


def _batched(
    item: PreparedTest,
    got: dict[str, np.ndarray],
    op: str,
    rule: PassRule,
    vf: VectorFile,
    measured: dict[str, Any],
) -> dict[str, Any] | str:
    try:
        fmt = get_format(vf.dtype)
        return _fields(evaluate(item, got, op, fmt, rule, measured=measured))
    except (ValueError, KeyError, TypeError) as exc:
        return f"raised {type(exc).__name__}"


RULES = [
    PassRule(),
    PassRule(mode="normwise"),
    PassRule(mode="faithful"),
    PassRule(mode="correctly-rounded"),
    PassRule(mode="max-ulp", max_ulp=2.0),
    PassRule(ftz=True),
]


@pytest.mark.parametrize(
    ("op", "dtype"),
    [
        ("softmax", "float32"),
        ("log_softmax", "bfloat16"),
        ("logsumexp", "float16"),
        ("cross_entropy", "float32"),
    ],
)
def test_batched_measure_gives_the_one_by_one_evaluation(op: str, dtype: str) -> None:
    vf = suite_vectors(op, dtype, "quick")
    prepared = prepare(vf)
    fmt = get_format(dtype)
    for name, outputs in (("correct", _correct(vf)), ("buggy", _buggy(vf, seed=len(op)))):
        for rule in RULES:
            measured = measure_many(prepared, outputs, fmt, rule)
            assert sum(map(len, measured)) > len(prepared) // 2  # most were batched
            for item, got, measures in zip(prepared, outputs, measured, strict=True):
                if got is None:
                    continue
                alone = _one_by_one(item, got, op, rule, vf)
                together = _batched(item, got, op, rule, vf, measures)
                assert together == alone, (name, rule, item.test.tc_id)
