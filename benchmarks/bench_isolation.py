#!/usr/bin/env python
"""Cost of running the candidate in a worker process: the standard suite of one op and format
validated in-process and isolated (``isolate=True``, what the CLI does), in the same run.

For each case and mode: the total time, the candidate's own time (inside its calls), the
overhead (total − candidate), and the isolated total minus the in-process total (the baseline
measured in the same run), with their ratio. Target: isolated overhead ≤ 3 s. The vectors are
generated (or read from the cache) before timing; parsing their exact decimals is timed in
both modes. Best of ``--repeat`` runs.

    python benchmarks/bench_isolation.py            # standard suites (target applies)
    python benchmarks/bench_isolation.py --suite quick
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special

from symsoftmax.validation import ValidationReport, validate
from symsoftmax.validation.core import _PREPARED
from symsoftmax.validation.sources import suite_vectors

TARGET_SECONDS = 3.0


def softmax_vjp(z: Any, g: Any) -> Any:
    """Defined here: the worker imports it from this file (the ``file.py:function`` path)."""
    e = np.exp(z - z.max())
    s = e / e.sum()
    return s * (g - (g * s).sum())


CASES: list[tuple[str, str, Callable[..., Any]]] = [
    ("softmax", "float32", scipy.special.softmax),
    ("log_softmax", "bfloat16", scipy.special.log_softmax),
    ("softmax_vjp", "float32", softmax_vjp),
]


def best_of(repeat: int, fn: Callable[..., Any], **options: Any) -> ValidationReport:
    best = None
    for _ in range(repeat):
        _PREPARED.clear()  # parse the exact values again: that is part of the validation
        report = validate(fn, **options)
        if best is None or report.seconds_total < best.seconds_total:
            best = report
    assert best is not None
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"suite {args.suite}; target: isolated overhead ≤ {TARGET_SECONDS:g} s")
    print(
        f"{'op':12} {'dtype':9} {'tests':>5} {'mode':10} {'total s':>8} {'cand s':>7} "
        f"{'overhead s':>10} {'isolated−in-process s':>21} {'ratio':>6} met"
    )
    all_met = True
    for op, dtype, fn in CASES:
        vf = suite_vectors(op, dtype, args.suite)
        inside = best_of(args.repeat, fn, vectors=vf)
        isolated = best_of(args.repeat, fn, vectors=vf, isolate=True)
        assert [r.status for r in inside.results] == [r.status for r in isolated.results]
        for mode, report in (("in-process", inside), ("isolated", isolated)):
            overhead = report.seconds_total - report.seconds_candidate
            line = (
                f"{op:12} {dtype:9} {report.tests:5d} {mode:10} {report.seconds_total:8.2f} "
                f"{report.seconds_candidate:7.3f} {overhead:10.2f}"
            )
            if mode == "isolated":
                met = overhead <= TARGET_SECONDS
                all_met &= met
                difference = isolated.seconds_total - inside.seconds_total
                ratio = isolated.seconds_total / inside.seconds_total
                line += f" {difference:21.2f} {ratio:6.2f} {'yes' if met else 'NO'}"
            print(line)
    print("all targets met" if all_met else "SOME TARGETS MISSED")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
