"""float8 everywhere a format is accepted (issue 12 §1): vectors, validate, the reference CLI."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import symsoftmax
from symsoftmax.formats import get_format
from symsoftmax.validation.bounds import sum_to_one_bound
from symsoftmax.vectors import generate

FLOAT8 = ("float8_e5m2", "float8_e4m3fn")


def f32_softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float32)
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(x.dtype)


def naive_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float32))
    return (e / e.sum()).astype(x.dtype)


@pytest.mark.parametrize("dtype", FLOAT8)
def test_quick_suite_inputs_are_format_values_and_a_float32_softmax_passes(
    dtype: str,
) -> None:
    vf = generate("softmax", dtype, "quick", 0)
    fmt = get_format(dtype)
    for group in vf.groups:
        for test in group.tests:
            z = np.asarray(test.inputs["z"], dtype=np.float64)
            cast = z.astype(fmt.numpy_dtype).astype(np.float64)
            assert np.array_equal(z, cast, equal_nan=True)
            if not fmt.infinities:
                assert not np.isinf(z).any()  # E4M3: the families' −inf entries are NaN
    report = symsoftmax.validate(f32_softmax, op="softmax", dtype=dtype, vectors=vf)
    assert report.passed, report.summary_line()
    naive = symsoftmax.validate(naive_softmax, op="softmax", dtype=dtype, vectors=vf)
    assert not naive.passed


def test_sum_to_one_bound_is_unbounded_where_k_u_reaches_one() -> None:
    fmt = get_format("float8_e5m2")  # u = 2^−3: probabilistic k = √64 = 8 = 1/u
    assert math.isinf(sum_to_one_bound(65, fmt)[0])
    assert sum_to_one_bound(3, fmt)[0] < 1


def test_reference_cli_takes_float8() -> None:
    command = ["reference", "log_softmax", "--dtype", "float8_e4m3fn", "--", "448", "-448"]
    out = subprocess.run(
        [sys.executable, "-m", "symsoftmax", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "nan" in out.stdout.splitlines()[2]  # −896 is beyond ±448: NaN (OCP conversion)


def test_inf_clamp_fails_validate_and_exhaustive_alike() -> None:
    """[+inf, max] → [½, ½] (+inf clamped to the format's max) fails float8_e5m2 validate, on
    the quick suite's +inf rows, and the exhaustive sweep (both read the one table of
    special-value answers, vectors.answers, and judge per component); a correct float32
    softmax passes both."""
    import sharp_kernels as sk

    vf = generate("softmax", "float8_e5m2", "quick", 0)
    report = symsoftmax.validate(sk.inf_clamp, op="softmax", dtype="float8_e5m2", vectors=vf)
    failed = report.failures
    assert failed and all(np.isposinf(np.asarray(r.inputs["z"])).any() for r in failed)
    good = symsoftmax.validate(sk.two_pass_softmax, op="softmax", dtype="float8_e5m2", vectors=vf)
    assert good.passed, good.summary_line()
    sweep = symsoftmax.exhaustive(sk.inf_clamp, op="softmax", dtype="float8_e5m2", k=2)
    assert not sweep.passed and sweep.tally.counts["over the bound"] > 0
