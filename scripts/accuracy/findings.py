"""Outside reports on onnxruntime, confirmed or refuted: a minimal reproduction and the suite.

Each :class:`Claim` is one report as it was filed, the rows that reproduce it, what the outputs
must show for the report to hold, and how to recognise the same behaviour among the failed
tests of the survey's cell for that op and format (the "witnesses"). :func:`check` runs the
rows through onnxruntime (:mod:`.onnx_runtime`) and the correctly rounded reference
(:func:`symsoftmax.reference.evaluate`, which gives NaN for any row holding a NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.reference import evaluate
from symsoftmax.validation import TestResult, ValidationReport

from .onnx_runtime import NODES, run_function

NAN, INF = math.nan, math.inf
Row = tuple[float, ...]


def _has_nan(values: np.ndarray) -> bool:
    return bool(np.isnan(values).any())


@dataclass(frozen=True)
class Claim:
    """One outside report: ``rows`` reproduce it in (``op``, a format of ``formats``) when
    ``shows`` holds for their onnxruntime outputs; ``witness`` picks the suite's failed tests
    that show it too."""

    report: str
    op: str
    formats: tuple[str, ...]
    rows: tuple[Row, ...]
    shows: Callable[[list[np.ndarray]], bool]
    witness: Callable[[TestResult], bool]


def _positive_despite_nan(outputs: list[np.ndarray]) -> bool:
    return any(bool((np.isfinite(out) & (out > 0)).any()) for out in outputs)


def _witness_positive_despite_nan(result: TestResult) -> bool:
    got = result.got or {}
    out = got.get("output")
    return (
        _has_nan(result.inputs["z"])
        and out is not None
        and bool((np.isfinite(out) & (out > 0)).any())
    )


def _order_dependent(outputs: list[np.ndarray]) -> bool:
    first, second = (float(out) for out in outputs)
    return first == -INF and math.isnan(second)


def _witness_neg_inf_despite_nan(result: TestResult) -> bool:
    out = (result.got or {}).get("output")
    return _has_nan(result.inputs["z"]) and out is not None and bool(np.all(out == -INF))


def _overflows(outputs: list[np.ndarray]) -> bool:
    return all(float(out) == INF for out in outputs)


def _witness_overflow(result: TestResult) -> bool:
    out = (result.got or {}).get("output")
    expected = result.expected.get("output")
    return (
        bool(np.isfinite(result.inputs["z"]).all())
        and out is not None
        and expected is not None
        and bool(np.isinf(out).any() & np.isfinite(expected).all())
    )


CLAIMS = (
    Claim(
        "float64 LogSoftmax returns finite positive values on rows with a NaN",
        "log_softmax",
        ("float64", "float32", "float16"),
        ((1.0, NAN, 2.0), (NAN, 1.0, 2.0)),
        _positive_despite_nan,
        _witness_positive_despite_nan,
    ),
    Claim(
        "ReduceLogSumExp gives −inf on [−inf, NaN] but NaN on [NaN, −inf]",
        "logsumexp",
        ("float64", "float32", "float16", "bfloat16"),
        ((-INF, NAN), (NAN, -INF)),
        _order_dependent,
        _witness_neg_inf_despite_nan,
    ),
    Claim(
        "float16 ReduceLogSumExp overflows on [2048, 2052]",
        "logsumexp",
        ("float16", "bfloat16", "float32"),
        ((2048.0, 2052.0),),
        _overflows,
        _witness_overflow,
    ),
)
"""The reports as filed; each is also tried in the other formats onnxruntime runs the op in."""


@dataclass
class Trial:
    """A claim tried in one format: outputs and references of its rows, the suite's witnesses."""

    fmt: str
    outputs: list[np.ndarray]
    references: list[np.ndarray]
    witnesses: list[TestResult] | None  # None: the survey did not run that cell
    reproduced: bool


@dataclass
class Finding:
    """A claim checked in each of its formats."""

    claim: Claim
    trials: list[Trial]

    def formats(self, reproduced: bool) -> list[str]:
        return [t.fmt for t in self.trials if t.reproduced == reproduced]


def check(claim: Claim, reports: dict[str, ValidationReport | None]) -> Finding:
    """Run ``claim``'s rows through onnxruntime and the reference in each of its formats; collect
    the witnesses among the failed tests of ``reports[fmt]`` (the survey's onnxruntime cell)."""
    trials = []
    for fmt in claim.formats:
        run = run_function(claim.op, fmt)
        dtype = get_format(fmt).numpy_dtype
        outputs = [np.asarray(run(np.array(row, dtype=dtype))) for row in claim.rows]
        references = [
            np.asarray(evaluate(claim.op, np.array(row), dtype=fmt).rounded) for row in claim.rows
        ]
        report = reports.get(fmt)
        witnesses = None
        if report is not None:
            witnesses = [r for r in report.results if r.failed and claim.witness(r)]
        trials.append(Trial(fmt, outputs, references, witnesses, claim.shows(outputs)))
    return Finding(claim, trials)


def _values(values: np.ndarray | Row, limit: int = 6) -> str:
    """The values in decimal (shortest round-trip form), elided in the middle when long."""
    flat = [_number(v) for v in np.atleast_1d(np.asarray(values, float)).ravel()]
    if len(flat) > limit:
        flat = [*flat[: limit // 2], f"… ({len(flat)} values) …", *flat[-(limit // 2) :]]
    return "[" + ", ".join(flat) + "]"


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "−inf" if v < 0 else "inf"
    return repr(float(v))


def render(findings: list[Finding], versions: str) -> list[str]:
    """The findings section of docs/accuracy.md (Markdown lines)."""
    lines = [
        "## Findings: onnxruntime",
        "",
        "Outside reports on onnxruntime's CPU kernels, each run as the minimal reproduction "
        "below (the one-node model of the survey) and looked for in the survey's own failed "
        f"tests of that op and format. {versions}. The reference is NaN for any row holding "
        "a NaN (IEEE 754-2019 §6.2: an operation on a quiet NaN gives a quiet NaN). "
        "`python scripts/accuracy_survey.py --findings` prints the reproductions alone.",
        "",
    ]
    for f in findings:
        c = f.claim
        yes, no = f.formats(reproduced=True), f.formats(reproduced=False)
        verdict = f"**confirmed** in {', '.join(yes)}" if yes else "**refuted**"
        if yes and no:
            verdict += f"; not reproduced in {', '.join(no)}"
        elif no:
            verdict += f" (tried in {', '.join(no)})"
        lines.append(f"- {c.report} ({NODES[c.op]}): {verdict}.")
        for t in f.trials:
            for row, out, ref in zip(c.rows, t.outputs, t.references, strict=True):
                lines.append(
                    f"  - {t.fmt}: {_values(row)} → onnxruntime {_values(out)}; "
                    f"reference {_values(ref)}"
                )
        for t in f.trials:
            lines.append(f"  - suite, {t.fmt}: {_witnesses(t.witnesses)}")
    lines.append("")
    return lines


def _witnesses(witnesses: list[TestResult] | None) -> str:
    if witnesses is None:
        return "the survey did not run this cell."
    if not witnesses:
        return "no failed test of the cell shows it."
    shown = ", ".join(
        f"tcId {w.tc_id} [{', '.join(w.flags)}] z = {_values(w.inputs['z'])} → "
        f"{_values((w.got or {})['output'])}"
        for w in witnesses[:2]
    )
    return f"{len(witnesses)} failed test(s) show it, e.g. {shown}."
