"""The nesting-depth check of loads_json read from the bytes (jsonfile._text_depth_exceeds)
agrees with the walk of the parsed document (jsonfile._depth_exceeds) on documents built to
fool a text scan: brackets inside strings, escaped quotes, runs of backslashes, non-ASCII."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from symsoftmax.errors import InputError
from symsoftmax.jsonfile import MAX_DEPTH, _depth_exceeds, _text_depth_exceeds, loads_json

_TRICKY = ['"', "\\", '\\"', "\\\\", "[", "]", "{", "}", '"]]]', '[["', "\u2212", "\U0001f600", "x"]


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(_TRICKY) for _ in range(rng.randint(0, 6)))


def _document(rng: random.Random, depth: int) -> Any:
    """A document nested exactly ``depth`` deep along one path, with tricky strings around."""
    if depth == 0:
        return rng.choice([_string(rng), 1.5, 7, None, True])
    inner = _document(rng, depth - 1)
    siblings = [_string(rng) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        items = [*siblings, inner]
        rng.shuffle(items)
        return items
    return {_string(rng) + str(i): value for i, value in enumerate([*siblings, inner])}


@pytest.mark.parametrize("seed", range(40))
def test_text_depth_agrees_with_the_walk(seed: int) -> None:
    rng = random.Random(seed)
    depth = rng.randint(1, 12)
    document = _document(rng, depth)
    ascii_only = rng.random() < 0.5
    data = json.dumps(document, ensure_ascii=ascii_only, indent=rng.choice([None, 1])).encode()
    for limit in (depth - 1, depth, depth + 1):
        assert _text_depth_exceeds(data, limit) == _depth_exceeds(document, limit), (data, limit)


@pytest.mark.parametrize(
    "text",
    [
        '["\\"' + "]" * 70 + '"]',  # closing brackets inside a string with an escaped quote
        '["\\\\", ' + "[" * 70 + "]" * 70 + "]",  # the quote after \\\\ closes the string
        '{"a\\"[": ' + "[" * (MAX_DEPTH) + "]" * (MAX_DEPTH) + "}",
        '"' + "[" * 100 + '"',
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
)
def test_loads_json_refuses_exactly_what_the_walk_refuses(text: str) -> None:
    """The attack: hide depth behind brackets in strings and escaped quotes (or fake depth)."""
    too_deep = _depth_exceeds(json.loads(text), MAX_DEPTH)
    if too_deep:
        with pytest.raises(InputError, match="nested deeper than"):
            loads_json(text.encode(), "f.json")
    else:
        assert loads_json(text.encode(), "f.json") == json.loads(text)
