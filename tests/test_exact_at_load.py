"""The exact decimals of a vector file are parsed while :func:`symsoftmax.vectors.load` checks it
(vectors/decimals.py): the compiled schema leaves out the decimal pattern, and the array parse
with the pattern for what it leaves holds every decimal to it. Checked here:

* what the load keeps for a file (``remembered_exact``) is, bit for bit, what the validator's
  own parse of the decoded strings gives (``PreparedTest.of_all``), and equal to the decimal's
  value as an exact fraction (hi correctly rounded, hi + lo within 2^-100 of it);
* a decimal the schema's pattern refuses is a schema finding at its place, as the whole schema
  checked by the pure-Python ``jsonschema`` (an independent implementation) finds it; one it
  accepts is parsed;
* the joined-token reader's lengths when a token holds the newline that separates tokens.
"""

from __future__ import annotations

import copy
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.validation.checks import PreparedTest
from symsoftmax.vectors import check
from symsoftmax.vectors.decimals import remembered_exact
from symsoftmax.vectors.io import content_sha256
from symsoftmax.vectors.tokens import joined_tokens, parse_hex_tokens


@pytest.fixture(scope="module")
def jacobian_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick suite with matrices (the Jacobian's) among its exact values."""
    path = tmp_path_factory.mktemp("exact") / "jacobian.json"
    vectors.save(vectors.generate("jacobian", "bfloat16", suite="quick"), path)
    return path


@pytest.fixture(scope="module")
def cross_entropy_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick suite with two outputs (loss and grad) per test."""
    path = tmp_path_factory.mktemp("exact") / "cross_entropy.json"
    vectors.save(vectors.generate("cross_entropy", "float32", suite="quick"), path)
    return path


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("which", ["jacobian_json", "cross_entropy_json"])
def test_load_keeps_the_exact_values_the_validator_would_parse(
    which: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(which)
    vf = vectors.load(path)
    kept = remembered_exact(vf)
    assert kept is not None and len(kept) == len(vf)
    again = PreparedTest.of_all(list(vf.tests()))  # parsed from the decoded strings
    for test, mine, theirs in zip(vf.tests(), kept, again, strict=True):
        assert mine.keys() == theirs.exact.keys() == test.exact.keys()
        for key, values in mine.items():
            for part in ("hi", "lo_frac", "lo_exp"):
                assert _same_bits(getattr(values, part), getattr(theirs.exact[key], part))
    # and against exact fractions, on a sample of finite values
    rng = random.Random(5)
    tests = list(vf.tests())
    for index in rng.sample(range(len(tests)), 25):
        for key, values in kept[index].items():
            for text, hi, lo in zip(
                tests[index].exact[key].ravel().tolist(),
                values.hi.ravel().tolist(),
                values.lo.ravel().tolist(),
                strict=True,
            ):
                if text in ("nan", "inf", "-inf") or abs(int(text.partition("e")[2] or 0)) > 400:
                    continue  # (a fraction of 10^-(10^6) takes minutes; the parse gives 0)
                exact = Fraction(text)
                assert hi == float(exact)
                assert abs(exact - Fraction(hi) - Fraction(lo)) <= abs(exact) * Fraction(2) ** -100


def test_a_file_with_other_decimal_spellings_keeps_them_exactly(
    jacobian_json: Path, tmp_path: Path
) -> None:
    document = json.loads(jacobian_json.read_text())
    test = next(t for g in document["testGroups"] for t in g["tests"] if g["k"] >= 2)
    matrix = test["exact"]["output"]
    spellings = ["0.5", "1e-5", "-0.000123", "12.5e-1", "0", "1.0e+00"]
    for i, text in enumerate(spellings):
        matrix[i % len(matrix)][i // len(matrix) % len(matrix[0])] = text
    document["header"]["sha256"] = content_sha256(document["testGroups"])
    path = tmp_path / "spelled.json"
    path.write_text(json.dumps(document))
    vf = vectors.load(path)
    kept = remembered_exact(vf)
    assert kept is not None
    index = next(i for i, t in enumerate(vf.tests()) if t.tc_id == test["tcId"])
    values = kept[index]["output"]
    for row, cells in enumerate(matrix):
        for col, text in enumerate(cells):
            assert values.hi[row, col] == float(Fraction(text)), text
            residual = Fraction(text) - Fraction(values.hi[row, col])
            assert (
                abs(residual - Fraction(float(values.lo[row, col])))
                <= abs(Fraction(text)) * Fraction(2) ** -100
            )


_NEAR_MISSES = ["1E5", "+1.5e+00", " 1", "1.", ".5", "0x1p+0", "1.5e", "1,5", "NaN", "-inf "]
_ACCEPTED = ["1e+5", "nan", "00.5", "-0", "7", "1.5e-0400"]


@pytest.mark.parametrize("token", [*_NEAR_MISSES, *_ACCEPTED])
def test_the_decimal_pattern_is_checked_as_the_whole_schema_checks_it(
    jacobian_json: Path, token: str
) -> None:
    import jsonschema

    original = json.loads(jacobian_json.read_text())
    reference = jsonschema.Draft202012Validator(check.schema())
    rng = random.Random(token)
    for shape_kind in ("matrix", "row"):
        document = copy.deepcopy(original)
        tests = [(g, t) for g in document["testGroups"] for t in g["tests"] if g["k"] >= 2]
        group, test = rng.choice(tests)
        group["tests"] = [test]  # the one test (the pure-Python check of all: 0.3 s a case)
        document["testGroups"] = [group]
        value: Any = test["exact"]["output"]
        if shape_kind == "row":  # a row where a matrix is due: the shape is its own finding
            value = test["exact"]["output"] = [cell for row in value for cell in row]
            at: list[int] = [rng.randrange(len(value))]
            value[at[0]] = token
        else:
            at = [rng.randrange(len(value)), rng.randrange(len(value[0]))]
            value[at[0]][at[1]] = token
        expected = [list(e.absolute_path) for e in reference.iter_errors(document)]
        found = check._schema_findings(document, "f")
        assert bool(expected) == bool(found) == (token in _NEAR_MISSES), (token, found)
        if found:
            assert found[0].tc_id == test["tcId"]
            assert found[0].field == "exact.output" + "".join(f"[{i}]" for i in at)
            assert "does not match" in found[0].what
            # jsonschema names the cell, or the row whose anyOf fails: a prefix of the place
            place = ["testGroups", 0, "tests", 0, "exact", "output", *at]
            assert any(path == place[: len(path)] and len(path) >= 7 for path in expected)


def test_a_loaded_file_refuses_a_decimal_the_pattern_refuses(
    jacobian_json: Path, tmp_path: Path
) -> None:
    document = json.loads(jacobian_json.read_text())
    test = next(t for g in document["testGroups"] for t in g["tests"] if g["k"] >= 2)
    test["exact"]["output"][1][0] = "1E5"
    document["header"]["sha256"] = content_sha256(document["testGroups"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"exact\.output\[1\]\[0\]: schema: .*1E5"):
        vectors.load(path)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("short row", "shape (K-1,)"),  # parsed by the array parse: its shape is the parse's
        ("row for matrix", "shape (K*K,)"),
        ("ragged", "shape ragged"),  # left to the pattern: its shape is the lists'
        ("bad token in short row", None),  # refused by the pattern first: a schema finding
    ],
)
def test_an_exact_list_of_the_wrong_shape_is_named(
    jacobian_json: Path, change: str, said: str | None
) -> None:
    document = json.loads(jacobian_json.read_text())
    test = next(t for g in document["testGroups"] for t in g["tests"] if g["k"] >= 3)
    k = len(test["inputs"]["z"])
    matrix = test["exact"]["output"]
    if change == "short row":
        test["exact"]["output"] = matrix[0][:-1]
    elif change == "row for matrix":
        test["exact"]["output"] = [cell for row in matrix for cell in row]
    elif change == "ragged":
        matrix[1] = matrix[1][:-1]
    else:
        test["exact"]["output"] = [*matrix[0][:-2], "1E5"]
    findings = check.check_document(document, "f")
    ours = [f for f in findings if f.tc_id == test["tcId"]]
    assert ours, findings
    if said is None:
        assert "schema" in ours[0].what or "does not match" in ours[0].what, ours
        return
    shown = said.replace("K*K", str(k * k)).replace("K-1", str(k - 1))
    assert [(f.field, f.what) for f in ours] == [("exact.output", f"{shown}, expected ({k}, {k})")]


def test_joined_tokens_with_a_newline_inside_a_token() -> None:
    tokens = ["0x1.8000000000000p+1", "0x1.8\n000000000000p+1", "\n", "", "-0x1.0000000000000p-2"]
    codes, start, length = joined_tokens(tokens, 4)
    text = codes.tobytes().decode("ascii")
    assert [text[s : s + n] for s, n in zip(start, length, strict=True)] == tokens
    assert length.tolist() == [len(token) for token in tokens]
    values, canonical = parse_hex_tokens(tokens)
    assert canonical.tolist() == [True, False, False, False, True]
    assert values[[0, 4]].tolist() == [3.0, -0.25]
    # no newline anywhere: the lengths found from the separators
    plain = ["a", "", "bc", "def", ""]
    codes, start, length = joined_tokens(plain, 0)
    text = codes.tobytes().decode("ascii")
    assert [text[s : s + n] for s, n in zip(start, length, strict=True)] == plain
    assert joined_tokens([], 3)[1].size == 0


def test_parse_hex_tokens_across_its_blocks() -> None:
    """More tokens than one block holds (``tokens._HEX_BLOCK``), canonical and not, against
    float.fromhex and float.hex one at a time."""
    from symsoftmax.vectors import tokens as module

    rng = np.random.default_rng(11)
    count = 2 * module._HEX_BLOCK + 123
    bits = rng.integers(0, 2**64, size=count, dtype=np.uint64)
    values = bits.view(np.float64)
    texts = [float.hex(float(v)) for v in values.tolist()]
    for i in rng.choice(count, size=300, replace=False).tolist():  # other spellings, anything
        texts[i] = rng.choice(["0x1p+0", texts[i].upper(), texts[i] + "0", "1.5", "-nan"])
    parsed, canonical = parse_hex_tokens(texts)
    for text, value, ok in zip(texts, parsed.tolist(), canonical.tolist(), strict=True):
        try:
            authority = float.fromhex(text)
            is_canonical = float.hex(authority) == text
        except (ValueError, OverflowError):  # "0x1.fffffffffffff0p+1023" is too large
            is_canonical = False
        assert ok == is_canonical, text
        if ok and not np.isnan(authority):
            assert np.float64(value).tobytes() == np.float64(authority).tobytes(), text


def test_the_cache_stores_the_exact_decimals_as_ascii_and_reads_them_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suite cache entry keeps its exact decimals as ASCII bytes (a third of the entry's
    size); read back they are the same text: the cached suite written as JSON is the
    generated suite's JSON, byte for byte, and the entry loads as a user's NPZ file too."""
    from symsoftmax.validation.sources import suite_vectors
    from symsoftmax.vectors.io import AsciiExact, dumps_json

    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(tmp_path))
    made = suite_vectors("jacobian", "float16", "quick")  # generated, and written
    (entry,) = (tmp_path / "vectors").glob("*.npz")
    stored = np.load(entry)
    kinds = {
        stored[name].dtype.kind
        for name in stored.files
        if name.endswith((".output.npy", ".output")) and ".exact." in name
    }
    assert kinds == {"S"}
    cached = suite_vectors("jacobian", "float16", "quick")
    assert cached is not made
    first = next(iter(cached.tests()))
    assert isinstance(first.exact, AsciiExact)
    assert first.exact["output"].dtype.kind == "U"
    assert dumps_json(cached) == dumps_json(made)
    again = vectors.load(entry)  # the document route: checked, the decimals as text
    assert dumps_json(again) == dumps_json(made)
