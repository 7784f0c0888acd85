"""Speed and memory of the blockwise (online) softmax against SciPy, measured in the same run.

    python benchmarks/bench_online.py [--rows 10000] [--repeat 7] [--sizes 1024,8192]
                                      [--blocks 256,1024] [--accuracy float64,float32]

Target (docs/performance.md, "Online (blockwise) functions"): ``online_softmax(z, block=1024)``
on a (10000, K) float64 batch within 1.5× of ``scipy.special.softmax(z, axis=-1)`` for
K ∈ {1024, 8192}. Block 256 is shown too (no target). log_softmax and logsumexp are shown
against SciPy's (no target).

log1p finalization (issue 19 §4): log_softmax and logsumexp carry r = d − 1 and finalize with
log1p(r); the ratio of their time to the form before, (m, d) and m + log d
(``OnlineFunction(kind, log1p=False)``), measured in the same run, block 1024 — target within
1.1×. The ratio is the median of back-to-back pairs (``paired_ratio``), robust to the load of a
shared machine; the best times are shown beside it. ``--accuracy`` also prints the largest error
in ulps of both forms on the standard suites' rows of the given formats, against the correctly
rounded expected values (rows with a +inf entry left out: both answer NaN there, an accepted
answer; tests with inputs besides z and the temperature too), and of the one-pass lambdified
log1p form.

Memory: the peak of the memory NumPy allocates during one call (``tracemalloc``, which NumPy
reports its array buffers to), minus the result's own bytes: the scratch. The online form needs
O(block) scratch per row in flight — it reads each chunk of rows block by block and writes the
result into the output array — where SciPy's softmax allocates (rows, K) temporaries. Printed
per row of the batch, and for ours per row of one chunk (the rows in flight at once).

Timings are best-of-N with candidate and baseline alternating in each round
(bench_lambdify.best_times).
"""

from __future__ import annotations

import argparse
import timeit
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.special
from bench_lambdify import best_times

import symsoftmax
from symsoftmax.numeric.online import (
    OnlineFunction,
    online_log_softmax,
    online_logsumexp,
    online_softmax,
    rows_per_chunk,
)
from symsoftmax.rounding import ulp
from symsoftmax.validation.sources import suite_vectors

SPEED_TARGET = 1.5
LOG1P_TARGET = 1.1
TARGET_BLOCK = 1024
LOG_KINDS = ("log_softmax", "logsumexp")


def scratch_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated during ``fn()`` beyond its result (tracemalloc)."""
    fn()  # warm up: compiled kernels, caches
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before - np.asarray(result).nbytes


def paired_ratio(new: Callable[[], Any], old: Callable[[], Any], rounds: int) -> float:
    """Median over ``rounds`` of time(new)/time(old), each round timing the two back to back:
    on a loaded machine the load drifts between rounds, so a ratio of best times can pair a
    quiet moment of one with a busy one of the other; adjacent timings share theirs."""
    new(), old()  # warm up: compiled kernels, caches
    number = max(1, int(0.05 / max(timeit.timeit(old, number=1), 1e-9)))
    ratios = []
    for n in range(rounds):
        pair = (new, old) if n % 2 == 0 else (old, new)  # neither always runs first
        times = {fn: timeit.timeit(fn, number=number) for fn in pair}
        ratios.append(times[new] / times[old])
    return float(np.median(ratios))


def log1p_ratios(rows: int, sizes: list[int], repeat: int, rng: np.random.Generator) -> bool:
    """Print the time of the log1p finalization against the (m, d) one; True if on target."""
    rounds = 3 * repeat
    print(
        f"log1p finalization against m + log d (target {LOG1P_TARGET}x): median of {rounds} "
        "back-to-back ratios; best times"
    )
    print(f"{'function':>12} {'K':>5} {'block':>5} {'log1p ms':>9} {'log d ms':>9} {'ratio':>6}")
    met = True
    for kind in LOG_KINDS:
        new, old = OnlineFunction(kind), OnlineFunction(kind, log1p=False)
        for K in sizes:
            z = rng.standard_normal((rows, K)) * 4.0
            calls = {
                "new": partial(new, z, block=TARGET_BLOCK),
                "old": partial(old, z, block=TARGET_BLOCK),
            }
            ratio = paired_ratio(calls["new"], calls["old"], rounds)
            t = best_times(calls, repeat)
            met &= ratio <= LOG1P_TARGET
            print(
                f"{kind:>12} {K:>5} {TARGET_BLOCK:>5} {t['new'] * 1e3:>9.1f} "
                f"{t['old'] * 1e3:>9.1f} {ratio:>6.2f}"
            )
    print()
    return met


def max_ulp(fn: Callable[..., Any], kind: str, dtype: str) -> tuple[float, int, int]:
    """(largest error in ulps, outputs beyond 4 ulps, outputs) of ``fn`` on the standard suite."""
    worst, beyond, count = 0.0, 0, 0
    for test in suite_vectors(kind, dtype, "standard").tests():
        z = test.inputs["z"].astype(dtype)
        expected = np.atleast_1d(test.expected["output"]).astype(np.float64)
        finite = np.isfinite(expected)
        if set(test.inputs) - {"z", "temperature"} or np.isposinf(z).any() or not finite.any():
            continue  # other ops' inputs (a sink, a soft cap), or no finite output to measure
        temperature = test.inputs.get("temperature")
        T = None if temperature is None else float(temperature)
        with np.errstate(all="ignore"):
            got = np.atleast_1d(fn(z, temperature=T)).astype(np.float64)
        errors = np.abs(got[finite] - expected[finite]) / ulp(expected[finite], dtype)
        errors[np.isnan(errors)] = np.inf  # a NaN where a number is expected
        worst = max(worst, float(errors.max()))
        beyond += int((errors > 4).sum())
        count += errors.size
    return worst, beyond, count


def _one_pass(lambdified: Callable[..., Any], z: np.ndarray, temperature: float | None) -> Any:
    """The one-pass lambdified function (lambdify_log_softmax, …) of z's row length."""
    return lambdified(z.shape[-1], temperature=temperature)(z)


def accuracy(dtypes: list[str]) -> None:
    """Print the largest ulp errors of both finalizations and the one-pass form."""
    print("max error in ulps on the standard suites (outputs beyond 4 ulps / outputs)")
    print(f"{'function':>12} {'dtype':>8} {'log1p':>18} {'m + log d':>22} {'one-pass':>18}")
    for kind in LOG_KINDS:
        one_pass = partial(_one_pass, getattr(symsoftmax, f"lambdify_{kind}"))
        for dtype in dtypes:
            cells = []
            for fn in (OnlineFunction(kind), OnlineFunction(kind, log1p=False), one_pass):
                worst, beyond, count = max_ulp(fn, kind, dtype)
                cells.append(f"{worst:.3g} ({beyond}/{count})")
            print(f"{kind:>12} {dtype:>8} {cells[0]:>18} {cells[1]:>22} {cells[2]:>18}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="batch rows (default 10000)")
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds (default 7)")
    parser.add_argument("--sizes", default="1024,8192", help="row lengths K (default 1024,8192)")
    parser.add_argument("--blocks", default="256,1024", help="block lengths (default 256,1024)")
    parser.add_argument(
        "--accuracy", default="", help="formats whose standard suites to measure (e.g. float64)"
    )
    args = parser.parse_args()
    sizes = [int(k) for k in args.sizes.split(",")]
    blocks = [int(b) for b in args.blocks.split(",")]
    rng = np.random.default_rng(20261201)
    all_met = True

    print(f"softmax on a ({args.rows}, K) float64 batch, best of {args.repeat}")
    print(
        f"{'K':>5} {'block':>5} {'ours ms':>9} {'scipy ms':>9} {'ratio':>6} {'target':>7} "
        f"{'ours B/row':>11} {'in flight':>10} {'scipy B/row':>11}"
    )
    for K in sizes:
        z = rng.standard_normal((args.rows, K)) * 4.0
        scipy_softmax = partial(scipy.special.softmax, z, axis=-1)
        scipy_scratch = scratch_bytes(scipy_softmax) / args.rows
        for block in blocks:
            ours = partial(online_softmax, z, block=block)
            np.testing.assert_allclose(ours(), scipy_softmax(), rtol=1e-12, atol=1e-300)
            t = best_times({"ours": ours, "scipy": scipy_softmax}, args.repeat)
            ratio = t["ours"] / t["scipy"]
            verdict = "-"
            if block == TARGET_BLOCK:
                met = ratio <= SPEED_TARGET
                all_met &= met
                verdict = "met" if met else "MISSED"
            scratch = scratch_bytes(ours)
            in_flight = min(args.rows, rows_per_chunk(K, block))
            print(
                f"{K:>5} {block:>5} {t['ours'] * 1e3:>9.1f} {t['scipy'] * 1e3:>9.1f} "
                f"{ratio:>6.2f} {verdict:>7} {scratch / args.rows:>11.1f} "
                f"{scratch / in_flight:>10.0f} {scipy_scratch:>11.1f}"
            )
    print()

    print(f"log_softmax and logsumexp against SciPy (no target), best of {args.repeat}")
    print(f"{'function':>12} {'K':>5} {'block':>5} {'ours ms':>9} {'scipy ms':>9} {'ratio':>6}")
    pairs: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "log_softmax": (online_log_softmax, scipy.special.log_softmax),
        "logsumexp": (online_logsumexp, scipy.special.logsumexp),
    }
    for name, (online, baseline) in pairs.items():
        for K in sizes:
            z = rng.standard_normal((args.rows, K)) * 4.0
            t = best_times(
                {
                    "ours": partial(online, z, block=TARGET_BLOCK),
                    "scipy": partial(baseline, z, axis=-1),
                },
                args.repeat,
            )
            print(
                f"{name:>12} {K:>5} {TARGET_BLOCK:>5} {t['ours'] * 1e3:>9.1f} "
                f"{t['scipy'] * 1e3:>9.1f} {t['ours'] / t['scipy']:>6.2f}"
            )
    print()
    all_met &= log1p_ratios(args.rows, sizes, args.repeat, rng)
    if args.accuracy:
        accuracy(args.accuracy.split(","))
    print("all targets met" if all_met else "SOME TARGETS MISSED")
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
