#!/usr/bin/env python
"""Loading a suite and judging a candidate with it, end to end, against a plain ``json.load`` of
the suite's JSON file measured in the same run (the baseline; interleaved).

    python benchmarks/bench_suite_load.py                  # softmax float32 standard
    python benchmarks/bench_suite_load.py --op logsumexp --dtype bfloat16 --suite quick
    python benchmarks/bench_suite_load.py --quick          # 1 round, the CI smoke step

Times, best of the rounds:

* ``vectors.load`` of the JSON file (read, full schema check, decode) and ``read_npz_model`` of
  the suite cache's NPZ;
* ``validate`` end to end from the JSON file (``validate(fn, vectors=PATH)``, in process, a NumPy
  candidate) and from the suite cache (``validate(fn, op, dtype, suite=...)`` with the cache
  already written, as a second run finds it), less the candidate's own time (measured inside its
  calls by a wrapper);
* ``score`` end to end of an OUTPUTS file of a correct candidate's values (each expected value as
  its shortest decimal) against the JSON file.

Prints seconds and the ratio to ``json.load``. The issue's targets (issue 19 §1): ``validate``
and ``score`` from a JSON file within 10× of ``json.load``, from the cache within 5×.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from symsoftmax import vectors
from symsoftmax.formats import get_format
from symsoftmax.validation import score, validate
from symsoftmax.validation.sources import suite_vectors
from symsoftmax.vectors.io import read_npz_model
from symsoftmax.vectors.model import VectorFile


class _Timed:
    """A NumPy softmax or log_softmax candidate (float64 inside, rounded to the input's dtype)
    that adds up the seconds spent inside its calls, so that the validator's time is the total
    less this."""

    def __init__(self, op: str = "softmax") -> None:
        self.seconds = 0.0
        self.log = op == "log_softmax"

    def __call__(self, z: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        x = z.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            shifted = x - x.max(axis=-1, keepdims=True)
            e = np.exp(shifted)
            total = e.sum(axis=-1, keepdims=True)
            out = shifted - np.log(total) if self.log else e / total
        self.seconds += time.perf_counter() - start
        return out.astype(z.dtype)


def _outputs(vf: VectorFile) -> dict[str, list[str]]:
    """A correct candidate's OUTPUTS: each expected value as the shortest decimal of its format
    (what a C program printing with ``%.9g`` or a round-trip printer writes)."""
    dtype = get_format(vf.dtype).numpy_dtype
    return {
        str(test.tc_id): [
            str(value) for value in np.asarray(test.expected[key], dtype=dtype).ravel()
        ]
        for test in vf.tests()
        for key in test.expected
    }


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _validate_seconds(candidate_op: str, **kwargs: Any) -> float:
    """validate(...) end to end less the candidate's own time."""
    candidate = _Timed(candidate_op)
    total = _seconds(lambda: validate(candidate, **kwargs))
    return total - candidate.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--op", default="softmax", help="softmax or log_softmax (the candidate)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round (ratios are noisier)")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as folder:
        os.environ["SYMSOFTMAX_CACHE_DIR"] = str(Path(folder, "cache"))
        vf = suite_vectors(args.op, args.dtype, args.suite)  # generated and cached: a first run
        as_json, as_npz = Path(folder, "suite.json"), Path(folder, "suite.npz")
        outputs = Path(folder, "outputs.json")
        vectors.save(vf, as_json)
        vectors.save(vf, as_npz)
        outputs.write_text(json.dumps(_outputs(vf)))

        def plain() -> object:
            with open(as_json, encoding="utf-8") as handle:
                return json.load(handle)

        cases: dict[str, Callable[[], float]] = {
            "json.load (baseline)": lambda: _seconds(plain),
            "vectors.load (JSON)": lambda: _seconds(lambda: vectors.load(as_json)),
            "read_npz_model (cache)": lambda: _seconds(lambda: read_npz_model(as_npz)),
            "validate, JSON file": lambda: _validate_seconds(args.op, vectors=as_json),
            "validate, cache": lambda: _validate_seconds(
                args.op, op=args.op, dtype=args.dtype, suite=args.suite
            ),
            "score, JSON file": lambda: _seconds(lambda: score(as_json, outputs)),
        }
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(repeats):  # interleaved: a load change hits every case alike
            for label, case in cases.items():
                best[label] = min(best[label], case())
        size = as_json.stat().st_size / 1e6
    baseline = best["json.load (baseline)"]
    print(f"{args.op} {args.dtype} {args.suite}: {len(vf)} tests, {size:.1f} MB of JSON")
    targets = {"validate, JSON file": 10, "validate, cache": 5, "score, JSON file": 10}
    for label, seconds in best.items():
        target = f"   target {targets[label]}x" if label in targets else ""
        print(f"{label:<24} {seconds:8.3f} s   {seconds / baseline:6.1f}x json.load{target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
