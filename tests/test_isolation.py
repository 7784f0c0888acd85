"""Hostile candidates are contained: `symsoftmax validate` runs them in a worker process.

Each candidate below does one thing a function under test can do to a validator running it in
its own process — exit (sys.exit, os._exit, abort), segfault, raise a BaseException, hang in C
code holding the GIL, hang or exit at import, print from Python and at the fd level, change
directory. Through the CLI each must give a report (or a one-line error for a target that cannot
be imported), the right exit status, and stdout that parses as JSON with --json.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation import validate
from symsoftmax.validation.isolation import IsolatedCaller, target_reference
from symsoftmax.validation.runner import Candidate
from symsoftmax.validation.sources import custom_vectors
from symsoftmax.validation.wire import Deadline, FrameReader, ProtocolError, decode_array, encode

CANDIDATES = """
import ctypes, os, re, sys
import numpy as np

{good}
{good_log}
def exits(z):
    sys.exit(0)

def hard_exit(z):
    os._exit(0)

def aborts(z):
    os.abort()

def segfault(z):
    ctypes.string_at(0)

class Custom(BaseException):
    pass

def custom(z):
    raise Custom("boom")

def interrupt(z):
    raise KeyboardInterrupt

def gil_hang(z):
    re.match(r"(a+)+$", "a" * 40 + "b")  # catastrophic backtracking: C code, GIL held

def prints(z):
    print("py out")
    os.write(1, b"fd out\\n")
    os.write(2, b"\\x1b[31mfd err\\n")
    return good(z)

def crash_on_three(z):
    if z.size == 3:
        os._exit(7)
    return good(z)

def hang_on_three(z):
    if z.size == 3:
        gil_hang(z)
    return good(z)

def moves(z):
    os.chdir(os.path.dirname(os.getcwd()))
    return good(z)

def garbles(z):
    os.write(int(sys.argv[2]), b"not a frame at all, and long enough to read")
    return good(z)

def no_kernel(z):
    print("called")  # captured per test: only the calls made print
    raise TypeError(f"no kernel for {{z.dtype}}")

def float64_out(z):
    return good(z).astype(np.float64)

def snan(z):
    out = good(z)
    out[0] = np.array([0x7FA00000], dtype=np.uint32).view(np.float32)[0]
    return out

def batched(z):
    if z.shape[-1] == 2:
        os._exit(3)
    x = z.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(z.dtype)
"""  # good and good_log are this module's own, below (.format in the fixture)

AT_IMPORT = {
    "imp_exit.py": "import sys\nsys.exit(0)\ndef f(z):\n    return z\n",
    "imp_hard.py": "import os\nos._exit(0)\ndef f(z):\n    return z\n",
    "imp_hang.py": 'import re\nre.match(r"(a+)+$", "a" * 40 + "b")\ndef f(z):\n    return z\n',
    "imp_moves.py": 'import os\nos.chdir("/")\nprint("moved")\nfrom cands import moves as f\n',
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("isolation")
    (root / "cands.py").write_text(
        CANDIDATES.format(good=inspect.getsource(good), good_log=inspect.getsource(good_log))
    )
    for name, text in AT_IMPORT.items():
        (root / name).write_text(text)
    rows = [[1.0, 2.0], [1.0, 2.0, 3.0], [0.5, 0.25, 0.0, -1.0], [3.0, 3.0]]
    vectors.save(custom_vectors("softmax", "float32", rows), root / "v.json")
    return {"root": root, "cands": root / "cands.py", "vectors": root / "v.json"}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "symsoftmax", "validate", *args]


def _cli(files: dict[str, Path], target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`symsoftmax validate TARGET --vectors v.json --timeout 1 --json ...` in a subprocess."""
    return subprocess.run(
        _command(target, "--vectors", str(files["vectors"]), "--timeout", "1", "--json", *extra),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=files["root"],
    )


def _report(done: subprocess.CompletedProcess[str]) -> dict:
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)  # nothing but the JSON object on stdout


def test_a_correct_candidate_passes_with_exit_0(files: dict[str, Path]) -> None:
    done = _cli(files, "cands.py:good", "--companion", "cands.py:good_log")
    data = _report(done)
    assert done.returncode == 0, done.stderr
    assert data["passed"] and data["tests"] == 4 and data["not_run"] == 0
    assert data["printed"] == []
    properties = {p["name"]: p for p in data["properties"]}
    assert properties["exp-log-softmax"]["checked"] > 0  # the companion ran in the worker
    broken = _cli(files, "cands.py:good", "--companion", "cands.py:hard_exit")
    data = _report(broken)
    assert broken.returncode == 1 and data["failed"] == 0  # the tests passed, the property not
    worst = {p["name"]: p for p in data["properties"]}["exp-log-softmax"]["worst"]
    assert "companion worker exited with code 0" in worst


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("exits", "raised SystemExit: 0"),
        ("custom", "raised Custom: boom"),
        ("interrupt", "raised KeyboardInterrupt"),
    ],
)
def test_exceptions_of_any_class_are_each_tests_error(
    files: dict[str, Path], name: str, reason: str
) -> None:
    done = _cli(files, f"cands.py:{name}")
    data = _report(done)
    assert done.returncode == 1
    assert data["failed"] == 4 and data["not_run"] == 0
    assert {f["reason"] for f in data["failures"]} == {reason}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("hard_exit", "worker exited with code 0 during tcId "),
        ("aborts", "worker killed by signal SIGABRT (code -6) during tcId "),
        ("segfault", "worker killed by signal SIGSEGV (code -11) during tcId "),
        ("gil_hang", "timed out after 1 s (worker killed)"),
    ],
)
def test_a_lost_worker_is_reported_and_after_three_hangs_the_rest_is_not_run(
    files: dict[str, Path], name: str, reason: str
) -> None:
    start = time.monotonic()
    done = _cli(files, f"cands.py:{name}")
    data = _report(done)
    assert done.returncode == 1
    statuses = [f["status"] for f in data["failures"]]
    errors = [f for f in data["failures"] if f["status"] == "error"]
    assert all(f["reason"].startswith(reason) for f in errors), errors
    if "during" in reason:  # a crash: every test is reported, the run goes on
        assert statuses == ["error"] * 4 and data["not_run"] == 0
        assert all(f["reason"].endswith(f"tcId {f['tcId']}") for f in errors)
    else:  # a hang: after 3 kills the rest is not run
        assert statuses.count("error") == 3 and statuses.count("not-run") == 1
        not_run = next(f for f in data["failures"] if f["status"] == "not-run")
        assert not_run["reason"] == "not run: 3 workers killed (timed out or failed to restart)"
        assert data["not_run"] == 1
    assert not data["passed"]
    if name == "segfault":  # the crash's Python traceback is captured into the report
        assert "Segmentation fault" in errors[0]["output"]
    assert time.monotonic() - start < 30


def test_a_crash_on_one_test_names_it_and_the_run_goes_on(files: dict[str, Path]) -> None:
    data = _report(done := _cli(files, "cands.py:crash_on_three"))
    assert done.returncode == 1
    (failure,) = data["failures"]
    assert failure["reason"] == f"worker exited with code 7 during tcId {failure['tcId']}"
    assert len(failure["input"]["z"]) == 3
    assert data["tests"] == 4 and data["failed"] == 1
    assert all(p["passed"] for p in data["properties"])  # property calls ran on a new worker


def test_a_hang_on_one_test_is_killed_and_the_others_pass(files: dict[str, Path]) -> None:
    data = _report(done := _cli(files, "cands.py:hang_on_three"))
    assert done.returncode == 1
    (failure,) = data["failures"]
    assert failure["reason"] == "timed out after 1 s (worker killed)"


def test_printed_output_is_captured_into_the_report_never_stdout(
    files: dict[str, Path], tmp_path: Path
) -> None:
    report = tmp_path / "r.md"
    done = _cli(files, "cands.py:prints", "--report", str(report))
    data = _report(done)
    assert done.returncode == 0 and data["passed"]
    texts = [p["text"] for p in data["printed"]]
    assert texts and all(t == "py out\nfd out\n\x1b[31mfd err\n" for t in texts)
    wheres = {p["where"] for p in data["printed"]}
    assert {"tcId 1", "property checks"} <= wheres
    markdown = report.read_text()
    assert "## Printed by the candidate" in markdown
    assert "py out\\nfd out\\n\\x1b[31mfd err\\n" in markdown and "\x1b" not in markdown
    text = subprocess.run(  # the terminal report says so too, escaped
        _command("cands.py:prints", "--vectors", str(files["vectors"])),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=files["root"],
    ).stdout
    assert "the candidate printed output" in " ".join(text.split())
    assert "tcId 1: py out\\nfd out" in text and "\x1b" not in text


def test_chdir_in_the_candidate_does_not_move_the_reports(
    files: dict[str, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    vectors = str(files["vectors"])
    for target in ("cands.py:moves", "imp_moves.py:f"):
        done = subprocess.run(
            _command(
                str(files["root"] / target), "--vectors", vectors, "--report", "r.md", "--json"
            ),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=work,
        )
        data = _report(done)
        assert done.returncode == 0 and data["passed"], done.stderr
        assert (work / "r.md").read_text().startswith("# Validation of")
        (work / "r.md").unlink()
    assert {"where": "import", "text": "moved\n"} in data["printed"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("imp_exit.py:f", "imp_exit.py: import raised SystemExit: 0"),
        ("imp_hard.py:f", "worker exited with code 0 while importing imp_hard.py:f"),
        ("imp_hang.py:f", "import of imp_hang.py:f did not finish within 1 s (killed)"),
    ],
)
def test_a_target_that_exits_or_hangs_at_import_is_one_line_exit_2(
    files: dict[str, Path], target: str, message: str
) -> None:
    start = time.monotonic()
    done = _cli(files, target)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [f"symsoftmax validate: error: {message}"]
    assert time.monotonic() - start < 30


def test_a_worker_that_cannot_restart_counts_as_lost(files: dict[str, Path]) -> None:
    """The first call leaves a mark that makes every later import exit (in the temporary
    folder: the one place a sandboxed worker may write, kept across its restarts)."""
    (files["root"] / "once.py").write_text(
        "import os, pathlib, tempfile\n"
        "MARK = pathlib.Path(tempfile.gettempdir(), 'once-' + str(os.getppid()) + '.ran')\n"
        "if MARK.exists():\n"
        "    os._exit(5)\n"
        "def f(z):\n"
        "    MARK.write_text('ran')\n"
        "    os._exit(0)\n"
    )
    data = _report(done := _cli(files, "once.py:f"))
    assert done.returncode == 1 and data["not_run"] == 3
    reasons = [f["reason"] for f in data["failures"]]
    assert reasons[0].startswith("worker exited with code 0 during tcId ")
    restart = "not run: worker restart failed: worker exited with code 5 while importing once.py:f"
    assert reasons[1:3] == [restart, restart]
    assert reasons[3] == restart  # the third failed restart; nothing is left to run


def test_a_candidate_writing_to_the_reply_pipe_is_reported(files: dict[str, Path]) -> None:
    data = _report(done := _cli(files, "cands.py:garbles"))
    assert done.returncode == 1
    reasons = {f["reason"] for f in data["failures"] if f["status"] == "error"}
    assert reasons and all(r.startswith("worker sent a malformed reply") for r in reasons)


def test_a_crash_in_a_batched_call_names_the_batch(files: dict[str, Path]) -> None:
    data = _report(done := _cli(files, "cands.py:batched", "--batch"))
    assert done.returncode == 1
    pair = sorted(f["tcId"] for f in data["failures"])  # the two rows of K = 2
    assert len(pair) == 2 and data["tests"] == 4
    message = f"worker exited with code 3 during a batched call of 2 tests (tcIds {pair[0]}, "
    assert all(f["reason"].startswith(message) for f in data["failures"])


@pytest.mark.parametrize("value", ["inf", "1e300", "0", "-1", "nan", "ten"])
def test_timeout_must_be_positive_finite_seconds(
    value: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["validate", f"{files['cands']}:good", "--vectors", str(files["vectors"])]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, f"--timeout={value}"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--timeout" in lines[0] and repr(value) in lines[0], lines
    if value != "ten":
        vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])
        for isolate in (False, True):
            with pytest.raises(InputError, match="timeout must be"):
                validate(good, vectors=vf, timeout=float(value), isolate=isolate)


# ------------------------------------------------------------------ the Python API


def good(z):
    """An importable candidate for the API tests (this module is importable by name)."""
    x = z.astype(np.float64)
    e = np.exp(x - x.max())
    return (e / e.sum()).astype(z.dtype)


def good_log(z):
    x = z.astype(np.float64)
    t = x - x.max()
    return (t - np.log(np.exp(t).sum())).astype(z.dtype)


def test_api_isolate_true_matches_in_process() -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0], [0.5, 0.25, 0.0], [1e30, 0.0]])
    inside = validate(good, vectors=vf)
    isolated = validate(good, vectors=vf, isolate=True, companion=good_log)
    assert inside.passed and isolated.passed
    assert [r.got["output"].tolist() for r in inside.results] == [
        r.got["output"].tolist() for r in isolated.results
    ]
    names = {p.name for p in isolated.properties}
    assert "exp-log-softmax" in names  # the companion ran in the worker too
    assert isolated.seconds_candidate > 0


def test_api_isolate_needs_an_importable_function(files: dict[str, Path]) -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])

    def local(z):
        return good(z)

    for fn in (local, lambda z: good(z)):
        with pytest.raises(InputError, match="importable by name"):
            validate(fn, vectors=vf, isolate=True)
    assert target_reference(good) == f"{__name__}:good"
    assert validate(f"{files['cands']}:good", vectors=vf, isolate=True).passed
    assert not validate(f"{files['cands']}:hard_exit", vectors=vf, isolate=True).passed


def test_crashes_stop_the_run_only_after_max_crashes(files: dict[str, Path]) -> None:
    """Crashes restart the worker every time until ``max_crashes``; then the rest is not run."""
    rows = [[1.0, 2.0, float(i)] for i in range(6)]
    vf = custom_vectors("softmax", "float32", rows)
    with IsolatedCaller([f"{files['cands']}:hard_exit"], timeout=5, max_crashes=4) as caller:
        candidate = Candidate(caller, "softmax", get_format("float32"))
        outcomes = candidate.run(list(vf.tests()))
        assert (caller.crashed, caller.killed) == (4, 0)
    assert [o.kind for o in outcomes] == ["crashed"] * 4 + ["not-run"] * 2
    assert outcomes[-1].problem == "not run: the worker ended 4 times during a call"


def test_isolated_caller_restarts_after_a_crash_and_closes(files: dict[str, Path]) -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [1.0, 2.0], [0.0, 1.0, 2.0]])
    with IsolatedCaller([f"{files['cands']}:crash_on_three"], timeout=5) as caller:
        assert not caller.accepts_temperature(0)
        candidate = Candidate(caller, "softmax", get_format("float32"))
        outcomes = candidate.run(list(vf.tests()))
        assert caller.lost == 2
        process = caller._worker.process if caller._worker else None
    kinds = {t.inputs["z"].size: o.kind for t, o in zip(vf.tests(), outcomes, strict=True)}
    assert kinds == {3: "crashed", 2: ""}
    assert process is None or process.poll() is not None  # closed: no worker left behind


# ------------------------------------------------------------------ the wire format


def test_frames_are_decoded_without_trusting_the_sender() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    spec = {"dtype": "float32", "shape": [2, 3], "nbytes": 24}
    frame = encode({"arrays": [spec]}, [array])
    read, write = os.pipe()
    try:
        os.write(write, frame)
        header, body = FrameReader(read).read(Deadline(5), max_body=24)
        assert header["arrays"] == [spec]
        assert np.array_equal(decode_array(spec, body, 0, np.dtype(np.float32)), array)
        with pytest.raises(ProtocolError):  # a dtype the reader did not ask for
            decode_array(spec, body, 0, np.dtype(np.float64))
        with pytest.raises(ProtocolError):  # sizes that do not add up
            decode_array(dict(spec, shape=[3, 3]), body, 0, np.dtype(np.float32))
        os.write(write, frame)
        with pytest.raises(ProtocolError, match="too large"):  # more than the reply can need
            FrameReader(read).read(Deadline(5), max_body=23)
        os.write(write, b"XXXX" + frame[4:])
        with pytest.raises(ProtocolError, match="bad frame start"):
            FrameReader(read).read(Deadline(5), max_body=24)
        assert FrameReader(read).read(Deadline(0.05), max_body=24) is None  # nothing came
    finally:
        os.close(read)
        os.close(write)


# ------------------------------------------------------------------ frameworks in the worker

FRAMEWORK_CANDIDATES = """
import jax
import torch

def torch_softmax(z):
    return torch.softmax(z, dim=-1)

def torch_float64(z):
    return torch.softmax(z.double(), dim=-1)

def jax_log_softmax(z):
    return jax.nn.log_softmax(z)
"""


@pytest.mark.parametrize(
    "dtype", ["bfloat16", pytest.param("float32", marks=pytest.mark.slow)]
)  # each validation starts a worker that imports torch or jax: seconds each
def test_torch_and_jax_candidates_convert_in_the_worker(tmp_path: Path, dtype: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    (tmp_path / "fw.py").write_text(FRAMEWORK_CANDIDATES)
    rows = [[1.0, 2.0, 3.0], [1000.0, 999.0, -5.0]]
    soft = custom_vectors("softmax", dtype, rows)
    for batch in (False, True):
        report = validate(
            f"{tmp_path}/fw.py:torch_softmax",
            vectors=soft,
            framework="torch",
            batch=batch,
            isolate=True,
        )
        assert report.passed, report.summary_line()
    wrong = validate(
        f"{tmp_path}/fw.py:torch_float64", vectors=soft, framework="torch", isolate=True
    )
    assert f"wrong dtype float64, expected {dtype}" in wrong.failures[0].reason
    logs = custom_vectors("log_softmax", dtype, rows)
    report = validate(
        f"{tmp_path}/fw.py:jax_log_softmax", vectors=logs, framework="jax", isolate=True
    )
    assert report.passed, report.summary_line()


# ------------------------------------------------------------------ failing in bulk, sNaN


def test_identical_failures_stop_the_isolated_run_mid_chunk(files: dict[str, Path]) -> None:
    """The worker answers calls in chunks of up to 256; the run still stops after the
    MAX_IDENTICAL_FAILURES-th alike failure (and the spot checks): later calls are never made."""
    from symsoftmax.validation.runner import MAX_IDENTICAL_FAILURES, SPOT_CHECKS

    rows = [[0.25 * i] * (2 + i % 6) for i in range(60)]
    vf = custom_vectors("softmax", "float32", rows)
    report = validate(f"{files['cands']}:no_kernel", vectors=vf, isolate=True)
    made = MAX_IDENTICAL_FAILURES + SPOT_CHECKS
    called = [r.output.strip() == "called" for r in report.results]
    assert all(called[:MAX_IDENTICAL_FAILURES]) and sum(called) == made  # + the spot checks
    assert all(r.status == "not-run" for r, c in zip(report.results, called, strict=True) if not c)
    assert report.not_run == 60 - made and report.failed == 60 and not report.passed
    assert report.stopped.startswith(
        "the candidate raised TypeError('no kernel for float32') on every call "
        f"({MAX_IDENTICAL_FAILURES} in a row"
    )


@pytest.mark.parametrize(
    ("target", "phrase"),
    [
        ("no_kernel", "the candidate raised TypeError('no kernel for float32') on every call"),
        ("float64_out", "the candidate returned float64 for float32 input on every call"),
    ],
)
def test_cli_max_identical_failures(files: dict[str, Path], target: str, phrase: str) -> None:
    """v.json has rows of lengths 2, 2, 3, 4 (in test order): with a limit of 1 the first
    call fails, the spot checks call the first rows of lengths 3 and 4, and the second row of
    length 2 is not run."""
    done = _cli(files, f"cands.py:{target}", "--max-identical-failures", "1")
    data = _report(done)
    assert done.returncode == 1
    assert data["not_run"] == 1 and data["failed"] == 4
    assert [f["status"] for f in data["failures"]] == ["error", "not-run", "error", "error"]
    assert data["stopped"].startswith(f"{phrase} (1 in a row, 2 spot checks"), data["stopped"]
    assert data["stopped"].endswith("stopped, 1 test not run")
    text = subprocess.run(
        _command(
            f"cands.py:{target}",
            "--vectors",
            str(files["vectors"]),
            "--max-identical-failures",
            "1",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=files["root"],
    )
    assert text.returncode == 1 and phrase in " ".join(text.stdout.split())  # rich may wrap
    unlimited = _report(_cli(files, f"cands.py:{target}", "--max-identical-failures", "0"))
    assert unlimited["not_run"] == 0 and unlimited["stopped"] == ""


@pytest.mark.parametrize("value", ["-1", "ten", "2.5"])
def test_max_identical_failures_must_be_a_count(files: dict[str, Path], value: str) -> None:
    done = _cli(files, "cands.py:good", "--max-identical-failures", value)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--max-identical-failures: must be an integer in 0.." in done.stderr


def test_a_signalling_nan_is_judged_without_a_runtime_warning(files: dict[str, Path]) -> None:
    done = _cli(files, "cands.py:snan")
    data = _report(done)
    assert "RuntimeWarning" not in done.stderr and "invalid value" not in done.stderr, done.stderr
    assert done.returncode == 1 and data["failed"] == 4
    assert all(f["status"] == "fail" and "got nan" in f["reason"] for f in data["failures"])
