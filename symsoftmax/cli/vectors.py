"""`symsoftmax vectors`: generate golden test vectors, or lint a vector file.

    symsoftmax vectors --op softmax --dtype float32 [--suite standard] [--seed 0]
                       [--format json|npz] --out softmax_float32.json
    symsoftmax vectors --from-rows ROWS.json --op OP --dtype DT [--format json|npz] --out PATH
    symsoftmax vectors --op OP --dtype DT [--suite S] --format lines [--hex] [--out PATH]
    symsoftmax vectors --lint FILE [--no-recheck] [--sample N [--seed S]]

``--format lines`` writes one test per line for a program in any language (to stdout without
``--out``; :mod:`symsoftmax.vectors.lines`, docs/languages.md); the other formats are vector files.

Exit status: 0 written / clean, 1 lint findings (one line each: file, tcId, field, what),
2 usage error or an unreadable file.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from symsoftmax.cli._options import add_seed_option
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS
from symsoftmax.vectors.io import FILE_FORMATS
from symsoftmax.vectors.model import OPS, SUITES

LINES = "lines"  # the text format for other languages' programs (not a vector file)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "vectors",
        help="generate golden test vectors (JSON/NPZ) or lint a vector file",
        description="Generate seeded, byte-reproducible test vectors with correctly rounded "
        "expected values, or lint an existing vector file (schema, tcIds, counts, checksum, "
        "and a re-check of every expected value with the reference engine).",
    )
    parser.add_argument("--op", choices=OPS, help="operation the vectors test")
    parser.add_argument("--dtype", choices=tuple(FORMATS), help="floating-point format")
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="standard",
        help="size: quick (~160 tests), standard (≥ 2000, default), exhaustive (rows of 2^20)",
    )
    add_seed_option(
        parser, help="seed of the random families (≥ 0); with --lint --sample, of the sample"
    )
    parser.add_argument(
        "--format",
        choices=(*FILE_FORMATS, LINES),
        default=None,
        help="file format (default: npz if --out ends in .npz, else json); lines: one test per "
        "line, 'tcId K T z_1 … z_K [g or y]', for a program in another language "
        "(docs/languages.md), to stdout without --out",
    )
    parser.add_argument(
        "--hex", action="store_true", help="with --format lines: C99 hex floats, not decimals"
    )
    parser.add_argument("--out", "-o", metavar="PATH", help="file to write (atomically)")
    parser.add_argument(
        "--from-rows",
        metavar="ROWS.json",
        help="vectors of your own rows instead of a suite: a JSON list of rows, each a list of "
        'numbers or number strings, or an object {"z": [...], "g"/"y": [...], "temperature": '
        '..., "sink": ..., "softcap": ...}; tcId n is row n',
    )
    parser.add_argument(
        "--lint", metavar="PATH", help="check a vector file instead of generating one"
    )
    parser.add_argument(
        "--no-recheck",
        action="store_true",
        help="with --lint: skip recomputing the expected values with the reference engine's "
        "authority path",
    )
    parser.add_argument(
        "--sample",
        type=_positive_int,
        metavar="N",
        help="with --lint: recheck only N tests, drawn with --seed (for big files)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_rows is not None and args.lint is not None:
        raise InputError("--from-rows makes a file, --lint checks one: give one of them")
    if args.lint is not None:
        if args.op or args.dtype or args.out:
            raise InputError("--lint takes a file only (no --op, --dtype or --out)")
        return _lint(args.lint, recheck=not args.no_recheck, sample=args.sample, seed=args.seed)
    if args.sample is not None:
        raise InputError("--sample goes with --lint")
    if args.hex and args.format != LINES:
        raise InputError("--hex goes with --format lines")
    required = ("op", "dtype") if args.format == LINES else ("op", "dtype", "out")
    missing = [name for name in required if getattr(args, name) is None]
    if missing:
        raise InputError(f"missing --{', --'.join(missing)} (or use --lint PATH)")
    from symsoftmax.atomic import check_target
    from symsoftmax.cli._progress import progress_bar
    from symsoftmax.vectors.builder import generate
    from symsoftmax.vectors.io import save
    from symsoftmax.vectors.rows import from_rows_file

    if args.out is not None:
        check_target(args.out)  # an unwritable --out fails before the work, not after

    with progress_bar() as progress:
        if args.from_rows is not None:
            vector_file = from_rows_file(args.op, args.dtype, args.from_rows, progress=progress)
            what = f"custom rows from {args.from_rows}"
        else:
            vector_file = generate(args.op, args.dtype, args.suite, args.seed, progress=progress)
            what = f"{args.suite}, seed {args.seed}"
    message = f"wrote {len(vector_file)} tests ({args.op}, {args.dtype}, {what})"
    if args.format == LINES:
        _write_lines(vector_file, args.out, hex=args.hex)
        # to stderr when the lines go to stdout: it is the pipe into the program under test
        print(f"{message} to {args.out or 'stdout'}", file=sys.stdout if args.out else sys.stderr)
        return 0
    save(vector_file, args.out, format=args.format)
    print(f"{message} to {args.out}")
    return 0


def _write_lines(vector_file: Any, out: str | None, *, hex: bool) -> None:
    """The lines format to ``out`` (atomically) or, when None, to stdout as it is made."""
    from symsoftmax.vectors.lines import dumps_lines, iter_lines

    if out is not None:
        from symsoftmax.atomic import write_atomic

        write_atomic(out, dumps_lines(vector_file, hex=hex))
        return
    for line in iter_lines(vector_file, hex=hex):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _lint(path: str, recheck: bool, sample: int | None, seed: int) -> int:
    from symsoftmax.vectors.linter import lint

    result = lint(path, recheck=recheck, sample=sample, seed=seed)
    for finding in result:
        print(finding)
    print(f"{path}: {result.coverage()}")
    if result:
        print(f"{path}: {len(result)} finding(s)", file=sys.stderr)
        return 1
    print(f"{path}: clean")
    return 0
