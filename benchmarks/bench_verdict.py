#!/usr/bin/env python
"""What the per-component verdict costs: validate and exhaustive throughput under the default
rule (per-component bounds of the declared kernel class) against the normwise
Blanchard–Higham–Higham rule that was the default before it (``--mode normwise``), in the same
run (target: within 1.2×).

validate: the standard suite of each case, in-process, the exact values parsed once beforehand
(the parse is the same for both rules; bench_suite_load.py times it); the time is the report's
total minus the candidate's own time. exhaustive: :func:`symsoftmax.sweep.runner.tally_range`
over ranges spread through the space (bench_exhaustive.py's work), with the rule the only
difference. Both rules run interleaved, minimum of the repeats (the machine is shared).

    python benchmarks/bench_verdict.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special
from _timing import interleaved_min  # benchmarks/_timing.py
from bench_exhaustive import CANDIDATES, ranges

import symsoftmax.sweep.runner as runner
from symsoftmax.sweep import DEFAULT_BATCH
from symsoftmax.sweep.space import Space
from symsoftmax.validation import validate
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.core import prepare
from symsoftmax.validation.sources import suite_vectors

TARGET = 1.2
NORMWISE = PassRule("normwise")
PER_COMPONENT = PassRule()


def logsumexp(z: Any) -> Any:
    return np.asarray(scipy.special.logsumexp(z)).astype(z.dtype)


def in_float32(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` computed in float32 and rounded to the data's format: the default class for data
    narrower than float32, so the candidate passes under both rules and only the rule differs
    (a failing candidate would add the failure diagnosis's re-judging to one side)."""
    return lambda z: np.asarray(fn(z.astype(np.float32))).astype(z.dtype)


VALIDATE_CASES: list[tuple[str, str, Callable[..., Any]]] = [
    ("softmax", "float32", scipy.special.softmax),
    ("softmax", "float16", in_float32(scipy.special.softmax)),
    ("log_softmax", "bfloat16", in_float32(scipy.special.log_softmax)),
    ("logsumexp", "float64", logsumexp),
]
EXHAUSTIVE_CASES = [("float16", 2, "softmax"), ("bfloat16", 2, "log_softmax")]


def _validate_seconds(fn: Callable[..., Any], vf: Any, rule: PassRule) -> Callable[[], float]:
    def run() -> float:
        report = validate(fn, vectors=vf, rule=rule, name="bench")
        return report.seconds_total - report.seconds_candidate

    return run


def _min_pair(a: Callable[[], float], b: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` of two timers that return their own seconds, run alternately."""
    best_a = best_b = float("inf")
    for _ in range(repeats):
        best_a, best_b = min(best_a, a()), min(best_b, b())
    return best_a, best_b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="quick suite, fewer rows")
    args = parser.parse_args()
    suite = "quick" if args.quick else "standard"
    ratios = []
    print(f"validate, {suite} suite: seconds without the candidate, min of {args.repeats}")
    print(f"{'op':12} {'dtype':9} {'normwise s':>10} {'per-comp s':>10} {'ratio':>6}")
    for op, dtype, fn in VALIDATE_CASES:
        vf = suite_vectors(op, dtype, suite)
        prepare(vf)  # the exact values, parsed once for both rules
        base, ours = _min_pair(
            _validate_seconds(fn, vf, NORMWISE),
            _validate_seconds(fn, vf, PER_COMPONENT),
            args.repeats,
        )
        ratios.append(ours / base)
        print(f"{op:12} {dtype:9} {base:10.3f} {ours:10.3f} {ours / base:5.2f}×", flush=True)
        report = validate(fn, vectors=vf, name="bench")
        if not report.passed:
            print(f"  (the candidate FAILS the per-component rule: {report.failures[0].reason})")
    rows = 1 << (14 if args.quick else 17)
    print(f"exhaustive: tally_range over 4 ranges of {rows} rows, min of {args.repeats}")
    print(f"{'space':14} {'op':12} {'normwise s':>10} {'per-comp s':>10} {'ratio':>6}")
    for dtype, k, op in EXHAUSTIVE_CASES:
        space = Space.of(dtype, k)
        parts = ranges(space, rows, 4)

        def sweep(
            rule: PassRule,
            op: str = op,
            dtype: str = dtype,
            k: int = k,
            parts: list[tuple[int, int]] = parts,
        ) -> None:
            job = runner.Job(CANDIDATES[op], op, dtype, k, rule, timeout=None)
            for a, b in parts:
                runner.tally_range(job, a, b, DEFAULT_BATCH)

        ours, base = interleaved_min(
            lambda sweep=sweep: sweep(PER_COMPONENT),
            lambda sweep=sweep: sweep(NORMWISE),
            args.repeats,
        )
        ratios.append(ours / base)
        print(f"{dtype}:{k:<6} {op:12} {base:10.3f} {ours:10.3f} {ours / base:5.2f}×", flush=True)
    worst = max(ratios)
    verdict = "met" if worst <= TARGET else "MISSED"
    print(f"worst ratio {worst:.2f}× (target ≤ {TARGET}×): {verdict}")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
