"""Command-line entry point: ``symsoftmax <command> ...`` (also ``python -m symsoftmax``).

A thin layer: each subcommand lives in its own module here, with ``register(subparsers)`` that adds
its parser and sets ``run(args) -> int``. The work itself is done by the library. Errors in user
input surface as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from symsoftmax import __version__
from symsoftmax.errors import InputError

__all__ = ["COMMANDS", "main"]

# In the order of the data flow: symbolic → reference → vectors → validate.
COMMANDS = ("derive", "verify", "reference", "vectors", "validate", "score")

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (argparse prints usage + error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one subparser per command in COMMANDS."""
    parser = _Parser(
        prog="symsoftmax",
        description="Symbolic proofs, correctly rounded references, test vectors and a "
        "validator for softmax, log_softmax and logsumexp.",
    )
    parser.add_argument("--version", action="version", version=f"symsoftmax {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name in COMMANDS:
        importlib.import_module(f"symsoftmax.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a check failed, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as exc:
        print(f"symsoftmax {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `symsoftmax derive ... | head`
        return EXIT_OK
    except OSError as exc:  # unreadable or unwritable file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"symsoftmax {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"symsoftmax {args.command}: interrupted", file=sys.stderr)
        return 130
