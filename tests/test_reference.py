"""symsoftmax.reference: API, special values, exact cases, fast path vs mpmath, properties, CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import mpmath
import numpy as np
import pytest
from bitwise import same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

import symsoftmax.reference as ref
import symsoftmax.reference.engine as engine
from symsoftmax.cli import main
from symsoftmax.errors import InputError, PrecisionLimitError
from symsoftmax.formats import get_format
from symsoftmax.rounding import round_array, round_exact, ulp_exact

FORMATS = ["float64", "float32", "float16", "bfloat16"]
inf, nan = math.inf, math.nan


# ---- API shapes and dtypes ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_dtypes_and_shapes(fmt: str) -> None:
    x = np.arange(6.0).reshape(2, 3)
    g = np.ones((2, 3))
    dtype = get_format(fmt).numpy_dtype
    assert ref.softmax(x, dtype=fmt).dtype == dtype
    assert ref.softmax(x, dtype=fmt).shape == (2, 3)
    assert ref.log_softmax(x, dtype=fmt).shape == (2, 3)
    assert ref.logsumexp(x, dtype=fmt).shape == (2,)
    assert ref.jacobian(x, dtype=fmt).shape == (2, 3, 3)
    assert ref.softmax_vjp(x, g, dtype=fmt).shape == (2, 3)
    assert ref.log_softmax_vjp(x, g, dtype=fmt).shape == (2, 3)
    assert ref.cross_entropy(x, g / 3, dtype=fmt).shape == (2,)
    assert ref.cross_entropy_grad(x, g / 3, dtype=fmt).shape == (2, 3)
    assert ref.softmax([1, 2], dtype="bfloat16").dtype == np.dtype(ml_dtypes.bfloat16)


def test_axis_and_batch() -> None:
    rng = np.random.default_rng(0)
    x = round_array(rng.standard_normal((3, 4, 5)), "float32")
    moved = np.moveaxis(x, 1, -1)
    assert same_bits(
        ref.softmax(x, "float32", axis=1), np.moveaxis(ref.softmax(moved, "float32"), -1, 1)
    )
    assert same_bits(ref.logsumexp(x, "float32", axis=1), ref.logsumexp(moved, "float32"))
    assert ref.jacobian(x, "float32", axis=1).shape == (3, 5, 4, 4)
    assert same_bits(ref.softmax(x, "float32")[1, 2], ref.softmax(x[1, 2], "float32"))


def test_inputs_are_rounded_to_the_format_and_strings_parsed_exactly() -> None:
    # 0.1 as a string is rounded once to float16; as a float it is float64 0.1 rounded to float16
    a = ref.evaluate("softmax", ["0.1", "0"], dtype="float16").rounded
    b = ref.evaluate("softmax", [0.1, 0.0], dtype="float16").rounded
    assert same_bits(a, b)
    assert ref.evaluate("logsumexp", ["1e999", "0"], dtype="float32").rounded == inf
    assert ref.evaluate("softmax", ["0x1p-3", "-0x1p-3"], dtype="float64").rounded[0] > 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ref.evaluate("softmax2", [1], dtype="float32"), "unknown op"),
        (lambda: ref.softmax([1, 2], dtype="float8"), "unknown dtype"),
        (lambda: ref.softmax([1, "x"], dtype="float32"), r"x\[1\]"),
        (lambda: ref.softmax([[1, 2], [3]], dtype="float32"), "rectangular"),
        (lambda: ref.softmax(5.0, dtype="float32"), "scalar"),
        (lambda: ref.softmax([1, 2], dtype="float32", axis=3), "axis"),
        (lambda: ref.softmax([1, 2], dtype="float32", temperature=0), "temperature"),
        (lambda: ref.softmax([1, 2], dtype="float32", temperature="-1"), "temperature"),
        (lambda: ref.softmax([1, 2], dtype="float32", temperature="inf"), "temperature"),
        (lambda: ref.softmax_vjp([1, 2], [1], dtype="float32"), "shape"),
        (lambda: ref.evaluate("softmax_vjp", [1, 2], dtype="float32"), "takes 2"),
        (lambda: ref.evaluate("jacobian", [1, 2], dtype="float32", temperature=2), "temperature"),
        (lambda: ref.evaluate("softmax", [1, 2], dtype="float32", digits=0), "digits"),
    ],
)
def test_bad_input_raises_input_error_naming_it(call: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()  # type: ignore[operator]


# ---- special values (docs/reference.md) -----------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_special_values(fmt: str) -> None:
    def ev(op: str, *inputs: object) -> np.ndarray:
        return ref.evaluate(op, *inputs, dtype=fmt).rounded

    assert np.isnan(ev("softmax", [1, nan, 2])).all()
    assert np.isnan(ev("logsumexp", [1, nan]))
    assert same_bits(ev("softmax", [0, -inf, 0]), [0.5, 0, 0.5])
    assert same_bits(ev("log_softmax", [-inf, 3, -inf]), [-inf, 0.0, -inf])
    assert np.isnan(ev("softmax", [-inf, -inf])).all()
    assert np.isnan(ev("log_softmax", [-inf, -inf])).all()
    assert ev("logsumexp", [-inf, -inf]) == -inf
    assert same_bits(ev("softmax", [1, inf, 5, inf]), [0, 0.5, 0, 0.5])
    log_half = round_exact(-mpmath.log(2), fmt)
    assert same_bits(ev("log_softmax", [1, inf, inf]), [-inf, log_half, log_half])
    assert ev("logsumexp", [1, inf]) == inf
    assert np.isnan(ev("jacobian", [-inf, -inf])).all()
    assert np.isnan(ev("softmax_vjp", [1, 2], [1, inf])).all()
    assert same_bits(ev("softmax_vjp", [0, -inf], [2, 5]), [0, 0])
    assert same_bits(ev("log_softmax_vjp", [0, -inf], [2, 5]), [-5, 5])
    assert ev("cross_entropy", [0, -inf], [0.5, 0.5]) == inf
    assert ev("cross_entropy", [0, -inf], [0.5, -0.5]) == -inf
    assert np.isnan(ev("cross_entropy", [0, -inf, -inf], [1, 0.5, -0.5]))  # +inf and −inf
    assert ev("cross_entropy", [0, -inf], [1, 0]) == 0


# ---- exact cases ---------------------------------------------------------------------------


def test_constant_rows_are_exact() -> None:
    for k in (2, 3, 5, 7, 1000):
        for fmt in FORMATS:
            out = ref.evaluate("softmax", np.full(k, 1.25), dtype=fmt).rounded
            assert (out == round_exact(Fraction(1, k), fmt)).all()
    # the fast path must not decide a tie: 1/2^25 is half the float16 subnormal 2^-24 → 0
    assert round_exact(Fraction(1, 2**25), "float16") == 0.0


@pytest.mark.slow
def test_exact_tie_at_half_the_smallest_subnormal() -> None:
    # 2^25 equal float16 entries: 1/2^25 is exactly half of 2^-24, a tie that rounds to 0
    out = ref.softmax(np.zeros(2**25, dtype=np.float16), dtype="float16")
    assert out[0] == 0 and not np.signbit(out[0])


def test_exact_zeros_and_rational_results_of_derivatives() -> None:
    x = [0.5, -1.25, 3.0]
    # g constant → softmax VJP exactly 0 (+0)
    assert same_bits(ref.softmax_vjp(x, [2, 2, 2], dtype="float64"), [0.0, 0.0, 0.0])
    # Σg = 0 → log_softmax VJP is g exactly
    assert same_bits(ref.log_softmax_vjp(x, [1, -3, 2], dtype="float64"), [1, -3, 2])
    # Σy = 0 → cross-entropy = −Σ y_i (x_i − max) exactly
    assert ref.cross_entropy(x, [1, 1, -2], dtype="float64") == (3 - 0.5) + (3 + 1.25)
    # cross_entropy_grad = s·Σy − y = −log_softmax_vjp(z, y)
    y = [0.25, 0.5, 0.5]
    assert same_bits(
        ref.cross_entropy_grad(x, y, dtype="float32"), -ref.log_softmax_vjp(x, y, dtype="float32")
    )
    # one finite entry: log_softmax exactly 0, logsumexp exactly the entry
    assert same_bits(ref.log_softmax([-inf, 7.5], dtype="float32"), [-inf, 0.0])
    assert ref.logsumexp([-inf, 7.5], dtype="float32") == 7.5


def test_subnormal_float64_results_are_not_double_rounded() -> None:
    # e^t/S ≈ 3139590631109408.6055·2^-1074: a 53-bit detour would round it to ...408.5 and then
    # to even (...408); the correct float64 is ...409·2^-1074
    rng = np.random.default_rng(0)
    rng.standard_normal((300, 300))
    row = rng.standard_normal((300, 300))[16] * 300
    fast = ref.evaluate("softmax", row, dtype="float64").rounded
    slow = ref.evaluate("softmax", row, dtype="float64", fast=False).rounded
    assert same_bits(fast, slow)
    with mpmath.workprec(400):
        x = [mpmath.mpf(float(v)) for v in row]
        top = max(x)
        e = [mpmath.exp(v - top) for v in x]
        total = mpmath.fsum(e)
        expected = [round_exact(v / total, "float64") for v in e]
    assert same_bits(slow, np.array(expected))


def test_log_softmax_midpoint_perturbed_by_a_tiny_term() -> None:
    # float32: t = 1 − (2^24 + 2) = −2^24 − 1 is a midpoint; l = t − log1p(e^t) is just below it
    out = ref.log_softmax([2.0**24 + 2, 1.0], dtype="float32")
    assert out[1] == -(2.0**24) - 2 and out[0] == 0 and np.signbit(out[0])


def test_temperature_is_applied_after_the_shift() -> None:
    assert same_bits(ref.softmax([1, 2], dtype="float64", temperature=1e-308), [0.0, 1.0])
    rng = np.random.default_rng(1)
    x = round_array(rng.standard_normal(7) * 3, "float32")
    # T = 2 is exact scaling: σ(x/2)
    assert same_bits(ref.softmax(x, "float32", temperature=2), ref.softmax(x / 2, "float32"))
    assert same_bits(
        ref.logsumexp(x, "float32", temperature=0.5), ref.logsumexp(x * 2, "float32") / 2
    )


def test_decimals_and_arbitrary_precision_values() -> None:
    result = ref.evaluate("softmax", [0, 0, 0, -inf], dtype="float32", digits=30)
    assert result.decimals is not None
    assert list(result.decimals) == ["3.33333333333333333333333333333e-01"] * 3 + ["0"]
    values = ref.evaluate("softmax", [0, 2], dtype="float64").values(200)
    assert values[1]._mpf_[3] > 150  # kept at 200 bits, not rounded to the context's 53
    with mpmath.workprec(300):
        exact = mpmath.exp(2) / (1 + mpmath.exp(2))
        assert abs(values[1] - exact) <= abs(exact) * mpmath.mpf(2) ** -200
    special = ref.evaluate("log_softmax", [nan, 1], dtype="float64", digits=5).decimals
    assert special is not None and list(special) == ["nan", "nan"]
    lse = ref.evaluate("logsumexp", [0, 0], dtype="float16", digits=12).decimals
    assert lse is not None and str(lse) == "6.93147180560e-01"


def test_precision_cap_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_PRECISION", 40)
    with pytest.raises(PrecisionLimitError, match="Ziv's loop did not settle"):
        ref.evaluate("softmax", [0.0, 1.0], dtype="float64", fast=False)


# ---- fast path vs the mpmath route ---------------------------------------------------------


def _hard_rows(fmt: str, seed: int, n: int, k: int) -> np.ndarray:
    """Random rows at several scales, with −inf masks, ties at the max and underflowing entries."""
    rng = np.random.default_rng(seed)
    scales = np.array([0.5, 4.0, 40.0, 400.0])[rng.integers(0, 4, (n, 1))]
    x = rng.standard_normal((n, k)) * scales
    x[rng.random((n, k)) < 0.05] = -inf
    x[::7, 1] = x[::7, 0]
    x[::5, 2] = -(get_format(fmt).exp_overflow_threshold + 20)
    return round_array(x, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_fast_path_matches_mpmath_route(op: str, fmt: str) -> None:
    x = _hard_rows(fmt, 3, 60, 33)
    for t in (None, 0.75):
        fast = ref.evaluate(op, x, dtype=fmt, temperature=t).rounded
        slow = ref.evaluate(op, x, dtype=fmt, temperature=t, fast=False).rounded
        assert same_bits(fast, slow)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_fast_path_matches_mpmath_route_100k(op: str, fmt: str) -> None:
    k = 100 if op != "logsumexp" else 20
    n = 100_000 // k if op != "logsumexp" else 100_000 // 20
    x = _hard_rows(fmt, 5, n, k)
    fast = ref.evaluate(op, x, dtype=fmt).rounded
    slow = ref.evaluate(op, x, dtype=fmt, fast=False).rounded
    assert same_bits(fast, slow)


# ---- properties ----------------------------------------------------------------------------

_finite = st.floats(min_value=-200, max_value=200, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(st.lists(_finite, min_size=1, max_size=8), st.sampled_from(FORMATS))
def test_softmax_range_and_sum_within_half_ulps(values: list[float], fmt: str) -> None:
    x = round_array(np.array(values), fmt)
    s = ref.evaluate("softmax", x, dtype=fmt).rounded
    assert ((s >= 0) & (s <= 1)).all()
    # each output within half an ulp of its exact value and Σ exact = 1
    total = sum((Fraction(float(v)) for v in s), Fraction(0))
    bound = sum((ulp_exact(float(v), fmt) / 2 for v in s), Fraction(0))
    assert abs(total - 1) <= bound


@settings(max_examples=40, deadline=None)
@given(st.lists(_finite, min_size=2, max_size=6), st.integers(0, 5), st.sampled_from(FORMATS))
def test_softmax_is_monotone_in_its_input(values: list[float], j: int, fmt: str) -> None:
    x = round_array(np.array(values), fmt)
    j %= len(x)
    bigger = x.copy()
    bigger[j] = float(round_array(np.array([x[j] + abs(x[j]) * 2.0**-6 + 2.0**-6]), fmt)[0])
    s = ref.evaluate("softmax", x, dtype=fmt).rounded
    s2 = ref.evaluate("softmax", bigger, dtype=fmt).rounded
    assert s2[j] >= s[j]
    others = np.arange(len(x)) != j
    assert (s2[others] <= s[others]).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(_finite, min_size=1, max_size=6), st.sampled_from(FORMATS))
def test_log_softmax_and_logsumexp_bounds(values: list[float], fmt: str) -> None:
    x = round_array(np.array(values), fmt)
    assert (ref.evaluate("log_softmax", x, dtype=fmt).rounded <= 0).all()
    lse = ref.evaluate("logsumexp", x, dtype=fmt).rounded
    assert x.max() <= lse


# ---- CLI -----------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["reference", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(
        capsys, "softmax", "--dtype", "float32", "--json", "--", "-1", "0x1p+1", "inf"
    )
    assert status == 0
    doc = json.loads(out)
    assert doc["op"] == "softmax" and doc["dtype"] == "float32"
    assert doc["input"] == ["-0x1.0000000000000p+0", "0x1.0000000000000p+1", "inf"]
    assert doc["output"] == ["0x0.0p+0", "0x0.0p+0", "0x1.0000000000000p+0"]
    assert doc["exact"] == ["0", "0", "1." + "0" * 39 + "e+00"]
    status, out, _ = _cli(
        capsys, "logsumexp", "--dtype", "float16", "--json", "--digits", "50", "--", "0", "0"
    )
    doc = json.loads(out)
    assert doc["output"] == [round_exact(mpmath.log(2), "float16").hex()]
    assert doc["exact"] == ["6.9314718055994530941723212145817656807550013436026e-01"]


def test_cli_human_output_second_vector_and_temperature(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(
        capsys, "softmax_vjp", "--dtype", "float64", "--cotangent=-1,0,1", "--", "1", "2", "3"
    )
    assert status == 0 and "softmax_vjp in float64, K = 3" in out and "exact" in out
    status, out, _ = _cli(
        capsys, "softmax", "--dtype", "float64", "--temperature", "1e-308", "--", "1", "2"
    )
    assert status == 0 and "0x1.0000000000000p+0" in out


def test_cli_input_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('["-1.5", 2, "nan"]')
    status, out, _ = _cli(capsys, "softmax", "--dtype", "bfloat16", "--json", "--input", str(path))
    assert status == 0 and json.loads(out)["output"] == ["nan"] * 3
    target = tmp_path / "y.json"
    target.write_text("[0.5, 0.5, 0]")
    status, out, _ = _cli(
        capsys, "cross_entropy", "--dtype", "float32", "--target", f"@{target}", "--", "0", "0", "1"
    )
    assert status == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("softmax", "--dtype", "float32", "--", "1", "abc"), "VALUES[1]"),
        (("softmax", "--dtype", "float32"), "no values"),
        (("softmax_vjp", "--dtype", "float32", "--", "1", "2"), "--cotangent"),
        (("softmax", "--dtype", "float32", "--target", "1", "--", "1"), "--target"),
        (("softmax_vjp", "--dtype", "float32", "--cotangent", "1", "--", "1", "2"), "has 1 values"),
        (("softmax", "--dtype", "float32", "--temperature", "0", "--", "1"), "temperature"),
    ],
)
def test_cli_bad_input_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str
) -> None:
    status, _, err = _cli(capsys, *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_cli_precision_cap_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "MAX_PRECISION", 40)
    status, out, err = _cli(
        capsys, "log_softmax_vjp", "--dtype", "float64", "--cotangent", "1,2", "--", "0", "1"
    )
    assert status == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "did not settle" in err


def test_cli_bad_files_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[1, "x"')
    for path, needle in ((bad, "not valid JSON"), (tmp_path / "missing.json", "cannot read")):
        status, _, err = _cli(capsys, "softmax", "--dtype", "float32", "--input", str(path))
        assert status == 2 and str(path) in err and needle in err
        assert len(err.strip().splitlines()) == 1
    wrong = tmp_path / "wrong.json"
    wrong.write_text('[1, "0x1p3", "one"]')
    status, _, err = _cli(capsys, "softmax", "--dtype", "float32", "--input", str(wrong))
    assert status == 2 and f"{wrong}[2]" in err
