"""Reading user JSON: every malformed file is one InputError line naming it, never a traceback.

Python's ``json`` module fails on hostile input in three ways that are not ``JSONDecodeError``:
it recurses once per nesting level (``[[[[…]]]]`` raises RecursionError), it converts integers
with ``int()``, which refuses more than 4300 digits (ValueError; see "Integer string conversion
length limitation" in the Python docs, ``sys.get_int_max_str_digits``), and it accepts the
non-JSON constants ``NaN`` and ``Infinity`` (RFC 8259 §6 has no such numbers). :func:`loads_json`
turns each into InputError, and bounds the nesting to :data:`MAX_DEPTH` so that code walking
the result (JSON Schema validation, ``numpy.array``) cannot recurse too deep either.

With ``numbers_as_text=True`` JSON numbers come back as :class:`JsonNumber` (a ``str``): their
exact text, for :func:`symsoftmax.rounding.parse_exact`, instead of a float rounded to 53 bits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from symsoftmax.errors import InputError

__all__ = ["MAX_DEPTH", "JsonNumber", "load_json", "loads_json"]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (vector files use up to 10, outputs 3)."""

_INT_DIGITS = 4300  # Python's default int-string limit; a longer JSON integer is refused here


class JsonNumber(str):
    """A JSON number kept as its text (``numbers_as_text=True``)."""

    __slots__ = ()


def _reject_constant(token: str) -> Any:
    raise ValueError(f"bare {token} is not JSON (write it as the string {token.lower()!r})")


def _int_or_refuse(text: str) -> int:
    if len(text.lstrip("-")) > _INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (limit {_INT_DIGITS})")
    return int(text)


def loads_json(data: str | bytes, name: str, *, numbers_as_text: bool = False) -> Any:
    """Parse JSON text or UTF-8 bytes; InputError ``"<name>: ..."`` for anything malformed.

    Raises InputError for invalid UTF-8, invalid JSON, ``NaN``/``Infinity``, integers beyond
    4300 digits (unless ``numbers_as_text``) and nesting deeper than :data:`MAX_DEPTH`.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    too_deep = InputError(f"{name}: JSON nested deeper than {MAX_DEPTH} levels")
    try:
        document = json.loads(
            text,
            parse_int=JsonNumber if numbers_as_text else _int_or_refuse,
            parse_float=JsonNumber if numbers_as_text else float,
            parse_constant=_reject_constant,
        )
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
    if _depth_exceeds(document, MAX_DEPTH):
        raise too_deep
    return document


def load_json(path: str | os.PathLike[str], *, numbers_as_text: bool = False) -> Any:
    """Read and parse a JSON file (see :func:`loads_json`); a file that cannot be read is an
    InputError naming it too."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None
    return loads_json(data, os.fspath(path), numbers_as_text=numbers_as_text)


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than ``limit`` deep; iterative, so never recursing."""
    if not isinstance(document, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
