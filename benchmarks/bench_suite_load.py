#!/usr/bin/env python
"""Loading a suite: ``vectors.load`` of a JSON file, and the cached NPZ, against a plain
``json.load`` of the same JSON file measured in the same run (the baseline; interleaved).

    python benchmarks/bench_suite_load.py                  # softmax float32 standard
    python benchmarks/bench_suite_load.py --op logsumexp --dtype bfloat16 --suite quick

Prints seconds and the ratio to ``json.load``. The issue's targets for the whole ``validate``
(candidate excluded): within 10× of ``json.load`` from a JSON file, 5× from the cache; this
benchmark times the loading part of that.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from symsoftmax import vectors
from symsoftmax.vectors.io import read_npz_model


def _best(fn: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--op", default="softmax")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    vf = vectors.generate(args.op, args.dtype, suite=args.suite)
    with tempfile.TemporaryDirectory() as folder:
        as_json, as_npz = Path(folder, "suite.json"), Path(folder, "suite.npz")
        vectors.save(vf, as_json)
        vectors.save(vf, as_npz)

        def plain() -> object:
            with open(as_json, encoding="utf-8") as handle:
                return json.load(handle)

        baseline = load = cached = float("inf")
        for _ in range(args.repeats):  # interleaved: a load change hits all three alike
            baseline = min(baseline, _best(plain, 1))
            load = min(load, _best(lambda: vectors.load(as_json), 1))
            cached = min(cached, _best(lambda: read_npz_model(as_npz), 1))
        size = as_json.stat().st_size / 1e6
    print(f"{args.op} {args.dtype} {args.suite}: {len(vf)} tests, {size:.1f} MB of JSON")
    print(f"json.load (baseline)      {baseline:8.3f} s")
    print(f"vectors.load (JSON)       {load:8.3f} s   {load / baseline:6.1f}x json.load")
    print(f"read_npz_model (cache)    {cached:8.3f} s   {cached / baseline:6.1f}x json.load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
