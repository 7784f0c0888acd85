"""The sink and soft-cap kernel zoo of tests/sink_kernels.py: each kernel does what it says, and
its verdicts (issue 21: correct kernels pass, each defect fails, without the test naming the
check that should catch it).

Fast tests: correct kernels agree with the reference on random rows; each defect shows the
symptom its trackers report; every kernel's verdict on the float32 quick suite; the isolated
worker passes sink= and softcap= to a function that takes them; custom rows carry a sink.
Slow (``-m slow``): every kernel × format on the standard suite under its declared class.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sink_kernels as sk

import symsoftmax.reference as ref
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.ops import SINK_OPS
from symsoftmax.rounding import round_array, ulp
from symsoftmax.validation import PassRule, validate
from symsoftmax.validation.componentwise import KernelClass
from symsoftmax.validation.report import ValidationReport
from symsoftmax.validation.sources import suite_vectors
from symsoftmax.vectors import VectorFile, from_rows, generate
from symsoftmax.vectors.rows import from_rows_file

ALL = {**sk.CORRECT, **sk.BUGGY}
INF = math.inf
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"
KERNELS_FILE = Path(sk.__file__)


def as_format(values: Any, fmt: str) -> np.ndarray:
    """``values`` rounded to ``fmt``, as an array of its NumPy dtype."""
    return round_array(np.asarray(values, dtype=np.float64), fmt).astype(
        get_format(fmt).numpy_dtype
    )


def declared_rule(kernel: sk.Kernel) -> PassRule:
    """The per-component rule of the class the kernel declares."""
    return PassRule(
        kernel=KernelClass(
            kernel.algorithm, block=kernel.block or 1, splits=kernel.splits or 2, exp2=kernel.exp2
        )
    )


def judged(name: str, vf: VectorFile) -> ValidationReport:
    """The kernel's report on ``vf`` under its declared class (no properties: they call the
    kernel without the keywords)."""
    kernel = ALL[name]
    return validate(kernel.fn, vectors=vf, properties=False, name=name, rule=declared_rule(kernel))


@functools.cache
def quick(op: str, fmt: str) -> VectorFile:
    return generate(op, fmt, "quick", 0)


# ---------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("name", ALL)
def test_each_kernel_is_declared(name: str) -> None:
    kernel = ALL[name]
    params = inspect.signature(kernel.fn).parameters
    assert {"sink", "softcap"} <= params.keys()  # validate's auto policy passes them
    assert "temperature" not in params  # temperature tests: skipped by policy
    assert kernel.op in SINK_OPS and kernel.algorithm in ("two-pass", "one-pass", "split")
    assert (kernel.block is not None) == (kernel.algorithm == "one-pass")
    assert (kernel.splits is not None) == (kernel.algorithm == "split")
    if isinstance(kernel.fn, functools.partial):  # it runs with what it declares
        for key in ("block", "splits", "op", "exp2"):
            declared = getattr(kernel, key)
            if declared not in (None, False):
                assert kernel.fn.keywords[key] == declared
    assert bool(kernel.source and kernel.exposed_by) == (name in sk.BUGGY)


def test_every_defect_of_the_issue_has_a_kernel() -> None:
    bugs = {
        k.fn.keywords.get("bug") for k in sk.BUGGY.values() if isinstance(k.fn, functools.partial)
    }
    assert set(sk.SINK_BUGS) | set(sk.CAP_BUGS) <= bugs
    assert sk.BUGGY["wrong_head_sink"].fn is sk.multi_head_softmax


# ------------------------------------------------------------------------ correct kernels


SINKS = [None, -INF, -3.0, 0.0, 2.5, 100.0]
CAPS = [None, 30.0, 50.0]


@pytest.mark.parametrize("fmt", sk.FORMATS)
@pytest.mark.parametrize("name", sk.CORRECT)
def test_correct_kernels_agree_with_the_reference(name: str, fmt: str) -> None:
    """Within a few ulps of the correctly rounded value on random rows (softmax: relative, the
    float32 state's argument error u·|t_j| with |t_j| ≲ 25; the log forms: absolute, in ulps of
    max(|value|, 1)); 16-bit formats: within their own ulp or two, with and without sink and
    cap."""
    kernel = sk.CORRECT[name]
    rng = np.random.default_rng(5)
    worst = 0.0
    for k, sink, cap in zip((1, 3, 17, 40, 70, 5), SINKS, CAPS * 2, strict=True):
        z = as_format(rng.normal(0, 4, size=k), fmt)
        got = kernel.fn(z, sink=sink, softcap=cap)
        want = getattr(ref, kernel.op)(z, fmt, sink=sink, softcap=cap)
        assert got.dtype == z.dtype and got.shape == want.shape
        g, w = got.astype(np.float64), want.astype(np.float64)
        scale = np.abs(w) if kernel.op == "softmax" else np.maximum(np.abs(w), 1.0)
        err = np.where(g == w, 0.0, np.abs(g - w) / ulp(scale, fmt))
        worst = max(worst, float(np.max(err, initial=0.0)))
    assert worst <= (32.0 if fmt == "float32" else 2.0)


@pytest.mark.parametrize("name", sk.CORRECT)
def test_correct_kernels_are_exact_on_the_edge_rows(name: str) -> None:
    """Empty range with a sink: softmax 0, log_softmax −inf, logsumexp = s; +inf capped to c;
    a sink of −inf is the plain op."""
    kernel = sk.CORRECT[name]
    cases = [
        ([], 2.5, None),
        ([-INF, -INF], 1.0, 50.0),
        ([0.0], 0.0, None),
        ([INF, 1.0], None, 30.0),
    ]
    for row, sink, cap in cases:
        z = as_format(row, "float32")
        got = kernel.fn(z, sink=sink, softcap=cap)
        want = getattr(ref, kernel.op)(z, "float32", sink=sink, softcap=cap)
        if row == [INF, 1.0]:  # capped logits: tanh rounded, not exact
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            continue
        np.testing.assert_array_equal(got, want, str((row, sink, cap)))
    z = as_format([1.0, -2.0, 0.5], "float32")
    plain = kernel.fn(z)
    np.testing.assert_array_equal(kernel.fn(z, sink=-INF), plain)


# ------------------------------------------------------------------------------- the defects


def test_sink_dropped_on_the_generic_path() -> None:
    """The tracker's numbers: [0] with a sink of 0.85 gives 1.0 instead of ~0.30; a row of a
    multiple of 4 takes the vectorised path and is right."""
    bug = sk.BUGGY["sink_dropped_generic_path"].fn
    z = as_format([0.0], "float32")
    assert bug(z, sink=0.85)[0] == 1.0
    assert sk.softmax(z, sink=0.85)[0] == pytest.approx(0.30, abs=0.005)
    four = as_format([0.0, 1.0, -1.0, 2.0], "float32")
    np.testing.assert_array_equal(bug(four, sink=0.85), sk.softmax(four, sink=0.85))


def test_wrong_head_sink_uses_the_other_heads_sink() -> None:
    z = as_format([0.5, -1.0, 2.0], "float32")
    got = sk.multi_head_softmax(z, sink=3.0)
    np.testing.assert_array_equal(got, sk.softmax(z, sink=sk.OTHER_HEAD_SINK))
    assert not np.array_equal(got, sk.softmax(z, sink=3.0))
    np.testing.assert_array_equal(sk.multi_head_softmax(z), sk.softmax(z))  # no sinks: plain


def test_sink_outside_the_max_overflows_and_gives_nan_on_an_empty_range() -> None:
    """A finite sink of 100 gives lse = inf (e^{100 − max z} overflows float32), an empty key
    range an all-NaN lse (−inf + inf) where the exact value is the sink."""
    bug = sk.BUGGY["sink_outside_max_logsumexp"].fn
    z = as_format([0.0, 0.5, -1.0], "float32")
    assert bug(z, sink=100.0) == INF and sk.logsumexp(z, sink=100.0) == pytest.approx(100.0)
    for empty in ([], [-INF, -INF]):
        e = as_format(empty, "float32")
        assert np.isnan(bug(e, sink=2.5)) and sk.logsumexp(e, sink=2.5) == np.float32(2.5)


def test_split_sink_counted_twice_across_a_hole_and_not_at_all_on_an_empty_range() -> None:
    bug = sk.BUGGY["split_sink_per_split_logsumexp"].fn  # 4 splits
    right = functools.partial(sk.kernel, op="logsumexp", algorithm="split", splits=4)
    hole = as_format([0.0, -1.0, -INF, -INF, -INF, -INF, 1.0, 2.0], "float32")  # split 1, 2 empty
    s = 0.5
    twice = math.log(float(np.exp(hole.astype(np.float64)).sum()) + 2 * math.exp(s))
    assert float(bug(hole, sink=s)) == pytest.approx(twice, rel=1e-6)
    assert float(right(hole, sink=s)) == pytest.approx(
        float(ref.logsumexp(hole, "float32", sink=s))
    )
    no_hole = as_format([0.0, -1.0, 3.0, -INF, -INF, 0.5, 1.0, 2.0], "float32")
    assert float(bug(no_hole, sink=s)) == pytest.approx(float(right(no_hole, sink=s)), rel=1e-6)
    masked = as_format([-INF] * 8, "float32")
    assert bug(masked, sink=s) == -INF and right(masked, sink=s) == np.float32(s)


def test_sink_discarded_is_the_plain_op() -> None:
    z = as_format([0.5, -1.0, 2.0], "float32")
    np.testing.assert_array_equal(sk.BUGGY["sink_discarded"].fn(z, sink=1.0), sk.softmax(z))


def test_tanh_by_exps_is_nan_past_88() -> None:
    bug = sk.BUGGY["tanh_by_exps"].fn
    z = as_format([88.0 * 50, 0.0], "float32")  # |z/c| = 88: e^88 is finite in float32
    np.testing.assert_allclose(bug(z, softcap=50.0), sk.softmax(z, softcap=50.0), rtol=1e-5)
    beyond = as_format([90.0 * 50, 0.0], "float32")
    assert np.isnan(bug(beyond, softcap=50.0)).all()
    assert np.isfinite(sk.softmax(beyond, softcap=50.0)).all()


def test_the_wrong_caps_change_the_logits_as_stated() -> None:
    x = as_format([120.0, 30.0, -70.0, -INF], "float32").astype(np.float32)
    c = 50.0
    right = sk.capped(x, c)
    np.testing.assert_allclose(right[:3], c * np.tanh(x[:3].astype(np.float64) / c), rtol=1e-6)
    assert right[3] == -INF  # a mask stays a mask
    product = sk.capped(x, c, "cap_as_product")
    assert product[0] == pytest.approx(120 * math.tanh(120 / c), rel=1e-6) and product[0] > c
    np.testing.assert_array_equal(sk.capped(x, c, "cap_skipped"), x)
    z = as_format([120.0, 30.0], "float32")  # after log₂e: c·tanh(z·log₂e/c) in base 2
    got = sk.BUGGY["cap_after_log2e"].fn(z, softcap=c)
    y = c * np.tanh(z.astype(np.float64) * math.log2(math.e) / c)
    want = np.exp2(y - y.max()) / np.exp2(y - y.max()).sum()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert not np.allclose(got, sk.softmax(z, softcap=c), rtol=1e-3)


# ------------------------------------------------------------------- verdicts (float32 quick)


@pytest.mark.parametrize("name", ALL)
def test_verdict_on_the_float32_quick_suite(name: str) -> None:
    """Correct kernels pass their class's per-component bound with the sink and soft-cap
    tests judged (none skipped but the temperature tests); every defect fails."""
    report = judged(name, quick(ALL[name].op, "float32"))
    assert report.passed == (name in sk.CORRECT), report.summary_line()
    skipped = [r for r in report.results if r.status == "skipped"]
    assert all("temperature" in r.inputs for r in skipped)
    if name in sk.CORRECT:
        sinks = [r for r in report.results if "sink" in r.inputs or "softcap" in r.inputs]
        assert sinks and all(r.status == "pass" for r in sinks)


# --------------------------------------------------------------------- the isolated worker


def test_isolated_worker_passes_sink_and_softcap_to_a_function_taking_them() -> None:
    """The attack: ``validate file.py:fn`` in auto mode (isolated) skipped every sink and
    soft-cap test, so a kernel dropping the sink passed; now the worker says which keywords the
    function takes."""
    vf = quick("softmax", "float32")
    special = {t.tc_id for t in vf.tests() if {"sink", "softcap"} & t.inputs.keys()}
    good = validate(f"{KERNELS_FILE}:softmax", vectors=vf, isolate=True, properties=False)
    assert good.passed, good.summary_line()
    ran = {r.tc_id for r in good.results if r.status == "pass" and r.tc_id in special}
    assert ran == special
    bad = validate(f"{KERNELS_FILE}:multi_head_softmax", vectors=vf, isolate=True, properties=False)
    assert not bad.passed


def test_isolated_worker_still_skips_what_a_function_does_not_take(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text(
        "import numpy as np\n"
        "def softmax(z, temperature=None):\n"
        "    t = (z - z.max()) / (1 if temperature is None else temperature)\n"
        "    e = np.exp(t.astype(np.float64))\n"
        "    return (e / e.sum()).astype(z.dtype)\n"
    )
    report = validate(
        f"{plain}:softmax", vectors=quick("softmax", "float32"), isolate=True, properties=False
    )
    skipped = [r for r in report.results if r.status == "skipped"]
    assert skipped and all({"sink", "softcap"} & r.inputs.keys() for r in skipped)
    assert all("temperature" not in r.inputs or "sink" in r.inputs for r in skipped)


# ---------------------------------------------------------------------------- custom rows


HOLE = [0, -1, "-inf", "-inf", "-inf", "-inf", 1, 2]  # 4 splits: splits 1 and 2 fully masked


def test_custom_rows_carry_a_sink_and_expose_the_split_double_count(tmp_path: Path) -> None:
    """--from-rows takes "sink"/"softcap" per row; on a row whose mask hole empties whole
    splits the per-split sink fails where the correct split kernel passes. (The standard suite
    has no such row: its split_sink_per_split verdicts fail on the empty-range rows only.)"""
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"z": HOLE, "sink": 0.5}, {"z": [1, 2, 3], "softcap": 2}]))
    out = tmp_path / "rows-f32.json"
    argv = ["vectors", "--op", "logsumexp", "--dtype", "float32", "--from-rows", str(rows)]
    assert main([*argv, "--out", str(out)]) == 0
    vf = from_rows_file("logsumexp", "float32", rows)
    assert [float(t.inputs["sink"]) for t in vf.tests() if "sink" in t.inputs] == [0.5]
    assert judged("split_logsumexp_s3", vf).passed
    right = functools.partial(sk.kernel, op="logsumexp", algorithm="split", splits=4)
    rule = declared_rule(sk.BUGGY["split_sink_per_split_logsumexp"])
    assert validate(right, vectors=out, properties=False, rule=rule).passed
    assert not judged("split_sink_per_split_logsumexp", vf).passed


@pytest.mark.parametrize(
    ("row", "op", "message"),
    [
        ({"z": [1], "softcap": 0}, "softmax", "row 1: softcap must be one positive finite"),
        ({"z": [1], "softcap": "inf"}, "softmax", "row 1: softcap must be one positive finite"),
        ({"z": [1], "sink": [1, 2]}, "softmax", "row 1: sink must be one float32 value"),
        ({"z": [1], "sink": 1}, "jacobian", "row 1: op jacobian takes no sink"),
    ],
)
def test_bad_custom_sinks_and_caps_are_one_line_errors(
    row: dict[str, Any], op: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as info:
        from_rows(op, "float32", [row])
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------- verdicts (slow)


def verdict_cases() -> list[Any]:
    """Every kernel × format, grouped by (op, format) so that cases share a loaded suite."""
    cases = [(name, fmt) for name, k in ALL.items() for fmt in k.formats]
    return [
        pytest.param(name, fmt, id=f"{name}-{fmt}")
        for name, fmt in sorted(cases, key=lambda c: (ALL[c[0]].op, c[1]))
    ]


@pytest.fixture(scope="module")
def _shared_cache() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
        yield


@functools.lru_cache(maxsize=1)
def standard_suite(op: str, fmt: str) -> VectorFile:
    """The standard suite (what ``validate(..., suite="standard")`` loads), read once per run."""
    return suite_vectors(op, fmt, "standard", 0)


@pytest.mark.slow
@pytest.mark.usefixtures("_shared_cache")
@pytest.mark.parametrize(("name", "fmt"), verdict_cases())
def test_verdict_on_the_standard_suite(name: str, fmt: str) -> None:
    """The issue's done-when: correct sink and soft-cap kernels of every class pass the
    standard suite in float32, float16 and bfloat16; every defect fails."""
    report = judged(name, standard_suite(ALL[name].op, fmt))
    print(f"VERDICT {name} {fmt} {'PASS' if report.passed else 'FAIL'} {report.max_ulp:.4g}")
    assert report.op == ALL[name].op and report.dtype == fmt
    assert report.passed == (name in sk.CORRECT), report.summary_line()
