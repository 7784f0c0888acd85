"""`symsoftmax derive`: print a derived formula, or write the derivation documents.

    symsoftmax derive WHAT --k K [--format latex|text|markdown|python|c]
    symsoftmax derive online_step|merge|attention_step [--format …]
    symsoftmax derive online_step --sink [--format …]
    symsoftmax derive bound --op OP --algorithm CLASS [--block B] [--splits S] [--k K]
    symsoftmax derive --write-derivations DIR

WHAT is softmax, log_softmax, logsumexp, jacobian, vjp, hessian (∂²σ_i/∂z_j∂z_k) or
cross_entropy_grad. K is at most 16 (the output has up to K³ entries). ``bound`` prints the
per-component rounding-error bound of OP for a kernel class, derived (symbolic.error_analysis).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from symsoftmax.cli._options import parse_int
from symsoftmax.errors import InputError
from symsoftmax.symbolic.options import (
    BOUND_ALGORITHMS,
    BOUND_OPS,
    MAX_BOUND_K,
    MAX_DERIVE_K,
    ONLINE_WHATS,
    STYLES,
    WHATS,
)

BOUND_STYLES = ("latex", "text", "markdown")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "derive",
        # the one-line help is symsoftmax.cli.SUMMARIES["derive"]
        description="Print softmax, log_softmax, logsumexp or a proven derivative for a "
        "concrete K, or regenerate the Markdown derivations.",
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=(*WHATS, *ONLINE_WHATS, "bound"),
        help="the formula to print (online_step, merge, attention_step: online updates, no --k; "
        "bound: the per-component error bound of --op for --algorithm)",
    )
    parser.add_argument("--op", choices=BOUND_OPS, help="bound: the op (default softmax)")
    parser.add_argument(
        "--algorithm", choices=BOUND_ALGORITHMS, help="bound: the kernel class (default two-pass)"
    )
    parser.add_argument("--block", metavar="B", help="bound, one-pass: block size (default 1)")
    parser.add_argument("--splits", metavar="S", help="bound, split: partial states (default 2)")
    parser.add_argument(
        "--sink",
        action="store_true",
        help="online_step: the update with an attention sink s, started from (m, d) = (s, 1)",
    )
    parser.add_argument("--k", metavar="K", help=f"number of logits, 1..{MAX_DERIVE_K}")
    parser.add_argument(
        "--format", choices=STYLES, default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--write-derivations",
        metavar="DIR",
        help="write the Markdown derivation documents (derivations/) into DIR",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.write_derivations is not None:
        if args.what is not None or args.k is not None:
            raise InputError("--write-derivations takes no WHAT or --k")
        folder = args.write_derivations
        if not folder:  # Path("") is the current folder: say so rather than write there
            raise InputError("--write-derivations: empty folder name")
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise InputError(f"--write-derivations: {folder}: not a folder")
        from symsoftmax.symbolic.printing.derivations import write_derivations

        for path in write_derivations(args.write_derivations):
            print(path)
        return 0
    if args.what == "bound":
        return _bound(args)
    for flag in ("op", "algorithm", "block", "splits"):
        if getattr(args, flag) is not None:
            raise InputError(f"--{flag} is for `derive bound` only")
    if args.sink and args.what != "online_step":
        raise InputError("--sink is for `derive online_step` only")
    if args.what is None:
        raise InputError(f"WHAT is required (one of {', '.join((*WHATS, *ONLINE_WHATS))})")
    if args.what in ONLINE_WHATS:
        if args.k is not None:
            raise InputError(f"{args.what} is the update for any length: it takes no --k")
        from symsoftmax.symbolic.printing.derive_online import derive_online, render_online

        sys.stdout.write(render_online(derive_online(args.what, sink=args.sink), args.format))
        return 0
    if args.k is None:
        raise InputError("--k is required")
    try:
        size = parse_int(args.k, "--k", 1, MAX_DERIVE_K)
    except InputError as exc:
        raise InputError(
            f"{exc} (the printed formula has up to K³ entries); for larger K see the closed "
            "forms in derivations/ and `symsoftmax verify --k K`"
        ) from None
    from symsoftmax.symbolic.printing.derive import derive, render

    sys.stdout.write(render(derive(args.what, size), args.format))
    return 0


def _bound(args: argparse.Namespace) -> int:
    """`derive bound`: the derived per-component bound, with its derivation."""
    if args.format not in BOUND_STYLES:
        raise InputError(f"derive bound prints {', '.join(BOUND_STYLES)}, not {args.format}")
    algorithm = args.algorithm or "two-pass"
    if args.block is not None and algorithm != "one-pass":
        raise InputError("--block is for --algorithm one-pass")
    if args.splits is not None and algorithm != "split":
        raise InputError("--splits is for --algorithm split")
    size = 3 if args.k is None else parse_int(args.k, "--k", 2, MAX_BOUND_K)
    block = 1 if args.block is None else parse_int(args.block, "--block", 1, 1 << 20)
    splits = 2 if args.splits is None else parse_int(args.splits, "--splits", 1, 1 << 20)
    from symsoftmax.symbolic.error_analysis import derive_bound, render_bound

    derived = derive_bound(args.op or "softmax", algorithm, size=size, block=block, splits=splits)
    sys.stdout.write(render_bound(derived, args.format))
    return 0
