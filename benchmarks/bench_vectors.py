"""Benchmark: time to generate test vectors (quick and standard suites) per op and dtype.

Targets (issue 4): the standard suite of one op and dtype in under 60 s, the quick suite in
under 5 s, on this 2-core machine. Baseline, measured in the same run: NumPy computing float64
softmax (max-shifted) over the same input rows, so the ratio says how much more a correctly
rounded, 40-digit reference costs than a plain float64 evaluation (the machine is shared: the
ratio is steadier than the seconds).

    python benchmarks/bench_vectors.py                 # quick + standard, the default set
    python benchmarks/bench_vectors.py --suite quick   # quick only, every op x dtype
    python benchmarks/bench_vectors.py --suite standard --every  # standard, every op x dtype

"cpu s" is the process time of the generation (the machine is shared: wall time grows with the
load, CPU time much less).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symsoftmax.vectors import OPS, generate
from symsoftmax.vectors.builder import draft_rows
from symsoftmax.vectors.io import dumps_json, to_npz_bytes

TARGETS = {"quick": 5.0, "standard": 60.0, "exhaustive": float("inf")}
DEFAULT_CASES = [
    ("softmax", "float32"),
    ("softmax", "float64"),
    ("log_softmax", "float16"),
    ("logsumexp", "bfloat16"),
    ("softmax_vjp", "float32"),
    ("log_softmax_vjp", "float64"),
    ("cross_entropy", "float32"),
    ("jacobian", "float32"),
]


def numpy_baseline(op: str, dtype: str, suite: str, repeats: int = 5) -> float:
    """Seconds for NumPy float64 softmax over every finite row of the file (best of repeats)."""
    rows = [d.inputs["z"] for d in draft_rows(op, dtype, suite, 0)]
    rows = [z for z in rows if np.isfinite(z).all()]
    best = float("inf")
    with np.errstate(all="ignore"):  # rows at ±max overflow in z − max: that is the point
        for _ in range(repeats):
            start = time.perf_counter()
            for z in rows:
                e = np.exp(z - z.max())
                e / e.sum()
            best = min(best, time.perf_counter() - start)
    return best


def bench(op: str, dtype: str, suite: str) -> tuple[int, float, float, float, float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    vf = generate(op, dtype, suite, 0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    size = len(dumps_json(vf))
    to_npz_bytes(vf)
    write_seconds = time.perf_counter() - start
    return len(vf), seconds, cpu, write_seconds, numpy_baseline(op, dtype, suite), size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("quick", "standard", "both"), default="both")
    parser.add_argument(
        "--every", action="store_true", help="every op x dtype (default: quick only)"
    )
    args = parser.parse_args()
    suites = ("quick", "standard") if args.suite == "both" else (args.suite,)
    print(
        f"{'op':<16} {'dtype':<9} {'suite':<9} {'tests':>6} {'generate s':>10} {'cpu s':>7} "
        f"{'encode s':>9} {'numpy s':>9} {'ratio':>9} {'JSON MB':>8} target"
    )
    for suite in suites:
        cases = (
            [(op, d) for op in OPS for d in ("float64", "float32", "float16", "bfloat16")]
            if args.every or (suite == "quick" and args.suite == "quick")
            else DEFAULT_CASES
        )
        for op, dtype in cases:
            tests, seconds, cpu, write_seconds, baseline, megabytes = bench(op, dtype, suite)
            target = TARGETS[suite]
            verdict = "met" if seconds < target else "MISSED"
            print(
                f"{op:<16} {dtype:<9} {suite:<9} {tests:>6} {seconds:>10.2f} {cpu:>7.2f} "
                f"{write_seconds:>9.2f} {baseline:>9.4f} {seconds / baseline:>9.0f} "
                f"{megabytes:>8.1f} < {target:.0f} s {verdict}",
                flush=True,
            )


if __name__ == "__main__":
    main()
