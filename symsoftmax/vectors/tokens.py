"""Many short ASCII tokens as a byte matrix, and the array parse of canonical hex floats.

A suite's JSON holds about 10⁶ number tokens (hex floats, 40-digit decimals). Parsing them one
Python call at a time costs more than the JSON parse itself, so they are parsed as arrays: the
tokens become a (tokens, width) matrix of byte codes, zero-padded (NumPy's fixed-width bytes, or
rows gathered from the tokens joined into one byte string), and the characters of every token
are read column by column. A token that does not fit the expected layout is only marked, never
guessed: the caller sends it to the exact one-at-a-time parse, which also names it in an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLOCK",
    "DECIMAL_DIGITS",
    "SEPARATOR",
    "joined_tokens",
    "parse_hex_tokens",
    "token_blocks",
]

BLOCK = 4096
"""Tokens cut out per block: temporaries of a few hundred kB are reused, where ones of the whole
array (tens of MB) cost more in fresh pages than the arithmetic."""

Codes = npt.NDArray[np.uint8]
Lengths = npt.NDArray[np.int64]


def joined_tokens(
    tokens: Sequence[Any], padding: int, text: str | None = None
) -> tuple[Codes, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(codes, start, length): the tokens' characters as ASCII codes, one token after the other
    with a newline between (in C: one join, one encoding; a non-ASCII character as "?", which
    no grammar here accepts), followed by ``padding`` zeros, so that a read up to ``padding``
    past a token stays inside; where each token starts, and its length. Tokens that are not
    all str are read as their str() (and refused by the grammars).

    The newlines give the lengths in one array search, twice as fast as asking each token;
    only if some token holds a newline itself (then there are more than one between each two)
    are the tokens asked. ``text``: ``SEPARATOR.join(tokens)``, if the caller has it."""
    try:
        text = SEPARATOR.join(tokens) if text is None else text
        texts = tokens
    except TypeError:
        texts = [str(token) for token in tokens]
        text = SEPARATOR.join(texts)
    n = len(texts)
    codes = np.frombuffer(text.encode("ascii", errors="replace") + bytes(padding), np.uint8)
    separators = np.flatnonzero(codes[: len(text)] == ord(SEPARATOR))
    if separators.size == max(n - 1, 0):
        start = np.zeros(n, dtype=np.int64)
        start[1:] = separators + 1
        end = np.append(separators, len(text)) if n else separators
        return codes, start, end - start
    length = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    start = np.cumsum(length + 1) - (length + 1)
    return codes, start, length


SEPARATOR = "\n"
"""What :func:`joined_tokens` puts between the tokens."""


def token_blocks(
    tokens: Sequence[str] | npt.NDArray[Any], width: int, block: int = BLOCK
) -> Iterator[tuple[int, Codes, Lengths]]:
    """(first index, codes, lengths) of each block of ``tokens`` (str): ``codes[i, j]`` is the ASCII
    code of character j of the block's token i (0 past its end or past ``width``), ``lengths``
    its length in characters.

    A character outside ASCII is given as ``?`` (one code per character, so lengths and columns
    stay right), which neither grammar of this package accepts. ``tokens`` may be a list of str
    or a NumPy string array (read in place: no Python str per token). ``block``: tokens per
    block (more: fewer NumPy calls, larger temporaries).
    """
    if isinstance(tokens, np.ndarray) and tokens.dtype.kind == "U":
        yield from _array_blocks(tokens.reshape(-1), width, block)
        return
    texts = tokens if isinstance(tokens, list) else [str(token) for token in tokens]
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    if not n:
        return
    try:  # ASCII: NumPy cuts the fixed-width matrix itself, in C (longer tokens are cut short)
        matrix = np.array(texts, dtype=f"S{max(width, 1)}").view(np.uint8).reshape(n, -1)
    except UnicodeEncodeError:
        matrix = None
    if matrix is not None:
        for first in range(0, n, block):
            yield first, matrix[first : first + block, :width], lengths[first : first + block]
        return
    buffer, starts, _ = joined_tokens(texts, 0)
    columns = np.arange(width)
    for first in range(0, n, block):
        length = lengths[first : first + block]
        inside = columns < length[:, None]
        where = np.where(inside, starts[first : first + block, None] + columns, 0)
        codes = buffer[where] if buffer.size else np.zeros(where.shape, dtype=np.uint8)
        codes[~inside] = 0
        yield first, codes, length


def _array_blocks(
    array: npt.NDArray[np.str_], width: int, block: int
) -> Iterator[tuple[int, Codes, Lengths]]:
    """:func:`token_blocks` of a NumPy string array (UTF-32 code units, NUL-padded)."""
    units = array.view(np.uint32).reshape(array.size, -1) if array.size else None
    have = 0 if units is None else units.shape[1]
    lengths = np.char.str_len(array).astype(np.int64)
    for first in range(0, array.size, block):
        part = np.zeros((min(block, array.size - first), width), dtype=np.uint32)
        if units is not None:
            part[:, : min(width, have)] = units[first : first + block, :width]
        codes = np.where(part < 128, part, ord("?")).astype(np.uint8)
        yield first, codes, lengths[first : first + block]


# --- canonical hex floats ----------------------------------------------------------------------
#
# What float.hex() writes for a finite non-zero double: [-]0x1.hhhhhhhhhhhhhp±E (normal; E with
# no leading zero, "+0" for 0) or [-]0x0.hhhhhhhhhhhhhp-1022 (subnormal), always 13 lowercase
# hex digits. Such a token is the double with sign bit, biased exponent E + 1023 (0 when
# subnormal) and the 52-bit fraction h — a bijection, so a token of this exact layout is
# canonical (float.hex(float.fromhex(t)) == t) and is read without float.fromhex. Zeros and the
# specials ("0x0.0p+0", "nan", "inf") are short: the caller's exact route decides them.

_HEX_WIDTH = 24  # "-0x1." + 13 digits + "p-1022": the padding read past the last token
_SHORT = {"0x0.0p+0": 0.0, "-0x0.0p+0": -0.0, "nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_NIBBLE = np.full(256, 255, dtype=np.uint8)  # a lowercase hex digit's value, else 255
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def parse_hex_tokens(
    tokens: Sequence[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(values, canonical): the float64 of each token that is what
    :func:`symsoftmax.rounding.format_hex` writes — a ``float.hex`` string (see above), or
    "nan", "inf", "-inf"; ``canonical`` is False for every other token (other spellings,
    anything malformed), whose value is left 0.

    Read column by column from the joined bytes (one gather of every token's character at the
    same offset from its start: the layout is fixed up to the sign and the exponent's length).
    """
    buffer, start, length = joined_tokens(tokens, _HEX_WIDTH)
    values, ok = np.zeros(len(length)), np.zeros(len(length), dtype=bool)
    for first in range(0, len(length), _HEX_BLOCK):  # temporaries that stay in the cache
        part = slice(first, first + _HEX_BLOCK)
        values[part], ok[part] = _parse_hex_block(buffer, start[part], length[part])
    return values, ok


_HEX_BLOCK = 1 << 14  # tokens per block: a few hundred kB of temporaries, reused (a third faster)


def _parse_hex_block(
    buffer: Codes, start: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """:func:`parse_hex_tokens` of the tokens at ``start`` (of ``length``) in ``buffer``."""
    n = len(length)
    negative = buffer[start] == ord("-")
    at = start + negative  # where "0x" starts
    exponent_length = length - (at - start + 19)
    ok = (exponent_length >= 1) & (exponent_length <= 4)  # every column read below is inside
    at = np.where(ok, at, buffer.size - _HEX_WIDTH)  # the others read the zero padding
    # each token's 24 bytes from "0x" on, in one gather of rows of a sliding window over the
    # bytes, then character-major (one contiguous row per position)
    window = np.lib.stride_tricks.sliding_window_view(buffer, _HEX_WIDTH)[at]
    columns = np.ascontiguousarray(window.T)

    def column(offset: int) -> Codes:
        return columns[offset]

    lead, sign = column(2), column(18)
    ok &= (column(0) == ord("0")) & (column(1) == ord("x")) & (column(3) == ord("."))
    ok &= ((lead == ord("0")) | (lead == ord("1"))) & (column(17) == ord("p"))
    ok &= (sign == ord("+")) | (sign == ord("-"))
    nibbles = _NIBBLE[columns[3:17]]  # the point's column as a leading 0, then 13 digits
    nibbles[0] = 0
    ok &= (nibbles <= 15).all(axis=0)
    packed = np.zeros((n, 8), dtype=np.uint8)  # big-endian: a zero byte, then 7 of 2 nibbles
    packed[:, 1:] = ((nibbles[0::2] << 4) | (nibbles[1::2] & 15)).T
    fraction = packed.view(">u8").reshape(n).astype(np.uint64)
    exponent = np.zeros(n, dtype=np.int64)
    for place in range(4):
        inside = place < exponent_length
        digit = column(19 + place).astype(np.int64) - ord("0")
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        if place == 0:
            ok &= (digit != 0) | (exponent_length == 1)  # no leading zero
        exponent = np.where(inside, exponent * 10 + digit, exponent)
    exponent = np.where(sign == ord("-"), -exponent, exponent)
    ok &= (sign == ord("+")) | (exponent != 0)  # "p-0" is not canonical
    normal = lead == ord("1")
    ok &= np.where(normal, (exponent >= -1022) & (exponent <= 1023), exponent == -1022)
    ok &= normal | (fraction != 0)  # 0x0.000…p-1022 is zero, written "0x0.0p+0"
    biased = np.where(normal & ok, exponent + 1023, 0).astype(np.uint64)
    bits = (negative.astype(np.uint64) << np.uint64(63)) | (biased << np.uint64(52)) | fraction
    values = np.where(ok, bits, np.uint64(0)).view(np.float64)
    for spelling, value in _SHORT.items():  # a token equal to one of these, byte for byte
        same = np.flatnonzero(length == len(spelling))
        for offset, code in enumerate(spelling.encode()):
            same = same[buffer[start[same] + offset] == code]
        values[same], ok[same] = value, True
    return values, ok


# --- the generator's exact decimals ------------------------------------------------------------

DECIMAL_DIGITS = 40
"""Significant digits of the exact values the generator writes, [-]d.ddd…e±X
(:data:`symsoftmax.vectors.builder.DIGITS`); the exact parse reads that layout as arrays
(:mod:`symsoftmax.validation.metrics`)."""
