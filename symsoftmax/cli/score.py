"""`symsoftmax score VECTORS OUTPUTS`: judge outputs computed in another language.

OUTPUTS is a JSON object mapping each tcId to its output values as strings (decimal or hex; see
docs/validation.md). Exit status 0 when every test passes, 1 when any fails, 2 for usage or
input errors (a missing tcId, a malformed value: one line naming file, tcId and position).
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
        help="score outputs computed elsewhere (JSON) against a vector file",
        description="Judge OUTPUTS (a JSON object: tcId -> list of value strings) against the "
        "exact values in VECTORS, with the same metrics and pass rules as validate.",
    )
    parser.add_argument("vectors", metavar="VECTORS", help="vector file (.json or .npz)")
    parser.add_argument("outputs", metavar="OUTPUTS", help="JSON file of outputs per tcId")
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
    )
    return emit(report, args)
