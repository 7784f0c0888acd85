"""Your own input rows from a JSON file, for :func:`symsoftmax.vectors.builder.from_rows`.

The file is a JSON list; each row is either a list of numbers / number strings (the logits z) or
an object ``{"z": [...], "g": [...] | "y": [...], "temperature": ..., "sink": ..., "softcap":
...}`` (a sink and soft-cap for softmax, log_softmax, logsumexp and their VJPs:
docs/reference.md, "Sinks and soft-caps"). JSON numbers are kept as their decimal text and
parsed exactly, so they are rounded to the target format once (read as float64 first, a
decimal such as 0.1 would be rounded twice). Nothing is evaluated: the
safe loader :func:`symsoftmax.jsonfile.load_json`. Every problem is one line naming the file
and the row (docs/vectors.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.jsonfile import load_json
from symsoftmax.vectors.model import VectorFile

if TYPE_CHECKING:
    from symsoftmax.vectors.builder import Progress

__all__ = ["from_rows_file", "read_rows"]

_ROW_KEYS = ("z", "g", "y", "temperature", "sink", "softcap")


def read_rows(path: str | os.PathLike[str]) -> list[Any]:
    """The rows of a JSON rows file, structurally checked (numbers are checked by from_rows)."""
    name = str(path)
    rows = load_json(path, numbers_as_text=True)  # the decimal text, parsed exactly later
    if not isinstance(rows, list):
        raise InputError(
            f'{name}: expected a JSON list of rows (lists of numbers, or objects with "z")'
        )
    if not rows:
        raise InputError(f"{name}: no rows")
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            unknown = [key for key in row if key not in _ROW_KEYS]
            if unknown:
                raise InputError(
                    f"{name}: row {number}: unknown key {unknown[0]!r} "
                    f"(expected {', '.join(_ROW_KEYS)})"
                )
            for key in ("z", "g", "y"):
                if key in row and not isinstance(row[key], list):
                    raise InputError(f"{name}: row {number}: {key} is not a list of numbers")
        elif not isinstance(row, list):
            raise InputError(
                f'{name}: row {number}: expected a list of numbers or an object with "z", '
                f"got {json.dumps(row)[:40]}"
            )
        elif any(isinstance(item, list | dict) for item in row):
            raise InputError(f"{name}: row {number}: a row is a flat list of numbers")
    return rows


def from_rows_file(
    op: str,
    dtype: str | Format,
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> VectorFile:
    """:func:`~symsoftmax.vectors.builder.from_rows` of the rows in a JSON file; errors name
    the file and the row."""
    from symsoftmax.vectors.builder import from_rows

    rows = read_rows(path)
    try:
        return from_rows(
            op, dtype, rows, note=f"inputs given by the user ({Path(path).name})", progress=progress
        )
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
