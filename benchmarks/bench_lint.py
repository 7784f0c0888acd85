"""Benchmark: `vectors --lint` rechecking with the authority path, against generating the file.

Lint recomputes every expected value with the reference engine's authority path (mpmath balls and
Ziv's loop, no fast path; see docs/vectors.md). Baseline, measured in the same run on the same
file: generating it (the fast path for the format values, the mpmath route for the 40-digit
decimals). The ratio lint / generate is the price of an independent recheck; ``--sample N``
divides it by about (tests / N).

    python benchmarks/bench_lint.py            # standard suites of a few op x dtype
    python benchmarks/bench_lint.py --suite quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from symsoftmax.vectors import generate, lint, save

CASES = [
    ("softmax", "float32"),
    ("log_softmax", "float64"),
    ("logsumexp", "float16"),
    ("softmax_vjp", "bfloat16"),
]


def bench(op: str, dtype: str, suite: str, sample: int, folder: Path) -> dict[str, float]:
    start = time.perf_counter()
    vf = generate(op, dtype, suite, 0)
    generate_s = time.perf_counter() - start
    path = folder / f"{op}-{dtype}.npz"
    save(vf, path)
    start = time.perf_counter()
    full = lint(path)
    lint_s = time.perf_counter() - start
    assert full == [], f"{op} {dtype}: lint found {len(full)} problems"
    start = time.perf_counter()
    part = lint(path, sample=sample, seed=0)
    sample_s = time.perf_counter() - start
    start = time.perf_counter()
    lint(path, recheck=False)
    structure_s = time.perf_counter() - start
    return {
        "tests": len(vf),
        "values": full.rechecked_values,
        "generate": generate_s,
        "lint": lint_s,
        "sample": sample_s,
        "sampled": part.rechecked_tests,
        "structure": structure_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("quick", "standard"), default="standard")
    parser.add_argument("--sample", type=int, default=200, help="tests in the sampled lint")
    args = parser.parse_args()
    print(
        f"{'op':<12} {'dtype':<9} {'tests':>6} {'values':>8} {'generate s':>10} {'lint s':>8} "
        f"{'ratio':>6} {'sample s':>8} {'(tests)':>7} {'no-recheck s':>12}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for op, dtype in CASES:
            r = bench(op, dtype, args.suite, args.sample, Path(folder))
            print(
                f"{op:<12} {dtype:<9} {r['tests']:>6.0f} {r['values']:>8.0f} "
                f"{r['generate']:>10.2f} {r['lint']:>8.2f} {r['lint'] / r['generate']:>6.2f} "
                f"{r['sample']:>8.2f} {r['sampled']:>7.0f} {r['structure']:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
