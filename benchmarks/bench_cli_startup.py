#!/usr/bin/env python
"""CLI start-up: ``symsoftmax --version``, ``--help`` and each ``symsoftmax CMD --help``, against
``python -c "import numpy"`` measured in the same run (the baseline; interleaved).

    python benchmarks/bench_cli_startup.py            # median of 9 runs each
    python benchmarks/bench_cli_startup.py --quick    # median of 3 (the CI smoke step)

Each figure is the median wall time of a fresh interpreter (``python -m symsoftmax ...``, the
console script's code path), so it includes Python's own start-up, as a user's shell sees it.
Prints seconds and the ratio to the baseline; the issue's targets: ``--version`` and ``--help``
within 2×, each command's ``--help`` within 3×.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from symsoftmax.cli import COMMANDS

BASELINE = ("-c", "import numpy")


def _cases() -> dict[str, tuple[tuple[str, ...], float]]:
    """label -> (interpreter arguments, target ratio)."""
    cases = {
        "--version": (("-m", "symsoftmax", "--version"), 2.0),
        "--help": (("-m", "symsoftmax", "--help"), 2.0),
    }
    for name in COMMANDS:
        cases[f"{name} --help"] = (("-m", "symsoftmax", name, "--help"), 3.0)
    return cases


def _wall(arguments: tuple[str, ...]) -> float:
    """Seconds from starting ``python ARGUMENTS`` until it exited (status 0 required)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="runs per case (median)")
    parser.add_argument("--quick", action="store_true", help="3 runs per case")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    cases = _cases()
    times: dict[str, list[float]] = {label: [] for label in ["baseline", *cases]}
    _wall(BASELINE)  # warm the file cache before anything is timed
    for _ in range(repeats):  # interleaved: a load change hits every case alike
        for label, (arguments, _target) in cases.items():
            times["baseline"].append(_wall(BASELINE))
            times[label].append(_wall(arguments))
    baseline = statistics.median(times["baseline"])
    print(
        f"python -c 'import numpy' (baseline) {baseline:7.3f} s   median of {repeats * len(cases)}"
    )
    for label, (_arguments, target) in cases.items():
        median = statistics.median(times[label])
        ratio = median / baseline
        verdict = "met" if ratio <= target else "NOT met"
        print(
            f"symsoftmax {label:<20} {median:7.3f} s   {ratio:5.2f}x   target {target:g}x {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
