"""`symsoftmax abi --header [--op OP] [--dtype DT]`: the C declarations that ``validate --abi c``
calls (:mod:`symsoftmax.validation.native`; docs/languages.md).

Imports nothing heavy until it runs (the CLI's start-up stays fast).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from symsoftmax.formats import FORMATS
    from symsoftmax.ops import VECTOR_OPS

    parser = subparsers.add_parser(
        "abi",
        help="print the C declarations of the kernels validate --abi c calls",
        description="Print the C header of the kernels `symsoftmax validate LIB.so:SYMBOL --op "
        "OP --dtype DT --abi c` calls: row-major batches, float/double, or the bit patterns of "
        "the 16- and 8-bit formats as uint16_t/uint8_t.",
    )
    parser.add_argument(
        "--header", action="store_true", help="print the C header (the default and only output)"
    )
    parser.add_argument(
        "--op", choices=VECTOR_OPS, action="append", help="only this op (repeatable)"
    )
    parser.add_argument(
        "--dtype", choices=tuple(FORMATS), action="append", help="only this format (repeatable)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from symsoftmax.ops import VECTOR_OPS
    from symsoftmax.validation.native import declarations

    ops = tuple(args.op) if args.op else VECTOR_OPS
    sys.stdout.write(declarations(ops, tuple(args.dtype or ())))
    return 0
