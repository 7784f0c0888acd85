"""`symsoftmax score VECTORS OUTPUTS`: judge outputs computed in another language.

OUTPUTS is a JSON object mapping each tcId to its output values as strings (decimal or hex; see
docs/validation.md), or answer lines ``tcId v_1 … v_N`` (docs/languages.md); ``-`` reads it
from stdin, the end of a pipe ``symsoftmax vectors --format lines | ./program | symsoftmax
score VECTORS -``. Exit status 0 when every test passes, 1 when any fails, 2 for usage or input
errors (a missing tcId, a malformed value, a value that is not one of the format without
``--round-outputs``: one line naming file, tcId and position).
"""

from __future__ import annotations

import argparse
from typing import Any

from symsoftmax.cli._report_options import (
    add_verdict_options,
    check_output_options,
    emit,
    pass_rule,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score outputs computed elsewhere (JSON or lines) against a vector file",
        description="Judge OUTPUTS (a JSON object: tcId -> list of value strings, or lines "
        "'tcId v_1 ... v_N'; - for stdin) against the exact values in VECTORS, with the same "
        "metrics and pass rules as validate.",
    )
    parser.add_argument("vectors", metavar="VECTORS", help="vector file (.json or .npz)")
    parser.add_argument(
        "outputs",
        metavar="OUTPUTS",
        help="JSON file of outputs per tcId, or lines 'tcId v_1 ... v_N' (- reads stdin)",
    )
    parser.add_argument(
        "--round-outputs",
        action="store_true",
        help="round a value that is not one of the format (more digits than it has, a double "
        "for a float32 test) to the nearest that is, instead of refusing it",
    )
    add_verdict_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from symsoftmax.validation import score

    check_output_options(args)
    report = score(
        args.vectors,
        args.outputs,
        rule=pass_rule(args),
        properties=not args.no_properties,
        one_pass=args.one_pass,
        name=args.outputs,
        round_outputs=args.round_outputs,
    )
    return emit(report, args)
