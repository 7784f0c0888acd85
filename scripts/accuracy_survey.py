#!/usr/bin/env python
"""Accuracy survey: how accurate are the softmax functions people use? Writes docs/accuracy.md.

For each op with vector files (softmax, log_softmax, logsumexp, the Jacobian, the softmax and
log_softmax VJPs, cross-entropy; symsoftmax.ops.VECTOR_OPS) and format (float64, float32,
float16, bfloat16), every implementation is validated against the reference vectors with
``symsoftmax.validate`` (the default pass rule: the Blanchard–Higham–Higham bound, properties
included), and the table gives the largest and the median error in ulps and the verdict — one
table per op, in the manner of Zimmermann et al.'s libm accuracy tables. Implementations
(scripts/accuracy/): NumPy written naively (no max shift) and max-shifted, SciPy
(scipy.special), PyTorch and JAX on the CPU, onnxruntime's CPU kernels (one-node ONNX models)
and PyTorch's scaled_dot_product_attention as a softmax (symsoftmax.testing.attention_as_softmax)
under each backend that runs on the CPU. A framework that is not installed is listed as
unavailable; a format a library has no kernel for, as unsupported. The findings section
confirms or refutes outside reports on onnxruntime. ``--gpu`` adds the GPU section (PyTorch
CUDA, torch.compile, every SDPA backend, Triton's fused softmax, JAX), on a machine with CUDA.

    python scripts/accuracy_survey.py                 # standard suite → docs/accuracy.md
    python scripts/accuracy_survey.py --quick -o accuracy-quick.md
    python scripts/accuracy_survey.py --gpu           # with the GPU section (needs CUDA)
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib
import math
import multiprocessing
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from accuracy import claims_more, findings
from accuracy.attention import sdpa_softmax
from accuracy.frameworks import jax_jit, numpy_naive, numpy_shifted, scipy_special, torch_eager
from accuracy.gpu import gpu_loaders
from accuracy.model import Declared, Implementation, Unavailable
from accuracy.more_frameworks import MORE_LOADERS, paddle_before_tensorflow
from accuracy.onnx_runtime import onnxruntime_cpu
from accuracy.sinks import SINK_LOADERS

import symsoftmax
from symsoftmax.atomic import write_atomic
from symsoftmax.ops import VECTOR_OPS
from symsoftmax.validation import ValidationReport, validate
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.componentwise import COMPONENTWISE_OPS

FORMATS = ("float64", "float32", "float16", "bfloat16")
ROOT = Path(__file__).resolve().parent.parent
ONNXRUNTIME = "onnxruntime"

Loaders = dict[str, Callable[[], Implementation]]

LOADERS: Loaders = {
    "numpy-naive": numpy_naive,
    "numpy-shifted": numpy_shifted,
    "scipy": scipy_special,
    "torch": torch_eager,
    "jax": jax_jit,
    ONNXRUNTIME: onnxruntime_cpu,
    "sdpa-math": lambda: sdpa_softmax("math"),
    "sdpa-flash": lambda: sdpa_softmax("flash"),  # PyTorch's CPU flash-attention kernel
    **MORE_LOADERS,  # TensorFlow, PaddlePaddle, MLX, OpenVINO, tinygrad, numba (issue 20)
    **SINK_LOADERS,  # sinks and soft-caps as model code writes them, flex_attention (issue 21)
}
"""The CPU section's implementations by command-line name (the GPU ones: accuracy.gpu)."""


# ----------------------------------------------------------------------------- survey


@dataclass
class Cell:
    """One op × format × implementation: its report, or why there is none."""

    report: ValidationReport | None
    problem: str = ""  # "not provided", "unsupported", or an error that stopped the validation
    detail: str = ""  # why unsupported (the library's own message)
    normwise: bool | None = None  # the verdict of --mode normwise (the rule before issue 17)
    normwise_failed: tuple[str, ...] = ()  # what failed under it: "tcId N (flags; variant)"
    declared: Declared | None = None  # the class the implementation computes as, if declared
    declared_report: ValidationReport | None = None  # the verdict under that class

    def text(self) -> str:
        if self.report is None:
            return self.problem
        r = self.report
        verdict = "**PASS**" if r.passed else "FAIL"
        text = f"{_ulp(r.max_ulp)} / {_ulp(r.median_ulp)} — {verdict}"
        if self.declared is not None and self.declared_report is not None:
            again = "**PASS**" if self.declared_report.passed else "FAIL"
            text += f" · {again} as {self.declared.describe()}"
        return text

    def why(self) -> str:
        """Why it failed: the failing flags and properties."""
        if self.report is None or self.report.passed:
            return ""
        r = self.report
        flags = [
            f"{flag} ({row['failed']}/{row['tests']})"
            for flag, row in r.by_flag.items()
            if row["failed"]
        ]
        props = [
            f"{p.name} ({p.worst})" if p.worst else p.name for p in r.properties if not p.passed
        ]
        parts = []
        if flags:
            parts.append("failed tests by flag: " + ", ".join(flags))
        if props:
            parts.append("properties: " + ", ".join(props))
        if r.failures:
            parts.append(f"e.g. tcId {r.failures[0].tc_id}: {r.failures[0].reason}")
        return "; ".join(parts)


def _changes(
    implementations: list[Implementation],
    cells: Cells,
    ops: tuple[str, ...],
    formats: tuple[str, ...],
) -> list[str]:
    """The cells whose verdict the per-component rule changed from --mode normwise's, each with
    its evidence against the exact value (the worst failing test: input, output, exact value,
    error and bound) and why (the class the implementation computes as, and its verdict)."""
    lines = []
    for op in ops:
        for fmt in formats:
            for impl in implementations:
                cell = cells.get((op, fmt, impl.name))
                if cell is None or cell.report is None or cell.normwise is None:
                    continue
                if cell.normwise == cell.report.passed:
                    continue
                before = "PASS" if cell.normwise else "FAIL"
                after = "PASS" if cell.report.passed else "FAIL"
                lines.append(
                    f"- **{impl.name}, {op}, {fmt}**: {before} → {after}. " + _evidence(cell)
                )
    return lines


def _evidence(cell: Cell) -> str:
    """What the per-component verdict rests on, and the declared class that explains it."""
    report = cell.report
    assert report is not None
    if report.passed:
        failed = cell.normwise_failed
        shown = "; ".join(failed[:3]) + ("; …" if len(failed) > 3 else "")
        if failed and all("sink" in f or "softcap" in f for f in failed):
            return (
                "Every component is within the per-component bound, which judges a sink and a "
                "soft-cap as part of the row; the normwise bound does not model them (it bounds "
                f"the row without the sink or the cap), and only such tests failed it: {shown}."
            )
        return (
            "Every component is within the per-component bound of the default class; under "
            f"the normwise rule these failed: {shown or 'a property'}."
        )
    failing = [r for r in report.failures if r.status == "fail"] or report.failures
    text = ""
    if failing:
        worst = max(failing, key=lambda r: r.ulp if math.isfinite(r.ulp) else -1.0)
        z = np.asarray(worst.inputs["z"], dtype=np.float64)
        shown = ", ".join(f"{v:.9g}" for v in z[:4]) + (", …" if z.size > 4 else "")
        text += f"Worst test: tcId {worst.tc_id} ({', '.join(worst.flags)}), K = {z.size}, "
        text += f"z = [{shown}]: {worst.reason}. "
    else:
        bad = [p for p in report.properties if not p.passed]
        if bad:
            text += f"Property {bad[0].name}: {bad[0].worst}. "
    if report.diagnosis:
        text += f"The report: {report.diagnosis}. "
    if cell.declared is not None and cell.declared_report is not None:
        verdict = "PASS" if cell.declared_report.passed else "FAIL"
        text += (
            f"Why: {cell.declared.why}; judged as {cell.declared.describe()} it is "
            f"{verdict} (max {_ulp(cell.declared_report.max_ulp)} ulp)."
        )
    else:
        text += (
            "Cause: the report's diagnosis above, found by judging the recorded outputs again."
            if report.diagnosis
            else "**Not adjudicated**: no class or cause is recorded for this change."
        )
    return text


def _described(result: Any) -> str:
    """A failing test in a line: its tcId, flags and whether it has a sink or soft-cap."""
    variant = [k for k in ("sink", "softcap") if k in result.inputs]
    flags = ", ".join(result.flags)
    return f"tcId {result.tc_id} ({flags}{'; ' + ', '.join(variant) if variant else ''})"


def _declared(
    implementations: list[Implementation], cells: Cells, op: str, formats: tuple[str, ...]
) -> list[str]:
    """The declared classes a table's cells were also judged under, with the evidence."""
    lines = []
    for impl in implementations:
        for fmt in formats:
            cell = cells.get((op, fmt, impl.name))
            if cell is not None and cell.declared is not None:
                lines.append(
                    f"- {impl.name}, {fmt}: {cell.declared.describe()} — {cell.declared.why}."
                )
    return lines


def _ulp(x: float) -> str:
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞"
    return f"{x:.3g}"


Cells = dict[tuple[str, str, str], Cell]


def load(loaders: Loaders, names: list[str]) -> tuple[list[Implementation], dict[str, str]]:
    """The implementations of ``names`` that load here, and why each other one does not."""
    implementations, unavailable = [], {}
    for name in names:
        try:
            implementations.append(loaders[name]())
        except ImportError as exc:
            unavailable[name] = f"not installed ({exc.name or exc})"
        except Unavailable as exc:
            unavailable[name] = str(exc)
    return implementations, unavailable


Suites = str | dict[str, str]
"""One suite for every op, or a suite per op (``--derivative-suite``)."""


def _page_suite(suite: Suites) -> str:
    """The suite of softmax, log_softmax and logsumexp: the one the page names."""
    return suite if isinstance(suite, str) else suite["softmax"]


def suite_of(suite: Suites, op: str) -> str:
    """The suite ``op`` is surveyed on."""
    return suite if isinstance(suite, str) else suite[op]


def survey(
    implementations: list[Implementation],
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    suite: Suites,
) -> Cells:
    """Validate every implementation of every op in every format (the table's cells)."""
    cells: Cells = {}
    for op in ops:
        for fmt in formats:
            for impl in implementations:
                cells[(op, fmt, impl.name)] = cell = _cell(impl, op, fmt, suite_of(suite, op))
                print(f"{op:15} {fmt:9} {impl.name:34} {cell.text()}", file=sys.stderr)
    return cells


def _cell(impl: Implementation, op: str, fmt: str, suite: str) -> Cell:
    fn = impl.functions.get(op)
    if fn is None:
        return Cell(None, "not provided")
    if (op, fmt) in impl.unsupported:
        return Cell(None, "unsupported", impl.unsupported[(op, fmt)])
    run = functools.partial(
        validate, fn, op, fmt, suite=suite, framework=impl.framework, timeout=60.0, name=impl.name
    )
    try:
        cell = Cell(run())
        if op in COMPONENTWISE_OPS:  # the rule before the per-component one, for the changes
            normwise = run(rule=PassRule("normwise"))
            cell.normwise = normwise.passed
            cell.normwise_failed = tuple(_described(r) for r in normwise.failures)
        declared = impl.classes.get((op, fmt))
        if declared is not None and cell.report is not None and not cell.report.passed:
            cell.declared = declared
            cell.declared_report = run(rule=PassRule(ftz=declared.ftz, kernel=declared.kernel))
    except Exception as exc:  # a library that cannot run this format at all
        return Cell(None, f"error: {type(exc).__name__}")
    return cell


# ----------------------------------------------------------------------------- rendering


def render_tables(
    implementations: list[Implementation],
    cells: Cells,
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    level: str = "##",
    suite: Suites = "",
) -> list[str]:
    """One table per op (the implementations that provide it), with why cells failed or did
    not run; the implementations without the op are named under the table. With a suite per
    op, a table on another suite than the page's says so under its heading."""
    lines: list[str] = []
    for op in ops:
        rows = [i for i in implementations if op in i.functions]
        cell = functools.partial(_cell_of, cells, op)
        lines += [f"{level} {op}", ""]
        if not isinstance(suite, str) and suite[op] != _page_suite(suite):
            lines += [f"On the **{suite[op]}** suite (`--derivative-suite`).", ""]
        if rows:
            lines += ["| implementation | " + " | ".join(formats) + " |"]
            lines.append("|---|" + "---|" * len(formats))
        for impl in rows:
            texts = [cell(fmt, impl).text() for fmt in formats]
            lines.append(f"| {impl.name} | " + " | ".join(texts) + " |")
        absent = [i.name for i in implementations if op not in i.functions]
        if absent:
            lines += ["", "Not provided by: " + ", ".join(absent) + "."]
        unsupported = [
            f"- {impl.name}, {fmt}: {cell(fmt, impl).detail}"
            for impl in rows
            for fmt in formats
            if cell(fmt, impl).problem == "unsupported"
        ]
        if unsupported:
            lines += ["", "Unsupported (the library has no kernel for the format):", ""]
            lines += unsupported
        declared = _declared(rows, cells, op, formats)
        if declared:
            lines += [
                "",
                "Judged again as the class the implementation computes as "
                '("· PASS as …" in the table):',
                "",
                *declared,
            ]
        reasons = [
            f"- {impl.name}, {fmt}: {cell(fmt, impl).why()}"
            for impl in rows
            for fmt in formats
            if cell(fmt, impl).why()
        ]
        if reasons:
            lines += ["", "Why the failures failed:", "", *reasons]
        lines.append("")
    return lines


def _cell_of(cells: Cells, op: str, fmt: str, impl: Implementation) -> Cell:
    """The cell, or "pending" while a run with workers has not reached it."""
    return cells.get((op, fmt, impl.name)) or Cell(None, "pending")


def _versions(implementations: list[Implementation], unavailable: dict[str, str]) -> list[str]:
    lines = [
        "Versions: "
        + ", ".join(
            [f"symsoftmax {symsoftmax.__version__}", f"Python {platform.python_version()}"]
            + [f"{impl.name} {impl.version}" for impl in implementations]
        )
        + "."
    ]
    if unavailable:
        lines.append(
            "Unavailable: " + ", ".join(f"{k} ({v})" for k, v in unavailable.items()) + "."
        )
    return lines


GPU_PENDING = (
    "Pending: no CUDA device was available when this file was generated, so there are no GPU "
    "figures. `python scripts/accuracy_survey.py --gpu` on a machine with CUDA adds them here: "
    "PyTorch on CUDA (every op above), torch.compile (inductor), scaled_dot_product_attention "
    "under each backend (math, efficient, flash, cuDNN) through the attention adapter, the "
    "Triton tutorial's fused softmax, JAX on the GPU, and the sink and soft-cap "
    "formulations (PyTorch's concatenate-softmax-drop sink, flex_attention with a soft-cap "
    "score_mod) on CUDA (scripts/accuracy/gpu.py)."
)


@dataclass
class Section:
    """The implementations of one section of the page, what did not load, and their cells."""

    implementations: list[Implementation]
    unavailable: dict[str, str]
    cells: Cells


def render(
    cpu: Section,
    gpu: Section | None,
    found: list[findings.Finding],
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    suite: Suites,
    seconds: float,
    found_more: list[claims_more.Outcome] | None = None,
) -> str:
    lines = [
        "# Accuracy survey",
        "",
        "Generated by `python scripts/accuracy_survey.py` — do not edit by hand.",
        "",
        "Each cell: largest / median error in ulps of the format over the "
        f"**{_page_suite(suite)}** suite of reference vectors, and the verdict of "
        "`symsoftmax.validate` with its default pass rule "
        "(see [validation.md](validation.md)): softmax, log_softmax and logsumexp are judged per "
        "component against the bound of the default kernel class (the max-shifted two-pass "
        "algorithm, the state — max, exponentials, sum — in float32 for data narrower than "
        "float32 and in the data's format otherwise, exp and log faithful): every probability "
        "within (c|t_j| + c′)u of one common factor whose deviation the sum's bound allows, and "
        "the analogous absolute split for the logarithms; the other ops by the normwise "
        "Blanchard–Higham–Higham bound. NaN and inf must be exactly where due and masked (−inf) "
        "entries exact; the properties are sum to one (in the state format), range, "
        "monotonicity, shift and permutation invariance, determinism. ∞ means a NaN or inf where "
        "a number was due (or the reverse). Where an implementation is known to compute as "
        "another class (a sum kept in float16, subnormals flushed), the cell is judged again "
        'under it: "· PASS as state float16" says the kernel is correct for that class, not '
        "for the default one; the list under each table says why. The last section lists every "
        "verdict the per-component rule changed from the normwise rule (`--mode normwise`) with "
        "its evidence against the exact value. Tests with a temperature, a sink or a soft-cap "
        "are skipped, and counted, for a function whose signature does not take it (only the "
        "sink and soft-cap rows' functions take the latter; none takes a temperature). The VJPs, "
        "the Jacobian and the cross-entropy gradient of "
        "PyTorch and JAX are their automatic differentiation; NumPy's are the textbook formulas "
        "(scripts/accuracy/formulas.py). The SDPA rows are scaled_dot_product_attention made a "
        "softmax exactly (scores q·k_j = z_j, one-hot values; [attention.md](attention.md)).",
        "",
        f"Generated on {datetime.datetime.now(datetime.UTC):%Y-%m-%d} (UTC), {platform.machine()} "
        f"CPU, {platform.system()}.",
        *_versions(cpu.implementations, cpu.unavailable),
        "",
    ]
    lines += render_tables(cpu.implementations, cpu.cells, ops, formats, suite=suite)
    if found:
        ort = next(i for i in cpu.implementations if i.name.startswith("onnxruntime"))
        lines += findings.render(found, f"onnxruntime {ort.version}")
    if found_more:
        lines += claims_more.render(found_more)
    changes = _changes(cpu.implementations, cpu.cells, ops, formats)
    lines += ["## Verdicts the per-component rule changed", ""]
    if changes:
        lines += [
            "Each cell whose verdict differs from `--mode normwise` (the default before the "
            "per-component rule), with the test that decides it (the exact value is the "
            "reference's, correctly rounded from an enclosure) and the cause.",
            "",
            *changes,
            "",
        ]
    else:
        lines += ["None.", ""]
    lines += ["## GPU", ""]
    if gpu is None:
        lines += [GPU_PENDING, ""]
    else:
        lines += [*_versions(gpu.implementations, gpu.unavailable), ""]
        lines += render_tables(
            gpu.implementations, gpu.cells, ops, formats, level="###", suite=suite
        )
    lines.append(f"Survey time: {seconds:.0f} s.")
    return "\n".join(lines) + "\n"


def check_findings(cpu: Section) -> list[findings.Finding]:
    """The onnxruntime claims checked (none when onnxruntime is not surveyed)."""
    ort = [i for i in cpu.implementations if i.name.startswith("onnxruntime")]
    if not ort:
        return []
    found = []
    for claim in findings.CLAIMS:
        cells = {fmt: cpu.cells.get((claim.op, fmt, ort[0].name)) for fmt in claim.formats}
        reports = {fmt: cell.report if cell else None for fmt, cell in cells.items()}
        found.append(findings.check(claim, reports))
    return found


# ----------------------------------------------------------------------------- command line


def main(
    argv: list[str] | None = None, *, gpu_device: str = "cuda", compile_backend: str = "inductor"
) -> int:
    """The command line. ``gpu_device`` and ``compile_backend`` are for the tests: they run the
    GPU section on "cpu" with the "eager" compile backend (no GPU, no code generation)."""
    gpu_names = list(gpu_loaders(gpu_device, compile_backend))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="use the quick suite")
    parser.add_argument("--suite", default=None, help="suite (default standard; quick w/ --quick)")
    parser.add_argument(
        "--derivative-suite",
        default=None,
        help="suite of the VJPs, the Jacobian and cross-entropy (default: --suite's); their rule "
        "is the normwise one under both modes, so a smaller suite there saves most of the time",
    )
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "accuracy.md"))
    parser.add_argument("--ops", default=",".join(VECTOR_OPS), help="comma-separated ops")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats")
    parser.add_argument(
        "--implementations",
        default=None,
        help=f"comma-separated (default all): {', '.join(LOADERS)}; with --gpu also "
        + ", ".join(gpu_names),
    )
    parser.add_argument(
        "--gpu", action="store_true", help="add the GPU section (needs a CUDA device)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes, one op × format each; the page is rewritten as cells finish "
        "(default 1: all in this process)",
    )
    parser.add_argument(
        "--findings",
        action="store_true",
        help="only run the onnxruntime reproductions and print them (no suite, no file)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.findings:
        return print_findings()
    main_suite = args.suite or ("quick" if args.quick else "standard")
    suite: Suites = main_suite
    if args.derivative_suite and args.derivative_suite != main_suite:
        suite = {
            op: main_suite if op in COMPONENTWISE_OPS else args.derivative_suite
            for op in VECTOR_OPS
        }
    ops = tuple(args.ops.split(","))
    formats = tuple(args.formats.split(","))
    for what, given, known in (("op", ops, VECTOR_OPS), ("format", formats, FORMATS)):
        bad = [x for x in given if x not in known]
        if bad:
            parser.error(f"unknown {what} {bad[0]!r}; choose from {', '.join(known)}")
    gpu = gpu_loaders(gpu_device, compile_backend) if args.gpu else {}
    names = args.implementations.split(",") if args.implementations else [*LOADERS, *gpu]
    unknown = [n for n in names if n not in LOADERS and n not in gpu]
    if unknown:
        choices = ", ".join([*LOADERS, *gpu])
        parser.error(f"unknown implementation {unknown[0]!r}; choose from {choices}")
    if args.gpu and gpu_device.startswith("cuda") and not _cuda_available():
        parser.error("--gpu needs a CUDA device (PyTorch finds none on this machine)")
    start = time.perf_counter()

    def write(
        cpu: Section,
        gpu_section: Section | None,
        found: list[findings.Finding],
        found_more: list[claims_more.Outcome] | None = None,
    ) -> None:
        seconds = time.perf_counter() - start
        page = render(cpu, gpu_section, found, ops, formats, suite, seconds, found_more)
        write_atomic(args.output, page)

    chosen = [n for n in names if n in LOADERS]
    partial = None if args.gpu else (lambda section: write(section, None, []))
    cpu = run_section(LOADERS, chosen, ops, formats, suite, args.jobs, progress=partial)
    gpu_section = None
    if args.gpu:
        chosen = [n for n in names if n in gpu]
        where = (gpu_device, compile_backend)
        gpu_section = run_section(gpu, chosen, ops, formats, suite, args.jobs, where)
    # the outside reports on the libraries of issue 20, when any of them was surveyed
    more = claims_more.check_all() if any(n in MORE_LOADERS for n in names) else []
    write(cpu, gpu_section, check_findings(cpu), more)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def run_section(
    loaders: Loaders,
    names: list[str],
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    suite: Suites,
    jobs: int,
    gpu: tuple[str, str] | None = None,
    progress: Callable[[Section], None] | None = None,
) -> Section:
    """Load and survey ``names`` of ``loaders``. With ``jobs`` > 1, worker processes take one
    op × format each (each worker loads the implementations once; ``gpu`` = (device, compile
    backend) says which loaders those are), and ``progress`` is told the merged section after
    every one, so a long run can be written out as it goes (cells not done yet: "pending")."""
    if jobs <= 1:
        implementations, unavailable = load(loaders, names)
        return Section(implementations, unavailable, survey(implementations, ops, formats, suite))
    spawn = multiprocessing.get_context("spawn")  # no fork of loaded torch/JAX threads
    merged: Section | None = None
    # multiprocessing.Pool, not a ProcessPoolExecutor: leaving the with-block by any route (an
    # error, Ctrl-C, SIGTERM turned into SystemExit by main) terminates the workers, where an
    # executor waits for their cells to finish, and a killed parent left them running
    with spawn.Pool(jobs) as pool:
        # format by format, so a run cut short has whole columns of every op
        tasks = [(names, op, fmt, suite, gpu) for fmt in formats for op in ops]
        for part in pool.imap_unordered(_cell_task, tasks):
            merged = _merge(merged, part)
            if progress is not None:
                progress(merged)
    assert merged is not None
    return merged


def _merge(merged: Section | None, part: Section) -> Section:
    if merged is None:
        return part
    for mine, theirs in zip(merged.implementations, part.implementations, strict=True):
        mine.unsupported |= theirs.unsupported
    merged.cells |= part.cells
    return merged


_WORKER_IMPLEMENTATIONS: dict[tuple[str, ...], tuple[list[Implementation], dict[str, str]]] = {}


def _cell_task(task: tuple[list[str], str, str, Suites, tuple[str, str] | None]) -> Section:
    return _cell_worker(*task)


def _cell_worker(
    names: list[str], op: str, fmt: str, suite: Suites, gpu: tuple[str, str] | None
) -> Section:
    """One op × format, in a worker process (the implementations summarised to pickle)."""
    paddle_before_tensorflow()  # importing paddle after tensorflow crashes the process
    key = (*names, *(gpu or ()))
    if key not in _WORKER_IMPLEMENTATIONS:
        _WORKER_IMPLEMENTATIONS[key] = load(LOADERS if gpu is None else gpu_loaders(*gpu), names)
    implementations, unavailable = _WORKER_IMPLEMENTATIONS[key]
    cells = survey(implementations, (op,), (fmt,), suite)
    return Section([i.summary() for i in implementations], unavailable, cells)


def print_findings() -> int:
    """``--findings``: the minimal reproductions of the onnxruntime reports, printed."""
    impls, unavailable = load(LOADERS, [ONNXRUNTIME])
    if not impls:
        print(f"error: onnxruntime {unavailable[ONNXRUNTIME]}", file=sys.stderr)
        return 2
    found = check_findings(Section(impls, {}, {}))
    print("\n".join(findings.render(found, f"onnxruntime {impls[0].version}")))
    return 0


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM as SystemExit, so that the worker pool is terminated on the way out."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    importlib.import_module("symsoftmax")  # fail early with a clear error if not installed
    # paddle before tensorflow (the other order crashes the process), and before our SIGTERM
    # handler: importing paddle installs its own, which would leave the workers running
    paddle_before_tensorflow()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
