"""`symsoftmax exhaustive TARGET`: the candidate on every row of a small format.

See docs/exhaustive.md.

TARGET (``module:function`` or ``path/file.py:function``) runs in an isolated worker process,
as for ``validate``. By default the rows are spread over a Dask LocalCluster of this machine's
cores; ``--workers 0`` runs them here, ``--scheduler tcp://host:port`` on an existing cluster.
``--merge A.json B.json …`` combines shard reports (``--json`` output of ``--shard I/N`` runs);
a report or a ``--resume`` checkpoint read back is reconciled field by field (one line for the
first field that does not fit, exit 2).
Exit status 0 when every row passed, 1 when a row failed or the run is incomplete (a shard),
2 for usage or input errors.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from symsoftmax.cli._options import float_option, int_option
from symsoftmax.cli._report_options import add_kernel_options, kernel_class
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS
from symsoftmax.ops import OPERATIONS
from symsoftmax.validation.checks import PASS_MODES, PassRule

# sweep.runner.EXHAUSTIVE_OPS (not imported here: no NumPy at parse time) — one input row and a
# vectorized reference; the Jacobian and the two-input ops have fast paths but no sweep
_OPS = tuple(
    name for name, op in OPERATIONS.items() if op.fast_path and op.inputs == ("z",) and op.dims < 2
)
_SHARD = re.compile(r"([0-9]{1,9})/([0-9]{1,9})")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "exhaustive",
        # the one-line help is symsoftmax.cli.SUMMARIES["exhaustive"]
        description="Call TARGET on every row of K bit patterns of DTYPE (float8 K = 2, 3; "
        "float16 / bfloat16 K = 2) and judge each row like validate (see docs/exhaustive.md).",
    )
    parser.add_argument(
        "target", metavar="TARGET", nargs="?", help="module:function or path/file.py:function"
    )
    parser.add_argument("--op", choices=_OPS, default="softmax", help="operation (default softmax)")
    parser.add_argument("--dtype", default="float8_e4m3fn", help=f"{', '.join(FORMATS)}")
    parser.add_argument("--k", type=int_option("--k", 1, 64), default=2, help="row length")
    parser.add_argument(
        "--mode",
        choices=tuple(m for m in PASS_MODES if m != "max-ulp"),
        default="bound",
        help="pass rule, as for validate: each component within the bound derived for "
        "--algorithm (default), or normwise, faithful, correctly-rounded",
    )
    add_kernel_options(parser)
    parser.add_argument("--max-ulp", type=float_option("--max-ulp"), metavar="N")
    parser.add_argument("--ftz", action="store_true", help="accept 0 for subnormal results")
    parser.add_argument(
        "--batch",
        type=int_option("--batch", 1, 1 << 24),
        default=1 << 18,
        help="rows per call of TARGET (default 262144)",
    )
    parser.add_argument("--shard", metavar="I/N", help="run only shard I of N (0 ≤ I < N)")
    parser.add_argument(
        "--workers",
        type=int_option("--workers", 0, 4096),
        default=None,
        help="Dask LocalCluster processes (default: the cores); 0 runs in this process",
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler")
    parser.add_argument(
        "--scheduler-timeout",
        type=float_option("--scheduler-timeout", 1e-3),
        metavar="S",
        help="seconds the --scheduler has to answer (default 30: sweep.SCHEDULER_TIMEOUT)",
    )
    parser.add_argument("--resume", metavar="FILE", help="checkpoint file: read, and rewritten")
    parser.add_argument(
        "--timeout",
        type=float_option("--timeout", 1e-3),
        default=60.0,
        help="seconds per call of TARGET (default 60)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--report", metavar="FILE.md", help="write the report as Markdown")
    parser.add_argument("--plot", metavar="FILE.png", help="plot the error histogram")
    parser.add_argument(
        "--merge", nargs="+", metavar="REPORT", help="merge shard reports (--json files)"
    )
    parser.set_defaults(run=run)


def _shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    match = _SHARD.fullmatch(text.strip())
    if not match or not int(match[1]) < int(match[2]):
        raise InputError(f"--shard must be I/N with 0 ≤ I < N, got {text!r}")
    return int(match[1]), int(match[2])


def run(args: argparse.Namespace) -> int:
    from symsoftmax.atomic import check_target, write_atomic
    from symsoftmax.cli._progress import progress_bar  # imports the vector builder and mpmath
    from symsoftmax.sweep import SCHEDULER_TIMEOUT, ExhaustiveReport, exhaustive, merge_reports

    for path in (args.report, args.plot):
        if path is not None:
            check_target(path)
    if args.merge:
        if args.target is not None:
            raise InputError("--merge takes report files, not a TARGET")
        report = merge_reports([ExhaustiveReport.from_json(p) for p in args.merge])
    else:
        if args.target is None:
            raise InputError("missing TARGET (module:function or path/file.py:function)")
        workers = (os.cpu_count() or 1) if args.workers is None else args.workers
        waits = args.scheduler_timeout if args.scheduler_timeout is not None else SCHEDULER_TIMEOUT
        with progress_bar() as progress:
            report = exhaustive(
                args.target,
                op=args.op,
                dtype=args.dtype,
                k=args.k,
                rule=PassRule(args.mode, args.max_ulp, args.ftz, kernel_class(args)),
                batch=args.batch,
                shard=_shard(args.shard),
                workers=workers,
                scheduler=args.scheduler,
                scheduler_timeout=waits,
                resume=args.resume,
                timeout=args.timeout,
                progress=progress,
            )
    if args.report is not None:
        write_atomic(args.report, report.to_markdown())
    if args.plot is not None:
        report.plot(args.plot)
    sys.stdout.write(report.to_json() + "\n" if args.json else report.to_text())
    return 0 if report.passed else 1
