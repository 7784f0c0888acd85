"""Options and output shared by ``symsoftmax validate`` and ``symsoftmax score`` (the kernel-class
options also by ``symsoftmax exhaustive``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from symsoftmax.cli._options import float_option, int_option
from symsoftmax.formats import FORMATS
from symsoftmax.validation.checks import PASS_MODES, PassRule
from symsoftmax.validation.componentwise import ALGORITHMS, EXP_ACCURACIES, KernelClass

__all__ = [
    "add_kernel_options",
    "add_verdict_options",
    "check_output_options",
    "emit",
    "kernel_class",
    "pass_rule",
]

MAX_WORST = 1_000_000  # a bound to state, not a resource limit: rows beyond the tests are empty


def add_kernel_options(parser: Any) -> None:
    """The kernel-class options of the per-component rule (--algorithm, --block, --splits,
    --exp2, --state, --exp-accuracy): validate, score and exhaustive."""
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="two-pass",
        help="the kernel class whose per-component bound --mode bound applies: the textbook "
        "two-pass softmax (default), one-pass (online, --block B), split-KV (--splits S), exp2 "
        "(log2(e) folded into the scale); docs/validation.md",
    )
    parser.add_argument(
        "--block",
        type=int_option("--block", 1, 1 << 30),
        default=1,
        metavar="B",
        help="one-pass block size: rescales counted once per block that raises the maximum "
        "(default 1: any entry may)",
    )
    parser.add_argument(
        "--splits",
        type=int_option("--splits", 1, 1 << 30),
        default=2,
        metavar="S",
        help="split-KV partial states (default 2)",
    )
    parser.add_argument(
        "--exp2",
        action="store_true",
        help="one-pass or split kernels that use exp2 (FlashAttention)",
    )
    parser.add_argument(
        "--state",
        choices=tuple(FORMATS),
        help="format of the kernel's max, exponentials and sum (default float32 for 16- and "
        "8-bit data, else the data's format)",
    )
    parser.add_argument(
        "--exp-accuracy",
        choices=EXP_ACCURACIES,
        default="faithful",
        help="accuracy assumed of exp and log (default faithful: under 1 ulp)",
    )


def kernel_class(args: argparse.Namespace) -> KernelClass:
    """The kernel class the options of :func:`add_kernel_options` declare (--one-pass, where a
    command has it, means --algorithm one-pass)."""
    algorithm = args.algorithm
    if getattr(args, "one_pass", False) and algorithm == "two-pass":
        algorithm = "one-pass"
    return KernelClass(
        algorithm, args.block, args.splits, args.state, args.exp_accuracy, exp2=args.exp2
    )


def add_verdict_options(parser: Any) -> None:
    """The pass-rule and output options of both commands."""
    parser.add_argument(
        "--mode",
        choices=tuple(mode for mode in PASS_MODES if mode != "max-ulp"),  # that one is --max-ulp N
        default="bound",
        help="pass rule: each component within the bound derived for --algorithm (default; "
        "softmax, log_softmax, logsumexp), the Blanchard–Higham–Higham normwise bound, under "
        "1 ulp, or equal to the correctly rounded value",
    )
    add_kernel_options(parser)
    parser.add_argument(
        "--max-ulp",
        type=float_option("--max-ulp"),
        metavar="N",
        help="pass rule: every component within N ulps",
    )
    parser.add_argument(
        "--ftz", action="store_true", help="accept 0 where the exact result is subnormal"
    )
    parser.add_argument("--no-properties", action="store_true", help="skip the property checks")
    parser.add_argument(
        "--one-pass",
        action="store_true",
        help="the outputs come from a one-pass (online, blockwise) softmax: --algorithm "
        "one-pass, and monotonicity and sum-to-one allow its rescale roundings (validate: "
        "implied by --attention; see docs/validation.md)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--report", metavar="FILE.md", help="write the report as Markdown")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="plot ulp error against input spread (matplotlib)"
    )
    parser.add_argument(
        "--worst",
        type=int_option("--worst", 0, MAX_WORST),
        default=10,
        metavar="N",
        help=f"worst cases shown, 0..{MAX_WORST} (default 10)",
    )


def pass_rule(args: argparse.Namespace) -> PassRule:
    """The pass rule the options ask for (--mode, --max-ulp, --ftz and the kernel class)."""
    return PassRule(args.mode, args.max_ulp, args.ftz, kernel_class(args))


def check_output_options(args: argparse.Namespace) -> None:
    """Refuse an empty or folder --report / --plot path before the work, not after it."""
    from symsoftmax.atomic import check_target

    for path in (args.report, args.plot):
        if path is not None:
            check_target(path)


def emit(report: Any, args: argparse.Namespace) -> int:
    """Print and write the report as asked; the exit status (0 all passed, 1 otherwise)."""
    from symsoftmax.atomic import write_atomic

    if args.report is not None:  # '' too: write_atomic names it
        write_atomic(args.report, report.to_markdown(worst=args.worst))
    if args.plot is not None:
        from symsoftmax.validation.plot import plot_report

        plot_report(report, args.plot)
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        from rich.console import Console

        report.render(Console(), worst=args.worst)
    return 0 if report.passed else 1
