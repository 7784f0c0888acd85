"""Numeric command-line options, parsed strictly: ASCII digits, bounds stated, one-line errors.

``int()`` and ``float()`` are too lenient for options: they accept non-ASCII digits (``"١٢"`` is
12), underscores (``"1_000"``), and ``float()`` overflows to inf or gives nan. These parsers use
a fixed ASCII grammar (numbers through :func:`symsoftmax.rounding.parse_exact`) and say the
allowed range in the message.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from symsoftmax.errors import InputError
from symsoftmax.rounding import brief_repr, parse_exact

__all__ = ["SEED_MAX", "add_seed_option", "float_option", "int_option", "parse_int"]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_SHOWN_DIGITS = 20


# Any non-negative integer seeds the generators (numpy's SeedSequence); the bound only keeps a
# seed typed on the command line to 19 digits.
SEED_MAX = 2**63 - 1


def _int_in_range(text: str, lo: int, hi: int) -> int:
    """``text`` as an integer in lo..hi; ValueError (the message without the option) if not."""
    expected = f"must be an integer in {lo}..{hi}"
    stripped = text.strip(" \t")
    if not _INTEGER.fullmatch(stripped):
        raise ValueError(f"{expected}, got {brief_repr(text)}")
    significant = stripped.lstrip("+-").lstrip("0") or "0"
    if len(significant) > _SHOWN_DIGITS:  # not worth printing in full
        raise ValueError(f"{expected}, got a number of {len(significant)} digits")
    value = -int(significant) if stripped.startswith("-") else int(significant)
    if not lo <= value <= hi:
        raise ValueError(f"{expected}, got {value}")
    return value


def parse_int(text: str, option: str, lo: int, hi: int) -> int:
    """``text`` as an integer in lo..hi, or InputError ``"<option> must be ..."``."""
    try:
        return _int_in_range(text, lo, hi)
    except ValueError as exc:
        raise InputError(f"{option} {exc}") from None


def int_option(option: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type=`` for an integer in lo..hi (argparse names the option itself)."""

    def convert(text: str) -> int:
        try:
            return _int_in_range(text, lo, hi)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option  # argparse shows it in "invalid <name> value" fallbacks
    return convert


def float_option(option: str, lo: float = 0.0) -> Callable[[str], float]:
    """An argparse ``type=`` for a finite number ≥ lo (decimal or hex, as parse_exact reads)."""

    def convert(text: str) -> float:
        expected = f"must be a finite number >= {lo:g}, got {brief_repr(text)}"
        try:
            value = float(parse_exact(text))
        except (InputError, OverflowError):
            raise argparse.ArgumentTypeError(expected) from None
        if not math.isfinite(value) or value < lo:
            raise argparse.ArgumentTypeError(expected)
        return value

    convert.__name__ = option
    return convert


def add_seed_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--seed``: the vector generator's seed, 0..SEED_MAX (default 0), read strictly."""
    parser.add_argument("--seed", type=int_option("--seed", 0, SEED_MAX), default=0, help=help)
