#!/usr/bin/env python
"""Validator overhead: time to validate the standard suite of one op and format, minus the
candidate's own time (target: under 15 s).

The vectors are generated (or read from the cache) before timing: generation is the vector
generator's cost, not the validator's; parsing their exact decimals is timed. Each case is run
twice and the faster run is kept. The baseline measured in the same run is the candidate's own
time (inside its calls), so the printed ratio is overhead / candidate time. The candidate runs
in-process (the Python API's default); benchmarks/bench_isolation.py measures the worker process
that ``symsoftmax validate`` uses.

    python benchmarks/bench_validate.py            # standard suite (target applies)
    python benchmarks/bench_validate.py --suite quick
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special

from symsoftmax.validation import validate
from symsoftmax.validation.core import _PREPARED
from symsoftmax.validation.sources import suite_vectors

TARGET_SECONDS = 15.0


def softmax_vjp(z: Any, g: Any) -> Any:
    e = np.exp(z - z.max())
    s = e / e.sum()
    return s * (g - (g * s).sum())


def logsumexp(z: Any) -> Any:
    return np.asarray(scipy.special.logsumexp(z)).astype(z.dtype)


CASES: list[tuple[str, str, Callable[..., Any]]] = [
    ("softmax", "float32", scipy.special.softmax),
    ("softmax", "float16", scipy.special.softmax),
    ("log_softmax", "bfloat16", scipy.special.log_softmax),
    ("logsumexp", "float64", logsumexp),
    ("softmax_vjp", "float32", softmax_vjp),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    header = (
        f"{'op':12} {'dtype':9} {'tests':>6} {'total s':>8} {'candidate s':>11} "
        f"{'overhead s':>10} {'overhead/cand':>13} {'target':>7} met"
    )
    print(f"suite {args.suite}; target: overhead < {TARGET_SECONDS:g} s per op and format")
    print(header)
    all_met = True
    for op, dtype, fn in CASES:
        start = time.perf_counter()
        vf = suite_vectors(op, dtype, args.suite)
        prepared_in = time.perf_counter() - start
        best = None
        for _ in range(args.repeat):
            _PREPARED.clear()  # parse the exact values again: that is part of the validation
            report = validate(fn, vectors=vf, name=f"{op}-{dtype}")
            if best is None or report.seconds_total < best.seconds_total:
                best = report
        assert best is not None
        overhead = best.seconds_total - best.seconds_candidate
        met = overhead < TARGET_SECONDS
        all_met &= met
        ratio = overhead / best.seconds_candidate if best.seconds_candidate else float("inf")
        print(
            f"{op:12} {dtype:9} {best.tests:6d} {best.seconds_total:8.2f} "
            f"{best.seconds_candidate:11.3f} {overhead:10.2f} {ratio:13.0f} "
            f"{TARGET_SECONDS:7.0f} {'yes' if met else 'NO'}"
            f"   (vectors ready in {prepared_in:.1f} s; {'PASS' if best.passed else 'FAIL'})"
        )
    print("all targets met" if all_met else "SOME TARGETS MISSED")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
