"""The validator tells good implementations from bad ones, and says where and by how much.

Known-good candidates (max-shifted in float64 then rounded, scipy.special.softmax, the reference
engine itself) must pass; known-bad ones (no max shift, division-free exp(x − lse) in float32,
sequential low-precision accumulation, NaN swallowed, wrong shape/dtype, wrong VJP sign) must fail
with the reason in the report.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import symsoftmax
from symsoftmax import reference
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.rounding import round_exact, ulp_exact
from symsoftmax.validation import PassRule, validate
from symsoftmax.validation.bounds import output_bounds, sum_to_one_bound, summation_terms
from symsoftmax.validation.componentwise import KernelClass
from symsoftmax.validation.metrics import ExactValues, ulp_errors
from symsoftmax.validation.sources import custom_vectors, suite_vectors

# Generated suites are cached in one folder shared by the test workers (writes are atomic and
# the cache key fingerprints the generator's code), not in the user's cache.
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"


@pytest.fixture(autouse=True, scope="module")
def _cache() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    yield
    mp.undo()


# ------------------------------------------------------------------------------ candidates


def good64(z):
    """Max-shifted in float64, rounded once to the format."""
    x = z.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max())
        return (e / e.sum()).astype(z.dtype)


def naive(z):
    """No max shift: exp overflows."""
    with np.errstate(all="ignore"):
        e = np.exp(z)
        return (e / e.sum()).astype(z.dtype)


def division_free_f32(z):
    """exp(x − logsumexp(x)) in float32 (Blanchard–Higham–Higham's inaccurate variant)."""
    x = z.astype(np.float32)
    with np.errstate(all="ignore"):
        m = x.max()
        y = m + np.log(np.sum(np.exp(x - m)))
        return np.exp(x - y).astype(z.dtype)


def sequential_sum(z):
    """Shifted, but the denominator accumulated one term at a time in the input format."""
    with np.errstate(all="ignore"):
        e = np.exp(z.astype(np.float32) - z.astype(np.float32).max()).astype(z.dtype)
        total = z.dtype.type(0)
        for term in e:
            total = z.dtype.type(total + term)
        return (e.astype(np.float32) / np.float32(total)).astype(z.dtype)


def nan_swallowed(z):
    return good64(np.where(np.isnan(z), z.dtype.type(0), z))


def wrong_shape(z):
    return good64(z)[:-1] if z.size > 3 else good64(z)


def wrong_dtype(z):
    return good64(z).astype(np.float64)


def engine(z):
    return reference.softmax(z, dtype=z.dtype).astype(z.dtype)


def softmax_vjp64(z, g):
    s = good64(z).astype(np.float64)  # rounded once more: within the bound
    x = z.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max())
        s = e / e.sum()
        return (s * (g.astype(np.float64) - np.dot(g.astype(np.float64), s))).astype(z.dtype)


def softmax_vjp_wrong_sign(z, g):
    return (-softmax_vjp64(z, g).astype(np.float64)).astype(z.dtype)


def log_softmax64(z, temperature=None):
    x = z.astype(np.float64) if temperature is None else z.astype(np.float64) / temperature
    with np.errstate(all="ignore"):
        t = x - x.max()
        return (t - np.log1p(np.sum(np.exp(t)) - 1)).astype(z.dtype)


# ------------------------------------------------------------------------------ metrics


_FORMATS = ["float64", "float32", "float16", "bfloat16"]


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(_FORMATS),
    mantissa=st.integers(-(10**45), 10**45),
    exponent=st.integers(-330, 30),
    offset=st.integers(-3, 3),
)
def test_ulp_error_matches_exact_rational_arithmetic(fmt, mantissa, exponent, offset):
    exact = Fraction(mantissa) * Fraction(10) ** exponent
    decimal = f"{mantissa}e{exponent}"
    rounded = round_exact(exact, fmt)
    if not math.isfinite(rounded):
        return
    got = rounded + offset * float(ulp_exact(exact, fmt))  # near neighbours, maybe not in fmt
    values = ExactValues.parse(np.array([decimal], dtype=object))
    measured = ulp_errors(np.array([got]), values, np.array([rounded]), get_format(fmt))[0]
    truth = abs(Fraction(got) - exact) / ulp_exact(exact, fmt)
    assert measured == pytest.approx(float(truth), rel=1e-12, abs=1e-12)


def test_ulp_is_taken_at_the_exact_value_below_a_power_of_two():
    # v just below 1: hi rounds to 1.0 in float64 but the spacing is that of [1/2, 1)
    values = ExactValues.parse(np.array(["0.99999999999999999999999"], dtype=object))
    error = ulp_errors(np.array([1.0]), values, np.array([1.0]), get_format("float32"))[0]
    assert error == pytest.approx(float(Fraction(10) ** -23 / Fraction(1, 2**24)), rel=1e-9)


def test_exact_values_with_exponents_far_outside_float64():
    values = ExactValues.parse(
        np.array(["9.05e-295565490868405", "nan", "-inf", "0"], dtype=object)
    )
    assert values.hi.tolist()[0] == 0.0 and math.isnan(values.hi[1]) and values.hi[2] == -math.inf
    with pytest.raises(InputError, match="malformed"):
        ExactValues.parse(np.array(["0x1p-3z"], dtype=object))


def test_misplaced_specials_are_infinitely_wrong():
    values = ExactValues.parse(np.array(["0.5", "nan", "inf"], dtype=object))
    expected = np.array([0.5, math.nan, math.inf])
    fmt = get_format("float32")
    assert ulp_errors(np.array([0.5, math.nan, math.inf]), values, expected, fmt).tolist() == [
        0,
        0,
        0,
    ]
    wrong = ulp_errors(np.array([math.nan, 0.0, 1.0]), values, expected, fmt)
    assert np.all(np.isinf(wrong))


# ------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize(
    ("dtype", "n", "form"),
    [
        ("float16", 1023, "worst-case"),
        ("float16", 1024, "probabilistic"),
        ("float16", 4096, "probabilistic"),
        ("bfloat16", 64, "worst-case"),
        ("bfloat16", 128, "probabilistic"),
        ("float32", 4096, "worst-case"),
    ],
)
def test_probabilistic_form_where_the_worst_case_is_vacuous(dtype, n, form):
    big_n, found = summation_terms(n, get_format(dtype))
    assert found == form
    assert big_n == (n if form == "worst-case" else math.sqrt(n))


def test_softmax_bound_is_the_published_one_for_small_spread():
    fmt = get_format("float32")
    z = np.array([0.0, -0.25, -0.125])
    bound = output_bounds("softmax", {"z": z}, {}, fmt)["output"]
    # BHH: (n + 2 + 2(max − min))u, plus u for the final rounding
    assert bound.factor == pytest.approx(3 + 2 + 2 * 0.25 + 1)
    assert bound.form == "worst-case"
    # a wide spread: the exp-argument term is capped at 1/e + min(Δ, ln n)
    wide = output_bounds("softmax", {"z": np.array([0.0, -50.0])}, {}, fmt)["output"]
    assert wide.factor == pytest.approx(2 + 3 + 1 / math.e + math.log(2))


def test_sum_to_one_bound_formula():
    fmt = get_format("float32")
    u = fmt.unit_roundoff
    gamma = 9 * u / (1 - 9 * u)
    bound, form = sum_to_one_bound(10, fmt)
    assert bound == pytest.approx((u + gamma) / (1 - gamma) + 2 * u, rel=1e-6)
    assert form == "worst-case"


# ------------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("fn", [good64, engine], ids=["numpy-f64-rounded", "engine"])
def test_known_good_softmax_passes(fn, dtype):
    report = validate(fn, "softmax", dtype, suite="quick")
    assert report.passed, report.to_markdown()
    assert report.max_ulp <= 0.5 + 1e-12  # both round once from (at least) float64


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_scipy_softmax_passes(dtype):
    """SciPy computes in the data's format: a two-pass kernel whose state is float16 there."""
    rule = PassRule(kernel=KernelClass(state=dtype))
    report = validate(scipy.special.softmax, "softmax", dtype, suite="quick", rule=rule)
    assert report.passed, report.summary_line()
    assert report.skipped > 0  # the temperature tests: scipy takes no temperature


def test_scipy_float16_softmax_fails_the_float32_state_default_per_component():
    """Its exponentials rounded to float16 are a few u of float16 off each probability, more
    than a kernel that keeps them in float32 may be: the default class says so, by component."""
    report = validate(scipy.special.softmax, "softmax", "float16", suite="quick")
    assert not report.passed
    reasons = [f.reason for f in report.failures]
    assert any("off the row's common factor" in r for r in reasons), reasons
    assert all(r.startswith(("output[", "the row's common factor")) for r in reasons), reasons


def test_engine_is_correctly_rounded():
    report = validate(
        engine, "softmax", "float16", suite="quick", rule=PassRule("correctly-rounded")
    )
    assert report.passed


def test_no_max_shift_fails_on_overflow():
    report = validate(naive, "softmax", "float32", suite="quick")
    assert not report.passed
    failed_flags = {flag for r in report.failures for flag in r.flags}
    assert "exp-overflow" in failed_flags
    reasons = " ".join(r.reason for r in report.failures)
    assert "misplaced NaN/inf" in reasons
    assert report.max_ulp == math.inf


def test_division_free_float32_fails_with_its_359_ulp_error():
    vf = custom_vectors("softmax", "float32", [[1000, 999], [0.5, 0.25]])
    report = validate(division_free_f32, vectors=vf, rule=PassRule("normwise"))
    assert report.failed == 1
    failure = report.failures[0]
    assert failure.tc_id == 1
    assert round(failure.ulp) == 359  # the figure in Blanchard, Higham & Higham
    assert "normwise error" in failure.reason and "worst-case" in failure.reason
    sharp = validate(division_free_f32, vectors=vf)  # per component: the same row, named
    assert [f.tc_id for f in sharp.failures] == [1]
    assert sharp.failures[0].reason.startswith("the row's common factor is off: ")


def test_sequential_float16_accumulation_stall_is_caught_by_the_probabilistic_bound():
    vf = custom_vectors("softmax", "float16", [np.zeros(4096), [0.0, -1.0, -2.0]])
    report = validate(sequential_sum, vectors=vf, rule=PassRule("normwise"))
    assert report.failed == 1 and report.failures[0].tc_id == 1
    assert "probabilistic" in report.failures[0].reason
    assert report.bounds_applied == {"probabilistic": 1, "worst-case": 1}
    assert validate(good64, vectors=vf).passed


def test_sequential_bfloat16_accumulation_fails_on_the_long_rows():
    report = validate(sequential_sum, "softmax", "bfloat16", suite="quick")
    assert not report.passed
    assert report.by_flag["long-row"]["failed"] >= 1
    assert any(p.name == "sum-to-one" and not p.passed for p in report.properties)


def test_nan_swallowed_fails():
    report = validate(nan_swallowed, "softmax", "float32", suite="quick")
    assert not report.passed
    # every NaN row fails except [nan, inf], which gives NaN anyway (inf − inf)
    assert report.by_flag["nan-input"]["failed"] >= report.by_flag["nan-input"]["tests"] - 1


@pytest.mark.parametrize(
    ("fn", "message"), [(wrong_shape, "wrong shape"), (wrong_dtype, "wrong dtype float64")]
)
def test_wrong_shape_or_dtype_is_reported_per_test(fn, message):
    """Each bad result is an error of that test only (wrong_shape is right for K ≤ 3); the run
    is not stopped early (wrong_dtype fails every call alike)."""
    report = validate(
        fn, "softmax", "float32", suite="quick", properties=False, max_identical_failures=0
    )
    assert not report.passed
    assert report.failed > 0
    assert all(r.status == "error" and message in r.reason for r in report.failures)


def test_wrong_vjp_sign_fails_and_right_one_passes():
    rows = [{"z": [1.0, 2.0, 3.0], "g": [0.5, -1.0, 2.0]}, {"z": [0.0, 0.0], "g": [1.0, 3.0]}]
    vf = custom_vectors("softmax_vjp", "float32", rows)
    assert validate(softmax_vjp64, vectors=vf).passed
    bad = validate(softmax_vjp_wrong_sign, vectors=vf)
    assert bad.failed == 2 and "dz: normwise error" in bad.failures[0].reason


def test_modes_faithful_and_max_ulp():
    vf = custom_vectors("softmax", "float32", [[1000, 999], [0.5, 0.25]])
    assert not validate(division_free_f32, vectors=vf, rule=PassRule(max_ulp=300)).passed
    rule = PassRule(max_ulp=400)
    assert validate(division_free_f32, vectors=vf, rule=rule, properties=False).passed
    report = validate(division_free_f32, vectors=vf, rule=PassRule("faithful"), properties=False)
    assert report.failures[0].reason.endswith("≥ 1 ulp")
    with pytest.raises(InputError):
        PassRule("max-ulp")
    with pytest.raises(InputError):
        PassRule("sloppy")


def test_pass_rule_is_built_from_options_as_they_come():
    assert PassRule(max_ulp=4) == PassRule("max-ulp", 4.0)  # --max-ulp 4 alone
    assert PassRule(max_ulp=4).max_ulp == 4.0 and isinstance(PassRule(max_ulp=4).max_ulp, float)
    assert PassRule("faithful", 5).mode == "faithful"  # --mode faithful wins over --max-ulp
    assert PassRule("correctly-rounded", ftz=True).describe().endswith("may flush to zero")
    with pytest.raises(InputError, match="max_ulp ≥ 0"):
        PassRule(max_ulp=-1)


def test_flush_to_zero_allowance():
    # e^-100 ≈ 3.7e-44 is a float32 subnormal output
    vf = custom_vectors("softmax", "float32", [[0.0, -100.0]])

    def flushing(z):
        out = good64(z)
        return np.where(np.abs(out) < np.finfo(np.float32).tiny, 0, out).astype(np.float32)

    assert not validate(flushing, vectors=vf, rule=PassRule("correctly-rounded")).passed
    assert validate(flushing, vectors=vf, rule=PassRule("correctly-rounded", ftz=True)).passed


def test_acceptable_answers_any_of_them_passes():
    def safe(z):  # zeros for an all −inf row (FlashAttention / masked softmax convention)
        if np.all(np.isneginf(z)):
            return np.zeros_like(z)
        return good64(z)

    def half_nan(z):
        out = good64(z)
        if np.all(np.isneginf(z)):
            out[0] = 0
        return out

    assert validate(safe, "softmax", "float32", suite="quick").by_flag["all-neg-inf"]["failed"] == 0
    bad = validate(half_nan, "softmax", "float32", suite="quick")
    assert bad.by_flag["all-neg-inf"]["failed"] > 0
    assert "matches no allowed answer" in bad.failures[0].reason


def test_exceptions_and_timeouts_are_reported_and_the_run_goes_on():
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]])

    slept: list[float] = []

    def flaky(z):
        if z.size == 2:
            raise ValueError("no pairs here")
        if z.size == 3:
            start = time.perf_counter()
            try:
                time.sleep(1.0)
            finally:  # interrupted at the time limit, not slept out (the rest of the run's
                slept.append(time.perf_counter() - start)  # time depends on the machine)
        return good64(z)

    report = validate(flaky, vectors=vf, timeout=0.2, properties=False)
    assert slept and max(slept) < 0.9
    statuses = {r.tc_id: (r.status, r.reason) for r in report.results}
    assert statuses[1] == ("error", "raised ValueError: no pairs here")
    assert statuses[2][0] == "error" and "timed out after 0.2 s" in statuses[2][1]
    assert statuses[3][0] == "pass"


def test_hung_calls_stop_the_run_after_max_hung():
    vf = custom_vectors("softmax", "float32", [[1.0, float(i)] for i in range(6)])

    def hangs(z):
        time.sleep(0.5)
        return good64(z)

    report = validate(hangs, vectors=vf, timeout=0.05, properties=False)
    reasons = [r.reason for r in report.results]
    assert sum("timed out" in r for r in reasons) == 3
    assert sum(r.startswith("not run") for r in reasons) == 3
    # not run is its own status, distinct from skipped by policy, and never a pass
    assert [r.status for r in report.results].count("not-run") == 3 == report.not_run
    assert report.skipped == 0 and not report.passed and report.failed == 6
    assert "; 3 errors; 3 not run" in report.summary_line()
    assert "| 6 | 0 | 3 | 3 | 0 |" in report.to_markdown()


def test_skipped_by_policy_is_said_in_the_summary_and_all_skipped_is_no_pass():
    vf = custom_vectors("softmax", "float32", [{"z": [1.0, 2.0], "temperature": 0.5}, [1.0, 2.0]])
    report = validate(good64, vectors=vf)  # good64 takes no temperature
    assert report.passed and report.skipped == 1 and report.tests == 1
    assert report.summary_line().endswith("; 1 skipped by policy (not counted)")
    only = custom_vectors("softmax", "float32", [{"z": [1.0, 2.0], "temperature": 0.5}])
    assert not validate(good64, vectors=only).passed  # nothing ran: no PASS


def test_batched_calls_group_rows_of_equal_length():
    calls = []

    def batched(z):
        calls.append(z.shape)
        x = z.astype(np.float64)
        with np.errstate(all="ignore"):
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return (e / e.sum(axis=-1, keepdims=True)).astype(z.dtype)

    report = validate(batched, "softmax", "float32", suite="quick", batch=True, properties=False)
    assert report.passed
    assert all(len(shape) == 2 for shape in calls)
    assert len(calls) < report.tests / 3
    with_properties = validate(batched, "softmax", "float32", suite="quick", batch=True)
    assert with_properties.passed  # the property calls are batches of one row
    assert all(len(shape) == 2 for shape in calls)


def test_temperature_is_passed_as_keyword_or_skipped():
    with_t = validate(log_softmax64, "log_softmax", "float32", suite="quick")
    assert with_t.passed, with_t.to_markdown()
    skipped = [r for r in with_t.results if r.status == "skipped"]
    # it takes temperature= but no sink= or softcap=: only those tests are skipped
    assert all({"sink", "softcap"} & r.inputs.keys() for r in skipped)
    assert not any("temperature" in r.inputs for r in skipped)
    without = validate(log_softmax64, "log_softmax", "float32", suite="quick", temperature="skip")
    assert without.skipped > 0


def test_properties_catch_nondeterminism():
    rng = np.random.default_rng(1)

    def noisy(z):
        out = good64(z)
        return out if rng.integers(0, 2) else np.nextafter(out, np.float32(0))

    report = validate(noisy, "softmax", "float32", suite="quick")
    props = {p.name: p for p in report.properties}
    assert not props["determinism"].passed
    assert props["range"].passed
    assert validate(good64, "softmax", "float32", suite="quick").properties[-1].passed


def test_shift_and_determinism_failures_name_the_test_and_the_call():
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [0.5, 0.25, 4.0]])
    first = {np.asarray(t.inputs["z"], dtype=np.float32).tobytes() for t in vf.tests()}
    seen: set[bytes] = set()

    def unsteady(z):
        key = z.tobytes()
        if key in seen:
            raise RuntimeError("called twice")
        seen.add(key)
        out = good64(z)
        return out if key in first else np.nextafter(out, np.float32(1))  # shifts move a bit

    props = {p.name: p for p in validate(unsteady, vectors=vf).properties}
    shift, again = props["shift-invariance"], props["determinism"]
    assert shift.failed == shift.checked > 0 and again.failed == again.checked > 0
    assert re.fullmatch(r"tcId \d+, z \+ \S+: output\[\d+\]: .+", shift.worst), shift.worst
    assert re.fullmatch(r"tcId \d+: second call .*called twice.*", again.worst), again.worst


def test_exp_log_softmax_against_a_companion():
    report = validate(log_softmax64, "log_softmax", "float32", suite="quick", companion=good64)
    props = {p.name: p for p in report.properties}
    assert props["exp-log-softmax"].passed and props["exp-log-softmax"].checked > 0

    def off(z):
        return (good64(z).astype(np.float64) * 1.01).astype(np.float32)

    bad = validate(log_softmax64, "log_softmax", "float32", suite="quick", companion=off)
    assert not {p.name: p for p in bad.properties}["exp-log-softmax"].passed


def test_report_renderings():
    report = validate(naive, "softmax", "float32", suite="quick")
    data = report.to_dict()
    for key in ("passed", "tests", "failed", "max_ulp", "median_ulp", "failures", "by_flag"):
        assert key in data
    failure = data["failures"][0]
    assert {"tcId", "flags", "input", "got", "expected", "ulp"} <= set(failure)
    assert all(isinstance(v, str) for v in failure["input"]["z"])
    assert len(failure["ulps"]["output"]) == len(failure["input"]["z"])  # every component
    assert data["max_ulp"] == "inf"
    markdown = report.to_markdown()
    assert "## By flag" in markdown and "## Worst cases" in markdown and "FAIL" in markdown
    assert symsoftmax.validate is validate


def _unshifted_softmax(z):
    e = np.exp(z)  # no max shift: overflows to inf and NaN (the candidate's own warnings)
    return e / e.sum(axis=-1, keepdims=True)


def _unshifted_log_softmax(z):
    return z - np.log(np.exp(z).sum())


NAIVE = {  # op → a candidate without the max shift, so that its outputs reach ±inf and NaN
    "softmax": _unshifted_softmax,
    "log_softmax": _unshifted_log_softmax,
    "logsumexp": lambda z: np.log(np.exp(z).sum(keepdims=True)),
    "jacobian": lambda z: np.diag(_unshifted_softmax(z)) - np.outer(*[_unshifted_softmax(z)] * 2),
    "softmax_vjp": lambda z, g: (s := _unshifted_softmax(z)) * (g - np.dot(g, s)),
    "log_softmax_vjp": lambda z, g: g - _unshifted_softmax(z) * g.sum(),
    "cross_entropy": lambda z, y: (
        np.asarray([-(y * _unshifted_log_softmax(z)).sum()]),
        _unshifted_softmax(z) * y.sum() - y,
    ),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("op", list(NAIVE))
def test_no_runtime_warning_from_the_validator_on_float64_suites(op):
    """float64 suites hold values near ±1.8e308: max − min, output differences and ulp ratios
    overflow there. The validator's own arithmetic must not warn (the candidate's runs under
    np.errstate(all="ignore")); this fails on any RuntimeWarning raised while validating."""
    correct = {
        "softmax": scipy.special.softmax,
        "log_softmax": scipy.special.log_softmax,
        "logsumexp": lambda z: np.asarray([scipy.special.logsumexp(z)]),
    }
    report = validate(NAIVE[op], op, "float64", suite="quick")
    assert not report.passed  # the unshifted candidate fails, without a warning
    if op in correct:
        validate(correct[op], op, "float64", suite="quick", companion=correct["log_softmax"])


def test_suite_vectors_are_cached_on_disk(tmp_path, monkeypatch):
    import symsoftmax.vectors

    made = []
    real = symsoftmax.vectors.generate

    def counting(*args, **kwargs):
        made.append(args)
        return made[0][1] if len(made) > 1 else real(*args, **kwargs)

    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(symsoftmax.vectors, "generate", counting)
    first = suite_vectors("softmax", "float16", "quick")
    made[0] = (made[0], first)
    files = list((tmp_path / "vectors").glob("softmax-float16-quick-seed0-v*-*.npz"))
    assert len(files) == 1
    again = suite_vectors("softmax", "float16", "quick")
    assert len(made) == 1 and len(again) == len(first)  # read back, not generated
    files[0].write_bytes(b"damaged")
    assert len(suite_vectors("softmax", "float16", "quick")) == len(first)
    assert len(made) == 2  # a damaged entry is generated again


def test_op_and_dtype_must_agree_with_the_vectors():
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])
    with pytest.raises(InputError, match="not 'log_softmax'"):
        validate(good64, "log_softmax", vectors=vf)
    with pytest.raises(InputError, match="not 'float16'"):
        validate(good64, dtype="float16", vectors=vf)


def test_bfloat16_arrays_reach_the_candidate_as_ml_dtypes():
    seen = []

    def spy(z):
        seen.append(z.dtype)
        return good64(z)

    validate(spy, "softmax", "bfloat16", vectors=custom_vectors("softmax", "bfloat16", [[1, 2]]))
    assert seen[0] == np.dtype(ml_dtypes.bfloat16)


# ------------------------------------------------------------------------------ frameworks


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_functions_through_dlpack(dtype):
    torch = pytest.importorskip("torch")
    vf = custom_vectors("softmax", dtype, [[1.0, 2.0, 3.0], [1000.0, 999.0, -5.0]])
    report = validate(lambda z: torch.softmax(z, dim=-1), vectors=vf, framework="torch")
    assert report.passed, report.summary_line()
    batched = validate(
        lambda z: torch.softmax(z, dim=-1), vectors=vf, framework="torch", batch=True
    )
    assert batched.passed


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", "bfloat16"])
def test_torch_bit_view_formats_round_trip_and_validate(dtype):
    """bfloat16 and the float8 formats reach torch through an integer view: every bit pattern
    (NaN payloads and signed zeros included) comes back unchanged, and a float32 softmax cast
    to the format passes the quick suite."""
    torch = pytest.importorskip("torch")
    from symsoftmax.validation.adapters import Adapter

    fmt = get_format(dtype)
    width = np.uint8 if fmt.numpy_dtype.itemsize == 1 else np.uint16
    patterns = np.arange(np.iinfo(width).max + 1, dtype=np.uint64).astype(width)
    values = patterns.view(fmt.numpy_dtype)
    adapter = Adapter("torch")
    tensor = adapter.to_framework(values)
    assert tensor.dtype == getattr(torch, dtype)
    assert np.array_equal(adapter.to_numpy(tensor).view(width), patterns)

    def softmax(z):
        return torch.softmax(z.float(), dim=-1).to(z.dtype)

    report = validate(softmax, dtype=dtype, op="softmax", suite="quick", framework="torch")
    assert report.passed, report.summary_line()


def test_torch_vjp_and_wrong_dtype():
    torch = pytest.importorskip("torch")

    def vjp(z, g):
        z = z.detach().clone().requires_grad_(True)
        (dz,) = torch.autograd.grad(torch.softmax(z, dim=-1), z, g)
        return dz

    rows = [{"z": [1.0, 2.0, 3.0], "g": [0.5, -1.0, 2.0]}]
    assert validate(
        vjp, vectors=custom_vectors("softmax_vjp", "float16", rows), framework="torch"
    ).passed
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])
    report = validate(lambda z: torch.softmax(z.double(), -1), vectors=vf, framework="torch")
    assert "wrong dtype float64" in report.failures[0].reason


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_jax_functions_through_numpy(dtype):
    jax = pytest.importorskip("jax")
    vf = custom_vectors("log_softmax", dtype, [[1.0, 2.0, 3.0], [0.0, -4.0]])
    rule = PassRule(kernel=KernelClass(state=dtype))  # JAX sums bfloat16 in bfloat16
    report = validate(jax.nn.log_softmax, vectors=vf, framework="jax", rule=rule)
    assert report.passed, report.summary_line()


def test_unknown_framework_is_an_input_error():
    with pytest.raises(InputError, match="unknown framework"):
        validate(good64, vectors=custom_vectors("softmax", "float32", [[1.0]]), framework="tf")


# ------------------------------------------------------------------------------ every op


def _f64_softmax(z):
    x = z.astype(np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def _f64_log_softmax(z):
    x = z.astype(np.float64)
    t = x - x.max()
    return t - np.log1p(np.sum(np.exp(t)) - 1.0)


REFERENCE_OPS = {
    "log_softmax": lambda z: _f64_log_softmax(z),
    "logsumexp": lambda z: np.array([z.astype(np.float64).max() - _f64_log_softmax(z).max()]),
    "jacobian": lambda z: np.diag(_f64_softmax(z)) - np.outer(_f64_softmax(z), _f64_softmax(z)),
    "softmax_vjp": lambda z, g: (
        _f64_softmax(z) * (g.astype(np.float64) - np.dot(g.astype(np.float64), _f64_softmax(z)))
    ),
    "log_softmax_vjp": lambda z, g: (
        g.astype(np.float64) - _f64_softmax(z) * g.sum(dtype=np.float64)
    ),
}
ROWS = {
    # no dominant entry: there s ≈ 1 makes J and the VJPs cancel, and the bounds (scaled by
    # ‖s‖∞, as the error of diag(s) − ssᵀ is) cannot see a 512u relative error of tiny outputs
    "z": [[1.0, 2.0, 3.0], [2.0, -3.5, 0.25, 1.0], [-1.5, -1.25]],
    "g": [[0.5, -1.0, 2.0], [1.0, 1.0, -3.0, 0.125], [4.0, -0.5]],
}


@pytest.mark.parametrize("op", list(REFERENCE_OPS))
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_every_op_passes_when_right_and_fails_when_off_by_a_little(op, dtype):
    """A float64 computation rounded once passes; the same off by 512u relative fails."""
    fn = REFERENCE_OPS[op]
    takes_g = op.endswith("vjp")
    rows = [{"z": z, "g": g} for z, g in zip(ROWS["z"], ROWS["g"], strict=True)]
    vf = custom_vectors(op, dtype, rows if takes_g else ROWS["z"])
    dt = get_format(dtype).numpy_dtype

    def good(*args):
        return fn(*args).astype(dt)

    def off(*args):
        return (fn(*args) * (1 + 512 * get_format(dtype).unit_roundoff)).astype(dt)

    assert validate(good, vectors=vf).passed
    bad = validate(off, vectors=vf, properties=False)
    assert bad.failed == len(vf), bad.to_markdown()


def test_cross_entropy_pairs_are_judged_per_output():
    rows = [{"z": [1.0, 2.0, 3.0], "y": [0.0, 0.25, 0.75]}, {"z": [0.0, -8.0], "y": [1.0, 0.0]}]
    vf = custom_vectors("cross_entropy", "float32", rows)

    def ce(z, y, sign=1.0):
        w = y.astype(np.float64)
        lsm = _f64_log_softmax(z)
        loss = -np.sum(w * lsm)
        grad = w.sum() * _f64_softmax(z) - w
        return np.array([loss], dtype=np.float32), (sign * grad).astype(np.float32)

    assert validate(ce, vectors=vf).passed
    bad = validate(lambda z, y: ce(z, y, -1.0), vectors=vf)
    assert bad.failed == 2 and all(r.reason.startswith("grad:") for r in bad.failures)
    wrong = validate(lambda z, y: ce(z, y)[1], vectors=vf, properties=False)
    assert all("expected a tuple" in r.reason for r in wrong.failures)


# ------------------------------------------------------------------------------ failing in bulk


def _varied(count: int, dtype: str = "float32"):
    """``count`` rows of lengths 2..7 in turn (distinct values, so every row is a new test)."""
    return custom_vectors("softmax", dtype, [[0.25 * i] * (2 + i % 6) for i in range(count)])


def _counting(body):
    """``body`` as a candidate that records each call's row length in ``.calls``."""

    def candidate(z):
        candidate.calls.append(z.shape[-1])
        return body(z)

    candidate.calls = []
    return candidate


def _no_kernel(z):
    raise TypeError(f"no kernel for {z.dtype}")


def _as_row(z):
    return good64(z).reshape(1, -1)


def _as_column(z):
    return good64(z).reshape(-1, 1)


BULK_FAILURES = {
    "exception": (
        _no_kernel,
        "the candidate raised TypeError('no kernel for float32') on every call",
    ),
    "dtype": (wrong_dtype, "the candidate returned float64 for float32 input on every call"),
    "shape": (
        _as_row,
        "the candidate returned output of shape (1, K), expected (K,), on every call",
    ),
}


@pytest.mark.parametrize("case", list(BULK_FAILURES))
def test_identical_failures_on_every_call_stop_the_run(case):
    """After MAX_IDENTICAL_FAILURES alike failures in a row, and the same failure on the spot
    checks further on, the rest is not run (counted: the verdict is FAIL), and one line says why."""
    from symsoftmax.validation.runner import MAX_IDENTICAL_FAILURES, SPOT_CHECKS

    body, phrase = BULK_FAILURES[case]
    fn = _counting(body)
    report = validate(fn, vectors=_varied(60), properties=False)
    made = MAX_IDENTICAL_FAILURES + SPOT_CHECKS
    assert len(fn.calls) == made
    statuses = [r.status for r in report.results]
    assert statuses.count("error") == made and statuses.count("not-run") == 60 - made
    assert report.not_run == 60 - made and report.failed == 60 and not report.passed
    assert report.stopped.startswith(phrase), report.stopped
    assert f"({MAX_IDENTICAL_FAILURES} in a row" in report.stopped
    assert f"{60 - made} tests not run" in report.stopped
    line = report.summary_line()
    assert line.startswith("FAIL") and report.stopped in line and "\n" not in line
    not_run = [r.reason for r in report.results if r.status == "not-run"]
    assert set(not_run) == {f"not run: stopped after {MAX_IDENTICAL_FAILURES} identical failures"}
    assert report.to_dict()["stopped"] == report.stopped
    assert report.stopped in report.to_markdown()


def test_max_identical_failures_is_an_option_and_zero_never_stops():
    fn = _counting(_no_kernel)
    report = validate(fn, vectors=_varied(30), properties=False, max_identical_failures=0)
    assert len(fn.calls) == 30 and report.not_run == 0 and report.stopped == ""
    fn = _counting(_no_kernel)
    report = validate(fn, vectors=_varied(30), properties=False, max_identical_failures=4)
    from symsoftmax.validation.runner import SPOT_CHECKS

    assert len(fn.calls) == 4 + SPOT_CHECKS and report.not_run == 30 - 4 - SPOT_CHECKS
    assert "(4 in a row" in report.stopped
    for bad in (-1, 2.5, True, "20"):
        with pytest.raises(InputError, match="max_identical_failures must be an integer ≥ 0"):
            validate(good64, vectors=_varied(2), max_identical_failures=bad)


def test_different_failures_in_a_row_run_to_the_end():
    def differs(z):
        differs.calls += 1
        raise ValueError(f"call {differs.calls}")

    differs.calls = 0
    report = validate(differs, vectors=_varied(45), properties=False)
    assert differs.calls == 45 and report.not_run == 0 and report.stopped == ""


def test_failing_on_some_row_lengths_only_runs_to_the_end():
    """Suites are sorted by row length: a kernel for powers of two fails alike on all 25 rows
    of length 3, but the spot checks further on find rows it passes, so the run goes on."""
    rows = [[0.5 * i, 0.0, 1.0] for i in range(25)] + [[0.5 * i, 0.0, 1.0, 2.0] for i in range(5)]
    rows += [[0.5 * i, 0.0, 1.0, 2.0, 3.0] for i in range(25)]
    rows += [[0.5 * i] + [1.0] * 7 for i in range(5)]

    def powers_of_two(z):
        if z.size & (z.size - 1):
            raise ValueError("K must be a power of two")
        return good64(z)

    fn = _counting(powers_of_two)
    report = validate(fn, vectors=custom_vectors("softmax", "float32", rows), properties=False)
    assert len(fn.calls) == 60 and report.not_run == 0 and report.stopped == ""
    assert [r.status for r in report.results].count("pass") == 10
    assert fn.calls[:20] == [3] * 20  # the tests in order, then the spot checks


def test_a_batched_candidate_failing_every_call_alike_stops_too():
    from symsoftmax.validation.runner import MAX_IDENTICAL_FAILURES, SPOT_CHECKS

    rows = [[0.0] * k for k in range(1, 31)]  # 30 row lengths: 30 batched calls
    fn = _counting(_no_kernel)
    report = validate(fn, vectors=custom_vectors("softmax", "float32", rows), batch=True)
    assert len(fn.calls) == MAX_IDENTICAL_FAILURES + SPOT_CHECKS
    assert report.not_run == 30 - len(fn.calls) and "on every call" in report.stopped


# ------------------------------------------------------------------------------ exact shapes


def _transposed_batch(z):
    """A correct batched softmax, returned transposed: (K, B) for (B, K)."""
    x = z.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.ascontiguousarray((e / e.sum(axis=-1, keepdims=True)).astype(z.dtype).T)


@pytest.mark.parametrize("isolate", [False, True])
@pytest.mark.parametrize(
    ("fn", "batch", "message"),
    [
        (_as_row, False, "output: wrong shape (1, 3), expected (3,)"),
        (_as_column, False, "output: wrong shape (3, 1), expected (3,)"),
        (_transposed_batch, True, "output: wrong shape (3, 2), expected (2, 3)"),
    ],
    ids=["row", "column", "transposed-batch"],
)
def test_a_result_of_the_right_size_but_another_shape_is_a_shape_error(fn, batch, message, isolate):
    """Same number of values, other shape: reported as a shape problem naming both shapes."""
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [0.0, 0.5, 0.25]])
    report = validate(fn, vectors=vf, batch=batch, properties=False, isolate=isolate)
    assert [(r.status, r.reason) for r in report.results] == [("error", message)] * 2


# ------------------------------------------------------------------------------ signalling NaN

SIGNALLING_NAN = {"float32": (np.uint32, 0x7FA00000), "bfloat16": (np.uint16, 0x7FA0)}


def _signalling_nan(z):
    """A correct softmax whose first entry is a signalling NaN of the format."""
    out = good64(z)
    integer, bits = SIGNALLING_NAN[z.dtype.name]
    out[0] = np.array([bits], dtype=integer).view(z.dtype)[0]
    return out


@pytest.mark.parametrize("dtype", list(SIGNALLING_NAN))
def test_a_signalling_nan_result_fails_without_a_warning(dtype):
    """Converting a signalling NaN raises the invalid flag: the validator must judge it (a NaN
    where the exact value is finite fails) without printing numpy's RuntimeWarning."""
    vf = custom_vectors("softmax", dtype, [[1.0, 2.0, 3.0], [0.5, 0.25]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = validate(_signalling_nan, vectors=vf)
    assert report.failed == 2 and not report.passed
    assert all(r.status == "fail" and "got nan" in r.reason for r in report.failures)


# ------------------------------------------------------------------------------ batch composition


def batch_variant(z):
    """Deterministic but batch-variant, as a kernel that picks its reduction by the batch size:
    a batch of one row sums its exponentials in float64, a batch of several in float32, left to
    right. Both sums are accurate (the error is one common factor of the row); some outputs'
    last bits differ between the two."""
    x = z.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    if z.shape[0] == 1:
        total = e.sum(axis=-1, keepdims=True)
    else:
        partial = np.cumsum(e.astype(np.float32), axis=-1, dtype=np.float32)
        total = partial[..., -1:].astype(np.float64)
    return (e / total).astype(z.dtype)


def _batch_rows() -> list[list[float]]:
    """Rows of two lengths (7 and 13), several of each, so that every batch has several rows."""
    rng = np.random.default_rng(17)
    rows = [rng.normal(0, 3, 7) for _ in range(6)] + [rng.normal(0, 3, 13) for _ in range(5)]
    return [np.float32(row).astype(np.float64).tolist() for row in rows]


def test_the_batch_variant_kernel_is_batch_variant():
    """The kernel below the next tests does what it claims (else they would prove nothing)."""
    batch = np.array(_batch_rows()[:6], dtype=np.float32)
    together = batch_variant(batch)
    alone = np.concatenate([batch_variant(batch[i : i + 1]) for i in range(len(batch))])
    assert not np.array_equal(together, alone)
    assert np.array_equal(together, batch_variant(batch.copy()))  # deterministic


def test_determinism_and_shift_repeat_the_batch_and_batch_invariance_is_its_own_property():
    """Issue section 4: determinism and shift-invariance compare the batched run with the same
    batch again (a deterministic batch-variant kernel passes them); batch invariance (a row alone
    against the same row in its batch) is reported, outside the default verdict."""
    vf = custom_vectors("softmax", "float32", _batch_rows())
    report = validate(batch_variant, vectors=vf, batch=True)
    props = {p.name: p for p in report.properties}
    for name in ("determinism", "shift-invariance"):
        assert props[name].passed and props[name].checked == len(vf), (name, props[name].worst)
    invariance = props["batch-invariance"]
    assert invariance.checked == len(vf) and invariance.failed > 0 and not invariance.required
    assert re.fullmatch(
        r"tcId \d+: output\[\d+\]: .+ alone vs .+ in a batch of \d+", invariance.worst
    )
    assert report.passed, report.summary_line()
    assert "batch-invariance failed (not required)" in report.summary_line()
    required = validate(batch_variant, vectors=vf, batch=True, require=("batch-invariance",))
    assert not required.passed and required.failed == 0
    assert "properties failed: batch-invariance" in required.summary_line()
    assert {p.name: p for p in required.properties}["batch-invariance"].required
    assert report.to_dict()["properties"][-1]["required"] is True  # determinism


def test_batch_invariance_is_not_checked_one_row_at_a_time_and_require_needs_batches():
    vf = custom_vectors("softmax", "float32", _batch_rows()[:3])
    single = {p.name: p for p in validate(good64, vectors=vf).properties}["batch-invariance"]
    assert single.checked == 0 and "one row at a time" in single.note
    with pytest.raises(InputError, match="batch=True"):
        validate(good64, vectors=vf, require=("batch-invariance",))
    with pytest.raises(InputError, match=r"unknown property 'determinsm'.*batch-invariance"):
        validate(good64, vectors=vf, batch=False, require=("determinsm",))


def test_the_batched_property_calls_are_the_batches_of_the_run():
    """Determinism and shift-invariance hand over whole batches (the row counts of the run);
    batch invariance, rows alone (batches of one)."""
    vf = custom_vectors("softmax", "float32", _batch_rows())
    shapes: list[tuple[int, ...]] = []

    def recorded(z):
        shapes.append(z.shape)
        return batch_variant(z)

    validate(recorded, vectors=vf, batch=True)
    run, extra = shapes[:2], Counter(shapes[2:])
    assert run == [(6, 7), (5, 13)]
    assert extra == {(6, 7): 2, (5, 13): 2, (1, 7): 6 + 6, (1, 13): 5 + 5}  # + permutation's


def _reversed_softmax(z):
    """Accurate values in the wrong places: monotonicity fails on every row of distinct
    entries."""
    return good64(z)[::-1].copy()


def test_the_json_lists_every_failing_case_of_every_property(capsys):
    from rich.console import Console

    rows = [[1.0, 2.0, 3.0], [0.5, 0.25], [4.0, 4.0], [0.0, -1.0, -3.0, 2.0], [7.0]]
    vf = custom_vectors("softmax", "float32", rows)
    report = validate(_reversed_softmax, vectors=vf, properties=True)
    mono = {p["name"]: p for p in report.to_dict()["properties"]}["monotonicity"]
    broken = [t.tc_id for t in vf.tests() if len(set(t.inputs["z"].tolist())) > 1]
    assert mono["failed"] == len(broken) == 3
    assert [case["tcIds"] for case in mono["cases"]] == [[tc] for tc in broken]
    assert all(
        case["description"].startswith(f"tcId {case['tcIds'][0]}: ") for case in mono["cases"]
    )
    assert mono["worst"] in [case["description"] for case in mono["cases"]]
    passed = {p["name"]: p for p in report.to_dict()["properties"]}["range"]
    assert passed["cases"] == []
    # the terminal keeps the worst only, and says how many more
    report.render(Console(width=400, no_color=True))
    out = capsys.readouterr().out
    assert "and 2 more (see the JSON)" in out
    assert "and 2 more (see the JSON)" in report.to_markdown()


def test_the_report_names_the_test_with_the_largest_error():
    vf = custom_vectors("softmax", "float32", [[0.5, 0.25], [1000, 999], [1.0, 2.0, 3.0]])
    report = validate(division_free_f32, vectors=vf, properties=False)
    worst = max(report.results, key=lambda r: r.ulp)
    assert worst.ulp > 100 and report.max_ulp == worst.ulp
    assert report.to_dict()["max_ulp_tcId"] == worst.tc_id == report.max_ulp_tc_id
    assert f"max {worst.ulp:.3g} ulp (tcId {worst.tc_id}), median" in report.summary_line()
    assert f"{worst.ulp:.3g} (tcId {worst.tc_id})" in report.to_markdown()
    nothing = validate(wrong_dtype, vectors=vf, properties=False)
    assert nothing.to_dict()["max_ulp_tcId"] is None and "max — ulp, median" in str(nothing)


def test_cli_require_batch_invariance(tmp_path: Path, capsys):
    from symsoftmax import vectors
    from symsoftmax.cli import main

    (tmp_path / "cands.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_validation import batch_variant\n"
    )
    vectors.save(custom_vectors("softmax", "float32", _batch_rows()), tmp_path / "rows.json")
    argv = [
        "validate",
        f"{tmp_path / 'cands.py'}:batch_variant",
        "--vectors",
        str(tmp_path / "rows.json"),
        "--batch",
        "--json",
    ]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    invariance = {p["name"]: p for p in data["properties"]}["batch-invariance"]
    assert not invariance["passed"] and not invariance["required"] and invariance["cases"]
    assert main([*argv, "--require", "batch-invariance"]) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--require", "speed"])
    assert stop.value.code == 2
    assert "batch-invariance" in capsys.readouterr().err


def flush_subnormal_outputs(z):
    """A correct float32 softmax whose subnormal results are flushed to zero (FTZ hardware)."""
    x = z.astype(np.float32)
    e = np.exp(x - x.max())
    y = e / e.sum()
    return np.where(np.abs(y) < np.finfo(np.float32).tiny, np.float32(0), y)


def clamp_small_exponentials(z):
    """e^t := 0 for t < ln u: a 'skip negligible terms' bug, not a flush."""
    x = z.astype(np.float32)
    t = x - x.max()
    e = np.where(t < np.log(np.float32(2.0**-24)), np.float32(0), np.exp(t))
    return e / e.sum()


def test_flushed_subnormals_fail_and_are_diagnosed_as_flush_to_zero():
    vf = custom_vectors("softmax", "float32", [[0, -100], [0, -1], [3, -95, 1]])
    report = validate(flush_subnormal_outputs, vectors=vf, properties=False)
    assert not report.passed and report.failed == 2
    assert str(report.diagnosis).startswith("consistent with flush-to-zero: all 2 failing tests")
    assert "rerun with --ftz" in report.summary_line()
    assert json.loads(report.to_json())["diagnosis"] == report.diagnosis.to_list()
    assert validate(flush_subnormal_outputs, vectors=vf, rule=PassRule(ftz=True)).passed
    vf = custom_vectors("softmax", "float32", [[0, -100], [0, -17]])  # 4.1e-8: normal
    clamped = validate(clamp_small_exponentials, vectors=vf, properties=False)
    assert not clamped.passed and not clamped.diagnosis  # --ftz would not explain it


def test_the_json_report_names_the_kernel_class_and_the_rule():
    vf = custom_vectors("softmax", "bfloat16", [[0, 1, 2]])
    rule = PassRule(kernel=KernelClass("one-pass", block=64))
    data = json.loads(validate(good64, vectors=vf, rule=rule, properties=False).to_json())
    assert data["algorithm"] == {
        "class": "one-pass",
        "block": 64,
        "splits": 2,
        "exp2": False,
        "state": "float32",
        "exp": "faithful",
    }
    assert data["rule"].startswith("each component within the derived bound of one-pass (block 64)")


def test_sum_to_one_sums_in_the_state_format_and_stays_below_one():
    """bfloat16 data summed in float32 (the default state): the limit is γ_127 of float32 plus
    two bfloat16 roundings, not the 63.8 that bfloat16's own γ gave (vacuous, checking nothing)."""
    bf16, f32 = get_format("bfloat16"), get_format("float32")
    limit, form = sum_to_one_bound(128, bf16, f32)
    assert form == "worst-case" and limit < 3 * bf16.unit_roundoff
    assert sum_to_one_bound(128, bf16)[0] > 10 * limit  # summed in bfloat16 itself
    row = np.full(1024, 0.5)
    vf = custom_vectors("softmax", "bfloat16", [row])

    def bf16_sum(z):  # a bfloat16 running sum: stalls, every output far above 1/128
        e = np.exp(z.astype(np.float32) - np.float32(z.max())).astype(ml_dtypes.bfloat16)
        total = ml_dtypes.bfloat16(0)
        for term in e:
            total = ml_dtypes.bfloat16(total + term)
        return (e / total).astype(ml_dtypes.bfloat16)

    report = validate(bf16_sum, vectors=vf)
    assert not report.passed
    assert any(p.name == "sum-to-one" and not p.passed for p in report.properties)
