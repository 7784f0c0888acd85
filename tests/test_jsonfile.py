"""The one reader of user JSON: every malformed file is one InputError line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import MAX_DEPTH, JsonNumber, _depth_exceeds, load_json, loads_json
from symsoftmax.vectors.io import to_document


def _deep(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def test_nesting_up_to_the_limit_is_read() -> None:
    value = loads_json(_deep(MAX_DEPTH), "f.json")
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == 1
    assert loads_json('{"a": ' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1), "f.json")


@pytest.mark.parametrize(
    "text",
    [
        _deep(MAX_DEPTH + 1),
        '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
        _deep(100_000),  # beyond the recursion limit of json's C scanner
        "[" * 100_000,  # unterminated as well
    ],
)
def test_deeper_nesting_is_one_line(text: str) -> None:
    with pytest.raises(InputError) as info:
        loads_json(text, "f.json")
    assert str(info.value) == f"f.json: JSON nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("[" + "1" * 4301 + "]", "f.json: not valid JSON (an integer of 4301 digits (limit 4300))"),
        ("[NaN]", "f.json: not valid JSON (bare NaN is not JSON"),
        ('{"a": -Infinity}', "bare -Infinity is not JSON"),
        ("[1,]", "f.json: not valid JSON (Expecting value, line 1)"),
        (b"\xff[]", "f.json: not UTF-8 text (invalid start byte at byte 0)"),
        ("", "f.json: not valid JSON"),
    ],
)
def test_malformed_json_is_one_line_naming_the_file(data: str | bytes, needle: str) -> None:
    with pytest.raises(InputError) as info:
        loads_json(data, "f.json")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_numbers_as_text_keep_every_digit() -> None:
    huge = "1" + "0" * 5000
    got = loads_json(f'[0.1000000000000000000001, {huge}, -2e-400, "s"]', "f", numbers_as_text=True)
    assert got == ["0.1000000000000000000001", huge, "-2e-400", "s"]
    assert [isinstance(v, JsonNumber) for v in got] == [True, True, True, False]
    assert loads_json("[0.5, 2]", "f") == [0.5, 2]  # otherwise as json.loads


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json: cannot read \(No such file"):
        load_json(tmp_path / "missing.json")
    with pytest.raises(InputError, match="cannot read"):
        load_json(tmp_path)  # a folder


def test_the_depth_limit_leaves_room_for_every_vector_file() -> None:
    document = to_document(vectors.generate("jacobian", "float16", "quick"))
    assert not _depth_exceeds(document, 10) and _depth_exceeds(document, 9)  # as documented
    assert loads_json(vectors.dumps_json(vectors.generate("jacobian", "float16", "quick")), "v")
