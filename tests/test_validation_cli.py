"""`symsoftmax validate` and `symsoftmax score`: exit codes, JSON, Markdown, plot, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.rounding import format_hex
from symsoftmax.validation import PassRule, read_outputs, score
from symsoftmax.validation.sources import custom_vectors, suite_vectors
from symsoftmax.validation.target import locate_target

# the generated-suite cache shared by the test workers (as in test_validation.py)
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"

CANDIDATES = """
import numpy as np

def good(z):
    x = z.astype(np.float64)
    e = np.exp(x - x.max())
    return (e / e.sum()).astype(z.dtype)

def naive(z):
    e = np.exp(z)
    return e / e.sum()

VALUE = 3
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    (root / "cands.py").write_text(CANDIDATES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
        vf = suite_vectors("softmax", "float32", "quick")
    vectors.save(vf, root / "softmax.json")
    return {"root": root, "cands": root / "cands.py", "vectors": root / "softmax.json"}


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_validate_exit_codes_and_json(files: dict[str, Path]) -> None:
    good = _run("validate", f"{files['cands']}:good", "--vectors", str(files["vectors"]), "--json")
    assert good.returncode == 0, good.stderr
    data = json.loads(good.stdout)
    vf = vectors.load(files["vectors"])
    assert data["passed"] is True and data["failed"] == 0
    assert data["tests"] + data["skipped"] == len(vf) and data["skipped"] > 0  # temperature
    bad = _run("validate", f"{files['cands']}:naive", "--vectors", str(files["vectors"]), "--json")
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["passed"] is False and data["failed"] >= 1
    tests = {t.tc_id: t for t in vf.tests()}
    for failure in data["failures"]:
        assert {"tcId", "flags", "input", "got", "expected", "ulp"} <= set(failure)
        z = tests[failure["tcId"]].inputs["z"]
        assert failure["input"]["z"] == [format_hex(v) for v in z.tolist()]
    overflow = [f for f in data["failures"] if "exp-overflow" in f["flags"]]
    assert overflow and overflow[0]["ulp"] == "inf"


def test_validate_writes_markdown_and_plot(files: dict[str, Path], tmp_path: Path) -> None:
    report, plot = tmp_path / "r.md", tmp_path / "r.png"
    done = _run(
        "validate",
        f"{files['cands']}:naive",
        "--vectors",
        str(files["vectors"]),
        "--report",
        str(report),
        "--plot",
        str(plot),
    )
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "worst cases" in done.stdout
    assert report.read_text().startswith("# Validation of")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nomodule_xyz:fn", "cannot import module 'nomodule_xyz'"),
        ("numpy:no_such_function", "has no attribute 'no_such_function'"),
        ("no-colon", "expected module:function"),
        ("missing.py:fn", "not found"),
        ("{cands}:VALUE", "not callable"),
    ],
)
def test_bad_target_is_one_line_exit_2(files: dict[str, Path], target: str, message: str) -> None:
    done = _run("validate", target.format(cands=files["cands"]), "--vectors", str(files["vectors"]))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_in_process_main_and_usage_errors(files: dict[str, Path], capsys) -> None:
    assert main(["validate", f"{files['cands']}:good", "--vectors", str(files["vectors"])]) == 0
    assert "PASS" in capsys.readouterr().out
    code = main(
        [
            "validate",
            f"{files['cands']}:good",
            "--vectors",
            str(files["vectors"]),
            "--op",
            "jacobian",
        ]
    )
    assert code == 2
    assert "not 'jacobian'" in capsys.readouterr().err


def _outputs_of(vf, fn) -> dict[str, list[str] | None]:
    out: dict[str, list[str] | None] = {}
    for test in vf.tests():
        if {"temperature", "sink", "softcap"} & test.inputs.keys():
            out[str(test.tc_id)] = None  # fn takes none of them: null marks it skipped
            continue
        z = test.inputs["z"].astype(np.float32)
        out[str(test.tc_id)] = [f"{v:.9g}" for v in fn(z).astype(np.float64)]
    return out


def test_score_good_and_bad_outputs(files: dict[str, Path], tmp_path: Path) -> None:
    vf = vectors.load(files["vectors"])

    def good(z):
        x = z.astype(np.float64)
        with np.errstate(all="ignore"):  # NaN and inf rows
            e = np.exp(x - x.max())
            return (e / e.sum()).astype(np.float32)

    outputs = tmp_path / "good.json"
    outputs.write_text(json.dumps(_outputs_of(vf, good)))
    done = _run("score", str(files["vectors"]), str(outputs), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] and data["tests"] + data["skipped"] == len(vf)
    names = {p["name"]: p for p in data["properties"]}
    assert names["determinism"]["note"].startswith("needs the function")

    bad = _outputs_of(vf, good)
    three = next(t for t in vf.tests() if t.inputs["z"].size == 3 and t.result == "valid")
    wrong = [float(np.float32(v)) for v in (0.1, 0.2, 0.7)]  # float32 values: hex is exact
    bad[str(three.tc_id)] = [format_hex(v) for v in wrong]  # hex is accepted too
    outputs.write_text(json.dumps(bad))
    done = _run("score", str(files["vectors"]), str(outputs), "--mode", "faithful")
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda o, a, b: o.pop(b), "tcId {b}: missing"),
        (lambda o, a, b: o[a].__setitem__(1, "0.5x"), "tcId {a}, position 1: malformed number"),
        (lambda o, a, b: o.__setitem__(a, ["0.5"]), "tcId {a}: expected 2 value(s) for output"),
        (lambda o, a, b: o.__setitem__("99999", ["0.5"]), "tcId 99999: no such test"),
    ],
)
def test_score_input_errors_name_file_tcid_and_position(
    files: dict[str, Path], tmp_path: Path, capsys, edit, message: str
) -> None:
    vf = vectors.load(files["vectors"])
    outputs = {str(t.tc_id): ["0.5"] * t.inputs["z"].size for t in vf.tests()}
    pair = next(t.tc_id for t in vf.tests() if t.inputs["z"].size == 2)
    edit(outputs, str(pair), str(pair + 1))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert main(["score", str(files["vectors"]), str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    expected = message.format(a=pair, b=pair + 1)
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], lines


def test_score_cross_entropy_and_jacobian_layouts() -> None:
    ce = custom_vectors(
        "cross_entropy", "float32", [{"z": [1.0, 2.0, 3.0], "y": [0.0, 0.25, 0.75]}]
    )
    test = next(ce.tests())
    loss = format_hex(float(test.expected["loss"][0]))
    grad = [format_hex(v) for v in test.expected["grad"].tolist()]
    assert score(ce, {"1": [loss, *grad]}).passed
    assert score(ce, {"1": {"loss": loss, "grad": grad}}).passed
    with pytest.raises(InputError, match="missing 'grad'"):
        read_outputs({"1": {"loss": loss}}, ce)
    jac = custom_vectors("jacobian", "float16", [[0.5, 1.0]])
    rows = [[format_hex(v) for v in row] for row in next(jac.tests()).expected["output"].tolist()]
    assert score(jac, {"1": rows}).passed
    assert score(jac, {"1": [v for row in rows for v in row]}).passed
    assert not score(jac, {"1": ["0", "0", "0", "0"]}, rule=PassRule("correctly-rounded")).passed


def test_score_rejects_json_constants_and_reads_numbers_exactly(tmp_path: Path) -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 0.0]])
    path = tmp_path / "o.json"
    path.write_text('{"1": [NaN, 1]}')
    with pytest.raises(InputError, match="not valid JSON"):
        read_outputs(path, vf)
    path.write_text('{"1": [0.731058598, 0.268941432]}')
    outcome = read_outputs(path, vf)[0]
    assert outcome.outputs is not None
    assert outcome.outputs["output"][0] == np.float32("0.731058598")
    assert score(vf, path, rule=PassRule("correctly-rounded")).passed


def test_missing_target_fails_before_any_vectors_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A typo in TARGET is one line at once: no suite is generated first, nothing imported."""
    import symsoftmax.validation.core as core

    def no_vectors(*args: object, **kwargs: object) -> None:
        raise AssertionError("vectors were made before the target was checked")

    monkeypatch.setattr(core, "resolve_vectors", no_vectors)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("raise SystemExit('package ran')\n")
    for target, message in [
        ("missing.py:f", "target file 'missing.py' not found"),
        ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
        ("no_such_module_xyz.sub:f", "no module named 'no_such_module_xyz'"),
    ]:
        assert main(["validate", target]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(InputError, match="not found"):
        core.validate("missing.py:f", companion=None)
    # checking a submodule's target finds its package without running it (no SystemExit here)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert locate_target("pkg.sub:f") == ("pkg.sub", "f")


@pytest.mark.parametrize("command", ["validate", "vectors"])
def test_seed_is_a_plain_non_negative_integer(command: str, capsys) -> None:
    for bad in ("١٢", "-1", "1.5", "x"):
        argv = (
            [command, "t.py:f", "--seed", bad]
            if command == "validate"
            else [
                command,
                "--op",
                "softmax",
                "--dtype",
                "float32",
                "--out",
                "x.json",
                "--seed",
                bad,
            ]
        )
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "--seed" in err and len(err.strip().splitlines()) == 1


def test_vectors_out_is_checked_before_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import symsoftmax.vectors.builder as builder

    def no_generation(*args: object, **kwargs: object) -> None:
        raise AssertionError("generated before checking --out")

    monkeypatch.setattr(builder, "generate", no_generation)
    for out, message in [("", "empty file name"), (str(tmp_path) + "/", "folder")]:
        argv = ["vectors", "--op", "softmax", "--dtype", "float32", "--out", out]
        assert main(argv) == 2
        assert message in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# ambiguous outputs files (outside audit): one reading only, or an error naming where
# --------------------------------------------------------------------------------------------


def _expected_outputs(vf) -> dict[str, list[str]]:
    """Every test's expected values as hex strings: outputs that pass."""
    return {
        str(t.tc_id): [format_hex(v) for v in t.expected["output"].reshape(-1).tolist()]
        for t in vf.tests()
    }


def test_score_refuses_a_tcid_given_twice(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    """The audit: failing values first, then the right ones; json keeps the last, so it passed."""
    vf = vectors.load(files["vectors"])
    good = _expected_outputs(vf)
    pair = str(next(t.tc_id for t in vf.tests() if t.inputs["z"].size == 2))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(good))
    assert main(["score", str(files["vectors"]), str(path)]) == 0
    capsys.readouterr()
    path.write_text(f'{{"{pair}": ["0x1p-1", "-0x1p-1"], ' + json.dumps(good)[1:])
    assert main(["score", str(files["vectors"]), str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    again = path.read_text().index(f'"{pair}"', 2) + 1  # the column of its second time
    message = f"key '{pair}' appears twice in one object (line 1, column {again})"
    assert err == f"symsoftmax score: error: {path}: {message}\n"


@pytest.mark.parametrize("padded", [" {v}", "{v} ", "\t{v}", "{v}\n", "\r\n{v}\f"])
def test_score_refuses_a_number_padded_with_whitespace(
    files: dict[str, Path], tmp_path: Path, capsys, padded: str
) -> None:
    vf = vectors.load(files["vectors"])
    outputs = _expected_outputs(vf)
    pair = str(next(t.tc_id for t in vf.tests() if t.inputs["z"].size == 2))
    outputs[pair][1] = padded.format(v=outputs[pair][1])
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert main(["score", str(files["vectors"]), str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"symsoftmax score: error: {path}: tcId {pair}, position 1: ")
    assert "whitespace" in lines[0]


@pytest.mark.parametrize(
    ("op", "row", "value", "message"),
    [
        # K lists of K for the jacobian: rows of other lengths are not rows (2x2 here)
        ("jacobian", [0.5, 1.0], [["a", "a", "a"], ["a"]], "row 0: expected 2 value(s), got 3"),
        ("jacobian", [0.5, 1.0], [["a"], ["a"], ["a"], ["a"]], "expected 2 rows"),
        ("jacobian", [0.5, 1.0], [["a", "a"], "a", "a"], "mixes values and lists"),
        # a flat list for the others: no rows to flatten
        ("softmax", [0.5, 1.0], [["a", "a"]], "expected a flat list of 2 value(s)"),
        ("softmax", [0.5, 1.0], ["a", ["a"]], "mixes values and lists"),
        ("cross_entropy", [0.5, 1.0], [["a"], ["a", "a"]], "expected a flat list of 3 value(s)"),
        ("cross_entropy", [0.5, 1.0], {"loss": "a", "grad": [["a", "a"]]}, "grad: expected a"),
        ("cross_entropy", [0.5, 1.0], {"loss": "a", "grad": ["a", "a"], "grads": []}, "'grads'"),
    ],
)
def test_score_refuses_layouts_that_only_flattening_makes_fit(
    op: str, row: list[float], value: Any, message: str
) -> None:
    vf = custom_vectors(
        op, "float32", [{"z": row, "y": [0.5, 0.5]} if op == "cross_entropy" else row]
    )
    with pytest.raises(InputError) as info:
        read_outputs({"1": _filled(value, "0.5")}, vf)
    assert str(info.value).startswith("outputs: tcId 1") and message in str(info.value)


def _filled(value: Any, token: str) -> Any:
    """``value`` with every "a" leaf replaced by ``token``."""
    if isinstance(value, list):
        return [_filled(item, token) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, token) for key, item in value.items()}
    return token if value == "a" else value
