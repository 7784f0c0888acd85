"""Reading user JSON: every malformed file is one InputError line naming it, never a traceback.

Python's ``json`` module fails on hostile input in three ways that are not ``JSONDecodeError``:
it recurses once per nesting level (``[[[[…]]]]`` raises RecursionError), it converts integers
with ``int()``, which refuses more than 4300 digits (ValueError; see "Integer string conversion
length limitation" in the Python docs, ``sys.get_int_max_str_digits``), and it accepts the
non-JSON constants ``NaN`` and ``Infinity`` (RFC 8259 §6 has no such numbers). :func:`loads_json`
turns each into InputError, and bounds the nesting to :data:`MAX_DEPTH` so that code walking
the result (JSON Schema validation, ``numpy.array``) cannot recurse too deep either. Every such
error names the line and column (1-based, in characters, as ``json`` counts them) where the
problem starts; ``json``'s hooks do not say where they are called, so for the problems found by
a hook the text is scanned again, on the error path only (:func:`_position`).

A key given twice in one object is refused too: ``json`` keeps the last value, so an outputs
file with a tcId twice (failing values, then correct ones) would pass on the last.

Every user file (JSON, and the NPZ vector files) is read by :func:`read_user_file`: a regular
file only (a FIFO would block, ``/dev/zero`` never ends) of at most :data:`MAX_JSON_BYTES`
(``SYMSOFTMAX_MAX_JSON_BYTES`` overrides it), checked before reading, and never more than that
read, so that a file growing meanwhile is bounded too.

With ``numbers_as_text=True`` JSON numbers come back as :class:`JsonNumber` (a ``str``): their
exact text, for :func:`symsoftmax.rounding.parse_exact`, instead of a float rounded to 53 bits.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Any

from symsoftmax.errors import InputError

__all__ = [
    "MAX_BYTES_VARIABLE",
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "JsonNumber",
    "load_json",
    "loads_json",
    "max_file_bytes",
    "read_user_file",
    "read_user_stdin",
]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (vector files use up to 10, outputs 3)."""

MAX_JSON_BYTES = 1 << 30
"""Largest user file read (bytes), 1 GiB: three times the largest vector file documented (the
exhaustive softmax float32 suite, 330 MB of JSON; a standard suite is about 22 MB), and small
enough that parsing it fits in memory. :data:`MAX_BYTES_VARIABLE` overrides it."""

MAX_BYTES_VARIABLE = "SYMSOFTMAX_MAX_JSON_BYTES"
"""Environment variable that sets the cap (a positive integer of bytes) instead."""

_CHUNK = 1 << 20  # read size after the first read (which asks for the whole file at once)
_DIGITS = re.compile(r"[0-9]{1,19}")
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

_INT_DIGITS = 4300  # Python's default int-string limit; a longer JSON integer is refused here


class JsonNumber(str):
    """A JSON number kept as its text (``numbers_as_text=True``)."""

    __slots__ = ()


class _RepeatedKey(ValueError):
    """A key given twice in one JSON object (raised by :func:`_object_once`)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a repeated key (``json`` would keep its last value)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return document


class _Refused(ValueError):
    """A JSON value the hooks refuse; ``kind`` says which token :func:`_position` looks for."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _reject_constant(token: str) -> Any:
    raise _Refused(
        f"bare {token} is not JSON: write it as the string {token.lower()!r}", "constant"
    )


def _int_or_refuse(text: str) -> int:
    if len(text.lstrip("-")) > _INT_DIGITS:
        digits = len(text.lstrip("-"))
        raise _Refused(f"an integer of {digits} digits, over the limit of {_INT_DIGITS}", "integer")
    return int(text)


def loads_json(data: str | bytes, name: str, *, numbers_as_text: bool = False) -> Any:
    """Parse JSON text or UTF-8 bytes; InputError ``"<name>: ..."`` for anything malformed.

    Raises InputError for invalid UTF-8, invalid JSON, ``NaN``/``Infinity``, integers beyond
    4300 digits (unless ``numbers_as_text``), a key repeated in one object and nesting deeper
    than :data:`MAX_DEPTH`.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        document = json.loads(
            text,
            parse_int=JsonNumber if numbers_as_text else _int_or_refuse,
            parse_float=JsonNumber if numbers_as_text else float,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_once,
        )
    except RecursionError:
        raise _too_deep(name, text) from None
    except _RepeatedKey as exc:
        from symsoftmax.rounding import brief_repr

        where = _parenthesized(_place(text, _position(text, "key", exc.key)))
        raise InputError(
            f"{name}: key {brief_repr(exc.key)} appears twice in one object{where}"
        ) from None
    except json.JSONDecodeError as exc:
        place = f"line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{name}: not valid JSON ({exc.msg}, {place})") from None
    except _Refused as exc:
        where = _place(text, _position(text, exc.kind))
        raise InputError(f"{name}: not valid JSON ({exc}{', ' * bool(where)}{where})") from None
    too_deep = (
        _text_depth_exceeds(data, MAX_DEPTH)
        if isinstance(data, bytes)
        else _depth_exceeds(document, MAX_DEPTH)
    )
    if too_deep:
        raise _too_deep(name, text)
    return document


def _too_deep(name: str, text: str) -> InputError:
    where = _parenthesized(_place(text, _position(text, "depth")))
    return InputError(f"{name}: JSON nested deeper than {MAX_DEPTH} levels{where}")


# JSON's tokens, for finding where a hook's refusal lies: a string, a number, a bare
# constant, a bracket or separator, or any other single character; whitespace is skipped.
_TOKENS = re.compile(
    r'"(?:[^"\\]|\\.)*"|-?(?:Infinity|\d[0-9.eE+-]*)|NaN|[^\s]',
    re.DOTALL,
)


def _position(text: str, kind: str, key: str | None = None) -> int | None:
    """Where, in ``text``, a problem found by a hook starts (None if not found): the first
    bare constant (``kind`` "constant"), integer of too many digits ("integer"), bracket
    nested deeper than :data:`MAX_DEPTH` ("depth"), or repetition of ``key`` in one object
    ("key"). Only called on the error path, so the second pass costs nothing otherwise."""
    objects: list[set[str] | None] = []  # per open bracket: the keys seen, None for arrays
    last_string: tuple[int, str] | None = None
    for match in _TOKENS.finditer(text):
        token, start = match.group(), match.start()
        if kind == "constant" and token in ("NaN", "Infinity", "-Infinity"):
            return start
        if kind == "integer" and _long_integer(token):
            return start
        if token in ("[", "{"):
            objects.append(set() if token == "{" else None)
            if kind == "depth" and len(objects) > MAX_DEPTH:
                return start
        elif token in ("]", "}") and objects:
            objects.pop()
        elif token == ":" and last_string is not None and objects and objects[-1] is not None:
            name = json.loads(last_string[1])
            if kind == "key" and name == key and name in objects[-1]:
                return last_string[0]
            objects[-1].add(name)
        last_string = (start, token) if token.startswith('"') else None
    return None


def _long_integer(token: str) -> bool:
    """Whether a token is an integer of more digits than ``int()`` converts."""
    digits = token.lstrip("-")
    return len(digits) > _INT_DIGITS and digits.isdigit()


def _place(text: str, position: int | None) -> str:
    """'line L, column C' of a character offset into ``text`` ("" for None), counted as
    ``json.JSONDecodeError`` counts them: 1-based, the column in characters."""
    if position is None:
        return ""
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)  # rfind is −1 on the first line
    return f"line {line}, column {column}"


def _parenthesized(place: str) -> str:
    return f" ({place})" if place else ""


def load_json(path: str | os.PathLike[str], *, numbers_as_text: bool = False) -> Any:
    """Read (:func:`read_user_file`) and parse (:func:`loads_json`) a JSON file; every problem is
    one InputError line naming it."""
    return loads_json(read_user_file(path), os.fspath(path), numbers_as_text=numbers_as_text)


def max_file_bytes() -> int:
    """The size cap in force: :data:`MAX_BYTES_VARIABLE` if set, else :data:`MAX_JSON_BYTES`."""
    text = os.environ.get(MAX_BYTES_VARIABLE)
    if text is None:
        return MAX_JSON_BYTES
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        from symsoftmax.rounding import brief_repr

        raise InputError(
            f"{MAX_BYTES_VARIABLE} must be a positive integer of bytes, got {brief_repr(text)}"
        )
    return int(text)


def read_user_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a user's file: a regular file of at most :func:`max_file_bytes` bytes.

    Refused before anything is read (InputError ``"<path>: cannot read: ..."``): a missing or
    unreadable file, a folder, FIFO, device or socket (one would block, another never end), or
    a file over the cap. The path is checked, then opened with ``O_NONBLOCK`` (a FIFO swapped
    in meanwhile opens at once) and the open file checked again; at most cap + 1 bytes are
    read, so a file that grows, or whose size the system does not report, stays bounded.
    """
    name = os.fspath(path)
    cap = max_file_bytes()
    try:
        _check_status(os.stat(name), name, cap)
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        size = _check_status(os.fstat(fd), name, cap)
        return _read_bounded(fd, name, size, cap)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_user_stdin(name: str = "<stdin>") -> bytes:
    """All of standard input (``-`` for a file argument), at most :func:`max_file_bytes` bytes
    like a file: a pipe has no size to check first, so the bound is applied while reading."""
    try:
        return _read_bounded(0, name, 0, max_file_bytes())
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None


def _check_status(status: os.stat_result, name: str, cap: int) -> int:
    """The file's size, or InputError if it is not a regular file or is over ``cap``."""
    if not stat.S_ISREG(status.st_mode):
        kind = next((kind for test, kind in _KINDS if test(status.st_mode)), "not a file")
        raise InputError(f"{name}: cannot read: {kind}, not a regular file")
    if status.st_size > cap:
        raise _too_large(name, cap, status.st_size)
    return status.st_size


def _read_bounded(fd: int, name: str, size: int, cap: int) -> bytes:
    """Read to the end, but at most ``cap`` bytes: InputError if there is more."""
    chunks: list[bytes] = []
    total, want = 0, min(size, cap) + 1  # the whole file in one read, usually
    while total <= cap:
        chunk = os.read(fd, min(want, cap + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = _CHUNK
    if total > cap:
        raise _too_large(name, cap)
    return b"".join(chunks)


def _too_large(name: str, cap: int, size: int | None = None) -> InputError:
    found = f" ({size} bytes)" if size is not None else ""
    return InputError(
        f"{name}: cannot read: more than the limit of {cap} bytes{found}; set "
        f"{MAX_BYTES_VARIABLE} to read larger files"
    )


_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(code for code in range(256) if code not in _STRUCTURE)
_BACKSLASH_RUN = re.compile(rb"\\+")


def _text_depth_exceeds(data: bytes, limit: int) -> bool:
    """:func:`_depth_exceeds` of valid JSON (``json`` has parsed it) read from its UTF-8 bytes:
    several times faster than walking the document (a walk cost as much as the parse).

    In valid JSON, brackets and braces outside strings are exactly the arrays and objects, so
    the nesting depth is the largest running count of opened less closed ones outside strings.
    Strings are delimited by the quotes that no backslash escapes (a quote after an odd run of
    backslashes is escaped: those are dropped); UTF-8 never uses these bytes inside a
    multi-byte character (RFC 3629 §3). Only those five bytes are kept, in C
    (``bytes.translate``), and counted as arrays.
    """
    import numpy as np

    kept = bytearray(data.translate(None, _NOT_STRUCTURE))
    for index in reversed(_escaped_quote_indices(data)):
        del kept[index]
    # Two adjacent quotes can go (a string without brackets, or one's end and the next one's
    # start): the count of quotes before every other byte changes by 0 or 2, so what is inside
    # a string stays inside. A vector file's million strings leave only its brackets.
    codes = np.frombuffer(bytes(kept).replace(b'""', b""), dtype=np.uint8)
    quote = codes == ord('"')
    inside = (np.cumsum(quote) & 1).astype(bool)  # after an opening quote, to its closing one
    opens = ((codes == ord("[")) | (codes == ord("{"))) & ~inside
    closes = ((codes == ord("]")) | (codes == ord("}"))) & ~inside
    depth = np.cumsum(opens.astype(np.int64) - closes)
    return bool(depth.size) and int(depth.max()) > limit


def _escaped_quote_indices(data: bytes) -> list[int]:
    """The indices, among the bytes of :data:`_STRUCTURE` in ``data``, of the quotes that an
    odd run of backslashes escapes (rare: notes quoting something). The runs are found by
    ``bytes.find`` (a byte search in C: a regular expression's scan cost 8 ms on a 27 MB
    suite) and the structure bytes counted with ``bytes.count`` from one such quote to the
    next, so the time stays linear in the file."""
    indices: list[int] = []
    counted, kept = 0, 0  # the structure bytes in data[:counted]
    start = data.find(b"\\")
    while start != -1:
        quote = _BACKSLASH_RUN.match(data, start).end()  # type: ignore[union-attr]
        if data[quote : quote + 1] == b'"' and (quote - start) % 2 == 1:
            kept += sum(data.count(code, counted, quote) for code in _STRUCTURE)
            counted = quote
            indices.append(kept)
        start = data.find(b"\\", quote)
    return indices


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
