#!/usr/bin/env python
"""Accuracy survey: how accurate are the softmax functions people use? Writes docs/accuracy.md.

For each op (softmax, log_softmax, logsumexp, the softmax VJP) and format (float64, float32,
float16, bfloat16), every implementation is validated against the reference vectors with
``symsoftmax.validate`` (the default pass rule: the Blanchard–Higham–Higham bound, properties
included), and the table gives the largest and the median error in ulps and the verdict — one
table per op, in the manner of Zimmermann et al.'s libm accuracy tables. Implementations:
NumPy written naively (no max shift), NumPy max-shifted (in the input's precision), SciPy
(scipy.special), PyTorch on the CPU and JAX on the CPU (jit-compiled, x64 enabled). A framework
that is not installed is listed as unavailable.

    python scripts/accuracy_survey.py                 # standard suite → docs/accuracy.md
    python scripts/accuracy_survey.py --quick -o accuracy-quick.md
"""

from __future__ import annotations

import argparse
import importlib
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import symsoftmax
from symsoftmax.atomic import write_atomic
from symsoftmax.validation import ValidationReport, validate

OPS = ("softmax", "log_softmax", "logsumexp", "softmax_vjp")
FORMATS = ("float64", "float32", "float16", "bfloat16")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Implementation:
    name: str
    framework: str  # adapter: numpy, torch or jax
    functions: dict[str, Callable[..., Any]]  # op -> function (missing: not provided)
    version: str


# ----------------------------------------------------------------------------- NumPy


def _numpy_naive() -> Implementation:
    def softmax(z: Any) -> Any:
        e = np.exp(z)
        return e / e.sum()

    def log_softmax(z: Any) -> Any:
        return z - np.log(np.exp(z).sum())

    def logsumexp(z: Any) -> Any:
        return np.log(np.exp(z).sum())

    def softmax_vjp(z: Any, g: Any) -> Any:
        s = softmax(z)
        return s * (g - (g * s).sum())

    fns = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
    fns["softmax_vjp"] = softmax_vjp
    return Implementation("NumPy naive", "numpy", fns, np.__version__)


def _numpy_shifted() -> Implementation:
    def softmax(z: Any) -> Any:
        e = np.exp(z - z.max())
        return e / e.sum()

    def log_softmax(z: Any) -> Any:
        t = z - z.max()
        return t - np.log(np.exp(t).sum())

    def logsumexp(z: Any) -> Any:
        m = z.max()
        return m + np.log(np.exp(z - m).sum())

    def softmax_vjp(z: Any, g: Any) -> Any:
        s = softmax(z)
        return s * (g - (g * s).sum())

    fns = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
    fns["softmax_vjp"] = softmax_vjp
    return Implementation("NumPy max-shifted", "numpy", fns, np.__version__)


def _scipy() -> Implementation:
    import scipy
    import scipy.special as sp

    def logsumexp(z: Any) -> Any:
        return np.asarray(sp.logsumexp(z)).astype(z.dtype)  # 0-d; keep the input's dtype

    fns = {"softmax": sp.softmax, "log_softmax": sp.log_softmax, "logsumexp": logsumexp}
    return Implementation("SciPy (scipy.special)", "numpy", fns, scipy.__version__)


def _torch() -> Implementation:
    import torch

    def softmax_vjp(z: Any, g: Any) -> Any:
        z = z.detach().clone().requires_grad_(True)
        (dz,) = torch.autograd.grad(torch.softmax(z, dim=-1), z, g)
        return dz

    fns = {
        "softmax": lambda z: torch.softmax(z, dim=-1),
        "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
        "logsumexp": lambda z: torch.logsumexp(z, dim=-1),
        "softmax_vjp": softmax_vjp,
    }
    return Implementation("PyTorch (CPU)", "torch", fns, torch.__version__)


def _jax() -> Implementation:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")

    def vjp(z: Any, g: Any) -> Any:
        return jax.vjp(jax.nn.softmax, z)[1](g)[0]

    fns = {
        "softmax": jax.jit(jax.nn.softmax),
        "log_softmax": jax.jit(jax.nn.log_softmax),
        "logsumexp": jax.jit(jax.nn.logsumexp),
        "softmax_vjp": jax.jit(vjp),
    }
    return Implementation("JAX (CPU)", "jax", fns, jax.__version__)


LOADERS: dict[str, Callable[[], Implementation]] = {
    "numpy-naive": _numpy_naive,
    "numpy-shifted": _numpy_shifted,
    "scipy": _scipy,
    "torch": _torch,
    "jax": _jax,
}


# ----------------------------------------------------------------------------- survey


@dataclass
class Cell:
    report: ValidationReport | None
    problem: str = ""  # "not provided", or an error that stopped the validation

    def text(self) -> str:
        if self.report is None:
            return self.problem
        r = self.report
        verdict = "**PASS**" if r.passed else "FAIL"
        return f"{_ulp(r.max_ulp)} / {_ulp(r.median_ulp)} — {verdict}"

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
        props = [p.name for p in r.properties if not p.passed]
        parts = []
        if flags:
            parts.append("failed tests by flag: " + ", ".join(flags))
        if props:
            parts.append("properties: " + ", ".join(props))
        if r.failures:
            parts.append(f"e.g. tcId {r.failures[0].tc_id}: {r.failures[0].reason}")
        return "; ".join(parts)


def _ulp(x: float) -> str:
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞"
    return f"{x:.3g}"


def survey(
    names: list[str], ops: tuple[str, ...], formats: tuple[str, ...], suite: str
) -> tuple[list[Implementation], dict[str, str], dict[tuple[str, str, str], Cell]]:
    implementations, unavailable = [], {}
    for name in names:
        try:
            implementations.append(LOADERS[name]())
        except ImportError as exc:
            unavailable[name] = f"not installed ({exc.name or exc})"
    cells: dict[tuple[str, str, str], Cell] = {}
    for op in ops:
        for fmt in formats:
            for impl in implementations:
                fn = impl.functions.get(op)
                if fn is None:
                    cells[(op, fmt, impl.name)] = Cell(None, "not provided")
                    continue
                try:
                    report = validate(
                        fn,
                        op,
                        fmt,
                        suite=suite,
                        framework=impl.framework,
                        timeout=60.0,
                        name=impl.name,
                    )
                except Exception as exc:  # a library that cannot run this format at all
                    cells[(op, fmt, impl.name)] = Cell(None, f"error: {type(exc).__name__}")
                    continue
                cells[(op, fmt, impl.name)] = Cell(report)
                print(
                    f"{op:12} {fmt:9} {impl.name:22} {cells[(op, fmt, impl.name)].text()}",
                    file=sys.stderr,
                )
    return implementations, unavailable, cells


def render(
    implementations: list[Implementation],
    unavailable: dict[str, str],
    cells: dict[tuple[str, str, str], Cell],
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    suite: str,
    seconds: float,
) -> str:
    lines = [
        "# Accuracy survey",
        "",
        "Generated by `python scripts/accuracy_survey.py` — do not edit by hand.",
        "",
        f"Each cell: largest / median error in ulps of the format over the **{suite}** suite of "
        "reference vectors, and the verdict of `symsoftmax.validate` with its default pass rule "
        "(every test within the Blanchard–Higham–Higham bound of the shifted algorithm, NaN and "
        "inf exactly where due, and the properties: sum to one, range, monotonicity, shift and "
        "permutation invariance, determinism; see [validation.md](validation.md)). ∞ means a "
        "NaN or inf where a number was due (or the reverse). A huge largest error with a PASS "
        "comes from a component far smaller than the output's largest (the bound is normwise, "
        "as Blanchard, Higham & Higham's is): e.g. the log_softmax of a dominant entry, "
        "−1.3e−20 exactly, computed as 0 (1.7e7 ulps of float32). Tests with a temperature are "
        "skipped (none of these functions takes one).",
        "",
        "Versions: "
        + ", ".join(
            [f"symsoftmax {symsoftmax.__version__}", f"Python {platform.python_version()}"]
            + [f"{impl.name} {impl.version}" for impl in implementations]
        )
        + ".",
    ]
    if unavailable:
        lines.append(
            "Unavailable: " + ", ".join(f"{k} ({v})" for k, v in unavailable.items()) + "."
        )
    lines.append("")
    for op in ops:
        lines += [f"## {op}", "", "| implementation | " + " | ".join(formats) + " |"]
        lines.append("|---|" + "---|" * len(formats))
        for impl in implementations:
            row = [cells[(op, fmt, impl.name)].text() for fmt in formats]
            lines.append(f"| {impl.name} | " + " | ".join(row) + " |")
        reasons = [
            f"- {impl.name}, {fmt}: {cells[(op, fmt, impl.name)].why()}"
            for impl in implementations
            for fmt in formats
            if cells[(op, fmt, impl.name)].why()
        ]
        if reasons:
            lines += ["", "Why the failures failed:", "", *reasons]
        lines.append("")
    lines.append(f"Survey time: {seconds:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="use the quick suite")
    parser.add_argument("--suite", default=None, help="suite (default standard; quick w/ --quick)")
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "accuracy.md"))
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated ops")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats")
    parser.add_argument("--implementations", default=",".join(LOADERS), help="comma-separated")
    args = parser.parse_args(argv)
    suite = args.suite or ("quick" if args.quick else "standard")
    ops = tuple(args.ops.split(","))
    formats = tuple(args.formats.split(","))
    names = args.implementations.split(",")
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        parser.error(f"unknown implementation {unknown[0]!r}; choose from {', '.join(LOADERS)}")
    start = time.perf_counter()
    implementations, unavailable, cells = survey(names, ops, formats, suite)
    text = render(
        implementations, unavailable, cells, ops, formats, suite, time.perf_counter() - start
    )
    write_atomic(args.output, text)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    importlib.import_module("symsoftmax")  # fail early with a clear error if not installed
    sys.exit(main())
