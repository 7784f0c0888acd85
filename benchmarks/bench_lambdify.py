"""Speed of the generated NumPy functions against SciPy, measured in the same run.

    python benchmarks/bench_lambdify.py [--rows 10000] [--repeat 15] [--unrolled 8,64]

Targets (docs/performance.md, "Lambdified NumPy functions"):
* lambdify_softmax(K) on a (rows, K) float64 batch within 1.2× of scipy.special.softmax(axis=-1)
  for K in {8, 64, 256, 1024};
* generating the K = 1024 function in under 3 s (cold cache).
Second baseline: sympy.lambdify of the unrolled fixed-K max-shifted expression (K scalar
expressions), plain (cse=False, as lambdify does by default) and with cse=True, at the K values
given by --unrolled.
log_softmax and logsumexp are shown against SciPy too (no target: they do extra passes for the
log1p form, see docs/numeric.md).

Timings are best-of-N (min over ``repeat`` rounds); candidate and baseline alternate within each
round, so a burst of load on the shared machine hits both. The slow unrolled baselines are timed in
a separate pass with SciPy alongside, and reported relative to SciPy.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.special
import sympy as sp

import symsoftmax
from symsoftmax.numeric import lambdify
from symsoftmax.symbolic.expressions import logits, softmax_shifted

SPEED_TARGET = 1.2
GENERATION_TARGET_S = 3.0
SIZES = (8, 64, 256, 1024)


def best_times(functions: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Seconds per call, min over ``repeat`` interleaved rounds."""
    numbers = {}
    for name, fn in functions.items():
        fn()  # warm up
        once = timeit.timeit(fn, number=1)
        numbers[name] = max(1, int(0.05 / max(once, 1e-9)))  # about 50 ms per round
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeat):
        for name, fn in functions.items():
            t = timeit.timeit(fn, number=numbers[name]) / numbers[name]
            best[name] = min(best[name], t)
    return best


def unrolled_softmax(K: int, cse: bool) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """sympy.lambdify of the K unrolled max-shifted expressions; (function, generation seconds).

    Without cse every output recomputes the whole partition sum (K² exponentials)."""
    start = time.perf_counter()
    z = logits(K)
    expressions = softmax_shifted(z, sp.Max(*z))
    scalar = sp.lambdify(z, expressions, "numpy", cse=cse)
    elapsed = time.perf_counter() - start

    def call(batch: np.ndarray) -> np.ndarray:
        return np.stack(scalar(*np.moveaxis(batch, -1, 0)), axis=-1)

    return call, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="batch rows (default 10000)")
    parser.add_argument("--repeat", type=int, default=15, help="timing rounds (default 15)")
    parser.add_argument(
        "--unrolled",
        default="8,64",
        help="K values for the unrolled sympy.lambdify baseline (default 8,64; 256 takes minutes)",
    )
    args = parser.parse_args()
    unrolled_sizes = {int(k) for k in args.unrolled.split(",") if k}
    rng = np.random.default_rng(20261125)
    all_met = True

    # generation time, cold cache
    lambdify._generate.cache_clear()
    start = time.perf_counter()
    symsoftmax.lambdify_softmax(1024)
    gen_softmax = time.perf_counter() - start
    start = time.perf_counter()
    for name in ("log_softmax", "logsumexp", "jacobian", "vjp"):
        getattr(symsoftmax, f"lambdify_{name}")(1024)
    gen_rest = time.perf_counter() - start
    met = gen_softmax < GENERATION_TARGET_S
    all_met &= met
    print(
        f"generation at K=1024 (cold): softmax {gen_softmax:.3f} s (target < 3 s: "
        f"{'met' if met else 'MISSED'}); log_softmax+logsumexp+jacobian+vjp {gen_rest:.3f} s"
    )
    print()

    header = (
        f"{'K':>5} {'ours ms':>9} {'scipy ms':>9} {'ratio':>6} {'≤1.2×':>6} "
        f"{'plain ms':>10} {'plain/sp':>8} {'gen s':>6} {'cse ms':>8} {'cse/sp':>6} {'gen s':>6}"
    )
    print(f"softmax on a ({args.rows}, K) float64 batch, best of {args.repeat}")
    print(header)
    for K in SIZES:
        z = rng.standard_normal((args.rows, K)) * 4.0
        ours = symsoftmax.lambdify_softmax(K)
        scipy_softmax = partial(scipy.special.softmax, z, axis=-1)
        t = best_times({"ours": partial(ours, z), "scipy": scipy_softmax}, args.repeat)
        generation = {"plain": float("nan"), "cse": float("nan")}
        if K in unrolled_sizes:
            # timed in a pass of their own (a plain call can take seconds), against SciPy again
            unrolled_functions: dict[str, Callable[[], Any]] = {"scipy": scipy_softmax}
            for variant in generation:
                unrolled, generation[variant] = unrolled_softmax(K, cse=variant == "cse")
                np.testing.assert_allclose(unrolled(z), ours(z), rtol=1e-13)
                unrolled_functions[variant] = lambda unrolled=unrolled, z=z: unrolled(z)
            t_unrolled = best_times(unrolled_functions, max(3, args.repeat // 5))
            scale = t["scipy"] / t_unrolled["scipy"]  # express them against the main pass's SciPy
            t |= {v: t_unrolled[v] * scale for v in generation}
        ratio = t["ours"] / t["scipy"]
        met = ratio <= SPEED_TARGET
        all_met &= met
        plain, cse = t.get("plain", float("nan")), t.get("cse", float("nan"))
        print(
            f"{K:>5} {t['ours'] * 1e3:>9.3f} {t['scipy'] * 1e3:>9.3f} {ratio:>6.2f} "
            f"{'met' if met else 'MISSED':>6} {plain * 1e3:>10.2f} {plain / t['scipy']:>8.1f} "
            f"{generation['plain']:>6.2f} {cse * 1e3:>8.2f} {cse / t['scipy']:>6.1f} "
            f"{generation['cse']:>6.2f}"
        )
    print()

    print(f"other functions against SciPy (no target), best of {args.repeat}")
    print(f"{'function':>12} {'K':>5} {'ours ms':>9} {'scipy ms':>9} {'ratio':>6}")
    pairs = {
        "log_softmax": lambda z: scipy.special.log_softmax(z, axis=-1),
        "logsumexp": lambda z: scipy.special.logsumexp(z, axis=-1),
    }
    for name, baseline in pairs.items():
        for K in SIZES:
            z = rng.standard_normal((args.rows, K)) * 4.0
            ours = getattr(symsoftmax, f"lambdify_{name}")(K)
            t = best_times(
                {
                    "ours": lambda ours=ours, z=z: ours(z),
                    "scipy": lambda baseline=baseline, z=z: baseline(z),
                },
                args.repeat,
            )
            print(
                f"{name:>12} {K:>5} {t['ours'] * 1e3:>9.3f} {t['scipy'] * 1e3:>9.3f} "
                f"{t['ours'] / t['scipy']:>6.2f}"
            )
    print()
    print("all targets met" if all_met else "SOME TARGETS MISSED")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
