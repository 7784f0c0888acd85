"""The lines pipe (docs/languages.md): `vectors --format lines | program | score VECTORS -`.

The writer's values read back in every format; answer lines are read like JSON outputs, from
stdin too; a value that is not one of the format is refused unless --round-outputs; the NaN
and infinity spellings of other runtimes are accepted; and the C, Rust and JavaScript programs
of docs/languages.md run the pipe end to end (skipped, saying why, without their toolchain).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import parse_value, round_exact
from symsoftmax.validation import read_outputs, score
from symsoftmax.validation.sources import custom_vectors
from symsoftmax.vectors.lines import (
    dumps_lines,
    output_count,
    read_answer_lines,
    read_test_lines,
    shortest_decimal,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "languages.md").read_text()
SPECIAL_ROWS = [[1.0, 2.0, 3.0], ["-inf", 0.0], ["nan", 1.0], [1e-40, -1e-40, 0.0], ["inf", 5.0]]


# ------------------------------------------------------------------ writing


@pytest.mark.parametrize("dtype", sorted(FORMATS))
@pytest.mark.parametrize("hex", [False, True])
def test_every_written_value_reads_back_as_itself(dtype: str, hex: bool) -> None:
    rows = [{"z": z, "y": [0.5] * len(z)} for z in ([0.1, 0.2, 7.0], [-3.0, 1.5], [2.0**-10, 1.0])]
    vf = custom_vectors("cross_entropy", dtype, rows)
    text = dumps_lines(vf, hex=hex)
    header, *lines = text.splitlines()
    assert f"op=cross_entropy dtype={dtype} " in header and "outputs=1+K companion=y" in header
    read = read_test_lines(text, "lines", get_format(dtype), companion=True)
    for test, (tc_id, temperature, z, y) in zip(vf.tests(), read, strict=True):
        assert tc_id == test.tc_id and temperature is None
        assert z == test.inputs["z"].tolist() and y == test.inputs["y"].tolist()
    assert all(("0x" in line) == hex for line in lines)


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", "bfloat16", "float16"])
def test_shortest_decimals_read_back_directly_and_through_a_double(dtype: str) -> None:
    """Every value of the 8-bit formats, a sample of the 16-bit ones: the decimal rounds to the
    value read exactly and read as a double first (C's strtod, then a conversion), and one
    digit fewer does not (it is the shortest)."""
    fmt = get_format(dtype)
    bits = np.arange(256 if dtype.startswith("float8") else 65536, dtype=np.uint32)
    rng = np.random.default_rng(0)
    if bits.size > 256:
        bits = rng.choice(bits, 3000, replace=False)
    width = np.uint8 if dtype.startswith("float8") else np.uint16
    with np.errstate(invalid="ignore"):  # the NaN patterns
        values = bits.astype(width).view(np.dtype(fmt.numpy_dtype)).astype(np.float64)
    for value in values.tolist():
        if not math.isfinite(value):
            continue
        text = shortest_decimal(value, fmt)
        assert parse_value(text, fmt) == value, text
        assert round_exact(float(text), fmt) == value, text
        assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
        digits = len(re.sub(r"e.*|[-.]", "", text).strip("0")) or 1
        if digits > 1:
            shorter = f"{value:.{digits - 1}g}"
            assert parse_value(shorter, fmt) != value or round_exact(float(shorter), fmt) != value


def test_the_lines_go_to_stdout_and_the_summary_to_stderr(tmp_path: Path) -> None:
    argv = ["vectors", "--op", "softmax", "--dtype", "float32", "--suite", "quick"]
    done = _cli([*argv, "--format", "lines"], cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# symsoftmax-lines-1 op=softmax dtype=float32 suite=quick seed=0")
    assert done.stderr.startswith("wrote ") and "to stdout" in done.stderr
    assert _cli([*argv, "--format", "lines", "-o", "t.lines"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "t.lines").read_text().splitlines() == lines
    refused = _cli([*argv, "--hex", "-o", "v.json"], cwd=tmp_path)
    assert refused.returncode == 2 and "--hex goes with --format lines" in refused.stderr


# ------------------------------------------------------------------ reading answers


def _answers(vf, values_of) -> str:  # type: ignore[no-untyped-def]
    lines = []
    for test in vf.tests():
        lines.append(" ".join([str(test.tc_id), *values_of(test)]))
    return "\n".join(lines) + "\n"


def _expected(test) -> list[str]:  # type: ignore[no-untyped-def]
    return [repr(v) for key in test.expected for v in test.expected[key].ravel().tolist()]


def test_answer_lines_are_judged_like_json(tmp_path: Path) -> None:
    vf = custom_vectors("cross_entropy", "float32", [{"z": [1.0, 2.0], "y": [0.25, 0.75]}])
    assert output_count("cross_entropy", 2) == 3
    path = tmp_path / "answers.txt"
    path.write_text("# echoed header\n\n" + _answers(vf, _expected))
    assert score(vf, path).passed
    loss_last = _answers(vf, lambda t: _expected(t)[1:] + _expected(t)[:1])
    path.write_text(loss_last)
    assert not score(vf, path).passed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 0.5 0.5\n1 0.5 0.5\n", "line 2: tcId 1 given twice (first on line 1)"),
        ("x1 0.5\n", "line 1: expected a tcId, got 'x1'"),
        ("01 0.5\n", "line 1: expected a tcId"),
        ("1 - 0.5\n", "'-' (no output) stands alone"),
    ],
)
def test_malformed_answer_lines_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        read_answer_lines(text, "answers")


def test_a_dash_skips_only_a_test_with_a_temperature() -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0], {"z": [1.0, 2.0], "temperature": 2}])
    first, _ = vf.tests()
    good = [repr(v) for v in first.expected["output"].tolist()]
    outcomes = read_outputs({"1": good, "2": None}, vf)
    assert outcomes[1].kind == "skipped"
    with pytest.raises(InputError, match="tcId 1: null"):
        read_outputs({"1": None, "2": None}, vf)


NANS = ["nan", "-nan", "NaN", "NAN", "nan(0x8000)", "-nan(ind)", "1.#QNAN", "-1.#IND", "NaN32"]


@pytest.mark.parametrize("spelling", NANS)
def test_nan_as_runtimes_print_it(spelling: str) -> None:
    vf = custom_vectors("softmax", "float32", [["nan", 1.0]])
    assert score(vf, {"1": [spelling, spelling]}).passed
    assert not score(vf, {"1": [spelling, "1"]}).passed  # read as NaN, not as a number


@pytest.mark.parametrize("spelling", ["inf", "Infinity", "+Inf", "1.#INF", "Inf32"])
def test_infinity_as_runtimes_print_it(spelling: str) -> None:
    vf = custom_vectors("logsumexp", "float32", [["inf", 1.0]])
    assert score(vf, {"1": [spelling]}).passed
    assert score(vf, {"1": ["-" + spelling.lstrip("+")]}).results[0].status == "fail"


def test_a_value_that_is_not_of_the_format_is_refused_unless_rounded(tmp_path: Path) -> None:
    """A float32 test answered with the double results (%.17g): today's silent rounding hid
    it; now it is an error naming the tcId, and --round-outputs judges the rounded values."""
    vf = custom_vectors("softmax", "float32", [[0.1, 0.2, 0.3], [1.0, 2.0]])

    def as_double(test) -> list[str]:  # type: ignore[no-untyped-def]
        z = test.inputs["z"]
        e = np.exp(z - z.max())
        return [f"{v:.17g}" for v in (e / e.sum()).tolist()]

    with pytest.raises(InputError, match=r"tcId \d, position 0: .* is not a float32 value"):
        read_outputs({str(t.tc_id): as_double(t) for t in vf.tests()}, vf)
    outputs = {str(t.tc_id): as_double(t) for t in vf.tests()}
    assert score(vf, outputs, round_outputs=True).passed
    vectors_path = tmp_path / "v.json"
    from symsoftmax.vectors import save

    save(vf, vectors_path)
    answers = _answers(vf, as_double)
    done = _cli(["score", str(vectors_path), "-"], cwd=tmp_path, stdin=answers)
    assert done.returncode == 2 and re.search(r"<stdin>: tcId \d, position 0:", done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1
    rounded = _cli(
        ["score", str(vectors_path), "-", "--round-outputs"], cwd=tmp_path, stdin=answers
    )
    assert rounded.returncode == 0, rounded.stdout + rounded.stderr


@pytest.mark.parametrize(
    ("token", "dtype", "accepted"),
    [
        ("0.1", "float32", True),  # shortest
        ("0.100000001", "float32", True),  # %.9g
        ("0.10000000149011612", "float32", True),  # the double of the float32 value
        ("0.10000000000000001", "float32", False),  # the double 0.1
        ("0x1.99999ap-4", "float32", True),
        ("0x1.999999999999ap-4", "float32", False),  # hex of the double 0.1
        ("16777217", "float32", False),
        ("1e39", "float32", False),  # beyond the range
        ("1e-46", "float32", False),  # rounds to 0
        ("0.50000", "float32", True),  # trailing zeros
        ("inf", "float8_e4m3fn", False),  # no infinity
        ("448", "float8_e4m3fn", True),
    ],
)
def test_what_is_a_value_of_the_format(token: str, dtype: str, accepted: bool) -> None:
    vf = custom_vectors("logsumexp", dtype, [[1.0]])
    if accepted:
        read_outputs({"1": [token]}, vf)
    else:
        with pytest.raises(InputError, match="tcId 1, position 0"):
            read_outputs({"1": [token]}, vf)
        read_outputs({"1": [token]}, vf, round_outputs=True)


# ------------------------------------------------------------------ the pipe, end to end


def _cli(
    argv: list[str], *, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, COLUMNS="100", NO_COLOR="1"),
    )


def _heredoc(name: str) -> str:
    """The file ``name`` that a console block of docs/languages.md writes with cat <<'EOF'."""
    match = re.search(rf"^\$ cat > {re.escape(name)} <<'EOF'\n(.*?)^> EOF$", PAGE, re.S | re.M)
    assert match, name
    return "".join(line[2:] + "\n" for line in match.group(1).splitlines())


def _fenced(language: str) -> str:
    match = re.search(rf"^```{language}\n(.*?)^```", PAGE, re.S | re.M)
    assert match, language
    return match.group(1)


def _pipe(tmp_path: Path, dtype: str, program: list[str]) -> subprocess.CompletedProcess[str]:
    """vectors (a file) and vectors --format lines | program | score VECTORS -"""
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    options = f"--op softmax --dtype {dtype} --suite quick"
    command = (
        f"symsoftmax vectors {options} -o v.json > /dev/null && "
        f"symsoftmax vectors {options} --format lines 2>/dev/null | "
        f"{' '.join(program)} | symsoftmax score v.json - --json"
    )
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed: the {tool} pipe of docs/languages.md is not run")


def _passes(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["passed"] and report["tests"] > 100 and report["skipped"] > 0
    return report


def test_the_c_pipe_of_the_docs(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler: the C pipe of docs/languages.md is not run")
    source = _heredoc("softmax.c")
    (tmp_path / "softmax.c").write_text(source)
    subprocess.run([cc, "-O2", "-o", "softmax", "softmax.c", "-lm"], cwd=tmp_path, check=True)
    _passes(_pipe(tmp_path, "float32", ["./softmax"]))
    # the same program without its max shift fails (a verdict of 1, not an input error)
    unshifted = source.replace("(double)z[i] - (double)m", "(double)z[i]")
    assert unshifted != source
    (tmp_path / "bad.c").write_text(unshifted)
    subprocess.run([cc, "-O2", "-o", "bad", "bad.c", "-lm"], cwd=tmp_path, check=True)
    assert _pipe(tmp_path, "float32", ["./bad"]).returncode == 1


def test_the_rust_pipe_of_the_docs(tmp_path: Path) -> None:
    _needs("rustc")
    (tmp_path / "softmax.rs").write_text(_fenced("rust"))
    subprocess.run(["rustc", "-O", "-o", "softmax", "softmax.rs"], cwd=tmp_path, check=True)
    _passes(_pipe(tmp_path, "float32", ["./softmax"]))


def test_the_javascript_pipe_of_the_docs(tmp_path: Path) -> None:
    _needs("node")
    (tmp_path / "softmax.js").write_text(_fenced("js"))
    _passes(_pipe(tmp_path, "float64", ["node", "softmax.js"]))
