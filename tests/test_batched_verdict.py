"""The per-component verdict judged many rows at once is the verdict each row gets alone.

``core.judge`` hands rows of equal length to ``judge_rows`` together
(:func:`symsoftmax.validation.checks.componentwise_reasons`); this compares every test's reason,
batched and alone, for correct and buggy kernels (passing and failing rows, temperatures,
flush-to-zero), so that batching can never change a verdict.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sharp_kernels import BUGGY, CORRECT  # tests/sharp_kernels.py

from symsoftmax.formats import get_format
from symsoftmax.validation.checks import PassRule, _componentwise, componentwise_reasons
from symsoftmax.validation.core import prepare
from symsoftmax.validation.sources import suite_vectors

CASES = [
    ("softmax", "float32", "two_pass_softmax"),
    ("softmax", "float16", "combine_in_storage"),
    ("softmax", "float32", "clamped_exp"),
    ("softmax", "bfloat16", "ftz_outputs"),
    ("log_softmax", "float32", "log_softmax"),
    ("logsumexp", "bfloat16", "lse_fast_exp"),
]


def _shape(reason: str) -> str:
    """A reason with its measured numbers (not its component index) blanked."""
    return re.sub(r"(?<![\[\w])-?\d[\d.e+-]*", "#", reason)


def _kernel(name: str) -> Callable[..., Any]:
    return {**CORRECT, **BUGGY}[name].fn


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize(("op", "dtype", "name"), CASES)
def test_batched_reasons_equal_row_by_row(op: str, dtype: str, name: str, ftz: bool) -> None:
    vf = suite_vectors(op, dtype, "quick")
    fmt = get_format(dtype)
    rule = dataclasses.replace(PassRule(), ftz=ftz)
    prepared = prepare(vf)
    fn = _kernel(name)
    outputs = []
    for item in prepared:
        z = np.asarray(item.test.inputs["z"], dtype=fmt.numpy_dtype)
        with np.errstate(all="ignore"):
            out = np.asarray(fn(z), dtype=np.float64)
        outputs.append({next(iter(item.test.expected)): out})
    batched = componentwise_reasons(prepared, outputs, op, fmt, rule)
    compared = failing = 0
    for item, got, reasons in zip(prepared, outputs, batched, strict=True):
        for key, reason in reasons.items():
            expected = np.asarray(item.test.expected[key], dtype=np.float64)
            g = np.asarray(got[key], dtype=np.float64).reshape(expected.shape)
            if ftz:
                flushed = (g == 0) & np.isfinite(expected) & (np.abs(expected) < fmt.tiny)
                g = np.where(flushed, expected, g)
            alone = _componentwise(item.test, g, item.exact[key], op, fmt, rule)
            assert bool(reason) == bool(alone), f"tcId {item.test.tc_id}"
            # the same component and cause; a θ near 0 may differ in its last bits (NumPy's
            # reductions of a (1, K) and an (N, K) array may add in different orders)
            assert _shape(reason) == _shape(alone), f"tcId {item.test.tc_id}"
            compared += 1
            failing += bool(reason)
    assert compared > len(prepared) // 2  # all but NaN answers and misplaced NaN/inf
    if name in BUGGY and not ftz:
        assert failing, "the buggy kernel fails some rows, so failing reasons are compared too"
