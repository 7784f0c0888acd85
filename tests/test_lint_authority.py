"""Lint rechecks with the authority path, never with the fast path that generated the values.

The audit found float64 log_softmax vectors carrying the fast path's wrong values for rows whose
x − max overflows, and a lint that called them clean because it recomputed with the same fast
path. Here a file planted with exactly those wrong values must fail lint, lint must work with the
fast path switched off entirely, and ``sample`` must recheck the number of tests it says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import symsoftmax.reference.fast as fast_path
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS
from symsoftmax.vectors import from_rows, lint, load, save
from symsoftmax.vectors.builder import generate
from symsoftmax.vectors.io import content_sha256

BIG = FORMATS["float64"].max


def _planted(path: Path) -> Path:
    """The audit's rows with the values the fast path used to give, checksum made consistent."""
    rows = [
        {"z": [BIG, -BIG]},
        {"z": [BIG, -BIG], "temperature": 1024.0},
        {"z": [BIG, -BIG], "temperature": 2.0**53},
    ]
    save(from_rows("log_softmax", "float64", rows), path)
    document = json.loads(path.read_text())
    old_fast_path = [["0x0.0p+0", "-inf"], ["0x0.0p+0", "-inf"], ["0x0.0p+0", "-inf"]]
    tests = [test for group in document["testGroups"] for test in group["tests"]]
    for test, wrong in zip(tests, old_fast_path, strict=True):
        test["expected"]["output"] = wrong
    document["header"]["sha256"] = content_sha256(document["testGroups"])
    path.write_text(json.dumps(document))
    return path


def test_planted_fast_path_values_fail_lint(tmp_path: Path) -> None:
    path = _planted(tmp_path / "planted.json")
    assert lint(path, recheck=False) == []  # only a recheck can see it
    findings = lint(path)
    fields = sorted((f.tc_id, f.field) for f in findings)
    # +0 for −0 in every test; −inf for the finite value in the two with a temperature
    assert fields == [
        (1, "expected.output[0]"),
        (2, "expected.output[0]"),
        (2, "expected.output[1]"),
        (3, "expected.output[0]"),
        (3, "expected.output[1]"),
    ]
    assert "reference -0x0.0p+0" in findings[0].what


def test_lint_never_runs_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lse.json"
    save(generate("logsumexp", "float32", "quick", 0), path)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("lint called the fast path")

    monkeypatch.setattr(fast_path, "settle", forbidden)
    result = lint(path)
    assert result == []
    assert result.rechecked_tests == result.tests == len(load(path))
    assert "authority path" in result.coverage()


def test_sample_rechecks_that_many_tests(tmp_path: Path) -> None:
    path = tmp_path / "sm.json"
    vf = generate("softmax", "float16", "quick", 0)
    save(vf, path)
    result = lint(path, sample=12, seed=3)
    assert result == [] and result.tests == len(vf) and result.rechecked_tests == 12
    sizes = {tc.tc_id: tc.expected["output"].size for tc in vf.tests()}
    assert 12 <= result.rechecked_values <= 12 * max(sizes.values())
    assert f"12 of {len(vf)} tests (a sample drawn with seed 3)" in result.coverage()
    everything = lint(path, sample=10_000)
    assert everything.rechecked_tests == len(vf)
    assert everything.rechecked_values == sum(sizes.values())
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="sample"):
            lint(path, sample=bad)  # type: ignore[arg-type]


def test_sample_is_seeded(tmp_path: Path) -> None:
    """A wrong value is found or not by the same sample every time, and some seed finds it."""
    path = _planted(tmp_path / "planted.json")
    found = {seed: bool(lint(path, sample=1, seed=seed)) for seed in range(6)}
    assert found == {seed: bool(lint(path, sample=1, seed=seed)) for seed in range(6)}
    assert all(found.values())  # every test of this file carries a planted value


def test_cli_lint_says_what_it_rechecked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _planted(tmp_path / "planted.json")
    assert main(["vectors", "--lint", str(path)]) == 1
    out = capsys.readouterr().out
    assert "tcId 2: expected.output[1]: file has -inf, reference -0x1.fffffffffffffp+1014" in out
    assert "rechecked 6 values of 3 of 3 tests with the authority path" in out
    assert main(["vectors", "--lint", str(path), "--sample", "2", "--seed", "1"]) == 1
    assert "of 2 of 3 tests (a sample drawn with seed 1)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:  # argparse's usage error, one line
        main(["vectors", "--lint", str(path), "--sample", "0"])
    assert stop.value.code == 2
    assert "--sample" in capsys.readouterr().err
