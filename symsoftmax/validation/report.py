"""The validation report: per-test results, properties, summary; JSON, Markdown and rich table.

Statistics: ``max_ulp`` is the largest component error in ulps over all tests that produced
outputs (∞ when a NaN or inf was misplaced), given by test ``max_ulp_tc_id`` (the first of
equals); ``median_ulp`` is the median over those tests of each test's largest component error.
JSON writes non-finite numbers as the strings "inf", "-inf" and "nan" (JSON has no such
numbers), everywhere in the report, and every input and output value as a float.hex string;
the schema is in docs/validation.md, "The JSON report".
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import get_format
from symsoftmax.rounding import format_hex
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.diagnosis import Diagnosis, shown_row
from symsoftmax.validation.properties import PropertyResult
from symsoftmax.vectors.model import Note

__all__ = ["TestResult", "ValidationReport"]

FloatArray = npt.NDArray[np.float64]
STATUSES = ("pass", "fail", "error", "not-run", "skipped")
PRINTED_SHOWN = 20  # printed outputs listed in the Markdown and terminal reports


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def _numbers(values: FloatArray) -> Any:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        return [_numbers(row) for row in array]
    return [float(f"{v:.6g}") if math.isfinite(v) else _number(v) for v in array.tolist()]


def _hex(values: FloatArray) -> Any:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return format_hex(float(array))
    return (
        [_hex(row) for row in array] if array.ndim > 1 else [format_hex(v) for v in array.tolist()]
    )


def _short(values: FloatArray, limit: int = 6) -> str:
    """A compact display of an array: hex values, elided in the middle when long."""
    flat = [format_hex(v) for v in np.asarray(values, dtype=np.float64).ravel().tolist()]
    if len(flat) > limit:
        flat = [*flat[: limit // 2], f"… ({len(flat)} values) …", *flat[-(limit // 2) :]]
    return "[" + ", ".join(flat) + "]"


@dataclass
class TestResult:
    """The verdict on one test."""

    __test__ = False

    tc_id: int
    flags: tuple[str, ...]
    comment: str
    result: str  # the test's kind: "valid" or "acceptable"
    # "pass", "fail" (inaccurate), "error" (raised, timed out, crashed, bad shape or dtype),
    # "not-run" (the run stopped before it), "skipped" (by policy: a temperature not taken)
    status: str
    reason: str
    inputs: dict[str, FloatArray]
    expected: dict[str, FloatArray]
    got: dict[str, FloatArray] | None
    ulp: float = math.nan
    rel_error: float = math.nan
    bound_u: float = math.nan  # the bound on the normwise relative error, in units of u
    bound_form: str = ""
    answer: str = ""
    worst_key: str = ""
    worst_index: tuple[int, ...] = ()
    spread: float = math.nan  # max − min of the finite inputs z
    seconds: float = 0.0
    ulps: dict[str, FloatArray] = field(default_factory=dict)  # error of every component
    output: str = ""  # what the candidate printed during this test's call (isolated runs)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error", "not-run")

    def worst_component(self) -> tuple[float, float] | None:
        """(got, expected) at the worst component, when there are outputs."""
        if self.got is None or not self.worst_key or self.got[self.worst_key].size == 0:
            return None  # no outputs, or an empty row (K = 0)
        return (
            float(self.got[self.worst_key][self.worst_index]),
            float(self.expected[self.worst_key][self.worst_index]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tcId": self.tc_id,
            "flags": list(self.flags),
            "comment": self.comment,
            "result": self.result,
            "status": self.status,
            "reason": self.reason,
            "ulp": _number(self.ulp),
            "relError": _number(self.rel_error),
            "boundU": _number(self.bound_u),
            "boundForm": self.bound_form,
            "answer": self.answer,
            "worst": {"output": self.worst_key, "index": list(self.worst_index)},
            "ulps": {k: _numbers(v) for k, v in self.ulps.items()},
            "input": {k: _hex(v) for k, v in self.inputs.items()},
            "got": None if self.got is None else {k: _hex(v) for k, v in self.got.items()},
            "expected": {k: _hex(v) for k, v in self.expected.items()},
            "output": self.output,
        }


@dataclass
class ValidationReport:
    """Everything one validation found. ``passed`` is True when every test that was not
    skipped by policy ran and passed (one at least) and every checked property held."""

    op: str
    dtype: str
    rule: PassRule
    candidate: str
    source: str
    results: list[TestResult]
    properties: list[PropertyResult] = field(default_factory=list)
    notes: dict[str, Note] = field(default_factory=dict)
    seconds_total: float = 0.0
    seconds_candidate: float = 0.0
    other_output: list[tuple[str, str]] = field(default_factory=list)  # (when, text) printed
    # outside the tests' own calls: at import, during property checks
    stopped: str = ""  # why the run stopped early (alike failures in a row), in one line
    # what the failures are consistent with (validation.diagnosis), empty when nothing is
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    sandbox: str = ""  # what confined the candidate (symsoftmax.validation.sandbox), or "none: …"

    # ---------------------------------------------------------------- summary

    @property
    def mode(self) -> str:
        return self.rule.mode

    @property
    def tests(self) -> int:
        """Number of tests run (skipped ones excluded)."""
        return sum(r.status != "skipped" for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.results)

    @property
    def not_run(self) -> int:
        return sum(r.status == "not-run" for r in self.results)

    @property
    def printed(self) -> list[tuple[str, str]]:
        """(where, text) of everything the candidate printed, captured (isolated runs)."""
        at_import = [(when, text) for when, text in self.other_output if text and when == "import"]
        later = [(when, text) for when, text in self.other_output if text and when != "import"]
        tests = [(f"tcId {r.tc_id}", r.output) for r in self.results if r.output]
        return at_import + tests + later  # in the order it was printed

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if r.failed]

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def passed(self) -> bool:
        return (
            self.failed == 0
            and not any(p.fails_verdict for p in self.properties)
            and self.tests > 0
        )

    def _ulps(self) -> list[float]:
        return [r.ulp for r in self.results if r.got is not None and not math.isnan(r.ulp)]

    @property
    def max_ulp(self) -> float:
        ulps = self._ulps()
        return max(ulps) if ulps else math.nan

    @property
    def max_ulp_tc_id(self) -> int | None:
        """The tcId of the (first) test with the largest error, None when no test has one."""
        ulps = [r for r in self.results if r.got is not None and not math.isnan(r.ulp)]
        return max(ulps, key=lambda r: r.ulp).tc_id if ulps else None

    def _max_ulp_text(self, unit: str = "") -> str:
        """'N{unit} (tcId T)', or 'N{unit}' when no test has an error: the largest error and
        the test that gives it."""
        tc = self.max_ulp_tc_id
        return _fmt_ulp(self.max_ulp) + unit + ("" if tc is None else f" (tcId {tc})")

    @property
    def median_ulp(self) -> float:
        ulps = self._ulps()
        return float(statistics.median(ulps)) if ulps else math.nan

    @property
    def by_flag(self) -> dict[str, dict[str, int]]:
        """flag → {"tests": n, "failed": m} (tests without flags under "(none)")."""
        table: dict[str, dict[str, int]] = {}
        for r in self.results:
            if r.status == "skipped":
                continue
            for flag in r.flags or ("(none)",):
                row = table.setdefault(flag, {"tests": 0, "failed": 0})
                row["tests"] += 1
                row["failed"] += int(r.failed)
        return dict(sorted(table.items()))

    @property
    def bounds_applied(self) -> dict[str, int]:
        """How many tests were judged by each form of the bound (bound mode)."""
        return dict(Counter(r.bound_form for r in self.results if r.bound_form))

    def worst(self, count: int = 10) -> list[TestResult]:
        """The failures first, then the largest ulp errors."""

        def key(r: TestResult) -> tuple[int, float]:
            return (int(r.failed), r.ulp if not math.isnan(r.ulp) else math.inf)

        ranked = sorted((r for r in self.results if r.status != "skipped"), key=key, reverse=True)
        return ranked[:count]

    def _kernel_json(self) -> dict[str, Any]:
        """The kernel class the per-component bound assumed (docs/validation.md)."""
        kernel = self.rule.kernel
        return {
            "class": kernel.algorithm,
            "block": kernel.block,
            "splits": kernel.splits,
            "exp2": kernel.uses_exp2,
            "state": kernel.state_format(get_format(self.dtype)).name,
            "exp": kernel.exp,
        }

    def _rule_text(self) -> str:
        """The pass rule as applied to this op and format."""
        return self.rule.describe(self.op, get_format(self.dtype))

    def summary_line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        failed_props = [p.name for p in self.properties if p.fails_verdict]
        not_required = [p.name for p in self.properties if not p.passed and not p.required]
        counts = Counter(r.status for r in self.results)
        extra = "".join(
            f"; {counts[status]} {label}"
            for status, label in (
                ("fail", "failed"),
                ("error", "errors"),
                ("not-run", "not run"),
                ("skipped", "skipped by policy (not counted)"),
            )
            if counts[status]
        )
        if self.stopped:
            extra += f"; {self.stopped}"
        diagnosis = self.diagnosis.text(said=self.stopped)  # a wrong dtype said once
        if diagnosis:
            extra += f"; {diagnosis}"
        if failed_props:
            extra += f"; properties failed: {', '.join(failed_props)}"
        if not_required:
            extra += f"; {', '.join(not_required)} failed (not required)"
        if self.printed:
            times = len(self.printed)
            extra += f"; the candidate printed output {times} time{'s' * (times != 1)} (see below)"
        return (
            f"{verdict}: {self.op} {self.dtype}, {self.tests - self.failed}/{self.tests} tests "
            f"passed ({self._rule_text()}); max {self._max_ulp_text(' ulp')}, median "
            f"{_fmt_ulp(self.median_ulp)} ulp{extra}"
        )

    def __str__(self) -> str:
        return self.summary_line()

    # ---------------------------------------------------------------- renderings

    def to_dict(self, *, all_results: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "passed": self.passed,
            "op": self.op,
            "dtype": self.dtype,
            "mode": self.rule.mode,
            "maxUlpAllowed": None if self.rule.max_ulp is None else _number(self.rule.max_ulp),
            "ftz": self.rule.ftz,
            "algorithm": self._kernel_json(),
            "candidate": self.candidate,
            "vectors": self.source,
            "tests": self.tests,
            "failed": self.failed,
            "skipped": self.skipped,
            "not_run": self.not_run,
            "stopped": self.stopped,
            "sandbox": self.sandbox,
            "diagnosis": self.diagnosis.to_list(),
            "rule": self._rule_text(),
            "max_ulp": _number(self.max_ulp),
            "max_ulp_tcId": self.max_ulp_tc_id,
            "median_ulp": _number(self.median_ulp),
            "bounds": self.bounds_applied,
            "by_flag": self.by_flag,
            "properties": [p.to_dict() for p in self.properties],
            "seconds": {
                "total": _number(self.seconds_total),
                "candidate": _number(self.seconds_candidate),
            },
            "failures": [r.to_dict() for r in self.failures],
            "printed": [{"where": where, "text": text} for where, text in self.printed],
        }
        if all_results:
            data["results"] = [r.to_dict() for r in self.results]
        return data

    def to_json(self, *, indent: int | None = 1, all_results: bool = False) -> str:
        """The report as JSON (docs/validation.md, "The JSON report"); a non-finite float left
        unspelled is a ValueError here, never the non-JSON ``NaN``/``Infinity``."""
        data = self.to_dict(all_results=all_results)
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)

    def to_markdown(self, *, worst: int = 10) -> str:
        lines = [
            f"# Validation of `{self.candidate}`: {self.op}, {self.dtype}",
            "",
            f"**{'PASS' if self.passed else 'FAIL'}** — pass rule: {self._rule_text()}.",
            f"Vectors: {self.source}.",
            *([f"Sandbox: {_md(self.sandbox)}."] if self.sandbox else []),
            "",
            "| tests | passed | failed | not run | skipped by policy | max ulp | median ulp |",
            "|---|---|---|---|---|---|---|",
            f"| {self.tests} | {self.tests - self.failed} | {self.failed - self.not_run} | "
            f"{self.not_run} | {self.skipped} | "
            f"{self._max_ulp_text()} | {_fmt_ulp(self.median_ulp)} |",
            "",
        ]
        if self.stopped:
            lines += [f"Stopped early: {_md(self.stopped)}.", ""]
        if self.diagnosis:
            lines += ["## Diagnosis", ""]
            lines += [f"* {f.cause}: {_md(f.text())}" for f in self.diagnosis] + [""]
        if self.bounds_applied:
            forms = ", ".join(f"{form} on {n} tests" for form, n in self.bounds_applied.items())
            lines += [f"Bounds applied: {forms} (see docs/validation.md).", ""]
        lines += ["## By flag", "", "| flag | tests | failed | catches |", "|---|---|---|---|"]
        for flag, row in self.by_flag.items():
            note = self.notes.get(flag)
            catches = _md(note.catches if note else "")
            lines.append(f"| {flag} | {row['tests']} | {row['failed']} | {catches} |")
        if self.properties:
            lines += ["", "## Properties", "", "| property | checked | failed | bound | worst |"]
            lines.append("|---|---|---|---|---|")
            for p in self.properties:
                lines.append(
                    f"| {_property_name(p)} | {p.checked} | {p.failed} | {_md(p.bound)} | "
                    f"{_md(p.shown())} |"
                )
        lines += ["", "## Worst cases", ""]
        lines += ["| tcId | flags | status | ulp | input | got | expected | why |"]
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in self.worst(worst):
            got = _short(next(iter(r.got.values()))) if r.got else "—"
            key = r.worst_key or next(iter(r.expected))
            lines.append(
                f"| {r.tc_id} | {', '.join(r.flags)} | {r.status} | {_fmt_ulp(r.ulp)} | "
                f"{_md(_short(r.inputs['z']))} | {_md(got)} | {_md(_short(r.expected[key]))} | "
                f"{_md(r.reason)} |"
            )
        if self.printed:
            lines += ["", "## Printed by the candidate", "", "| where | text |", "|---|---|"]
            for where, text in self.printed[:PRINTED_SHOWN]:
                lines.append(f"| {where} | {_md(_escaped(text))} |")
            if len(self.printed) > PRINTED_SHOWN:
                lines.append(f"| … | {len(self.printed) - PRINTED_SHOWN} more (see the JSON) |")
        return "\n".join(lines) + "\n"

    def render(self, console: Any = None, *, worst: int = 10) -> None:
        """Print the summary, the per-flag table, the properties and the worst cases (rich)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        console.print(self.summary_line(), markup=False, highlight=False)
        if self.sandbox.startswith("none: the platform"):  # a sandbox is the rule: say its lack
            console.print(f"sandbox {self.sandbox}", markup=False, highlight=False)
        if self.bounds_applied:
            forms = ", ".join(f"{form} on {n} tests" for form, n in self.bounds_applied.items())
            console.print(f"bounds applied: {forms}", markup=False, highlight=False)
        flags = Table(title="by flag")
        for column in ("flag", "tests", "failed", "catches"):
            flags.add_column(column)
        for flag, row in self.by_flag.items():
            note = self.notes.get(flag)
            if row["failed"]:
                flags.add_row(
                    flag, str(row["tests"]), str(row["failed"]), note.catches if note else ""
                )
        if flags.row_count:
            console.print(flags)
        if self.properties:
            props = Table(title="properties")
            for column in ("property", "checked", "failed", "worst"):
                props.add_column(column)
            for p in self.properties:
                props.add_row(_property_name(p), str(p.checked), str(p.failed), p.shown())
            console.print(props)
            # the bounds are in the JSON and Markdown; here only which allowance was used
            one_pass = [p.name for p in self.properties if "one-pass" in p.bound]
            if one_pass:
                console.print(
                    f"one-pass allowances (docs/validation.md): {', '.join(one_pass)}",
                    markup=False,
                    highlight=False,
                )
        # Numbers stay on one line; the input and the reason, which are long, follow the table
        # one line per case, so the table stays readable in an 80-column terminal.
        cases = Table(title="worst cases")
        for column in ("tcId", "flags", "status", "ulp", "at", "got", "expected"):
            numeric = column in ("tcId", "ulp", "got", "expected")
            cases.add_column(column, no_wrap=numeric, overflow="fold")
        details = []
        for r in self.worst(worst):
            component = r.worst_component()
            at = f"{r.worst_key}{list(r.worst_index)}" if component else ""
            cases.add_row(
                str(r.tc_id),
                ", ".join(r.flags),
                r.status,
                _fmt_ulp(r.ulp),
                at,
                f"{component[0]:.9g}" if component else "—",
                f"{component[1]:.9g}" if component else "—",
            )
            why = f": {r.reason}" if r.reason else ""
            details.append(f"  tcId {r.tc_id}: input {shown_row(r.inputs['z'])}{why}")
        console.print(cases)
        for line in details:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self.printed:
            console.print("printed by the candidate:", markup=False, highlight=False)
            for where, text in self.printed[:PRINTED_SHOWN]:
                line = f"  {where}: {_escaped(text)}"
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            if len(self.printed) > PRINTED_SHOWN:
                more = len(self.printed) - PRINTED_SHOWN
                console.print(f"  … {more} more", markup=False, highlight=False)


def _property_name(p: PropertyResult) -> str:
    """The property's name, marked when it does not fail the verdict."""
    return p.name if p.required else f"{p.name} (not required)"


def _fmt_ulp(x: float) -> str:
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "inf"
    return f"{x:.3g}"


def _escaped(text: str, limit: int = 300) -> str:
    """Captured text on one line: control characters escaped (\\n, \\x1b), cut at ``limit``."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: 2 * limit])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
