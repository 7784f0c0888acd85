"""Test vectors: schema, reproducibility, round trips, conventions, catalogue coverage, lint.

The expected values are re-checked independently in tests/test_vectors_bruteforce.py (mpmath at
300 and 600 bits, exact rounding with rounding.round_exact), not with the engine.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import round_array
from symsoftmax.vectors import OPS, check, generate, lint, load, save
from symsoftmax.vectors.blocks import BLOCK_FLAGS, BLOCK_SIZES, MAX_BLOCK_K_JACOBIAN, SENTINELS
from symsoftmax.vectors.builder import draft_rows
from symsoftmax.vectors.catalogue import (
    FAMILIES,
    LONG_K,
    MAX_SHORT_K,
    NOTES,
    QUADRATIC_OPS,
    SHARP_LONG_FLAGS,
    TARGETS,
    flag_in_format,
)
from symsoftmax.vectors.check import _path_text, check_document, schema
from symsoftmax.vectors.io import content_sha256, dumps_json, encode_groups, to_npz_bytes
from symsoftmax.vectors.model import TEMPERATURE_OPS, VectorFile

DTYPES = tuple(FORMATS)
ROOT = Path(__file__).resolve().parent.parent


@cache
def quick(op: str, dtype: str, seed: int = 0) -> VectorFile:
    return generate(op, dtype, "quick", seed)


def applicable_flags(op: str, dtype: str = "float32") -> set[str]:
    """Flags the standard suite of ``op`` in ``dtype`` must carry."""
    flags = {flag for flag in NOTES if flag_in_format(flag, get_format(dtype))}
    if op not in TEMPERATURE_OPS:
        flags -= {"temperature-small", "temperature-large"}
    if op not in ("softmax_vjp", "log_softmax_vjp"):
        flags -= {"cotangent-cancellation", "cotangent-one-hot"}
    if op != "cross_entropy":
        flags -= {"target-one-hot", "target-smoothed", "target-uniform"}
    elsewhere = {flag for family in FAMILIES if op not in family.ops for flag in family.flags}
    flags -= elsewhere - {flag for family in FAMILIES if op in family.ops for flag in family.flags}
    return flags


# --------------------------------------------------------------------------------------------
# format and schema
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_quick_suite_is_schema_valid_and_loads_back(op: str, dtype: str, tmp_path: Path) -> None:
    vf = quick(op, dtype)
    document = json.loads(dumps_json(vf))
    jsonschema.Draft202012Validator(schema()).validate(document)
    header = document["header"]
    assert (header["op"], header["dtype"], header["suite"]) == (op, dtype, "quick")
    assert header["numberOfTests"] == len(vf) > 100
    assert {"python", "numpy", "mpmath", "ml_dtypes"} <= set(header["libraries"])
    assert header["sha256"] == content_sha256(document["testGroups"])
    ids = [t["tcId"] for g in document["testGroups"] for t in g["tests"]]
    assert ids == list(range(1, len(ids) + 1))
    for group in document["testGroups"]:
        assert all(len(t["inputs"]["z"]) == group["k"] for t in group["tests"])
    path = tmp_path / "v.json"
    save(vf, path)
    assert encode_groups(load(path)) == document["testGroups"]
    assert set(document["notes"]) == {f for g in vf.groups for t in g.tests for f in t.flags}


def test_exact_decimals_have_40_significant_digits() -> None:
    vf = quick("log_softmax", "float32")
    digits = re.compile(r"-?(\d)\.(\d+)e[+-]\d+")
    checked = 0
    for tc in vf.tests():
        for value in tc.exact["output"].ravel():
            match = digits.fullmatch(value)
            if match:
                assert len(match.group(1) + match.group(2)) >= 40, value
                checked += 1
            else:
                assert value in ("nan", "inf", "-inf", "0", "-0"), value
    assert checked > 300


def test_inputs_and_outputs_are_format_values() -> None:
    for dtype in ("float16", "bfloat16"):
        vf = quick("cross_entropy", dtype)
        for tc in vf.tests():
            for array in (*tc.inputs.values(), *tc.expected.values()):
                assert np.array_equal(round_array(array, dtype), array, equal_nan=True)


# --------------------------------------------------------------------------------------------
# reproducibility
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "dtype"), [("softmax", "float16"), ("softmax_vjp", "bfloat16")])
def test_same_command_gives_identical_bytes(op: str, dtype: str, tmp_path: Path) -> None:
    first, second = quick(op, dtype, 7), generate(op, dtype, "quick", 7)
    assert first is not second
    for suffix in ("json", "npz"):
        save(first, tmp_path / f"a.{suffix}")
        save(second, tmp_path / f"b.{suffix}")
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()


def test_seed_changes_the_random_families_only() -> None:
    a, b = quick("softmax", "float32", 0), quick("softmax", "float32", 1)
    assert a.header["sha256"] != b.header["sha256"]
    fixed = [tc.comment for tc in a.tests() if "format-max" in tc.flags]
    assert fixed == [tc.comment for tc in b.tests() if "format-max" in tc.flags]


def test_npz_carries_the_same_content(tmp_path: Path) -> None:
    vf = quick("cross_entropy", "float16")
    save(vf, tmp_path / "v.npz")
    with np.load(tmp_path / "v.npz", allow_pickle=False) as npz:
        meta = json.loads(str(npz["document.json"][0]))
        assert meta["header"] == vf.header
        assert npz["g00000.inputs.z"].dtype == np.float64
    back = load(tmp_path / "v.npz")
    assert encode_groups(back) == encode_groups(vf)
    assert back.header["sha256"] == vf.header["sha256"]
    assert lint(tmp_path / "v.npz", recheck=False) == []


def test_interrupted_run_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "v.json"
    target.write_text("old")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    import symsoftmax.vectors.io as vio

    monkeypatch.setattr(vio, "dumps_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(quick("softmax", "float16"), target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["v.json"]


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's bar (cli/_progress.py) draws the library's progress steps on a terminal."""
    import io

    from symsoftmax.cli._progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar() as bar:
        assert bar is not None
        vf = generate("logsumexp", "bfloat16", "quick", progress=bar)
    assert "logsumexp bfloat16" in terminal.getvalue()
    assert vf.header["sha256"] == quick("logsumexp", "bfloat16").header["sha256"]


def test_no_progress_bar_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from symsoftmax.cli._progress import progress_bar

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with progress_bar() as bar:
        assert bar is None


def test_progress_callback_counts_every_test() -> None:
    from symsoftmax.vectors.builder import ProgressStep

    steps: list[ProgressStep] = []
    vf = generate("logsumexp", "float16", "quick", progress=steps.append)
    assert len(steps) > 1  # one step per batch of rows of one length
    assert [step.done for step in steps] == sorted({step.done for step in steps})
    assert steps[-1] == ProgressStep("logsumexp float16", len(vf), len(vf))
    assert {step.total for step in steps} == {len(vf)}


def test_progress_must_be_a_callback() -> None:
    with pytest.raises(InputError, match="progress must be a callable"):
        generate("logsumexp", "float16", "quick", progress=True)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# conventions for special values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_special_value_conventions(op: str) -> None:
    vf = quick(op, "float32")
    seen = set()
    for tc in vf.tests():
        z = tc.inputs["z"]
        names = [a.name for a in tc.acceptable]
        if {"sink", "softcap"} & tc.inputs.keys():
            continue  # their own conventions: tests/test_sink_softcap_vectors.py
        if np.isnan(z).any():
            seen.add("nan")
            assert tc.result == "valid"
            assert all(np.isnan(v).all() for v in tc.expected.values())
        elif np.isposinf(z).any():
            seen.add("pos-inf")
            assert tc.result == "acceptable" and names == ["limit", "nan"]
            assert not any(np.isnan(v).any() for v in tc.expected.values())
        elif np.isneginf(z).all():
            seen.add("all-neg-inf")
            if op in ("cross_entropy", "logsumexp"):
                # cross-entropy: NaN only; logsumexp: log 0 = −inf in both conventions (SciPy)
                assert tc.result == "valid" and not tc.acceptable
                if op == "logsumexp":
                    assert tc.expected["output"][0] == -math.inf
                continue
            assert tc.result == "acceptable" and sorted(names) == ["masked", "nan"]
            masked = next(a for a in tc.acceptable if a.name == "masked").outputs
            if op == "softmax":
                assert np.array_equal(masked["output"], np.zeros(z.size))
                assert np.isnan(tc.expected["output"]).all()
        elif op == "cross_entropy" and (np.isneginf(z) & (tc.inputs["y"] == 0)).any():
            seen.add("masked-zero-target")
            assert tc.result == "acceptable" and names == ["limit", "nan-loss"]
            nan_loss = next(a for a in tc.acceptable if a.name == "nan-loss").outputs
            assert np.isnan(nan_loss["loss"]).all()
            assert np.array_equal(nan_loss["grad"], tc.expected["grad"])
            assert not np.isnan(tc.expected["loss"]).any()
        else:
            assert tc.result == "valid" and not tc.acceptable
    extra = {"masked-zero-target"} if op == "cross_entropy" else set()
    assert seen == {"nan", "pos-inf", "all-neg-inf", *extra}


def test_pos_inf_limit_is_uniform_over_the_infinities() -> None:
    vf = quick("softmax", "float64")
    rows = [tc for tc in vf.tests() if "three +inf" in tc.comment]
    assert rows
    out = rows[0].expected["output"]
    assert np.array_equal(out, [1 / 3, 1 / 3, 1 / 3, 0, 0])


# --------------------------------------------------------------------------------------------
# catalogue
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_every_flag_is_in_the_standard_suite(op: str) -> None:
    for dtype in DTYPES:
        drafts = draft_rows(op, dtype, "standard", 0)
        flags = {flag for d in drafts for flag in d.flags}
        expected = applicable_flags(op, dtype)
        if get_format(dtype).max < -max(SENTINELS):  # float8_e4m3fn holds no sentinel
            expected -= {"below-sentinel"}
        assert flags == expected, dtype
        assert len(drafts) >= 2000


def test_every_flag_has_a_family_and_a_note() -> None:
    declared = {flag for family in FAMILIES for flag in family.flags}
    declared |= {"cotangent-cancellation", "cotangent-one-hot"}
    declared |= {flag for target in TARGETS for flag in target.flags}
    assert declared == set(NOTES)
    for note in NOTES.values():
        assert note.description.strip() and note.catches.strip()


@pytest.mark.parametrize("op", ["softmax", "jacobian", "softmax_vjp"])
def test_row_lengths(op: str) -> None:
    standard = draft_rows(op, "float16", "standard", 0)
    long_rows = [d.k for d in standard if "long-row" in d.flags]
    blocked = [d.k for d in standard if set(d.flags) & set(BLOCK_FLAGS)]
    long_flags = {"long-row", *BLOCK_FLAGS, *SHARP_LONG_FLAGS}
    short = [d.k for d in standard if not set(d.flags) & long_flags]
    assert max(short) <= MAX_SHORT_K
    widest = max(BLOCK_SIZES["standard"])  # rows span at most 4 blocks and a half
    assert max(blocked) <= (
        MAX_BLOCK_K_JACOBIAN if op in QUADRATIC_OPS else 4 * widest + widest // 2
    )
    assert {1, 2} <= set(short)
    if op in QUADRATIC_OPS:
        assert min(long_rows) > 256  # past bfloat16's stall
    else:
        assert max(long_rows) >= 4096
    exhaustive = draft_rows(op, "float16", "exhaustive", 0)
    if op in QUADRATIC_OPS:
        assert max(d.k for d in exhaustive) < 4096
    else:
        assert max(d.k for d in exhaustive) == 1 << 20 == max(LONG_K["exhaustive"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_overflow_threshold_is_the_last_finite_exp(dtype: str) -> None:
    import mpmath

    fmt = get_format(dtype)
    t = fmt.exp_overflow_threshold
    assert float(np.asarray(t, fmt.numpy_dtype)) == t  # a value of the format
    # toward max, not inf: float8_e4m3fn has no inf (its cast of inf is NaN)
    top = np.asarray(fmt.max, fmt.numpy_dtype)
    above = float(np.nextafter(np.asarray(t, fmt.numpy_dtype), top))
    with mpmath.workprec(200):
        assert mpmath.exp(t) <= fmt.max < mpmath.exp(above)
    drafts = draft_rows("softmax", dtype, "standard", 0)
    rows = [d.inputs["z"] for d in drafts if "exp-overflow" in d.flags]
    assert any((z > t).any() for z in rows) and any((z == t).any() for z in rows)


@pytest.mark.parametrize("dtype", DTYPES)
def test_targets_sum_to_one_exactly(dtype: str) -> None:
    drafts = draft_rows("cross_entropy", dtype, "standard", 0)
    kinds = set()
    for d in drafts:
        y = d.inputs["y"]
        assert np.array_equal(round_array(y, dtype), y)
        assert sum(Fraction(float(v)) for v in y) == 1
        kinds |= {f for f in d.flags if f.startswith("target-")}
    assert kinds == {"target-one-hot", "target-smoothed", "target-uniform"}


def test_generation_decisions_avoid_libm() -> None:
    """Random values come from integer streams; the module never calls np.exp/np.log."""
    for module in ("catalogue.py", "blocks.py", "values.py"):
        source = (ROOT / "symsoftmax" / "vectors" / module).read_text()
        assert not re.search(r"np\.(exp|log|expm1|log1p|sin|cos)\(", source), module
        assert "standard_normal" not in source and ".normal(" not in source


# --------------------------------------------------------------------------------------------
# lint and malformed files
# --------------------------------------------------------------------------------------------


@pytest.fixture
def vector_json(tmp_path: Path) -> Path:
    path = tmp_path / "softmax_float16.json"
    save(quick("softmax", "float16"), path)
    return path


def _edit(path: Path, change: object, *, fix_checksum: bool = False) -> dict:
    document = json.loads(path.read_text())
    change(document)  # type: ignore[operator]
    if fix_checksum:
        document["header"]["sha256"] = content_sha256(document["testGroups"])
    path.write_text(json.dumps(document))
    return document


def _first_valid_test(document: dict) -> dict:
    for group in document["testGroups"]:
        for test in group["tests"]:
            if test["result"] == "valid" and group["k"] >= 3:
                return test
    raise AssertionError("no test")


def _flip_hex_digit(token: str) -> str:
    head, _, exponent = token.partition("p")
    last = head[-1]
    return head[:-1] + ("1" if last != "1" else "2") + "p" + exponent


def test_lint_clean_file(vector_json: Path) -> None:
    assert lint(vector_json) == []


def test_lint_flipped_hex_digit_breaks_the_checksum(vector_json: Path) -> None:
    def change(document: dict) -> None:
        test = _first_valid_test(document)
        test["expected"]["output"][0] = _flip_hex_digit(test["expected"]["output"][0])

    _edit(vector_json, change)
    findings = lint(vector_json, recheck=False)
    assert any(f.field == "header.sha256" for f in findings)


def test_lint_wrong_value_with_correct_checksum(vector_json: Path) -> None:
    victim = {}

    def change(document: dict) -> None:
        test = _first_valid_test(document)
        victim["id"] = test["tcId"]
        test["expected"]["output"][1] = (
            "0x1.0p-1" if test["expected"]["output"][1] != "0x1.0p-1" else "0x1.0p-2"
        )

    _edit(vector_json, change, fix_checksum=True)
    findings = lint(vector_json)
    assert [(f.tc_id, f.field) for f in findings] == [(victim["id"], "expected.output[1]")]
    assert "reference" in findings[0].what
    assert lint(vector_json, recheck=False) == []  # only the engine can see it


def test_lint_wrong_exact_decimal(vector_json: Path) -> None:
    def change(document: dict) -> None:
        test = _first_valid_test(document)
        value = test["exact"]["output"][0]
        test["exact"]["output"][0] = value[:5] + ("1" if value[5] != "1" else "2") + value[6:]

    _edit(vector_json, change, fix_checksum=True)
    assert [f.field for f in lint(vector_json)] == ["exact.output[0]"]


def test_lint_duplicate_tcid(vector_json: Path) -> None:
    def change(document: dict) -> None:
        tests = document["testGroups"][-1]["tests"]
        tests[-1]["tcId"] = tests[0]["tcId"]

    _edit(vector_json, change, fix_checksum=True)
    findings = lint(vector_json, recheck=False)
    assert any(f.field == "tcId" and "duplicate" in f.what for f in findings)


def test_lint_wrong_count(vector_json: Path) -> None:
    _edit(vector_json, lambda d: d["header"].__setitem__("numberOfTests", 3))
    findings = lint(vector_json, recheck=False)
    assert [f.field for f in findings] == ["header.numberOfTests"]
    assert "says 3" in findings[0].what


def test_lint_bad_checksum(vector_json: Path) -> None:
    _edit(vector_json, lambda d: d["header"].__setitem__("sha256", "0" * 64))
    assert [f.field for f in lint(vector_json, recheck=False)] == ["header.sha256"]


def test_lint_schema_violation_names_the_test(vector_json: Path) -> None:
    victim = {}

    def change(document: dict) -> None:
        test = _first_valid_test(document)
        victim["id"] = test["tcId"]
        test["result"] = "maybe"

    _edit(vector_json, change, fix_checksum=True)
    findings = lint(vector_json, recheck=False)
    assert findings and findings[0].tc_id == victim["id"] and findings[0].field == "result"
    assert "schema" in findings[0].what


def test_lint_bad_hex_and_non_format_value(vector_json: Path) -> None:
    ids = {}

    def change(document: dict) -> None:
        test = _first_valid_test(document)
        ids["id"] = test["tcId"]
        test["inputs"]["z"][2] = "0x1.001p+0"  # 1 + 2^-12 is not a float16 value

    _edit(vector_json, change, fix_checksum=True)
    findings = lint(vector_json)
    assert [(f.tc_id, f.field) for f in findings] == [(ids["id"], "inputs.z[2]")]
    assert "not a float16 value" in findings[0].what
    with pytest.raises(InputError, match=r"tcId \d+: inputs\.z\[2\]"):
        load(vector_json)

    _edit(vector_json, lambda d: _first_valid_test(d)["inputs"]["z"].__setitem__(0, "0x1.gp+0"))
    findings = lint(vector_json, recheck=False)
    assert any("schema" in f.what and f.field == "inputs.z[0]" for f in findings)


def test_lint_mismatched_lengths(vector_json: Path) -> None:
    ids = {}

    def change(document: dict) -> None:
        test = _first_valid_test(document)
        ids["id"] = test["tcId"]
        test["expected"]["output"].pop()
        test["exact"]["output"].pop()

    _edit(vector_json, change, fix_checksum=True)
    findings = lint(vector_json, recheck=False)
    assert {(f.tc_id, f.field) for f in findings} == {
        (ids["id"], "expected.output"),
        (ids["id"], "exact.output"),
    }
    assert "shape" in findings[0].what


def test_lint_npz_corruption(tmp_path: Path) -> None:
    import io
    import zipfile

    vf = quick("softmax", "bfloat16")
    data = to_npz_bytes(vf)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    name = "g00002.expected.output.npy"
    array = np.load(io.BytesIO(entries[name]), allow_pickle=False)
    array[0, 0] = 0.1  # not a bfloat16 value
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    entries[name] = buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for entry, payload in entries.items():
            archive.writestr(entry, payload)
    path = tmp_path / "bad.npz"
    path.write_bytes(out.getvalue())
    fields = {f.field for f in lint(path, recheck=False)}
    assert {"header.sha256", "expected.output[0]"} <= fields


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a vector file"),
        (b"PK\x03\x04garbage", "not a readable NPZ"),
        (b'{"header": NaN}', "not valid JSON"),
    ],
)
def test_unreadable_files_raise_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as raised:
        lint(path)
    assert str(path) in str(raised.value)
    with pytest.raises(InputError):
        load(path)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", "vectors", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_cli_generate_lint_and_exit_codes(tmp_path: Path) -> None:
    done = _cli(
        "--op",
        "logsumexp",
        "--dtype",
        "float16",
        "--suite",
        "quick",
        "--out",
        "v.npz",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and done.stderr == ""  # no progress bar without a terminal
    assert (tmp_path / "v.npz").read_bytes()[:2] == b"PK"
    done = _cli("--lint", "v.npz", cwd=tmp_path)
    assert done.returncode == 0 and "clean" in done.stdout

    save(quick("softmax", "float16"), tmp_path / "v.json")
    _edit(tmp_path / "v.json", lambda d: d["header"].__setitem__("numberOfTests", 1))
    done = _cli("--lint", "v.json", "--no-recheck", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"v.json: header.numberOfTests: says 1, has {len(quick('softmax', 'float16'))}",
        "v.json: expected values not rechecked",
    ]

    (tmp_path / "bad.json").write_text("{")
    for args in (("--lint", "bad.json"), ("--lint", "missing.json"), ("--op", "softmax")):
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_docs_flag_table_matches_the_notes() -> None:
    page = (ROOT / "docs" / "vectors.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.+?) \| (.+?) \|$", page, re.M)
    assert {flag: (d, c) for flag, d, c in rows} == {
        flag: (note.description, note.catches) for flag, note in NOTES.items()
    }


@pytest.mark.slow
def test_standard_suite_generates_every_flag_and_lints_clean(tmp_path: Path) -> None:
    vf = generate("softmax", "float32", "standard", 0)
    assert len(vf) >= 2000
    assert set(vf.notes) == applicable_flags("softmax")
    assert max(group.k for group in vf.groups) >= 4096
    save(vf, tmp_path / "v.json")
    assert lint(tmp_path / "v.json") == []


# --------------------------------------------------------------------------------------------
# vectors from the user's own rows
# --------------------------------------------------------------------------------------------


def test_from_rows_saves_loads_and_lints_clean(tmp_path: Path) -> None:
    from symsoftmax.vectors import from_rows

    vf = from_rows(
        "softmax_vjp",
        "float16",
        [{"z": ["1", "2"], "g": [1, -1]}, {"z": [0, 0, 0], "g": ["0.5", 0, 0]}],
    )
    assert vf.header["suite"] == "custom" and len(vf) == 2
    path = tmp_path / "custom.json"
    save(vf, path)
    assert lint(path) == []
    again = load(path)
    assert [tc.expected["dz"].tolist() for tc in again.tests()] == [
        tc.expected["dz"].tolist() for tc in vf.tests()
    ]


def test_from_rows_names_the_bad_row() -> None:
    from symsoftmax.vectors import from_rows

    with pytest.raises(InputError, match="row 2 z"):
        from_rows("softmax", "float32", [[1, 2], ["1", "x"]])
    with pytest.raises(InputError, match="row 1: missing g"):
        from_rows("softmax_vjp", "float32", [{"z": [1, 2]}])


def test_generate_stays_the_function_after_its_module_is_imported() -> None:
    code = (
        "import symsoftmax.vectors.builder, symsoftmax.vectors as v; "
        "assert callable(v.generate) and callable(v.from_rows)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("change", "field", "unconvertible"),
    [
        (lambda t: t.update(tcId=10**30), "tcId", "beyond 64 bits"),
        (lambda t: t.update(comment="a\ud800b"), "comment", "lone surrogate"),
        (lambda t: t.update(result="maybe"), "result", None),
        (lambda t: t["inputs"].update(z=[1, 2]), "inputs.z[0]", None),
    ],
)
def test_the_compiled_schema_check_agrees_with_jsonschema_and_never_crashes(
    vector_json: Path,
    change: Any,
    field: str,
    unconvertible: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loader's schema check (jsonschema-rs) against the pure-Python jsonschema, which
    stays in the tests as an independent implementation. Values that some versions of the Rust
    side cannot convert (integers beyond 64 bits, lone surrogates) are a finding naming them,
    never a crash."""
    document = _edit(vector_json, lambda d: change(_first_valid_test(d)), fix_checksum=True)
    reference = list(jsonschema.Draft202012Validator(schema()).iter_errors(document))
    found = check._schema_findings(document, "f")
    if reference:
        assert found and found[0].field.endswith(field) and "schema:" in found[0].what
        assert any(_path_text(list(e.absolute_path)).endswith(field) for e in reference)
    else:  # valid by the schema: at most the finding of a value it could not convert
        assert all(unconvertible and unconvertible in f.what for f in found)
    lint(vector_json, recheck=False)  # answers, whatever it finds
    if unconvertible:  # where the Rust side refuses the value, the finding names it
        monkeypatch.setattr(check, "_validator", lambda: _Refusing())
        (refused,) = check._schema_findings(document, "f")
        assert refused.field.endswith(field) and unconvertible in refused.what


class _Refusing:
    """A validator that fails as jsonschema-rs 0.20 does on a 100-bit integer."""

    def iter_errors(self, document: Any) -> Any:
        raise ValueError("int too big to convert")


def test_the_compiled_schema_check_passes_what_jsonschema_passes(vector_json: Path) -> None:
    document = json.loads(vector_json.read_text())
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(document)) == []
    assert check_document(document, str(vector_json)) == []
