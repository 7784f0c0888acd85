"""`symsoftmax verify` (placeholder until its issue lands: replaced by the real command)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("verify", help="(not built yet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("symsoftmax verify: not built yet")
