"""Benchmark: the exhaustive runner's rows per second (issue 12 §3), vs NumPy float64 softmax.

Work measured: :func:`symsoftmax.sweep.runner.tally_range` on row ranges spread evenly over the
space (``--chunks`` ranges of ``--rows`` rows: the space's regions differ — NaN rows, +inf rows,
underflowing spreads), softmax (``--ops``: also log_softmax, logsumexp) in bound mode, batches of
the CLI's default size, with a float32-accumulating max-shifted NumPy function as the candidate,
called in this process (the CLI calls it in an isolated worker; ``bench_isolation.py`` measures
that transport). That is the whole per-row cost of an exhaustive run but the transport: making
the rows, the candidate, the correctly rounded reference, judging, and tallying. Baseline:
NumPy's float64 max-shifted softmax on the same rows, interleaved, minimum of the repeats.
Printed: rows/s, the ratio to the baseline, and the one-core time of the whole space at that
rate.

``--compare-blocks`` also times the batch judged in one block (``JUDGED_TOGETHER`` = the batch),
as before blocking, to show what judging in cache-sized blocks gains.

Run: python benchmarks/bench_exhaustive.py [--rows N] [--chunks C] [--repeats R]
     [--spaces float16:2,...] [--ops softmax,log_softmax,logsumexp] [--compare-blocks]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import interleaved_min, numpy_softmax  # benchmarks/_timing.py

import symsoftmax.sweep.runner as runner
from symsoftmax.sweep import DEFAULT_BATCH
from symsoftmax.sweep.space import Space
from symsoftmax.validation.checks import PassRule


def float32_softmax(x: np.ndarray) -> np.ndarray:
    """The softmax candidate: max-shifted, accumulated in float32."""
    z = x.astype(np.float32)
    with np.errstate(all="ignore"):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def float32_log_softmax(x: np.ndarray) -> np.ndarray:
    """The log_softmax candidate: z − m − log Σ e^(z − m) in float32."""
    z = x.astype(np.float32)
    with np.errstate(all="ignore"):
        t = z - z.max(axis=-1, keepdims=True)
        return (t - np.log(np.exp(t).sum(axis=-1, keepdims=True))).astype(x.dtype)


def float32_logsumexp(x: np.ndarray) -> np.ndarray:
    """The logsumexp candidate: m + log Σ e^(z − m) in float32, one value per row."""
    z = x.astype(np.float32)
    with np.errstate(all="ignore"):
        m = z.max(axis=-1)
        return (m + np.log(np.exp(z - m[..., None]).sum(axis=-1))).astype(x.dtype)


CANDIDATES = {
    "softmax": float32_softmax,
    "log_softmax": float32_log_softmax,
    "logsumexp": float32_logsumexp,
}


def ranges(space: Space, rows: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` ranges of ``rows`` rows, evenly spread over the space."""
    rows = min(rows, space.size // chunks)
    return [(i * space.size // chunks, i * space.size // chunks + rows) for i in range(chunks)]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1 << 19, help="rows per range")
    parser.add_argument("--chunks", type=int, default=8, help="ranges per space")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--spaces", default="float16:2,bfloat16:2,float8_e4m3fn:3,float8_e5m2:3")
    parser.add_argument("--ops", default="softmax", help="comma-separated: softmax,log_softmax,…")
    parser.add_argument("--compare-blocks", action="store_true")
    args = parser.parse_args()
    print(
        f"{args.chunks} ranges of ≤ {args.rows} rows per space, batches of {DEFAULT_BATCH}, "
        f"judged in blocks of {runner.JUDGED_TOGETHER}; min of {args.repeats} interleaved runs"
    )
    print(
        f"{'space':<18} {'op':<12} {'variant':<10} {'rows/s':>12} {'numpy f64 rows/s':>17} "
        f"{'ratio':>7} {'whole space, 1 core':>20}"
    )
    for spec, op in [(spec, op) for spec in args.spaces.split(",") for op in args.ops.split(",")]:
        dtype, k = spec.split(":")
        space = Space.of(dtype, int(k))
        job = runner.Job(CANDIDATES[op], op, dtype, int(k), PassRule(), timeout=None)
        parts = ranges(space, args.rows, args.chunks)
        n = sum(b - a for a, b in parts)
        with np.errstate(invalid="ignore"):
            clean = [
                np.nan_to_num(space.rows(a, b).astype(np.float64), nan=0.0, posinf=1, neginf=-1)
                for a, b in parts
            ]

        def sweep(job: runner.Job = job, parts: list[tuple[int, int]] = parts) -> None:
            for a, b in parts:
                runner.tally_range(job, a, b, DEFAULT_BATCH)

        def baseline(clean: list[np.ndarray] = clean) -> None:
            with np.errstate(all="ignore"):
                for rows in clean:
                    numpy_softmax(rows)

        variants = [("blocks", runner.JUDGED_TOGETHER)]
        if args.compare_blocks:
            variants.append(("one block", DEFAULT_BATCH))
        for name, block in variants:
            saved, runner.JUDGED_TOGETHER = runner.JUDGED_TOGETHER, block
            try:
                ours, base = interleaved_min(sweep, baseline, args.repeats)
            finally:
                runner.JUDGED_TOGETHER = saved
            rate = n / ours
            print(
                f"{spec:<18} {op:<12} {name:<10} {rate:>12,.0f} {n / base:>17,.0f} "
                f"{ours / base:>6.1f}× {_duration(space.size / rate):>20}",
                flush=True,
            )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
