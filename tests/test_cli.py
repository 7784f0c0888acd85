"""CLI plumbing shared by every command: help, and every malformed input as one line, exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from symsoftmax import vectors
from symsoftmax.cli import COMMANDS, main
from symsoftmax.cli import reference as reference_cli
from symsoftmax.cli.reference import MAX_DIGITS
from symsoftmax.jsonfile import MAX_DEPTH
from symsoftmax.rounding import MAX_TOKEN, format_hex, round_exact


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", *args], capture_output=True, text=True, timeout=120
    )


def test_top_level_help_lists_every_command() -> None:
    done = _run("--help")
    assert done.returncode == 0
    for name in COMMANDS:
        assert name in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    done = _run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: symsoftmax" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-command",),
        ("reference",),
        ("verify", "--k", "abc"),
    ],
)
def test_usage_error_is_one_line_exit_2(args: tuple[str, ...]) -> None:
    done = _run(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "error" in lines[0]
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------
# every malformed input: one line on stderr, exit 2, no traceback (issue 8, part 4)
# --------------------------------------------------------------------------------------------


def _status(argv: list[str]) -> int:
    """main()'s exit status, also for argparse's usage errors (which raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        assert isinstance(stop.code, int)
        return stop.code


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    assert _status(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def vector_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vec") / "softmax.json"
    vectors.save(vectors.generate("softmax", "float32", "quick"), path)
    return path


def _good_outputs(path: Path) -> dict[str, list[str]]:
    """The expected values of every test as decimal outputs (values of the format, as score
    requires without --round-outputs)."""
    vf = vectors.load(path)
    return {
        str(t.tc_id): [repr(v) for v in t.expected["output"].ravel().tolist()] for t in vf.tests()
    }


THIRD = "0." + "3" * 5000  # more digits than Python's int() takes from a string


def test_long_number_tokens_are_read_exactly_in_values_and_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tiny = "1e-" + "7" * 5000  # an exponent of 5000 digits: the value rounds to 0
    argv = ["reference", "softmax", "--dtype", "float32", "--json", "--", THIRD, tiny]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    third32 = format_hex(round_exact(Fraction(1, 3), "float32"))
    assert shown["input"] == [third32, "0x0.0p+0"]

    as_json = tmp_path / "in.json"
    huge = "1" + "0" * 5000  # a bare JSON integer beyond the int-string limit: read as text
    as_json.write_text(f'["{THIRD}", {THIRD}, {huge}]')
    argv = ["reference", "softmax", "--dtype", "float32", "--json", "--input", str(as_json)]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["input"] == [third32, third32, "inf"]


def test_long_number_tokens_are_read_exactly_in_score_outputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, vector_file: Path
) -> None:
    outputs = _good_outputs(vector_file)
    first = next(key for key, values in outputs.items() if values and "." in values[0])
    # the same value with 5000 more zeros after its mantissa, as a bare JSON number
    longer = outputs[first][0].replace("e", "0" * 5000 + "e")
    outputs[first][0] = longer
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs).replace(f'"{longer}"', longer, 1))
    assert (
        main(["score", str(vector_file), str(path), "--json", "--mode", "correctly-rounded"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["passed"]


def test_tokens_beyond_the_limit_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, vector_file: Path
) -> None:
    token = "1" * (MAX_TOKEN + 1)
    _one_error_line(
        capsys,
        ["reference", "softmax", "--dtype", "float32", "--", token],
        "VALUES[0]: number of 100001 characters is longer than the limit of 100000",
    )
    outputs = _good_outputs(vector_file)
    first = next(key for key, values in outputs.items() if len(values) >= 2)
    outputs[first][1] = token
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    _one_error_line(
        capsys, ["score", str(vector_file), str(path)], f"tcId {first}, position 1", "limit"
    )


@pytest.mark.parametrize("token", ["١٢", "１", "1_0", "٣.٥"])
def test_non_ascii_digits_are_refused(capsys: pytest.CaptureFixture[str], token: str) -> None:
    _one_error_line(
        capsys,
        ["reference", "softmax", "--dtype", "float32", "--", "1", token],
        "VALUES[1]: malformed number",
    )
    _one_error_line(capsys, ["verify", "--k", token], "--k must be an integer in 1..100000")
    _one_error_line(capsys, ["derive", "softmax", "--k", token], "--k must be an integer in 1..16")
    _one_error_line(
        capsys,
        ["reference", "softmax", "--dtype", "float32", "--digits", token, "--", "1"],
        "argument --digits: must be an integer in 1..4000",
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--digits", "5000"], "argument --digits: must be an integer in 1..4000, got 5000"),
        (["--digits", "100000"], "must be an integer in 1..4000, got 100000"),
        (["--digits", "9" * 5000], "got a number of 5000 digits"),
        (["--digits", "0"], "got 0"),
        (["--temperature", "١"], "--temperature[0]: malformed number"),
        (["--cotangent", "1"], "--cotangent does not apply to softmax"),
    ],
)
def test_reference_option_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    _one_error_line(
        capsys, ["reference", "softmax", "--dtype", "float32", *argv, "--", "1"], needle
    )


def test_digits_at_the_limit_work(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["reference", "softmax", "--dtype", "float32", "--digits", str(MAX_DIGITS), "--json"]
    assert main([*argv, "--", "1", "2"]) == 0
    exact = json.loads(capsys.readouterr().out)["exact"]
    assert [len(e.split("e")[0].replace(".", "")) for e in exact] == [MAX_DIGITS] * 2
    padded = "0" * 5000 + "7"  # leading zeros beyond the int-string limit: still 7
    assert main([*argv[:-3], "--digits", padded, "--", "1", "2"]) == 0
    assert "exact 2.689414e-01" in capsys.readouterr().out


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_refused_everywhere(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, vector_file: Path, levels: int
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(_deep(levels))
    needle = f"deep.json: JSON nested deeper than {MAX_DEPTH} levels"
    for argv in (
        ["reference", "softmax", "--dtype", "float32", "--input", str(deep)],
        ["reference", "softmax_vjp", "--dtype", "float32", f"--cotangent=@{deep}", "--", "1"],
        ["reference", "cross_entropy", "--dtype", "float32", f"--target=@{deep}", "--", "1"],
        ["vectors", "--lint", str(deep)],
        ["score", str(deep), str(deep)],
        ["score", str(vector_file), str(deep)],
    ):
        _one_error_line(capsys, argv, needle)


def test_nesting_at_the_limit_is_an_ordinary_shape_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(_deep(MAX_DEPTH))
    _one_error_line(
        capsys,
        ["reference", "softmax", "--dtype", "float32", "--input", str(deep)],
        "deep.json[0]: expected a number or a number string, got [[[[",
    )


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--worst", "-1", "argument --worst: must be an integer in 0..1000000, got -1"),
        ("--worst", "١", "argument --worst: must be an integer"),
        ("--max-ulp", "nan", "argument --max-ulp: must be a finite number >= 0"),
        ("--max-ulp", "1e400", "must be a finite number"),
        ("--max-ulp", "-1", "must be a finite number"),
    ],
)
def test_report_options_are_checked(
    capsys: pytest.CaptureFixture[str], vector_file: Path, option: str, value: str, needle: str
) -> None:
    _one_error_line(capsys, ["score", str(vector_file), "x.json", f"{option}={value}"], needle)


def test_jacobian_beyond_the_size_limit_is_refused_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    values = tmp_path / "k.json"
    values.write_text(json.dumps(["0"] * 10_000))
    start = time.perf_counter()
    _one_error_line(
        capsys,
        ["reference", "jacobian", "--dtype", "float32", "--input", str(values)],
        "jacobian of K = 10000 is 100000000 outputs; the limit is K = 1024",
        "--allow-large",
    )
    assert time.perf_counter() - start < 60  # refused before any work (generous: shared CI)


def test_allow_large_lifts_the_jacobian_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(reference_cli, "MAX_JACOBIAN_K", 2)
    argv = ["reference", "jacobian", "--dtype", "float16", "--json", "--", "0", "0", "0"]
    assert main(argv) == 2
    assert "the limit is K = 2" in capsys.readouterr().err
    assert main([*argv[:-4], "--allow-large", "--", "0", "0", "0"]) == 0
    assert len(json.loads(capsys.readouterr().out)["output"]) == 3


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("", "error: '': empty file name"),
        ("folder", "folder: is a folder, not a file"),
        ("folder/", "folder/: ends with a separator: names a folder"),
        ("missing/report.md", "missing/report.md: No such file or directory"),
    ],
)
def test_write_errors_name_the_users_path(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    vector_file: Path,
    target: str,
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(_good_outputs(vector_file)))
    line = _one_error_line(
        capsys, ["score", str(vector_file), str(outputs), "--json", "--report", target], needle
    )
    assert ".tmp" not in line
    assert sorted(os.listdir(tmp_path)) == ["folder", "outputs.json"]


# The console script's code path: `from symsoftmax.cli import main; sys.exit(main())`. The child
# says when it reached main, so that the interrupt lands in our code, not in Python's start-up.
# "ready" is printed from inside main's start-up (as build_parser begins), so the signal cannot
# land in the instants before main() installs its handlers, which no code of ours can cover.
_CONSOLE_SCRIPT = """
import sys
import symsoftmax.cli as cli
build_parser = cli.build_parser
def announced():
    print("ready", flush=True)
    return build_parser()
cli.build_parser = announced
sys.exit(cli.main(["reference", "softmax", "--dtype", "float32", "--", "1", "2"]))
"""


@pytest.mark.parametrize(
    ("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")]
)
def test_signal_during_start_up_is_one_line(signum: int, word: str) -> None:
    outcomes = []
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.8):
        child = subprocess.Popen(
            [sys.executable, "-c", _CONSOLE_SCRIPT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(delay)
        child.send_signal(signum)
        out, err = child.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err)
        if child.returncode == 128 + signum:
            assert err.strip() in (f"symsoftmax: {word}", f"symsoftmax reference: {word}")
        else:  # finished; a signal during the interpreter's exit ends it silently (−signum)
            assert child.returncode in (0, -signum) and err == "", (delay, err)
            assert "softmax in float32" in out
        outcomes.append(child.returncode)
    assert outcomes[0] == 128 + signum  # at once: the parser (NumPy, mpmath) was being built


def test_reference_json_at_the_precision_cap_is_still_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from symsoftmax.reference import engine

    monkeypatch.setattr(engine, "MAX_PRECISION", 40)
    argv = ["reference", "softmax_vjp", "--dtype", "float64", "--json", "--cotangent=1,2"]
    assert main([*argv, "--", "0", "1"]) == 1
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["op"] == "softmax_vjp" and "did not settle" in document["error"]
    assert len(err.strip().splitlines()) == 1 and "did not settle" in err


@pytest.mark.parametrize("option", ["--report", "--plot"])
def test_bad_output_paths_are_refused_before_scoring(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    vector_file: Path,
    option: str,
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("scoring must not start")

    monkeypatch.setattr("symsoftmax.validation.score", never)
    argv = ["score", str(vector_file), "outputs.json", option, f"{tmp_path}/"]
    _one_error_line(capsys, argv, f"{tmp_path}/: ends with a separator: names a folder")
