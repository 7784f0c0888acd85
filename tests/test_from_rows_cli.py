"""Vectors from your own rows: ``from_rows``, ``vectors --from-rows`` (docs/vectors.md).

Row n is tcId n while the tests stay grouped by K (ascending); empty rows are K = 0 tests; a
malformed rows file is one line naming the file and the row, exit status 2, and no file.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.rounding import round_exact
from symsoftmax.vectors import OPS, from_rows, lint, load, save
from symsoftmax.vectors.model import INPUT_KEYS
from symsoftmax.vectors.rows import read_rows


def _row(op: str, z: list[object]) -> object:
    """A row for ``op``: z alone, or with a second input of its length (sums to 1 when K > 0)."""
    if len(INPUT_KEYS[op]) == 1:
        return z
    second = [1] + [0] * (len(z) - 1) if z else []
    return {"z": z, INPUT_KEYS[op][1]: second}


# ---- the library --------------------------------------------------------------------------------


def test_tcids_follow_the_rows_and_groups_ascend_in_k() -> None:
    vf = from_rows("softmax", "float32", [[1, 2, 3], [4], [5, 6], [7, 8, 9], [10]])
    assert [group.k for group in vf.groups] == [1, 2, 3]
    assert [[tc.tc_id for tc in group.tests] for group in vf.groups] == [[2, 5], [3], [1, 4]]
    by_id = {tc.tc_id: tc for tc in vf.tests()}
    assert by_id[4].inputs["z"].tolist() == [7, 8, 9]
    assert all(tc.comment == f"custom row {tc.tc_id}" for tc in vf.tests())
    assert vf.header["numberOfTests"] == 5


@pytest.mark.parametrize("op", OPS)
def test_empty_rows_are_k0_tests_that_save_load_and_lint(op: str, tmp_path: Path) -> None:
    vf = from_rows(op, "float16", [_row(op, []), _row(op, ["1", "2"]), _row(op, [])])
    assert [group.k for group in vf.groups] == [0, 2]
    assert [tc.tc_id for tc in vf.groups[0].tests] == [1, 3]
    empty = vf.groups[0].tests[0]
    assert empty.result == "valid" and not empty.acceptable
    if op == "logsumexp":
        assert empty.expected["output"].tolist() == [-math.inf]
        assert empty.exact["output"].tolist() == ["-inf"]
    elif op == "cross_entropy":
        assert empty.expected["loss"].tolist() == [0.0] and empty.expected["grad"].size == 0
        assert not np.signbit(empty.expected["loss"]).any()
    else:
        assert all(value.size == 0 for value in empty.expected.values())
    for suffix in ("json", "npz"):
        path = tmp_path / f"v.{suffix}"
        save(vf, path)
        assert lint(path) == []
        assert [tc.tc_id for tc in load(path).tests()] == [1, 3, 2]


def test_all_neg_inf_logsumexp_is_valid_and_minus_inf() -> None:
    # log Σ e^−∞ = log 0 = −inf under both conventions (SciPy: scipy.special.logsumexp too)
    vf = from_rows("logsumexp", "float32", [["-inf", "-inf"]])
    (tc,) = vf.tests()
    assert tc.result == "valid" and tc.expected["output"].tolist() == [-math.inf]
    softmax = next(iter(from_rows("softmax", "float32", [["-inf", "-inf"]]).tests()))
    assert softmax.result == "acceptable"
    assert sorted(a.name for a in softmax.acceptable) == ["masked", "nan"]


def test_from_rows_refuses_an_input_the_op_does_not_take() -> None:
    with pytest.raises(InputError, match="row 1: op softmax takes no g"):
        from_rows("softmax", "float32", [{"z": [1, 2], "g": [1, 0]}])


def test_read_rows_keeps_json_decimals_exact(tmp_path: Path) -> None:
    # 1 + 2^-11 + 2^-60 lies just above a float16 midpoint; read as float64 first it would
    # become the midpoint itself and round (ties to even) down to 1.
    value = 1 + Fraction(1, 2**11) + Fraction(1, 2**60)
    decimal = f"{value.numerator * 10**60 // value.denominator}"
    text = decimal[0] + "." + decimal[1:]
    assert Fraction(text) == value  # the decimal is exact
    path = tmp_path / "rows.json"
    path.write_text(f"[[{text}, 0]]")
    assert read_rows(path) == [[text, "0"]]  # numbers as their text
    args = ["vectors", "--from-rows", str(path), "--op", "softmax", "--dtype", "float16"]
    assert main([*args, "--out", str(tmp_path / "v.json")]) == 0
    (tc,) = load(tmp_path / "v.json").tests()
    assert tc.inputs["z"][0] == 1 + 2**-10 == round_exact(value, "float16")
    assert round_exact(float(value), "float16") == 1.0  # what double rounding would give


# ---- the command line ----------------------------------------------------------------------------


def test_cli_writes_the_rows_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text(
        json.dumps(
            [
                {"z": ["1000", "999", "-inf"], "y": [1, 0, 0]},
                {"z": [], "y": []},
                {"z": [0.5, "0x1p-3"], "y": ["0.25", "0.75"]},
            ]
        )
    )
    out = tmp_path / "ce.npz"
    args = ["vectors", "--from-rows", str(rows), "--op", "cross_entropy", "--dtype", "bfloat16"]
    assert main([*args, "--out", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote 3 tests (cross_entropy, bfloat16, custom rows from {rows}) to {out}\n"
    )
    assert out.read_bytes()[:2] == b"PK"
    vf = load(out)
    assert vf.header["suite"] == "custom" and vf.dtype == "bfloat16"
    assert [(group.k, [tc.tc_id for tc in group.tests]) for group in vf.groups] == [
        (0, [2]),
        (2, [3]),
        (3, [1]),
    ]
    assert lint(out) == []
    assert main(["vectors", "--lint", str(out)]) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "rows.json: not valid JSON"),
        ('{"z": [1]}', "rows.json: expected a JSON list of rows"),
        ("[]", "rows.json: no rows"),
        ('[[1, 2], [1, "x"]]', r"rows.json: row 2 z\[1\]: malformed number 'x'"),
        ("[[1], 5]", "rows.json: row 2: expected a list of numbers or an object"),
        ("[[1, [2]]]", "rows.json: row 1: a row is a flat list of numbers"),
        ('[[1], {"z": [1], "w": [2]}]', "rows.json: row 2: unknown key 'w'"),
        ('[{"z": 3}]', "rows.json: row 1: z is not a list of numbers"),
        ('[{"g": [1]}]', "rows.json: row 1: missing z"),
        ('[{"z": [1, 2], "y": [1, 0]}]', "rows.json: row 1: op softmax takes no y"),
        ("[[1, 2], [true]]", r"rows.json: row 2 z\[0\]: expected a number"),
        ('[{"z": [1], "temperature": 0}]', "rows.json: row 1: temperature must be one positive"),
        ('[{"z": [1], "temperature": [1, 2]}]', "rows.json: row 1: temperature must be one"),
        (b"\xff[", "rows.json: not UTF-8"),
        ("[[NaN]]", "rows.json: not valid JSON .bare NaN"),
        ("[" * 100 + "]" * 100, "rows.json: JSON nested deeper than"),
    ],
)
def test_cli_malformed_rows_file(
    content: str | bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.json"
    if isinstance(content, bytes):
        rows.write_bytes(content)
    else:
        rows.write_text(content)
    out = tmp_path / "v.json"
    args = ["vectors", "--from-rows", str(rows), "--op", "softmax", "--dtype", "float32"]
    status = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("symsoftmax vectors: error: ")
    assert re.search(message, err), err


def test_cli_from_rows_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text("[[1, 2]]")
    assert main(["vectors", "--from-rows", str(rows), "--op", "softmax", "--dtype", "float32"]) == 2
    assert "missing --out" in capsys.readouterr().err
    assert main(["vectors", "--from-rows", str(rows), "--lint", str(rows)]) == 2
    assert "--from-rows" in capsys.readouterr().err
    missing = tmp_path / "none.json"
    args = ["vectors", "--from-rows", str(missing), "--op", "softmax", "--dtype", "float32"]
    assert main([*args, "--out", str(tmp_path / "v.json")]) == 2
    assert "none.json: cannot read" in capsys.readouterr().err
