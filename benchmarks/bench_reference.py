"""Benchmark: correctly rounded softmax (symsoftmax.reference) vs NumPy's float64 softmax.

Baseline: NumPy's max-shifted float64 softmax, e = exp(x − max); e / Σe, on the same (1000, 1000)
batch, measured in the same run, interleaved with the reference calls (the machine is shared;
each figure is the minimum over the repeats). Targets (issue 3): correctly rounded float32,
float16 and bfloat16 softmax within 10× the baseline, float64 within 100×. Also shown, without
targets: log_softmax and logsumexp, and the pure mpmath route on a small sample (per element).

Run: python benchmarks/bench_reference.py [--repeats N] [--rows R] [--cols K]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from _timing import interleaved_min, numpy_softmax  # benchmarks/_timing.py

import symsoftmax.reference as ref
from symsoftmax.formats import get_format

TARGETS = {"float32": 10.0, "float16": 10.0, "bfloat16": 10.0, "float64": 100.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--cols", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((args.rows, args.cols)) * 3.0
    print(
        f"batch ({args.rows}, {args.cols}), N(0, 3²) inputs in each format; min of "
        f"{args.repeats} interleaved runs"
    )
    print(
        f"{'op':<12} {'dtype':<9} {'reference ms':>13} {'numpy f64 ms':>13} {'ratio':>7} "
        f"{'target':>7}  met"
    )
    all_met = True
    for op in ("softmax", "log_softmax", "logsumexp"):
        for name in ("float32", "float16", "bfloat16", "float64"):
            dtype = get_format(name).numpy_dtype
            x = raw.astype(dtype)  # the user's data, already in the format
            x64 = x.astype(np.float64)

            function = getattr(ref, op)

            def reference(
                x: np.ndarray = x, function: Callable = function, name: str = name
            ) -> object:
                return function(x, dtype=name)  # the public call, result in the format's dtype

            reference()  # warm-up (tables, imports)
            t_ref, t_np = interleaved_min(
                reference, lambda x64=x64: numpy_softmax(x64), args.repeats
            )
            ratio = t_ref / t_np
            target = TARGETS[name] if op == "softmax" else None
            met = "" if target is None else ("yes" if ratio <= target else "NO")
            all_met &= met != "NO"
            print(
                f"{op:<12} {name:<9} {t_ref * 1e3:13.1f} {t_np * 1e3:13.2f} {ratio:7.1f} "
                f"{'' if target is None else f'{target:.0f}x':>7}  {met}"
            )
    sample = raw[:20, :50]
    start = time.perf_counter()
    ref.evaluate("softmax", sample, dtype="float64", fast=False)
    per = (time.perf_counter() - start) / sample.size
    start = time.perf_counter()
    numpy_softmax(raw)
    base = (time.perf_counter() - start) / raw.size
    print(
        f"pure mpmath route, float64 softmax: {per * 1e6:.1f} µs/element "
        f"(≈ {per / base:.0f}× the NumPy baseline per element)"
    )
    print("all targets met" if all_met else "SOME TARGETS NOT MET")


if __name__ == "__main__":
    main()
