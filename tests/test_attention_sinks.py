"""attention_as_softmax with a per-head sink and a soft-cap (issue 21 §3), and the adapter's
place under validation/ (§4).

The kernels (tests/sink_attention_kernels.py) add the sink as GPT-OSS does (concatenate,
softmax, drop) and cap the scaled scores as Gemma 2 does. Fast: what the kernel receives, the
float32 quick-suite verdicts (correct kernels pass with every sink and soft-cap test run; a
kernel ignoring the sink or the cap, or reading another head's sink, fails), the log-sum-exp
with the sink, the isolated worker and the CLI. Slow: the standard suite in three formats.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sink_attention_kernels as ak

import symsoftmax.reference as ref
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.testing import attention_as_softmax
from symsoftmax.validation import validate
from symsoftmax.validation.report import ValidationReport
from symsoftmax.vectors import VectorFile, generate

KERNELS = Path(ak.__file__)
BOTH = {"sinks": "sinks", "softcap": "softcap"}
_QUICK: dict[tuple[str, str], VectorFile] = {}


def quick(op: str, fmt: str) -> VectorFile:
    if (op, fmt) not in _QUICK:
        _QUICK[op, fmt] = generate(op, fmt, "quick", 0)
    return _QUICK[op, fmt]


def special(report: ValidationReport, name: str) -> list[Any]:
    """The results of the tests carrying ``name`` ("sink" or "softcap")."""
    return [r for r in report.results if name in r.inputs]


def judged(kernel: Any, op: str = "softmax", fmt: str = "float32", **options: Any) -> Any:
    candidate = attention_as_softmax(kernel, op=op, **options)
    return validate(candidate, vectors=quick(op, fmt), batch=True, properties=False)


# ------------------------------------------------------------------ what the kernel receives


class Recorder:
    """A correct kernel that keeps the keywords and head count of each call."""

    def __init__(self, framework: str = "numpy") -> None:
        self.calls: list[dict[str, Any]] = []
        self.kernel = ak.torch_attention if framework == "torch" else ak.attention

    def __call__(self, q: Any, k: Any, v: Any, **keywords: Any) -> Any:
        self.calls.append({"heads": q.shape[1], **keywords})
        return self.kernel(q, k, v, **keywords)


def test_the_sink_goes_per_head_and_head_0_carries_the_tests() -> None:
    rec = Recorder()
    candidate = attention_as_softmax(rec, head_dim=4, **BOTH)
    z = np.array([1.0, 2.0, 3.0], np.float32)
    got = candidate(z, sink=2.5, softcap=50.0)
    want = ref.softmax(z, "float32", sink=2.5, softcap=50.0)
    np.testing.assert_allclose(got, want, rtol=4e-7)  # a float32 kernel: a few ulps
    call = rec.calls[-1]
    assert call["heads"] == 2 and call["softcap"] == 50.0 and type(call["softcap"]) is float
    sinks = call["sinks"]
    assert isinstance(sinks, np.ndarray) and sinks.dtype == np.float32 and sinks.shape == (2,)
    assert sinks[0] == 2.5 and sinks[1] == -math.inf  # the other head: no sink
    candidate(z, sink=-math.inf)  # the test's sink is −inf: the other head gets 0
    assert rec.calls[-1]["sinks"].tolist() == [-math.inf, 0.0]
    candidate(z)  # a test without sink or cap: one head, neither keyword
    assert rec.calls[-1] == {"heads": 1, "attn_mask": rec.calls[-1]["attn_mask"], "scale": 1.0}


@pytest.mark.parametrize("layout", ["bhsd", "bshd"])
def test_two_heads_in_either_layout_read_head_0(layout: str) -> None:
    def kernel(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None, sinks: Any = None):
        to = (0, 2, 1, 3)  # bshd ↔ bhsd
        if layout == "bshd":
            q, k, v = (np.transpose(a, to) for a in (q, k, v))
        out = ak.attention(q, k, v, attn_mask, scale, sinks)
        return np.transpose(out, to) if layout == "bshd" else out

    candidate = attention_as_softmax(kernel, layout=layout, head_dim=2, sinks="sinks")
    z = np.array([0.0, 0.5, -1.0, 0.25, 3.0], np.float32)
    np.testing.assert_allclose(
        candidate(z, sink=1.5), ref.softmax(z, "float32", sink=1.5), rtol=4e-7
    )


def test_the_candidate_takes_only_the_keywords_it_was_given() -> None:
    """The validator's auto policy reads the signature: a plain attention candidate must keep
    skipping the sink and soft-cap tests, and one with sinks= must not take softcap=."""
    import inspect

    plain = attention_as_softmax(ak.attention)
    sinks = attention_as_softmax(ak.attention, sinks="s_aux")
    assert list(inspect.signature(plain).parameters) == ["z"]
    assert list(inspect.signature(sinks).parameters) == ["z", "sink"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'softcap'"):
        sinks(np.ones(3, np.float32), softcap=30.0)
    report = judged(ak.attention)
    assert report.passed, report.summary_line()
    skipped = special(report, "sink") + special(report, "softcap")
    assert skipped and all(r.status == "skipped" for r in skipped)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sinks": "attn_mask"}, "sinks 'attn_mask' is a keyword the adapter passes itself"),
        ({"softcap": "softmax_scale"}, "softcap 'softmax_scale' is a keyword the adapter"),
        ({"sinks": "not a name"}, "sinks must name a keyword argument of the kernel"),
        ({"softcap": 3}, "softcap must name a keyword argument of the kernel, got 3"),
        ({"sinks": "x", "softcap": "x"}, "sinks and softcap name the same keyword 'x'"),
    ],
)
def test_bad_keyword_names_are_one_line_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        attention_as_softmax(ak.attention, **options)


# ------------------------------------------------------------- verdicts on the quick suite


@pytest.mark.parametrize("options", [BOTH, {"sinks": "sinks"}, {"softcap": "softcap"}])
def test_correct_kernel_passes_with_the_sink_and_cap_tests_run(options: dict[str, str]) -> None:
    report = judged(ak.attention, **options)
    assert report.passed, report.summary_line()
    taken = {{"sinks": "sink", "softcap": "softcap"}[option] for option in options}
    keyed = [r for r in report.results if {"sink", "softcap"} & r.inputs.keys()]
    ran = [r for r in keyed if {"sink", "softcap"} & r.inputs.keys() <= taken]
    assert ran and all(r.status == "pass" for r in ran)
    assert all(r.status == "skipped" for r in keyed if r not in ran)


@pytest.mark.parametrize(
    ("kernel", "flag"),
    [
        (ak.sink_ignored, "attention-sink"),
        (ak.other_head_sink, "attention-sink"),
        (ak.cap_ignored, "soft-cap"),
    ],
)
def test_a_kernel_ignoring_the_sink_or_cap_or_taking_another_heads_fails(
    kernel: Any, flag: str
) -> None:
    report = judged(kernel, **BOTH)
    failed = [r for r in report.results if r.status not in ("pass", "skipped")]
    assert failed, report.summary_line()
    assert all(flag in r.flags for r in failed)


def test_other_heads_sink_fails_where_ignoring_it_passes() -> None:
    """The row whose sink is −inf (plain softmax): dropping the sink is right there, and
    reading head 1's sink, 0, is not: the heads carry different sinks."""
    wrong = {r.tc_id for r in judged(ak.other_head_sink, **BOTH).results if r.status == "fail"}
    dropped = {r.tc_id for r in judged(ak.sink_ignored, **BOTH).results if r.status == "fail"}
    only = wrong - dropped
    rows = {r.tc_id: r for r in judged(ak.attention, **BOTH).results}
    assert only and all(float(rows[t].inputs["sink"]) == -math.inf for t in only)


def test_the_log_sum_exp_includes_the_sink() -> None:
    good = judged(ak.attention_lse, "logsumexp", **BOTH)
    assert good.passed, good.summary_line()
    assert special(good, "sink") and all(r.status == "pass" for r in special(good, "sink"))
    bad = judged(ak.lse_without_sink, "logsumexp", **BOTH)
    failed = [r for r in bad.results if r.status not in ("pass", "skipped")]
    assert failed and all("attention-sink" in r.flags for r in failed)


def test_torch_kernel_passes_with_a_sink_tensor() -> None:
    torch = pytest.importorskip("torch")
    rec = Recorder("torch")
    report = judged(rec, framework="torch", **BOTH)
    assert report.passed, report.summary_line()
    sinks = [c["sinks"] for c in rec.calls if "sinks" in c]
    assert sinks and all(isinstance(s, torch.Tensor) and s.shape == (2,) for s in sinks)
    assert all(s.dtype == torch.float32 for s in sinks)


# ------------------------------------------------------------- isolated worker and the CLI


def test_isolated_worker_passes_sinks_to_the_attention_kernel() -> None:
    vf = quick("softmax", "float32")
    candidate = attention_as_softmax(f"{KERNELS}:attention", **BOTH)
    report = validate(candidate, vectors=vf, batch=True, isolate=True, properties=False)
    assert report.passed, report.summary_line()
    ran = special(report, "sink") + special(report, "softcap")
    assert ran and all(r.status == "pass" for r in ran)
    bad = attention_as_softmax(f"{KERNELS}:other_head_sink", **BOTH)
    assert not validate(bad, vectors=vf, batch=True, isolate=True, properties=False).passed


def test_cli_sinks_and_softcap_keyword(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["validate", "--attention", "--suite", "quick", "--worst", "0", "--no-properties"]
    assert main([*common, f"{KERNELS}:attention", "--sinks", "sinks",
                 "--softcap-keyword", "softcap"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("PASS") and "skipped by policy" in out  # the temperature tests
    assert main([*common, f"{KERNELS}:other_head_sink", "--sinks", "sinks"]) == 1
    capsys.readouterr()
    assert main(["validate", f"{KERNELS}:attention", "--sinks", "sinks"]) == 2
    assert capsys.readouterr().err.strip().endswith("--sinks needs --attention")
    assert main(["validate", f"{KERNELS}:attention", "--softcap-keyword", "softcap"]) == 2
    assert capsys.readouterr().err.strip().endswith("--softcap-keyword needs --attention")


# ---------------------------------------------------------------- the adapter's module (§4)


def test_validation_imports_nothing_from_testing() -> None:
    """The attention adapter that validation/ uses lives in validation/: no module there
    imports symsoftmax.testing (the one import that ran back up a floor)."""
    root = Path(__file__).resolve().parent.parent / "symsoftmax" / "validation"
    upward = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            upward += [f"{path.name}: {n}" for n in names if n.startswith("symsoftmax.testing")]
    assert not upward


def test_testing_attention_reexports_the_adapter() -> None:
    import symsoftmax.testing.attention as old
    import symsoftmax.validation.attention as new

    assert old.attention_as_softmax is new.attention_as_softmax
    assert old.AttentionSoftmax is new.AttentionSoftmax


# ----------------------------------------------------------------------- the standard suite


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("op", ["softmax", "logsumexp"])
def test_standard_suite_with_sinks_and_caps(op: str, fmt: str) -> None:
    kernel = ak.attention if op == "softmax" else ak.attention_lse
    candidate = attention_as_softmax(kernel, op=op, head_dim=256, **BOTH)
    report = validate(candidate, op, fmt, suite="standard", batch=True, timeout=None)
    assert report.passed, report.summary_line()
    ran = special(report, "sink") + special(report, "softcap")
    assert ran and all(r.status == "pass" for r in ran)
