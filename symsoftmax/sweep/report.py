"""The report of an exhaustive run: identity, tally, verdict; text, Markdown, JSON and a plot.

The JSON (:meth:`ExhaustiveReport.to_json`) holds no time and no batching: the same rows give the
same bytes, from one process, from a Dask cluster, or from shards merged with
:func:`merge_reports` (``symsoftmax exhaustive --merge``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from symsoftmax.errors import InputError
from symsoftmax.jsonfile import load_json
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES, FAIL_CLASSES
from symsoftmax.sweep.runner import Job
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import BIN_EDGES, Tally
from symsoftmax.validation.checks import PassRule

__all__ = ["ExhaustiveReport", "merge_reports"]

FORMAT_NAME = "symsoftmax-exhaustive"


@dataclass
class ExhaustiveReport:
    """What an exhaustive run (or a shard of it) found."""

    candidate: str
    op: str
    dtype: str
    k: int
    rule: PassRule
    shard: tuple[int, int] = (0, 1)
    tally: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    @classmethod
    def start(cls, job: Job, shard: tuple[int, int]) -> ExhaustiveReport:
        fn = job.candidate
        name = fn if isinstance(fn, str) else f"{fn.__module__}.{fn.__qualname__}"
        return cls(name, job.op, job.dtype, job.k, job.rule, shard)

    @property
    def space(self) -> Space:
        return Space.of(self.dtype, self.k)

    @property
    def shard_range(self) -> tuple[int, int]:
        """Rows of this shard: [size·I/N, size·(I+1)/N)."""
        size = self.space.size
        index, count = self.shard
        return size * index // count, size * (index + 1) // count

    @property
    def complete(self) -> bool:
        """Whether every row of the space was checked."""
        return self.tally.ranges == [[0, self.space.size]]

    @property
    def passed(self) -> bool:
        return self.complete and self.tally.failed == 0

    def identity(self) -> dict[str, Any]:
        rule = {"mode": self.rule.mode, "max_ulp": self.rule.max_ulp, "ftz": self.rule.ftz}
        return {
            "candidate": self.candidate,
            "op": self.op,
            "dtype": self.dtype,
            "k": self.k,
            "rule": rule,
        }

    def to_json(self) -> str:
        """One JSON object, keys in a fixed order, no time: see the module docstring."""
        document = {
            "format": FORMAT_NAME,
            **self.identity(),
            "space_rows": self.space.size,
            "complete": self.complete,
            "passed": self.passed,
            **self.tally.to_json(),
        }
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str | os.PathLike[str]) -> ExhaustiveReport:
        """Read a report written by :meth:`to_json` (``--json`` output) from a file."""
        data = load_json(text)
        try:
            if data["format"] != FORMAT_NAME:
                raise ValueError
            rule = data["rule"]
            report = cls(
                str(data["candidate"]),
                str(data["op"]),
                str(data["dtype"]),
                int(data["k"]),
                PassRule(rule["mode"], rule["max_ulp"], bool(rule["ftz"])),
            )
            report.tally = Tally.from_json(data)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{os.fspath(text)}: not an exhaustive report (--json)") from None
        return report

    # ---------------------------------------------------------------- text

    def headline(self) -> str:
        t = self.tally
        verdict = "PASS" if self.passed else ("INCOMPLETE" if not self.complete else "FAIL")
        return (
            f"{verdict}: {self.op} {self.dtype} K={self.k}, {t.rows}/{self.space.size} rows "
            f"checked, {t.failed} failed; max {_ulp(t.max_ulp)} ulp, median ≤ "
            f"{_ulp(t.median_ulp())} ulp ({self.rule.describe()})"
        )

    def to_text(self) -> str:
        lines = [self.headline(), "rows by class:"]
        lines += [f"  {c}: {n}" for c, n in self.tally.counts.items() if n]
        lines += self._worst_lines("  ")
        for name in FAIL_CLASSES:
            first = self.tally.examples[name][:3]
            if first and name != CALL_FAILED:
                shown = "; ".join(f"row {r['row']} [{', '.join(r['inputs'])}]" for r in first)
                lines.append(f"first rows {name}: {shown}")
        lines += [f"  call failed at row {p['row']}: {p['problem']}" for p in self.tally.problems]
        return "\n".join(lines) + "\n"

    def _worst_lines(self, indent: str) -> list[str]:
        lines = ["worst rows (inputs as bit patterns):"] if self.tally.worst else []
        for row in self.tally.worst:
            lines.append(
                f"{indent}row {row['row']} [{', '.join(row['inputs'])}]: got "
                f"[{', '.join(row['got'])}] expected [{', '.join(row['expected'])}] "
                f"{_ulp(row['ulp'])} ulp ({row['class']})"
            )
        return lines

    def to_markdown(self) -> str:
        t = self.tally
        out = [f"# Exhaustive: {self.candidate}", "", f"**{self.headline()}**", ""]
        out += ["| class | rows |", "| --- | ---: |"]
        out += [f"| {c} | {t.counts[c]} |" for c in CLASSES]
        out += ["", "## Error histogram (largest error of each row, ulps)", ""]
        out += ["| up to (ulp) | rows |", "| ---: | ---: |"]
        for index, count in enumerate(t.histogram):
            if count:
                out.append(f"| {_edge(index)} | {count} |")
        out += ["", "## Worst rows", "", "| row | inputs | got | expected | ulp | class |"]
        out.append("| ---: | --- | --- | --- | ---: | --- |")
        for row in t.worst:
            out.append(
                f"| {row['row']} | {' '.join(row['inputs'])} | {' '.join(row['got'])} | "
                f"{' '.join(row['expected'])} | {_ulp(row['ulp'])} | {row['class']} |"
            )
        for name in FAIL_CLASSES:
            if t.examples[name]:
                out += ["", f"## First rows: {name}", ""]
                out += [f"- row {r['row']}: {' '.join(r['inputs'])}" for r in t.examples[name]]
        return "\n".join(out) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> None:
        """The error histogram as a bar chart (PNG, SVG or PDF by suffix; matplotlib)."""
        from symsoftmax.validation.plot import pyplot, save_figure

        plt = pyplot()
        counts = self.tally.histogram
        labels = [_edge(i) for i in range(len(counts))]
        used = [i for i, c in enumerate(counts) if c] or [0]
        shown = range(used[0], used[-1] + 1)
        figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
        axes.bar([labels[i] for i in shown], [counts[i] for i in shown], color="C0")
        axes.set_yscale("log")
        axes.set_xlabel(f"largest error of the row, ulps of {self.dtype} (bin upper edge)")
        axes.set_ylabel("rows")
        axes.tick_params(axis="x", labelrotation=90, labelsize=6)
        axes.set_title(self.headline()[:110], fontsize=8)
        save_figure(figure, path)


def merge_reports(reports: Sequence[ExhaustiveReport]) -> ExhaustiveReport:
    """One report of shard reports of the same run (InputError if they differ or overlap)."""
    if not reports:
        raise InputError("--merge needs at least one report")
    first = reports[0]
    merged = ExhaustiveReport(first.candidate, first.op, first.dtype, first.k, first.rule)
    for report in reports:
        if report.identity() != first.identity():
            raise InputError("--merge: the reports are of different runs (candidate, op, …)")
        try:
            merged.tally = merged.tally.merge(report.tally)
        except ValueError:
            raise InputError("--merge: two reports cover the same rows") from None
        merged.seconds += report.seconds
    return merged


def _ulp(value: float | str) -> str:
    return "inf" if value == "inf" or not math.isfinite(float(value)) else f"{float(value):.4g}"


def _edge(index: int) -> str:
    if index < len(BIN_EDGES):
        return f"{BIN_EDGES[index]:.3g}"
    return "> 2^20" if index == len(BIN_EDGES) else "inf"
