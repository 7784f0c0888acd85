"""`symsoftmax verify`: prove the softmax identities exactly, for one K or for symbolic K.

    symsoftmax verify --k K [--exhaustive | --permutation] [--json]
    symsoftmax verify --general [--json]

--general also proves the definition's claims (symbolic.any_k.claims), the online recurrences
(symbolic.any_k.online_proofs) and the sink and soft-cap variants (symbolic.any_k.variants) by
cases; --k runs the fixed-K forms of the first two for K <= FIXED_CLAIMS_MAX_K.

Exit status 0 when every identity is proven, 1 when one is not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from symsoftmax.cli._options import parse_int
from symsoftmax.errors import InputError
from symsoftmax.symbolic.options import FIXED_CLAIMS_MAX_K, MAX_K

MAX_EXHAUSTIVE_K = 128
"""Largest K for --exhaustive: it checks every entry, K³ of them for the second derivative
(2 097 152 at K = 128). One run each: K = 48 took 3.7 s, K = 96 22 s, growing as K³, so K = 128
is about a minute and K = 1000 would be hours; the default mode proves larger K by permutation
symmetry (K = 10 000 in 29 s)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        # the one-line help is symsoftmax.cli.SUMMARIES["verify"]
        description="Prove the Jacobian, VJP, log_softmax, logsumexp, cross-entropy, second "
        "derivative, shift-invariance and sigmoid identities as exact symbolic zeros, the "
        "claims of the softmax definition (sum 1, range, order, bounds) and the online-softmax "
        "recurrences (invariant, merge, attention accumulator and backward, base-2 form). "
        "Default mode: every entry for K <= 16, permutation symmetry (representative "
        "entries of S_K-equivariant sides) above.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--k", metavar="K", help=f"number of logits, an integer in 1..{MAX_K}")
    target.add_argument(
        "--general", action="store_true", help="prove for symbolic K (IndexedBase, Sum)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--exhaustive",
        action="store_true",
        help=f"check every entry (K² or K³ of them; K <= {MAX_EXHAUSTIVE_K})",
    )
    mode.add_argument(
        "--permutation",
        action="store_true",
        help="check representative entries only, by permutation symmetry",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def parse_k(text: str) -> int:
    """--k as a positive integer within the cap, or InputError naming the option."""
    return parse_int(text, "--k", 1, MAX_K)


def check_exhaustive_size(size: int) -> None:
    """InputError, with the limit and why, if --exhaustive cannot finish for this K."""
    if size > MAX_EXHAUSTIVE_K:
        raise InputError(
            f"--exhaustive with K = {size} checks {size**3} second-derivative entries; the "
            f"limit is K = {MAX_EXHAUSTIVE_K} (about a minute, growing as K³); drop "
            "--exhaustive to prove it by permutation symmetry"
        )


def run(args: argparse.Namespace) -> int:
    from symsoftmax.symbolic import prove_all, prove_general

    if args.general:
        if args.exhaustive or args.permutation:
            raise InputError("--exhaustive/--permutation apply to --k, not --general")
        results = prove_general()
        target: int | str = "general"
        size = 0
    else:
        size = parse_k(args.k)
        if args.exhaustive:
            check_exhaustive_size(size)
        mode = "exhaustive" if args.exhaustive else "permutation" if args.permutation else "auto"
        results = prove_all(size, mode)
        target = size
    # a lemma (checked with the proof that uses it) is printed as itself, not as an assumption
    notes = [
        a if a.startswith("lemma: ") else f"assumption: {a}" for r in results for a in r.assumptions
    ]
    if not args.general and size > FIXED_CLAIMS_MAX_K:
        notes.append(
            f"the definition's claims and the online identities run for K <= {FIXED_CLAIMS_MAX_K} "
            "(SymPy over K-term sums); `verify --general` proves them for symbolic K"
        )
    if any(r.method.startswith("permutation") for r in results):
        notes.append(
            "permutation symmetry: both sides are S_K-equivariant (J(Pz) = P J(z) Pᵀ, "
            "checked exactly), so the representative entries listed determine every entry"
        )
    all_proven = all(r.proven for r in results)
    if args.json:
        print(
            json.dumps(
                {
                    "k": target,
                    "identities": [r.to_dict() for r in results],
                    "all_proven": all_proven,
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_table(target, results, notes, all_proven)
    return 0 if all_proven else 1


def _print_table(target: int | str, results: list[Any], notes: list[str], ok: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = f"softmax identities, K = {target}" if target != "general" else "symbolic K"
    table = Table(title=title)
    table.add_column("name", no_wrap=True)  # names are identifiers: never cut
    table.add_column("proven")
    table.add_column("method", overflow="fold")
    table.add_column("seconds", justify="right")
    for r in results:
        table.add_row(r.name, "yes" if r.proven else "NO", r.method, f"{r.seconds:.3f}")
    console.print(table)
    for note in dict.fromkeys(notes):
        console.print(f"note: {note}", highlight=False)
    for r in results:
        if not r.proven:
            console.print(r.failure_message(), highlight=False, markup=False)
    summary = "all identities proven" if ok else "NOT all identities proven"
    console.print(f"{summary} ({sum(r.proven for r in results)}/{len(results)})", highlight=False)
