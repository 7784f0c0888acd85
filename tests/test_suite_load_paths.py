"""The array readers of a suite's numbers, each against the one-at-a-time rule it stands for.

Loading a suite parses about 10⁶ tokens; issue 19 made that an array parse in several places,
each with an exact scalar authority beside it:

* canonical hex floats (:func:`symsoftmax.vectors.tokens.parse_hex_tokens`) against
  ``format_hex(float.fromhex(t)) == t``, on every binade, zeros, specials and mutated tokens;
* a candidate's plain decimals (``score._plain_decimals``) against the regular expression
  ``_PLAIN_DECIMAL`` that documents the grammar;
* the generator's 40-digit decimals read column by column (``decimals._parse_fixed``) against
  the byte-matrix parse of any layout (``decimals._parse_block``) — both against exact rational
  arithmetic in tests/test_exact_parse.py;
* the checksum read off a file's test lines (:func:`canonical_lines_sha256`) against encoding
  the document (:func:`content_sha256`), and what happens when they differ;
* the suite cache's NPZ members read in place against ``np.load``, and its stored parsed exact
  values against parsing the decimals again.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.rounding import format_hex
from symsoftmax.validation.checks import PreparedTest
from symsoftmax.validation.metrics import ExactValues
from symsoftmax.validation.score import _PLAIN_DECIMAL, _plain_decimals, read_outputs
from symsoftmax.validation.sources import suite_vectors
from symsoftmax.vectors import decimals
from symsoftmax.vectors.io import (
    _stored_members,
    canonical_lines_sha256,
    content_sha256,
    document_of,
    read_npz_model,
    to_npz_bytes,
)
from symsoftmax.vectors.tokens import parse_hex_tokens, token_blocks

_ALPHABET = "0123456789abcdefABCDEFxXpP.+-eE n"


def _mutated(tokens: list[str], rng: random.Random) -> list[str]:
    """Each token with one character replaced, inserted or deleted."""
    out = []
    for token in tokens:
        chars = list(token)
        at = rng.randrange(len(chars) + 1)
        action = rng.random()
        if action < 0.4 and at < len(chars):
            chars[at] = rng.choice(_ALPHABET)
        elif action < 0.7 or not chars:
            chars.insert(at, rng.choice(_ALPHABET))
        else:
            del chars[min(at, len(chars) - 1)]
        out.append("".join(chars))
    return out


def _canonical(token: object) -> bool:
    if not isinstance(token, str):
        return False
    try:
        return format_hex(float.fromhex(token)) == token
    except (ValueError, OverflowError):
        return False


def test_hex_tokens_are_read_as_the_scalar_rule_reads_them() -> None:
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**64, size=20_000, dtype=np.uint64)
    values = np.concatenate(
        [
            bits.view(np.float64),
            [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, -(2.0**-1022), 1.0, -1.0],
            [np.finfo(np.float64).max, math.inf, -math.inf, math.nan],
            np.ldexp(1.0, np.arange(-1074, 1024)),  # every binade
        ]
    )
    tokens = [format_hex(float(v)) for v in values]
    read, canonical = parse_hex_tokens(tokens)
    assert canonical.all()
    same = np.isnan(values) & np.isnan(read) | (read.view(np.uint64) == values.view(np.uint64))
    assert same.all()

    rng_text = random.Random(3)
    others = [
        *_mutated(tokens[:20_000], rng_text),
        "0x1.0000000000000p+00",  # a leading zero in the exponent
        "0x1.0000000000000p-0",
        "0x0.0000000000000p-1022",  # zero spelt as a subnormal
        "0x1.0000000000000p+1024",
        "0x0.0000000000001p-1021",
        "0x1.000000000000p+0",  # 12 digits
        "0X1.0000000000000p+0",
        "0x1.0000000000000P+0",
        "-nan",
        "+inf",
        "0x1.0000000000000p+1é",
        "",
        "-",
    ]
    read, canonical = parse_hex_tokens(others)
    expected = np.array([_canonical(t) for t in others])
    assert (canonical == expected).all(), [
        t for t, c in zip(others, canonical, strict=True) if c != _canonical(t)
    ]
    for token, value in zip(np.array(others)[canonical], read[canonical], strict=True):
        assert float(value).hex() == float.fromhex(token).hex() or math.isnan(value)

    # tokens that are not all str are read as their str(): none of these is canonical
    read, canonical = parse_hex_tokens([1.0, None, "0x1.0000000000000p+0"])  # type: ignore[list-item]
    assert canonical.tolist() == [False, False, True] and read[2] == 1.0


def test_a_string_array_and_a_list_give_the_same_byte_blocks() -> None:
    tokens = ["1.5e+00", "-2.25e-03", "nan", "", "x" * 60, "é1"]
    from_list = list(token_blocks(tokens, 51))
    from_array = list(token_blocks(np.array(tokens), 51))
    assert len(from_list) == len(from_array) == 1
    (_, codes_a, length_a), (_, codes_b, length_b) = from_list[0], from_array[0]
    assert (codes_a == codes_b).all() and (length_a == length_b).all()
    assert bytes(codes_a[5, :2]) == b"?1"  # a non-ASCII character is one "?"


def test_plain_decimals_are_read_as_the_regular_expression_reads_them() -> None:
    rng = random.Random(5)
    tokens: list[object] = []
    for _ in range(20_000):
        length = rng.randint(0, 26)
        alphabet = "0123456789.eE+-" if rng.random() < 0.9 else "0123456789.eE+-x _é,\n\x00"
        tokens.append("".join(rng.choice(alphabet) for _ in range(length)))
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
        if rng.random() < 0.7:
            at = rng.randint(0, len(digits))
            digits = digits[:at] + "." + digits[at:]
        if rng.random() < 0.5:
            sign = rng.choice(["", "+", "-"])
            digits += rng.choice("eE") + sign + str(rng.randint(0, 99_999)).zfill(rng.randint(1, 5))
        tokens.append(rng.choice(["", "+", "-"]) + digits)
    with_separator = [token for token in tokens if isinstance(token, str) and "\n" in token]
    assert with_separator  # the lengths by len(), not by the separators' positions, are read too
    without = [token for token in tokens if token not in with_separator]
    # items that are no str are read as "": none matches (the others as before)
    others = [*without[:1000], 1.5, None, ["1"], *without[1000:2000]]
    short = [token for token in without if len(token) <= 16]  # read in 16 rows, not 23
    for sample in (tokens, without, short, others, [], ["1e5"], ["", ""]):
        found = _plain_decimals(sample)
        for i, token in enumerate(sample):
            match = _PLAIN_DECIMAL.fullmatch(token) if isinstance(token, str) else None
            assert found.matches[i] == (match is not None), token
            if match is None:
                continue
            fraction, exponent = match.group(1, 2)
            want = (int(exponent) if exponent else 0) - (len(fraction) if fraction else 0)
            assert found.scale[i] == want, token
            assert isinstance(token, str)
            digits = re.sub("[^0-9]", "", re.split("[eE]", token)[0])
            assert found.significand[i] == int(digits), token
            assert found.negative[i] == token.startswith("-"), token


def test_score_names_the_first_bad_value_before_a_later_tests_layout_error(
    tmp_path: Path,
) -> None:
    vf = vectors.generate("softmax", "float32", suite="quick")
    tests = list(vf.tests())
    outputs: dict[str, object] = {
        str(t.tc_id): [str(float(v)) for v in t.expected["output"]] for t in tests
    }
    first, second = str(tests[3].tc_id), str(tests[7].tc_id)
    bad_value = list(outputs[first])  # type: ignore[call-overload]
    bad_value[0] = "zero"
    outputs[first] = bad_value
    outputs[second] = [1.0, [2.0]]  # a list inside: a layout error
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    with pytest.raises(InputError, match=f"tcId {first}, position 0"):
        read_outputs(path, vf)
    outputs[first] = [str(float(v)) for v in tests[3].expected["output"]]
    path.write_text(json.dumps(outputs))
    with pytest.raises(InputError, match=f"tcId {second}"):
        read_outputs(path, vf)


def test_the_fixed_layout_and_the_general_parse_agree() -> None:
    rng = random.Random(11)
    tokens = []
    for _ in range(4000):
        mantissa = (
            str(rng.randint(1, 9)) + "." + "".join(rng.choice("0123456789") for _ in range(39))
        )
        exponent = rng.randint(-240, 240)
        sign = rng.choice(["", "-"])
        tokens.append(f"{sign}{mantissa}e{exponent:+03d}")
    flat = np.array(tokens, dtype=object)
    hi, lo, done = decimals._parse_canonical(flat)  # the generator's layout: column by column
    assert done.mean() > 0.99
    for first, codes, length in token_blocks(tokens, decimals._MAX_LENGTH):
        h, low, ok = decimals._parse_block(codes, length)  # any layout: the byte matrix
        end = first + len(length)
        assert (ok == done[first:end]).all()
        assert (h[ok] == hi[first:end][ok]).all() and (low[ok] == lo[first:end][ok]).all()
    # a NumPy string array (the cache's and an NPZ file's exact values) is read in place
    h2, l2, d2 = decimals._parse_canonical(flat.astype("U51"))
    assert (d2 == done).all() and (h2 == hi).all() and (l2 == lo).all()


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("lines") / "quick.json"
    vf = vectors.generate("log_softmax", "bfloat16", suite="quick")
    vectors.save(vf, path)
    return path, str(vf.header["sha256"])


def test_the_checksum_read_off_the_lines_is_the_documents(quick_json: tuple[Path, str]) -> None:
    path, digest = quick_json
    data = path.read_bytes()
    document = document_of(data, str(path))
    assert canonical_lines_sha256(data, document) == content_sha256(document["testGroups"])
    assert canonical_lines_sha256(data, document) == digest


def test_an_edited_line_is_a_checksum_mismatch(
    quick_json: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = quick_json
    text = path.read_text()
    edited = text.replace('"comment":"', '"comment":"edited: ', 1)
    assert edited != text
    target = tmp_path / "edited.json"
    target.write_text(edited)
    with pytest.raises(InputError, match="checksum mismatch"):
        vectors.load(target)


def test_another_layout_is_checked_by_encoding_the_document(
    quick_json: tuple[Path, str], tmp_path: Path
) -> None:
    path, digest = quick_json
    document = json.loads(path.read_text())
    spaced = tmp_path / "spaced.json"
    spaced.write_text(json.dumps(document, indent=1))  # same content, other layout
    data = spaced.read_bytes()
    assert canonical_lines_sha256(data, document_of(data, "x")) is None
    assert vectors.load(spaced).header["sha256"] == digest
    # test lines with spaces after the separators: the lines hash differently, the document
    # is encoded, and the file is sound
    lines = path.read_text().split("\n")
    loose = [line.replace('","', '", "') if line.startswith("      {") else line for line in lines]
    target = tmp_path / "loose.json"
    target.write_text("\n".join(loose))
    data = target.read_bytes()
    assert canonical_lines_sha256(data, document_of(data, "y")) != digest
    assert vectors.load(target).header["sha256"] == digest


def test_npz_members_read_in_place_equal_np_load() -> None:
    vf = vectors.generate("cross_entropy", "float16", suite="quick")
    data = to_npz_bytes(vf, extra={"note": np.arange(3.0)})
    mine = _stored_members(data)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        theirs = {key: npz[key] for key in npz.files}
    assert mine.keys() == {key for key in theirs}
    for key, array in theirs.items():
        assert mine[key].dtype == array.dtype and mine[key].shape == array.shape
        assert mine[key].tobytes() == array.tobytes()
    # a flipped byte inside a member fails its CRC-32
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("g00000.inputs.z.npy")
    broken = bytearray(data)
    broken[info.header_offset + 30 + len(info.filename) + info.file_size - 1] ^= 0xFF
    with pytest.raises(ValueError, match="CRC"):
        _stored_members(bytes(broken))


def test_the_cache_gives_the_exact_values_it_stored_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(tmp_path))
    made = suite_vectors("softmax", "float16", "quick")  # generated, and written with them
    (entry,) = (tmp_path / "vectors").glob("*.npz")
    cached = suite_vectors("softmax", "float16", "quick")
    assert cached is not made
    stored = PreparedTest.of_file(cached)
    again = PreparedTest.of_all(list(cached.tests()))
    for mine, parsed in zip(stored, again, strict=True):
        for key, values in parsed.exact.items():
            for part in ("hi", "lo_frac", "lo_exp"):
                a, b = getattr(mine.exact[key], part), getattr(values, part)
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # an entry without them (written by vectors.save) is made again, with them
    vectors.save(cached, entry)
    extra: dict[str, np.ndarray] = {}
    read_npz_model(entry, extra)
    assert not extra
    suite_vectors("softmax", "float16", "quick")
    read_npz_model(entry, extra)
    assert any(name.endswith(".lo_exp") for name in extra)
    assert isinstance(ExactValues.parse(["1.5e+00"]).hi, np.ndarray)


def test_the_hex_pattern_is_checked_as_the_whole_schema_checks_it(
    quick_json: tuple[Path, str],
) -> None:
    """The compiled schema leaves out the hex pattern; the array reader and the pattern itself
    hold every hex value to it (check._pattern_errors). Against the whole schema, checked by
    the pure-Python jsonschema: single tokens changed to near misses, refused or accepted alike,
    at the same place."""
    import jsonschema

    from symsoftmax.vectors import check

    path, _ = quick_json
    original = json.loads(path.read_text())
    reference = jsonschema.Draft202012Validator(check.schema())
    rng = random.Random(13)
    spellings = ["0x1p+0", "0X1.8p+1", "0x1.8P+1", "1.5", "0x1.8p1", "-0x0p+0", "0x1.gp+0", "+inf"]
    cases = 0
    for test_index in rng.sample(range(len(original["testGroups"][2]["tests"])), 4):
        for where in ("inputs", "expected"):
            document = json.loads(path.read_text())
            test = document["testGroups"][2]["tests"][test_index]
            tokens = test[where]["z" if where == "inputs" else "output"]
            at = rng.randrange(len(tokens))
            tokens[at] = rng.choice([*spellings, *_mutated([tokens[at]], rng)])
            expected = [list(e.absolute_path) for e in reference.iter_errors(document)]
            found = check._schema_findings(document, "f")
            assert bool(expected) == bool(found), tokens[at]
            if expected:
                assert found[0].tc_id == test["tcId"] and found[0].field.endswith(f"[{at}]")
                assert "does not match" in found[0].what
            cases += 1
    assert cases == 8
