"""Benchmark: the reference and the batch judge on short rows (issue 12 §3), vs NumPy float64.

Rows: (10⁶, 2) of random bit patterns of each format — the workload of an exhaustive run, with
its NaN, ±inf, subnormals and huge spreads — in float8_e4m3fn, float8_e5m2, float16, bfloat16,
float32 and float64. Baseline: NumPy's max-shifted float64 softmax, e = exp(x − max); e / Σe,
on the same rows, measured in the same run, interleaved (minimum over the repeats). Measured:
correctly rounded softmax, log_softmax and logsumexp (``reference.evaluate``), and judging a
candidate's outputs (``sweep.judge.judge_batch``, bound mode; the candidate here returns the
correctly rounded values, so every row is judged in full). Targets: within 10× the baseline for
float8, float16 and bfloat16, 30× for float32 and float64 (the judge takes formats of ≤ 24 bits:
float64 has no judge figure). Also: NumPy's own reduction along a short axis, and the column fold
of :mod:`symsoftmax.reference.short_rows`.

Run: python benchmarks/bench_short_rows.py [--rows N] [--repeats R] [--dtypes a,b]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import interleaved_min, numpy_softmax  # benchmarks/_timing.py

from symsoftmax.formats import FORMATS
from symsoftmax.reference import evaluate
from symsoftmax.reference.short_rows import row_max
from symsoftmax.sweep.judge import judge_batch
from symsoftmax.validation.checks import PassRule

TARGETS = {"float32": 30.0, "float64": 30.0}  # 10 for the others
OPS = ("softmax", "log_softmax", "logsumexp")


def random_rows(dtype: str, n: int, rng: np.random.Generator) -> np.ndarray:
    fmt = FORMATS[dtype]
    bits = fmt.numpy_dtype.itemsize * 8
    patterns = rng.integers(0, 1 << bits, size=(n, 2), dtype=np.uint64)
    with np.errstate(invalid="ignore"):
        return patterns.astype(f"uint{bits}").view(fmt.numpy_dtype).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtypes", default=",".join(FORMATS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"({args.rows}, 2) rows of random bit patterns; min of {args.repeats} interleaved runs")
    print(f"{'what':<22} {'dtype':<14} {'ms':>9} {'numpy f64 ms':>13} {'ratio':>7} {'target':>7}")
    for dtype in args.dtypes.split(","):
        rows = random_rows(dtype, args.rows, rng)
        clean = np.nan_to_num(rows, nan=0.0, posinf=1.0, neginf=-1.0)  # the baseline's rows

        def baseline(clean: np.ndarray = clean) -> object:
            with np.errstate(all="ignore"):
                return numpy_softmax(clean)

        target = TARGETS.get(dtype, 10.0)
        for op in OPS:

            def reference(op: str = op, rows: np.ndarray = rows, dtype: str = dtype) -> object:
                return evaluate(op, rows, dtype=dtype)

            seconds, base = interleaved_min(reference, baseline, args.repeats)
            print(
                f"{'reference ' + op:<22} {dtype:<14} {seconds * 1e3:9.1f} {base * 1e3:13.1f} "
                f"{seconds / base:7.2f} {target:7.0f}"
            )
            if FORMATS[dtype].precision > 24:
                continue
            expected = evaluate(op, rows, dtype=dtype).rounded.reshape(args.rows, -1)

            def judge(
                op: str = op, rows: np.ndarray = rows, dtype: str = dtype, e: np.ndarray = expected
            ) -> object:
                return judge_batch(op, FORMATS[dtype], rows, e, e, PassRule())

            seconds, base = interleaved_min(judge, baseline, args.repeats)
            print(
                f"{'judge ' + op:<22} {dtype:<14} {seconds * 1e3:9.1f} {base * 1e3:13.1f} "
                f"{seconds / base:7.2f} {target:7.0f}"
            )
    a = rng.standard_normal((args.rows, 2))
    fold, numpy_max = interleaved_min(lambda: row_max(a), lambda: a.max(axis=1), args.repeats)
    print(f"row max, (n, 2): numpy axis=1 {numpy_max * 1e3:.1f} ms, fold {fold * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
