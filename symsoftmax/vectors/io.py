"""Reading and writing vector files: JSON (Wycheproof-like) and NPZ, byte-reproducible.

JSON document (key order fixed; see docs/vectors.md for every field)::

    {"header": {...}, "notes": {flag: {"description", "catches"}},
     "testGroups": [{"k": K, "tests": [{"tcId", "comment", "flags", "inputs", "expected",
                                         "exact", "result", ["acceptable"]}, ...]}, ...]}

Numbers are ``float.hex`` strings (:func:`symsoftmax.rounding.format_hex`), exact values decimal
strings. ``header.sha256`` is the SHA-256 of :func:`canonical_groups_bytes`: the UTF-8 bytes of
``json.dumps(testGroups, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``.

NPZ: the same content as arrays, one set per group (``gNNNNN.<part>``), plus ``document.json``,
a unicode array of one element with the header, the notes and the group sizes. It loads with
``np.load(path, allow_pickle=False)``. The zip is written here (stored, not deflated, fixed
timestamps, sorted entries) because ``np.savez`` stamps the current time: both formats are
byte-identical for the same command and library versions.

Files ↔ documents: checking a document and decoding it into the model, and ``load`` (read,
check, decode), are in :mod:`symsoftmax.vectors.check`, which builds on this module. One
shortcut skips the document: :func:`read_npz_model` decodes an NPZ file that this package wrote
(the suite cache) straight into the model, with array-level checks only.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from symsoftmax import collector
from symsoftmax.atomic import write_atomic
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import loads_json, read_user_file
from symsoftmax.rounding import format_hex, round_array
from symsoftmax.vectors.model import EXPECTED_KEYS, INPUT_KEYS, SCALAR_INPUTS, VectorFile

if TYPE_CHECKING:
    from symsoftmax.formats import Format

__all__ = [
    "FILE_FORMATS",
    "NPZ_MAGIC",
    "SCHEMA_NAME",
    "canonical_groups_bytes",
    "canonical_lines_sha256",
    "content_sha256",
    "document_of",
    "dumps_json",
    "encode_groups",
    "read_document",
    "read_npz_model",
    "save",
    "to_document",
    "to_npz_bytes",
]

SCHEMA_NAME = "symsoftmax-vectors-1"
FILE_FORMATS = ("json", "npz")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


# --------------------------------------------------------------------------------------------
# model -> document
# --------------------------------------------------------------------------------------------


def _hex_list(array: npt.NDArray[Any]) -> Any:
    """Nested lists of hex strings, one level per array dimension."""
    if array.ndim == 0:
        return format_hex(float(array))
    flat = [format_hex(v) for v in np.asarray(array, dtype=np.float64).ravel().tolist()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


def _str_list(array: npt.NDArray[Any]) -> Any:
    return np.asarray(array, dtype=object).tolist()


def encode_groups(vf: VectorFile) -> list[dict[str, Any]]:
    """The ``testGroups`` of the JSON document, key order fixed."""
    groups = []
    for group in vf.groups:
        tests = []
        for tc in group.tests:
            entry: dict[str, Any] = {
                "tcId": tc.tc_id,
                "comment": tc.comment,
                "flags": list(tc.flags),
                "inputs": {key: _hex_list(value) for key, value in tc.inputs.items()},
                "expected": {key: _hex_list(value) for key, value in tc.expected.items()},
                "exact": {key: _str_list(value) for key, value in tc.exact.items()},
                "result": tc.result,
            }
            if tc.acceptable:
                entry["acceptable"] = [
                    {
                        "name": answer.name,
                        "outputs": {k: _hex_list(v) for k, v in answer.outputs.items()},
                    }
                    for answer in tc.acceptable
                ]
            tests.append(entry)
        groups.append({"k": group.k, "tests": tests})
    return groups


def canonical_groups_bytes(test_groups: list[dict[str, Any]]) -> bytes:
    """What header.sha256 hashes: canonical JSON of testGroups (sorted keys, no spaces)."""
    text = json.dumps(
        test_groups, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("utf-8")


def _canonical(value: Any) -> str:
    """Canonical JSON of one value: what :func:`canonical_groups_bytes` writes for it."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def canonical_lines_sha256(data: bytes, document: dict[str, Any]) -> str | None:
    """:func:`content_sha256` of ``document`` read off the text it was parsed from, ``data``,
    when that text has :func:`dumps_json`'s layout (each test on a line of its own, as its
    canonical JSON); None when it has not (the caller then encodes the document).

    The groups' canonical bytes are the test lines joined with the canonical group frame, so
    they are hashed without encoding the document again (that cost more than parsing it).
    Only the frame is checked here, and that the document has these groups (their K and
    numbers of tests). What is dropped between the lines — a newline and the indent — is
    whitespace between JSON tokens (a string holds no raw newline, RFC 8259 §7), so these
    bytes parse to the document's testGroups; if they hash to header.sha256 they are, SHA-256
    being collision-resistant, the canonical bytes that checksum was made of. If not (another
    layout, spaces in a test line, a non-ASCII character written raw), the hash differs and
    the caller checks the document itself: nothing is accepted here that the full check
    would refuse.
    """
    groups = document.get("testGroups")
    lines = data.split(b"\n")
    try:
        at = lines.index(b'  "testGroups": [') + 1
    except ValueError:
        return None
    if not isinstance(groups, list):
        return None
    digest = hashlib.sha256(b"[")
    for g_index, group in enumerate(groups):
        tests = group.get("tests") if isinstance(group, dict) else None
        k = group.get("k") if isinstance(group, dict) else None
        if not isinstance(tests, list) or type(k) is not int:
            return None
        if at >= len(lines) or lines[at] != b'    {"k": %d, "tests": [' % k:
            return None
        body = lines[at + 1 : at + 1 + len(tests)]
        if len(body) != len(tests) or not all(line.startswith(b"      {") for line in body):
            return None
        if body and not all(line.endswith(b",") for line in body[:-1]):
            return None
        last = len(groups) - 1
        if lines[at + 1 + len(tests) : at + 2 + len(tests)] != [
            b"    ]}" + b"," * (g_index < last)
        ]:
            return None
        digest.update(b"," * (g_index > 0) + b'{"k":%d,"tests":[' % k)
        digest.update(b"".join(line[6:] for line in body))  # the commas included
        digest.update(b"]}")
        at += len(tests) + 2
    if lines[at:] != [b"  ]", b"}", b""]:
        return None
    digest.update(b"]")
    return digest.hexdigest()


def content_sha256(test_groups: list[dict[str, Any]]) -> str:
    """Hex SHA-256 of :func:`canonical_groups_bytes`."""
    return hashlib.sha256(canonical_groups_bytes(test_groups)).hexdigest()


def to_document(vf: VectorFile) -> dict[str, Any]:
    """The JSON document of a vector file (header, notes, testGroups)."""
    return {
        "header": vf.header,
        "notes": {
            flag: {"description": note.description, "catches": note.catches}
            for flag, note in vf.notes.items()
        },
        "testGroups": encode_groups(vf),
    }


def dumps_json(vf: VectorFile) -> str:
    """The JSON text of a vector file: header and notes indented, one test per line, each as
    its canonical JSON (sorted keys, no spaces), so that the checksum can be read off the
    lines (:func:`canonical_lines_sha256`)."""
    document = to_document(vf)
    head = json.dumps(
        {"header": document["header"], "notes": document["notes"]},
        indent=2,
        ensure_ascii=True,
        allow_nan=False,
    )
    lines = [head[: head.rstrip().rfind("}")].rstrip() + ",", '  "testGroups": [']
    for g_index, group in enumerate(document["testGroups"]):
        lines.append(f'    {{"k": {group["k"]}, "tests": [')
        tests = group["tests"]
        for t_index, test in enumerate(tests):  # canonical: see canonical_lines_sha256
            comma = "," if t_index < len(tests) - 1 else ""
            lines.append(f"      {_canonical(test)}{comma}")
        lines.append("    ]}" + ("," if g_index < len(document["testGroups"]) - 1 else ""))
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def _npy_bytes(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _unicode(values: list[str], shape: tuple[int, ...]) -> npt.NDArray[np.str_]:
    width = max((len(v) for v in values), default=1) or 1
    return np.array(values, dtype=f"<U{width}").reshape(shape)


def npz_arrays(vf: VectorFile, *, ascii_exact: bool = False) -> dict[str, npt.NDArray[Any]]:
    """The arrays of the NPZ encoding, by entry name (without the .npy suffix).

    ``ascii_exact``: the exact decimals as ASCII bytes (NumPy ``S``), a quarter of UTF-32's
    size: the suite cache's entries (:func:`read_npz_model` decodes them when read); a file
    for users keeps them as text (``U``), which any NPZ reader gives as strings."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    meta = {
        "header": vf.header,
        "notes": {
            flag: {"description": note.description, "catches": note.catches}
            for flag, note in vf.notes.items()
        },
        "testGroups": [{"k": g.k, "tests": len(g.tests)} for g in vf.groups],
    }
    arrays["document.json"] = np.array([json.dumps(meta, ensure_ascii=True, allow_nan=False)])
    op = vf.op
    for index, group in enumerate(vf.groups):
        prefix = f"g{index:05d}."
        tests = group.tests
        n = len(tests)
        arrays[prefix + "tcId"] = np.array([tc.tc_id for tc in tests], dtype=np.int64)
        arrays[prefix + "comment"] = _unicode([tc.comment for tc in tests], (n,))
        arrays[prefix + "flags"] = _unicode([" ".join(tc.flags) for tc in tests], (n,))
        arrays[prefix + "result"] = _unicode([tc.result for tc in tests], (n,))
        for key in INPUT_KEYS[op]:
            arrays[f"{prefix}inputs.{key}"] = np.array(
                [tc.inputs[key] for tc in tests], dtype=np.float64
            ).reshape(n, group.k)
        for name in SCALAR_INPUTS:  # temperature, sink, softcap: where a test has them
            has = np.array([name in tc.inputs for tc in tests], dtype=bool)
            if has.any():
                arrays[f"{prefix}inputs.{name}.present"] = has
                arrays[f"{prefix}inputs.{name}"] = np.array(
                    [float(tc.inputs.get(name, np.nan)) for tc in tests], dtype=np.float64
                )
        for key in EXPECTED_KEYS[op]:
            shape = tests[0].expected[key].shape if tests else (0,)
            arrays[f"{prefix}expected.{key}"] = np.array(
                [tc.expected[key] for tc in tests], dtype=np.float64
            ).reshape(n, *shape)
            exact = [str(s) for tc in tests for s in np.asarray(tc.exact[key]).ravel()]
            encoded = _unicode(exact, (n, *shape))
            arrays[f"{prefix}exact.{key}"] = encoded.astype(np.bytes_) if ascii_exact else encoded
        owners = [i for i, tc in enumerate(tests) for _ in tc.acceptable]
        if owners:
            answers = [a for tc in tests for a in tc.acceptable]
            arrays[prefix + "acceptable.test"] = np.array(owners, dtype=np.int64)
            arrays[prefix + "acceptable.name"] = _unicode([a.name for a in answers], (len(owners),))
            for key in EXPECTED_KEYS[op]:
                arrays[f"{prefix}acceptable.{key}"] = np.array(
                    [a.outputs[key] for a in answers], dtype=np.float64
                )
    return arrays


EXTRA = "extra."
"""Prefix of the arrays a writer adds beside the file's own (:func:`to_npz_bytes`'s ``extra``)."""


def to_npz_bytes(
    vf: VectorFile,
    extra: dict[str, npt.NDArray[Any]] | None = None,
    *,
    ascii_exact: bool = False,
) -> bytes:
    """The NPZ file: a stored zip with fixed timestamps and sorted entries (byte-reproducible).

    ``extra``: more arrays, stored as ``extra.<name>`` (the suite cache keeps derived data
    there; :func:`read_npz_model` gives them back; a user's file has none); ``ascii_exact``:
    see :func:`npz_arrays`."""
    arrays = npz_arrays(vf, ascii_exact=ascii_exact)
    arrays.update({EXTRA + name: array for name, array in (extra or {}).items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in sorted(arrays.items()):
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, _npy_bytes(array))
    return buffer.getvalue()


def _format_of(path: str | os.PathLike[str], format: str | None) -> str:
    if format is None:
        return "npz" if str(path).lower().endswith(".npz") else "json"
    if format not in FILE_FORMATS:
        raise InputError(
            f"unknown vector file format {format!r}; expected {' or '.join(FILE_FORMATS)}"
        )
    return format


def save(vf: VectorFile, path: str | os.PathLike[str], format: str | None = None) -> None:
    """Write ``vf`` to ``path`` atomically as JSON or NPZ (default: .npz suffix → NPZ)."""
    kind = _format_of(path, format)
    write_atomic(path, to_npz_bytes(vf) if kind == "npz" else dumps_json(vf))


# --------------------------------------------------------------------------------------------
# file -> document
# --------------------------------------------------------------------------------------------


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON or NPZ vector file into its JSON document (dicts, lists, strings).

    Raises InputError (one line naming the file) if the file is not JSON or NPZ at all; the
    content is checked separately (:mod:`symsoftmax.vectors.check`).
    """
    return document_of(read_user_file(path), str(path))  # a regular file within the size cap


NPZ_MAGIC = b"PK\x03\x04"  # how a zip file, an NPZ, starts


def document_of(data: bytes, name: str) -> dict[str, Any]:
    """:func:`read_document` of a file's bytes (``name``: the file, for errors)."""
    if data[:4] == NPZ_MAGIC:
        return _npz_document(data, name)
    document = loads_json(data, name)
    if not isinstance(document, dict):
        raise InputError(f"{name}: not a vector file (the top level is not a JSON object)")
    return document


def _npz_document(data: bytes, name: str) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{name}: not a readable NPZ file ({exc})") from None
    try:
        text = arrays.pop("document.json")
    except KeyError:
        raise InputError(f"{name}: NPZ without document.json") from None
    if text.dtype.kind != "U" or text.size != 1:
        raise InputError(f"{name}: document.json is not one unicode string")
    meta = loads_json(str(text.reshape(-1)[0]), f"{name}: document.json")
    try:
        op = meta["header"]["op"]
        input_keys, expected_keys = INPUT_KEYS[op], EXPECTED_KEYS[op]
        groups = []
        for index, group in enumerate(meta["testGroups"]):
            groups.append(
                {
                    "k": group["k"],
                    "tests": _npz_group_tests(arrays, f"g{index:05d}.", input_keys, expected_keys),
                }
            )
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise InputError(f"{name}: NPZ layout does not match document.json ({exc!r})") from None
    return {"header": meta["header"], "notes": meta["notes"], "testGroups": groups}


def _text(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Strings as text: ASCII bytes (``S``, a cache entry's exact decimals) decoded."""
    return array.astype(np.str_) if array.dtype.kind == "S" else array


def _npz_group_tests(
    arrays: dict[str, npt.NDArray[Any]],
    prefix: str,
    input_keys: tuple[str, ...],
    expected_keys: tuple[str, ...],
) -> list[dict[str, Any]]:
    def get(part: str) -> npt.NDArray[Any]:
        return arrays[prefix + part]

    tc_ids = get("tcId")
    present = {name: arrays.get(f"{prefix}inputs.{name}.present") for name in SCALAR_INPUTS}
    answers: dict[int, list[dict[str, Any]]] = {}
    if prefix + "acceptable.test" in arrays:
        names = get("acceptable.name")
        for row, owner in enumerate(get("acceptable.test").tolist()):
            outputs = {key: _hex_list(get(f"acceptable.{key}")[row]) for key in expected_keys}
            answers.setdefault(int(owner), []).append({"name": str(names[row]), "outputs": outputs})
    tests = []
    for i in range(len(tc_ids)):
        inputs = {key: _hex_list(get(f"inputs.{key}")[i]) for key in input_keys}
        for name, has in present.items():
            if has is not None and bool(has[i]):
                inputs[name] = _hex_list(get(f"inputs.{name}")[i])
        entry: dict[str, Any] = {
            "tcId": int(tc_ids[i]),
            "comment": str(get("comment")[i]),
            "flags": str(get("flags")[i]).split(),
            "inputs": inputs,
            "expected": {key: _hex_list(get(f"expected.{key}")[i]) for key in expected_keys},
            "exact": {key: _text(get(f"exact.{key}")[i]).tolist() for key in expected_keys},
            "result": str(get("result")[i]),
        }
        if i in answers:
            entry["acceptable"] = answers[i]
        tests.append(entry)
    return tests


# --------------------------------------------------------------------------------------------
# NPZ file -> model, without the document (files this package wrote: the suite cache)
# --------------------------------------------------------------------------------------------


class AsciiExact(Mapping[str, npt.NDArray[np.str_]]):
    """A test's exact decimals as a cache entry stores them, ASCII bytes, read as text arrays
    when asked for (a validation reads the parsed values stored beside them, not these: the
    entry is a third of the size, and reading it a third of the time, without decoding them
    all). A read-only mapping of output key to an array of str, as ``TestCase.exact``."""

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[str, npt.NDArray[np.bytes_]]) -> None:
        self._rows = rows

    def __getitem__(self, key: str) -> npt.NDArray[np.str_]:
        return self._rows[key].astype(np.str_)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


def _stored_members(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an NPZ file as :func:`to_npz_bytes` writes it (every member stored, not
    deflated), by name without ".npy": numbers copied out (aligned), strings (text, and the
    cache's exact decimals as ASCII bytes) read-only views of ``data`` (tens of MB of exact
    decimals: a copy cost as much as the rest; ``data`` then stays alive with them, 27 MB for
    the float32 standard suite where copies of its decimals took 14 MB and ~5 ms).

    A suite has hundreds of small members, and ``np.load`` opening each as a stream cost as
    much as the rest of reading the cache entry. Here the zip's central directory is read by
    :mod:`zipfile`, each member's data found after its local header (PKWARE APPNOTE §4.3.7:
    30 bytes, then the name and the extra field) and checked against its CRC-32, its array
    header read by :func:`_npy_header` (NEP 1), no object arrays. ValueError for anything else.
    """
    view = memoryview(data)
    whole = np.frombuffer(data, dtype=np.uint8)
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [
            (info.filename, info.compress_type, info.CRC, info.file_size, info.header_offset)
            for info in archive.infolist()
        ]
    for filename, method, crc, file_size, at in members:
        if method != zipfile.ZIP_STORED or not filename.endswith(".npy"):
            raise ValueError(f"member {filename!r} is not a stored .npy array")
        if data[at : at + 4] != b"PK\x03\x04":
            raise ValueError(f"member {filename!r}: no local header")
        name_length, extra_length = _LOCAL_LENGTHS.unpack_from(data, at + 26)
        start = at + 30 + name_length + extra_length
        end = start + file_size
        if end > len(data) or zlib.crc32(view[start:end]) != crc:
            raise ValueError(f"member {filename!r}: truncated or its CRC-32 differs")
        shape, fortran, dtype, offset = _npy_header(data, start, end)
        if dtype.hasobject:
            raise ValueError(f"member {filename!r} is an object array")
        if min(shape, default=0) < 0:
            raise ValueError(f"member {filename!r} has a negative dimension")
        count = math.prod(shape)
        order: Literal["C", "F"] = "F" if fortran else "C"
        size = count * dtype.itemsize
        if offset + size > end:
            raise ValueError(f"member {filename!r}: its array is cut short")
        if dtype.kind in "biufcSU" and dtype.itemsize:
            # numbers: their bytes copied (a memcpy, aligned; a copy of the unaligned array
            # went element by element, at 5x the time) then typed, C-ordered as ndarray.copy
            # makes them; strings typed in place. A slice of one array of the file's bytes
            # costs a third of a np.frombuffer per member.
            raw = whole[offset : offset + size]
            if dtype.kind in "SU":
                array = raw.view(dtype).reshape(shape, order=order)
            else:
                array = raw.copy().view(dtype).reshape(shape, order=order)
                array = array.copy() if fortran else array
        else:
            array = np.frombuffer(view[start:end], dtype=dtype, count=count, offset=offset - start)
            array = array.reshape(shape, order=order).copy()
        arrays[filename[: -len(".npy")]] = array
    return arrays


_LOCAL_LENGTHS = struct.Struct("<HH")  # a local header's name and extra field lengths
_NPY_HEADER_MAX = 65536 + 12  # magic, version, a 4-byte length and the longest header (v2)
_NPY_V1 = b"\x93NUMPY\x01\x00"  # NEP 1: the magic string, version 1.0 (a 2-byte length)
_NPY_V1_LENGTH = struct.Struct("<H")
_NPY_TEXT_MAX = 10000  # np.lib.format refuses a longer header (its max_header_size)
_DIM = rb"(?:0|[1-9][0-9]{0,17})"  # a Python int literal, as repr writes it (no sign, no 0-prefix)
_NPY_DICT = re.compile(
    rb"\{'descr': '([<>|][biufcSU][0-9]{1,6})', 'fortran_order': (False|True), "
    rb"'shape': \((|" + _DIM + rb",|" + _DIM + rb"(?:, " + _DIM + rb")+)\), \} *\n"
)
"""The header dict exactly as ``np.lib.format.write_array`` writes it for a plain numeric, bool
or string dtype (keys sorted, ``repr`` of each value, padded with spaces, ended by a newline):
a subset of what ``np.lib.format`` reads (``ast.literal_eval`` of a dict with these keys)."""
_DTYPES: dict[bytes, np.dtype[Any]] = {}  # descr -> its dtype, as descr_to_dtype makes it


def _npy_header(
    data: bytes, start: int, end: int
) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, fortran order, dtype, where the array data starts) of the .npy array in
    ``data[start:end]`` (NEP 1), as ``np.lib.format.read_array_header_*`` read it.

    A version 1.0 header in the form NumPy writes (:data:`_NPY_DICT`) is read here without
    ``ast.literal_eval``, which cost most of reading a suite's hundreds of members; this
    accepts a subset of what NumPy accepts, with the same result (tests/test_npz_cache_read.py
    holds it to ``np.lib.format`` on many shapes, dtypes and malformed headers). Anything else
    (version 2 or 3, other spacing or key order, another dtype) is read by ``np.lib.format``,
    which raises ValueError for what it refuses."""
    text_start = start + 10
    if data[start : text_start - 2] == _NPY_V1 and end >= text_start:
        (length,) = _NPY_V1_LENGTH.unpack_from(data, start + 8)
        text_end = text_start + length
        found = _NPY_DICT.fullmatch(data, text_start, text_end)
        if found is not None and length <= _NPY_TEXT_MAX and text_end <= end:
            descr, fortran, dims = found.groups()
            dtype = _DTYPES.get(descr)
            if dtype is None:
                try:
                    dtype = np.dtype(descr.decode("ascii"))
                except TypeError:
                    dtype = None  # np.lib.format says why
                else:
                    if len(_DTYPES) < 256:  # bounded, whatever a file holds
                        _DTYPES[descr] = dtype
            if dtype is not None:
                shape = tuple(int(dim) for dim in dims.rstrip(b",").split(b", ")) if dims else ()
                return shape, fortran == b"True", dtype, text_end
    head = io.BytesIO(data[start : min(end, start + _NPY_HEADER_MAX)])
    version = np.lib.format.read_magic(head)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(head)
    return shape, fortran, dtype, start + head.tell()


def _strings(array: npt.NDArray[Any]) -> list[str]:
    """``str`` of each element of a 1-d array (``tolist`` gives them at once for text)."""
    return array.tolist() if array.dtype.kind == "U" else [str(value) for value in array]


def _row_dicts(columns: dict[str, list[Any]], n: int) -> list[dict[str, Any]]:
    """``{key: rows[i] for key, rows in columns.items()}`` for each i < n (every list of
    ``columns`` has n rows)."""
    if len(columns) == 1:
        ((key, rows),) = columns.items()
        return [{key: row} for row in rows]
    if not columns:
        return [{} for _ in range(n)]
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _values_of_format(numbers: list[tuple[str, npt.NDArray[np.float64]]], fmt: Format) -> None:
    """ValueError naming the first of ``numbers`` (name, array) that holds a number that is no
    value of ``fmt`` (NaN allowed).

    A float64 x is a value of the format iff rounding it to the format gives x back
    (:func:`~symsoftmax.rounding.round_array`, elementwise, the authority here). All arrays are
    first checked at once, and where the format is NumPy's own float16 or float32 (the same
    precision and exponent range, :func:`_native_dtype`) by a cast there and back: the cast's
    result is a value of that dtype whatever its rounding (IEEE 754-2019 §5.4.2; a flush to
    zero included), so ``float64(T(x)) == x`` proves x one, and the cast costs a fraction of
    the rounding. Only where this finds a number that is not the same, the arrays are held to
    :func:`~symsoftmax.rounding.round_array` one by one, which names the array or finds all
    values sound (the rounding is elementwise: all arrays at once find what each finds)."""
    if not numbers:
        return
    flat = np.concatenate([array.ravel() for _, array in numbers])
    native = _native_dtype(fmt)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the range: inf, not the same
        same = round_array(flat, fmt) if native is None else flat.astype(native).astype(np.float64)
    # bit for bit first (one pass; NaN the same NaN), then as values (NaN as NaN, ±0 alike)
    if np.array_equal(same.view(np.uint64), flat.view(np.uint64)) or np.array_equal(
        same, flat, equal_nan=True
    ):
        return
    for name, array in numbers:
        if not np.array_equal(round_array(array, fmt), array, equal_nan=True):
            raise ValueError(f"{name} holds a number that is no {fmt.name} value")


def _native_dtype(fmt: Format) -> np.dtype[Any] | None:
    """NumPy's float16, float32 or float64 dtype when it is ``fmt`` (the same precision,
    exponent range and infinities), else None (ml_dtypes' formats are not imported here)."""
    if "." in fmt.dtype_name or not fmt.infinities:
        return None
    dtype = fmt.numpy_dtype
    if dtype not in (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)):
        return None
    info = np.finfo(dtype)
    same = (fmt.precision, fmt.emin, fmt.emax) == (info.nmant + 1, info.minexp, info.maxexp - 1)
    return dtype if same else None


@collector.while_paused
def read_npz_model(
    path: str | os.PathLike[str], extra: dict[str, npt.NDArray[Any]] | None = None
) -> VectorFile:
    """Decode an NPZ vector file straight into the model: arrays, not hex strings.

    For files this package wrote (the suite cache, :mod:`symsoftmax.validation.sources`): it
    checks the layout (every array present, with the shapes the group sizes and K imply) and that
    every number is a value of the format, but not the schema or the checksum, which cost 10–30×
    more on a standard suite (they go through the JSON document). A user's file goes through
    :func:`symsoftmax.vectors.check.load`. Raises InputError naming the file for anything else.
    ``extra``: a dict that receives the writer's extra arrays (see :func:`to_npz_bytes`), by name.
    """
    from symsoftmax.formats import get_format
    from symsoftmax.vectors.model import Answer, Note, TestCase, TestGroup, expected_shape

    name = str(path)
    data = read_user_file(path)
    try:
        arrays = _stored_members(data)
        for key in [key for key in arrays if key.startswith(EXTRA)]:
            found = arrays.pop(key)
            if extra is not None:
                extra[key[len(EXTRA) :]] = found
        meta = loads_json(str(arrays.pop("document.json").reshape(-1)[0]), name)
        header, op = meta["header"], meta["header"]["op"]
        fmt = get_format(header["dtype"])
        numbers: list[tuple[str, npt.NDArray[np.float64]]] = []  # to hold to the format
        groups = []
        for index, group in enumerate(meta["testGroups"]):
            prefix, k, n = f"g{index:05d}.", int(group["k"]), int(group["tests"])

            def get(part: str, shape: tuple[int, ...], prefix: str = prefix) -> Any:
                array = arrays[prefix + part]
                if array.shape != shape:
                    raise ValueError(f"{prefix}{part} has shape {array.shape}, expected {shape}")
                if array.dtype == np.float64:
                    numbers.append((prefix + part, array))
                return array

            # Rows as lists (iterating an array gives what indexing it does, a view or a
            # scalar per row, at a fraction of the cost of one index each)
            inputs = {key: list(get(f"inputs.{key}", (n, k))) for key in INPUT_KEYS[op]}
            scalars = {
                name: (list(get(f"inputs.{name}", (n,))), list(present))
                for name in SCALAR_INPUTS
                if (present := arrays.get(f"{prefix}inputs.{name}.present")) is not None
            }
            shapes = {key: expected_shape(op, key, k) for key in EXPECTED_KEYS[op]}
            expected = {key: list(get(f"expected.{key}", (n, *shapes[key]))) for key in shapes}
            exact_arrays = {key: get(f"exact.{key}", (n, *shapes[key])) for key in shapes}
            ascii_exact = any(array.dtype.kind == "S" for array in exact_arrays.values())
            exact = {key: list(array) for key, array in exact_arrays.items()}
            answers: dict[int, list[Answer]] = {}
            if prefix + "acceptable.test" in arrays:
                owners = arrays[prefix + "acceptable.test"].tolist()
                names = get("acceptable.name", (len(owners),))
                outputs = {
                    key: get(f"acceptable.{key}", (len(owners), *shapes[key])) for key in shapes
                }
                for row, owner in enumerate(owners):
                    answer = Answer(str(names[row]), {key: outputs[key][row] for key in shapes})
                    answers.setdefault(int(owner), []).append(answer)
            tc_ids = get("tcId", (n,)).tolist()
            comments, flags = _strings(get("comment", (n,))), _strings(get("flags", (n,)))
            results = _strings(get("result", (n,)))
            # the tests' fields as lists, column by column, then the tests in one pass
            test_inputs = _row_dicts(inputs, n)
            for name, (values, has) in scalars.items():
                for entry, here, value in zip(test_inputs, has, values, strict=True):
                    if bool(here):
                        entry[name] = np.asarray(value)
            exact_rows: list[Any] = _row_dicts(exact, n)
            if ascii_exact:
                exact_rows = [AsciiExact(row) for row in exact_rows]
            acceptable: list[tuple[Answer, ...]] = [()] * n
            for owner, owned in answers.items():
                if 0 <= owner < n:
                    acceptable[owner] = tuple(owned)
            tests = [
                TestCase(
                    tc_id=int(tc_id),
                    comment=comment,
                    flags=tuple(flag.split()),
                    inputs=inputs_i,
                    expected=expected_i,
                    exact=exact_i,
                    result=result,
                    acceptable=answers_i,
                )
                for tc_id, comment, flag, inputs_i, expected_i, exact_i, result, answers_i in zip(
                    tc_ids,
                    comments,
                    flags,
                    test_inputs,
                    _row_dicts(expected, n),
                    exact_rows,
                    results,
                    acceptable,
                    strict=True,
                )
            ]
            groups.append(TestGroup(k, tuple(tests)))
        _values_of_format(numbers, fmt)
        notes = {
            flag: Note(str(note["description"]), str(note["catches"]))
            for flag, note in meta["notes"].items()
        }
    except (
        KeyError,
        TypeError,
        IndexError,
        ValueError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
    ) as exc:
        raise InputError(f"{name}: not a vector file this version wrote ({exc})") from None
    return VectorFile(header=header, notes=notes, groups=tuple(groups), op=op, dtype=fmt.name)
