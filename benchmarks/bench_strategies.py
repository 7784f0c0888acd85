#!/usr/bin/env python
"""Cost of symsoftmax.testing.strategies: the reference of a drawn case, and a property test.

1. The reference values of one case, for rows of the kinds the strategies draw (plain, long,
   and spanning 2·10^5, where e^−2·10^5 is an output): the strategies' path (engine fast path for
   the rounded outputs, exact values to 160 bits printed with 40 digits) against the baseline
   measured in the same run, the vector builder's path (correctly rounded 40-digit decimals,
   :func:`symsoftmax.vectors.builder.build_file`). Ratio = strategies / builder.
2. A property test with a trivial body: ``@given(cases(op, dtype))`` over ``--examples``
   derandomized examples, seconds per test and per example.

    python benchmarks/bench_strategies.py
    python benchmarks/bench_strategies.py --examples 100 --op softmax --dtype float16
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from hypothesis import given, settings

from symsoftmax.formats import get_format
from symsoftmax.testing.strategies import cases
from symsoftmax.testing.strategies.drawn_cases import _reference_test
from symsoftmax.vectors.builder import Draft, build_file

ROWS = {
    "plain, K=8": np.array([0.5, -1.25, 3.0, 0.0, -7.5, 2.0, 1.0, -0.25]),
    "plain, K=513": np.resize(np.array([0.5, -1.25, 3.0, 0.0, -7.5]), 513),
    "spread 2e5, K=3": np.array([0.0, -2.0e5, 1.0]),
    "±max float16, K=31": np.resize(np.array([0.5, 1.1, 38400.0, -65504.0, 0.5, 65504.0]), 31),
}


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def reference_costs(op: str, dtype: str, repeat: int) -> None:
    fmt = get_format(dtype)
    print(f"reference of one case, {op} {dtype} (best of {repeat})")
    print(f"  {'row':<22} {'builder s':>10} {'strategies s':>13} {'ratio':>7}")
    for name, z in ROWS.items():
        z = np.asarray(z.astype(fmt.numpy_dtype), dtype=np.float64)
        draft = Draft(z.size, {"z": z}, ("x",), name)
        builder = best_of(repeat, lambda d=draft: build_file(op, fmt, [d], suite="custom", seed=0))
        ours = best_of(repeat, lambda z=z, c=name: _reference_test(op, fmt, {"z": z}, ("x",), c))
        print(f"  {name:<22} {builder:>10.4f} {ours:>13.4f} {ours / builder:>7.3f}")


def property_test_cost(op: str, dtype: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(cases(op, dtype))
    def test(case: object) -> None:
        pass

    start = time.perf_counter()
    test()
    seconds = time.perf_counter() - start
    print(
        f"@given(cases({op!r}, {dtype!r})), {examples} examples: {seconds:.2f} s "
        f"({1000 * seconds / examples:.1f} ms per example)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", default="softmax")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reference_costs(args.op, args.dtype, args.repeat)
    for dtype in dict.fromkeys([args.dtype, "float16", "bfloat16"]):
        property_test_cost(args.op, dtype, args.examples)


if __name__ == "__main__":
    main()
