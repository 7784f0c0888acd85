#!/usr/bin/env python
"""The reference on row distributions other than N(0, σ²), against NumPy in the same run.

Issue 19 §3 times the reference on (10⁵, 2) rows of N(0, σ²) (benchmarks/bench_hard_rows.py)
and says a held-out set of distributions will be timed too. This benchmark times the same ops
and formats, with the same baseline (NumPy's max-shifted float64 softmax on the same rows,
interleaved, minimum of the repeats) and targets (10× for the ≤ 16-bit formats, 30× for float32
and float64), on rows drawn otherwise: heavy tails (Cauchy, Laplace), wide uniform, integers and
half-integers (exact ties and exactly representable differences), log-uniform magnitudes over 34
decades with random signs, Gumbel, and rows with −inf masks. It prints the ratio and how many
outputs the fast path leaves to the authority (mpmath).

Run: python benchmarks/bench_row_distributions.py [--rows N] [--k K] [--repeats R]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from _timing import interleaved_min, numpy_softmax  # benchmarks/_timing.py
from bench_hard_rows import DTYPES, OPS, TARGETS, left_to_authority

from symsoftmax.formats import FORMATS
from symsoftmax.reference import evaluate
from symsoftmax.rounding import round_array

Draw = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]

DISTRIBUTIONS: dict[str, Draw] = {
    "cauchy": lambda rng, shape: rng.standard_cauchy(shape),
    "laplace(30)": lambda rng, shape: rng.laplace(0.0, 30.0, shape),
    "uniform(±1e4)": lambda rng, shape: rng.uniform(-1e4, 1e4, shape),
    "integers(±100)": lambda rng, shape: rng.integers(-100, 100, shape).astype(np.float64),
    "half-integers": lambda rng, shape: rng.integers(-2000, 2000, shape) / 2.0,
    "log-uniform": lambda rng, shape: (
        np.sign(rng.normal(size=shape)) * 10.0 ** rng.uniform(-30.0, 4.0, shape)
    ),
    "gumbel(10)": lambda rng, shape: rng.gumbel(0.0, 10.0, shape),
    "masked 30 %": lambda rng, shape: np.where(
        rng.random(shape) < 0.3, -np.inf, rng.normal(0.0, 30.0, shape)
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=2, help="entries per row")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shape = (args.rows, args.k)
    print(f"{shape} rows; min of {args.repeats} interleaved runs")
    print(
        f"{'distribution':<15} {'op':<12} {'dtype':<9} {'ratio':>6} {'target':>7} {'to mpmath':>10}"
    )
    all_met = True
    for name, draw in DISTRIBUTIONS.items():
        raw = draw(np.random.default_rng(5), shape)
        for op in OPS:
            for dtype in DTYPES:
                fmt = FORMATS[dtype]
                rows = round_array(raw, fmt)
                data = rows.astype(fmt.numpy_dtype)

                def reference(data: np.ndarray = data, op: str = op, dtype: str = dtype) -> object:
                    return evaluate(op, data, dtype=dtype).as_dtype()

                reference()  # warm-up
                with np.errstate(invalid="ignore"):  # a row of −inf: NumPy's NaN, as intended
                    t_ref, t_np = interleaved_min(
                        reference, lambda rows=rows: numpy_softmax(rows), args.repeats
                    )
                target = TARGETS.get(dtype, 10.0)
                ratio = t_ref / t_np
                all_met &= ratio <= target
                left = left_to_authority(op, rows, fmt)
                print(
                    f"{name:<15} {op:<12} {dtype:<9} {ratio:6.1f} {target:6.0f}x {left:>10}",
                    flush=True,
                )
    print("all targets met" if all_met else "SOME TARGETS MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
