"""The report of an exhaustive run: identity, tally, verdict; text, Markdown, JSON and a plot.

The JSON (:meth:`ExhaustiveReport.to_json`) holds no time and no batching: the same rows give the
same bytes, from one process, from a Dask cluster, or from shards merged with
:func:`merge_reports` (``symsoftmax exhaustive --merge``). Its identity names the candidate, the
digest of its source file (:mod:`symsoftmax.sweep.source`) and the symsoftmax version; read back
(:meth:`ExhaustiveReport.from_json`), every field is reconciled (:mod:`symsoftmax.sweep.reconcile`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import symsoftmax
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import load_json
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES, FAIL_CLASSES
from symsoftmax.sweep.reconcile import (
    KERNEL_KEYS,
    TALLY_KEYS,
    Field,
    read_identity,
    read_tally,
    require_equal,
    require_keys,
)
from symsoftmax.sweep.runner import Job
from symsoftmax.sweep.source import source_digest
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import BIN_EDGES, Tally
from symsoftmax.validation.checks import PassRule

__all__ = ["ExhaustiveReport", "merge_reports"]

FORMAT_NAME = "symsoftmax-exhaustive"
IDENTITY_KEYS = ("candidate", "source", "symsoftmax_version", "op", "dtype", "k", "rule")
REPORT_KEYS = ("format", *IDENTITY_KEYS, "space_rows", "complete", "passed", *TALLY_KEYS)
"""The fields of the JSON report, in order."""


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
    source: str | None = None  # sha256:<hex> of the candidate's file (sweep.source)
    version: str = ""  # of symsoftmax

    @classmethod
    def start(cls, job: Job, shard: tuple[int, int]) -> ExhaustiveReport:
        """An empty report of ``job``: its identity, with the digest of the candidate's source
        and this symsoftmax's version."""
        fn = job.candidate
        name = fn if isinstance(fn, str) else f"{fn.__module__}.{fn.__qualname__}"
        report = cls(name, job.op, job.dtype, job.k, job.rule, shard)
        report.source = source_digest(fn)
        report.version = symsoftmax.__version__
        return report

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
        """The run's identity; its rule holds the kernel class the per-component bound is
        derived for, its fields and its description (``kernel_class``)."""
        kernel = self.rule.kernel
        rule = {
            "mode": self.rule.mode,
            "max_ulp": self.rule.max_ulp,
            "ftz": self.rule.ftz,
            "kernel": {name: getattr(kernel, name) for name in KERNEL_KEYS},
            "kernel_class": kernel.describe(self.space.fmt),
        }
        return {
            "candidate": self.candidate,
            "source": self.source,
            "symsoftmax_version": self.version,
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
        """Read a report written by :meth:`to_json` (``--json`` output) from a file, every field
        reconciled (:mod:`symsoftmax.sweep.reconcile`): InputError naming the file and field."""
        at = Field(os.fspath(text))
        data = require_keys(load_json(text), REPORT_KEYS, at)
        require_equal(data["format"], FORMAT_NAME, at / "format", "an exhaustive report's (--json)")
        identity = read_identity(data, at)
        report = cls(
            identity["candidate"],
            identity["op"],
            identity["dtype"],
            identity["k"],
            identity["rule"],
            source=identity["source"],
            version=identity["symsoftmax_version"],
        )
        space = report.space
        require_equal(data["space_rows"], space.size, at / "space_rows", "the space's size")
        report.tally = read_tally(data, space, report.op, (0, space.size), at)
        for name, value in (("complete", report.complete), ("passed", report.passed)):
            require_equal(data[name], value, at / name, "what the counts and ranges give")
        return report

    # ---------------------------------------------------------------- text

    def headline(self) -> str:
        t = self.tally
        verdict = "PASS" if self.passed else ("INCOMPLETE" if not self.complete else "FAIL")
        return (
            f"{verdict}: {self.op} {self.dtype} K={self.k}, {t.rows}/{self.space.size} rows "
            f"checked, {t.failed} failed; max {_ulp(t.max_ulp)} ulp, median ≤ "
            f"{_ulp(t.median_ulp())} ulp ({self.rule.describe(self.op, self.space.fmt)})"
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
    """One report of shard reports of the same run: the same identity (candidate, source
    digest, symsoftmax version, op, dtype, K, rule) and disjoint ranges, else InputError. Each
    report was reconciled when read (:meth:`ExhaustiveReport.from_json`), so the counts of the
    merged one add up too."""
    if not reports:
        raise InputError("--merge needs at least one report")
    first = reports[0]
    merged = dataclasses.replace(first, shard=(0, 1), tally=Tally(), seconds=0.0)
    for report in reports:
        differ = [k for k, v in report.identity().items() if first.identity()[k] != v]
        if differ:
            raise InputError(
                f"--merge: the reports are of different runs ({', '.join(differ)} differ)"
            )
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
