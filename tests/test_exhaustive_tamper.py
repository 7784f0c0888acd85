"""`symsoftmax exhaustive` reading back its own files: --merge reports, --resume checkpoints, and
--scheduler (the outside audit of the sweep).

Each attack of the audit is a test written as the attack: a tampered report or checkpoint made
from a genuine one (a float8_e4m3fn K = 2 run, 65,536 rows), a candidate edited between two
runs, a scheduler that never answers. Every answer must be exit status 0, 1 or 2 with no
traceback, a refusal exactly one line naming the file and the field; and a tamper must never
turn a failing run into a PASS. A Hypothesis fuzz then mutates genuine files at random (replaced,
deleted and retyped fields); ``pytest -m slow tests/test_exhaustive_tamper.py -s`` runs many
more inputs and prints the counts.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli_fuzz import JSON_VALUES, SLOW_FACTOR, fuzz_settings

# The candidates of the exhaustive tests: a correct one (good) and one that fails (naive).
from test_exhaustive import CANDIDATES

import symsoftmax
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.sweep.recheck import recheck, sample_rows
from symsoftmax.sweep.reconcile import Field, read_tally
from symsoftmax.sweep.runner import Job, close_callers
from symsoftmax.sweep.source import source_digest
from symsoftmax.sweep.space import Space
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.target import load_target

HUGE = "__HUGE_NUMBER__"  # replaced by a bare 1e400 in the file (json.dumps cannot write it)

# (what was read, exit status) of every input tried in this process; printed after the module
TRIED: Counter[tuple[str, int]] = Counter()


@dataclass
class Genuine:
    """Genuine files of one candidate: the whole run's --json report and checkpoint, and the
    --json reports of shards 0/2 and 1/2."""

    target: str
    report: dict[str, Any] = field(repr=False)
    checkpoint: dict[str, Any] = field(repr=False)
    shards: list[dict[str, Any]] = field(repr=False)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Genuine]:
    root = tmp_path_factory.mktemp("genuine")
    source = root / "cands.py"
    source.write_text(CANDIDATES)
    made = {}
    for name in ("good", "naive"):
        target = f"{source}:{name}"
        checkpoint = root / f"{name}.ckpt"
        whole = symsoftmax.exhaustive(target, workers=0, resume=str(checkpoint))
        # the shards in this process (no worker to start): a callable of the same file
        fn = load_target(target)
        shards = [symsoftmax.exhaustive(fn, workers=0, shard=(i, 2)) for i in range(2)]
        made[name] = Genuine(
            target,
            json.loads(whole.to_json()),
            json.loads(checkpoint.read_text()),
            [json.loads(s.to_json()) for s in shards],
        )
    assert not made["naive"].report["passed"] and made["good"].report["passed"]
    assert all(s["failed"] for s in made["naive"].shards)  # each shard fails on its own
    return made


def _write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document).replace(f'"{HUGE}"', "1e400"))
    return str(path)


def _answer(capsys: pytest.CaptureFixture[str], entry: str, argv: list[str]) -> tuple[int, str]:
    """Run ``symsoftmax exhaustive ARGV`` here; check the answer's form; (status, stderr)."""
    capsys.readouterr()
    try:
        status = main(["exhaustive", *argv])
    except SystemExit as stop:  # argparse's usage errors
        status = stop.code if isinstance(stop.code, int) else 2
    out, err = capsys.readouterr()
    TRIED[entry, status] += 1
    assert status in (0, 1, 2), (argv, status, err)
    assert "Traceback" not in err, (argv, err)
    if status == 2:
        assert len(err.strip().splitlines()) == 1 and out == "", (argv, err)
    return status, err


def _refused(status: int, err: str, *words: str) -> None:
    assert status == 2, err
    for word in words:
        assert word in err, (word, err)


# --------------------------------------------------------------------------------------------
# --merge: the class counts and ranges must reconcile
# --------------------------------------------------------------------------------------------


def test_merge_refuses_a_shard_whose_negative_counts_cancel_anothers_failures(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    first, second = copy.deepcopy(genuine["naive"].shards)
    first_counts = first["counts"]
    for name, count in second["counts"].items():
        if name != "pass" and count:
            first_counts[name] -= count + first_counts[name]  # the merged sum is 0
            first_counts["pass"] += count + second["counts"][name]
    paths = [_write(tmp_path / "a.json", first), _write(tmp_path / "b.json", second)]
    status, err = _answer(capsys, "attack", ["--merge", *paths])
    _refused(status, err, paths[0], "counts")


def test_merge_refuses_a_whole_report_whose_counts_are_all_zero(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    document = copy.deepcopy(genuine["naive"].report)
    document["counts"] = dict.fromkeys(document["counts"], 0)
    path = _write(tmp_path / "zero.json", document)
    status, err = _answer(capsys, "attack", ["--merge", path])
    _refused(status, err, path, "counts")


HALVES = """
import numpy as np

def half(x):  # right on the rows of one shard only (the sign of the first entry), 0 elsewhere
    z = x.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out = e / e.sum(axis=-1, keepdims=True)
    negative = x.view(np.uint8)[:, :1] >= 0x80
    return np.where(negative {wrong}, out, 0).astype(x.dtype)
"""


def test_merge_refuses_shards_of_two_versions_of_the_candidates_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Shard 0/2 run with a file right on shard 0's rows only, shard 1/2 after an edit that
    makes it right on shard 1's rows only: each shard passes, the candidate never did."""
    source = tmp_path / "half.py"
    paths = []
    for index, wrong in enumerate(["== False", "== True"]):
        source.write_text(HALVES.format(wrong=wrong))
        fn = load_target(f"{source}:half")
        report = symsoftmax.exhaustive(fn, workers=0, shard=(index, 2))
        assert report.tally.failed == 0, report.to_text()
        paths.append(_write(tmp_path / f"s{index}.json", json.loads(report.to_json())))
    status, err = _answer(capsys, "attack", ["--merge", *paths])
    _refused(status, err, "different runs", "source")


# --------------------------------------------------------------------------------------------
# --resume: the checkpoint must reconcile, and name the candidate's source and our version
# --------------------------------------------------------------------------------------------


def test_resume_refuses_a_checkpoint_whose_counts_were_edited_to_all_pass(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    run = genuine["naive"]
    document = copy.deepcopy(run.checkpoint)
    counts = document["tally"]["counts"]
    rows = sum(counts.values())
    document["tally"]["counts"] = {name: rows if name == "pass" else 0 for name in counts}
    document["tally"]["failed"] = 0
    path = _write(tmp_path / "run.ckpt", document)
    status, err = _answer(capsys, "attack", [run.target, "--workers", "0", "--resume", path])
    _refused(status, err, path)


def test_resume_refuses_a_passing_runs_tally_grafted_into_a_failing_runs_checkpoint(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    """The fuzz's find: good's tally under naive's identity (one file, one source digest) is
    consistent in every field; the candidate judged again on its recorded rows refuses it."""
    run, donor = genuine["naive"], genuine["good"]
    document = copy.deepcopy(run.checkpoint)
    document["tally"] = copy.deepcopy(donor.checkpoint["tally"])
    path = _write(tmp_path / "run.ckpt", document)
    status, err = _answer(capsys, "attack", [run.target, "--workers", "0", "--resume", path])
    _refused(status, err, path, "not what", run.target, "a checkpoint of another run")


def test_resume_refuses_a_checkpoint_whose_recorded_outputs_are_not_the_candidates(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    """A worst row's recorded outputs edited (still hex numbers: reconciliation accepts them)
    are not what the candidate computes on that row now."""
    run = genuine["naive"]
    document = copy.deepcopy(run.checkpoint)
    worst = document["tally"]["worst"][0]
    worst["got"] = ["0x1.0000000000000p-1"] * len(worst["got"])
    path = _write(tmp_path / "run.ckpt", document)
    status, err = _answer(capsys, "attack", [run.target, "--workers", "0", "--resume", path])
    _refused(status, err, path, "recorded rows are not what", f"row {worst['row']}: recorded")


def test_resume_judges_a_sample_of_the_rows_against_the_tallys_classes(
    genuine: dict[str, Genuine],
) -> None:
    """A tally whose recorded rows are the candidate's own but whose counts say no row failed
    (what a forger who copied the recorded rows would write) is refused by the sampled rows:
    naive fails on some of them. Its genuine counts are accepted."""
    run = genuine["naive"]
    space = Space.of("float8_e4m3fn", 2)
    at = Field(f"{run.target}.ckpt")
    tally = read_tally(run.checkpoint["tally"], space, "softmax", (0, space.size), at / "tally")
    job = Job(run.target, "softmax", "float8_e4m3fn", 2, PassRule())
    try:
        recheck(job, tally, run.target, at)  # the genuine tally
        sample = sample_rows(tally.ranges)
        assert len(sample) > 200 and (sample == sample_rows(tally.ranges)).all()
        forged = copy.deepcopy(tally)
        forged.counts = {name: tally.rows if name == "pass" else 0 for name in tally.counts}
        with pytest.raises(InputError) as refusal:
            recheck(job, forged, run.target, at)
    finally:
        close_callers()
    message = str(refusal.value)
    assert message.startswith(f"{at.file}: the checkpoint's counts are not what {run.target}")
    assert message.endswith("a checkpoint of another run") and "\n" not in message


def test_resume_refuses_a_checkpoint_made_before_the_candidate_was_edited(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Rows judged with the passing code must not count for the failing code that replaced it
    under the same TARGET."""
    source = tmp_path / "cand.py"
    source.write_text(CANDIDATES.replace("def naive", "def other"))
    checkpoint = str(tmp_path / "run.ckpt")
    argv = [f"{source}:good", "--workers", "0", "--resume", checkpoint]
    assert _answer(capsys, "attack", argv)[0] == 0
    source.write_text(
        CANDIDATES.replace("def good", "def correct").replace("def naive", "def good")
    )
    status, err = _answer(capsys, "attack", argv)
    _refused(status, err, checkpoint, "another run")


def test_resume_refuses_a_checkpoint_of_another_symsoftmax_version(
    capsys: pytest.CaptureFixture[str],
    genuine: dict[str, Genuine],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = genuine["good"]
    path = _write(tmp_path / "run.ckpt", run.checkpoint)
    monkeypatch.setattr(symsoftmax, "__version__", symsoftmax.__version__ + ".post1")
    status, err = _answer(capsys, "attack", [run.target, "--workers", "0", "--resume", path])
    _refused(status, err, path, "another run")


def test_the_source_digest_is_of_the_targets_own_file_found_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``package.module:function`` digests module.py, found without running the package's
    __init__ (which would fail here); an edit changes the digest; a file target digests it."""
    package = tmp_path / "tamperpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('the package was run')\n")
    module = package / "mod.py"
    module.write_text(CANDIDATES)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = source_digest("tamperpkg.mod:good")
    assert before == "sha256:" + hashlib.sha256(module.read_bytes()).hexdigest()
    assert "tamperpkg" not in sys.modules
    module.write_text(CANDIDATES + "# edited\n")
    assert source_digest("tamperpkg.mod:good") not in (before, None)
    assert source_digest(f"{module}:good") == source_digest("tamperpkg.mod:good")
    assert source_digest("no_such_module_here.mod:good") is None


def test_resume_is_refused_for_a_candidate_without_a_source_file(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "made_at_run_time"}
    exec(compile(CANDIDATES, "<made at run time>", "exec"), namespace)  # our own text
    with pytest.raises(InputError, match="cannot read the source file"):
        symsoftmax.exhaustive(namespace["good"], resume=str(tmp_path / "run.ckpt"))


# --------------------------------------------------------------------------------------------
# fields that raised tracebacks, or were accepted as nonsense
# --------------------------------------------------------------------------------------------


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def tamper(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return tamper


def _drop(*path: Any) -> Callable[[dict[str, Any]], None]:
    def tamper(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return tamper


TAMPERS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "range end 1e400": (_set("ranges", 0, 1, value=HUGE), "ranges"),
    "worst row without ulp": (_drop("worst", 0, "ulp"), "worst"),
    "worst row without inputs": (_drop("worst", 0, "inputs"), "worst"),
    "ulp a list": (_set("worst", 0, "ulp", value=[1]), "worst"),
    "range beyond the space": (_set("ranges", value=[[0, 1_000_000_000_000]]), "ranges"),
    "negative start": (_set("ranges", 0, 0, value=-5), "ranges"),
    "count a float": (_set("counts", "pass", value=1.5), "counts"),
    "count a bool": (_set("counts", "saturated", value=True), "counts"),
    "histogram over the rows": (_set("histogram", -1, value=1), "histogram"),
    "examples emptied": (_set("examples", "misplaced NaN/inf", value=[]), "examples"),
}
REPORT_TAMPERS = {
    **TAMPERS,
    "unknown op": (_set("op", value="nope"), "op"),
    "k a string": (_set("k", value="2"), "k"),
    "rule mode unknown": (_set("rule", "mode", value="lenient"), "rule"),
    "passed edited": (_set("passed", value=True), "passed"),
}


@pytest.mark.parametrize("name", REPORT_TAMPERS)
def test_a_tampered_report_is_one_line_naming_file_and_field(
    name: str, capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    tamper, field = REPORT_TAMPERS[name]
    document = copy.deepcopy(genuine["naive"].report)
    tamper(document)
    path = _write(tmp_path / "report.json", document)
    status, err = _answer(capsys, "attack", ["--merge", path])
    _refused(status, err, path, field)


@pytest.mark.parametrize("name", TAMPERS)
def test_a_tampered_checkpoint_is_one_line_naming_file_and_field(
    name: str, capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    tamper, field = TAMPERS[name]
    run = genuine["naive"]
    document = copy.deepcopy(run.checkpoint)
    tamper(document["tally"])
    path = _write(tmp_path / "run.ckpt", document)
    status, err = _answer(capsys, "attack", [run.target, "--workers", "0", "--resume", path])
    _refused(status, err, path, f"tally.{field}")


def test_a_checkpoint_beyond_its_shard_is_refused(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    """The whole space's tally under shard 0/2's identity would make the shard 'complete'."""
    run = genuine["naive"]
    document = copy.deepcopy(run.checkpoint)
    document["identity"]["shard"] = [0, 2]
    path = _write(tmp_path / "run.ckpt", document)
    argv = [run.target, "--workers", "0", "--shard", "0/2", "--resume", path]
    status, err = _answer(capsys, "attack", argv)
    _refused(status, err, path, "ranges")


def test_genuine_files_are_still_accepted(
    capsys: pytest.CaptureFixture[str], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    """The reconciliation refuses no genuine file: reports, shard sets and checkpoints."""
    for name, want in (("good", 0), ("naive", 1)):
        run = genuine[name]
        whole = _write(tmp_path / "whole.json", run.report)
        assert _answer(capsys, "genuine", ["--merge", whole])[0] == want
        shards = [_write(tmp_path / f"s{i}.json", s) for i, s in enumerate(run.shards)]
        assert _answer(capsys, "genuine", ["--merge", *shards])[0] == want
        path = _write(tmp_path / "run.ckpt", run.checkpoint)
        argv = [run.target, "--workers", "0", "--resume", path]
        assert _answer(capsys, "genuine", argv)[0] == want


# --------------------------------------------------------------------------------------------
# --scheduler: a listener that never answers
# --------------------------------------------------------------------------------------------


@contextmanager
def _silent_listener() -> Iterator[str]:
    """A TCP listener that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in [*held, server]:
            conn.close()


@contextmanager
def _http_server() -> Iterator[str]:
    """An HTTP server: it waits for a request line that Dask's handshake never sends."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("listener", [_silent_listener, _http_server])
def test_a_scheduler_that_never_answers_is_one_line_within_the_timeout(
    listener: Callable[[], Any], genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    with listener() as address:
        began = time.monotonic()
        command = [sys.executable, "-m", "symsoftmax", "exhaustive", genuine["good"].target]
        run = subprocess.run(
            [*command, "--scheduler", address, "--scheduler-timeout", "1"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        took = time.monotonic() - began
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert address in run.stderr and "did not answer within 1 s" in run.stderr, run.stderr
    assert took < 30, took  # interpreter start and imports, then the 1 s limit


SCHEDULER = """
import sys
from distributed import LocalCluster

if __name__ == "__main__":
    with LocalCluster(
        n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=50
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the test closes it
"""


def test_a_dask_scheduler_that_answers_still_runs_the_sweep(
    genuine: dict[str, Genuine], tmp_path: Path
) -> None:
    """The handshake tried first does not stand in the way of a real scheduler (a cluster of
    a process of its own): the report is the one-process report, byte for byte."""
    pytest.importorskip("distributed")
    run = genuine["naive"]
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER)
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as cluster:
        assert cluster.stdout is not None and cluster.stdin is not None
        address = cluster.stdout.readline().strip()
        argv = ["--scheduler", address, "--scheduler-timeout", "20", "--json"]
        out = subprocess.run(
            [sys.executable, "-m", "symsoftmax", "exhaustive", run.target, *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
        cluster.stdin.close()
        cluster.wait(timeout=60)
    assert out.returncode == 1, out.stderr
    assert out.stdout == json.dumps(run.report) + "\n"


# --------------------------------------------------------------------------------------------
# the fuzz: genuine files, mutated at random
# --------------------------------------------------------------------------------------------

NUMBERS_OF_NOTE = st.sampled_from([HUGE, 0, -1, 1, 65535, 65536, 65537, 1 << 32, 2**63, 0.5, -0.0])


def _retyped(value: Any) -> st.SearchStrategy[Any]:
    """The value as another JSON type: a number as text, a float or a bool; a list as an
    object; an object as a list; anything inside a list."""
    options: list[Any] = [[value], None]
    if isinstance(value, bool):
        options += [int(value), str(value).lower()]
    elif isinstance(value, int | float):
        options += [str(value), float(value), value != 0, {"value": value}]
        if isinstance(value, float) and value.is_integer():
            options.append(int(value))
    elif isinstance(value, str):
        options += [len(value), value.upper(), value + " ", {value: value}]
    elif isinstance(value, list):
        options += [{str(i): v for i, v in enumerate(value)}, value[:1], value[::-1], []]
    elif isinstance(value, dict):
        options += [list(value.values()), list(value), {}]
    return st.sampled_from(options)


def _nudged(value: Any) -> st.SearchStrategy[Any]:
    """A nearby value of the same type: what a careful forger would try."""
    if isinstance(value, bool):
        return st.just(not value)
    if isinstance(value, int):
        return st.sampled_from([value + 1, value - 1, -value, 0, 2 * value, value + 65536])
    if isinstance(value, float):
        return st.sampled_from([value * 2, value / 2, 0.0, -value, value + 1])
    if isinstance(value, list) and value:
        return st.sampled_from([value[1:], [*value, value[-1]], value[:-1], value * 2])
    return JSON_VALUES


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indices), the root left out."""
    if not isinstance(node, dict | list):
        return []
    found = []
    for key, child in node.items() if isinstance(node, dict) else enumerate(node):
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _mutate(data: st.DataObject, document: Any, donor: Any) -> Any:
    """``document`` with one place replaced, deleted, retyped, nudged or taken from ``donor``
    (the same place in another genuine file)."""
    document = copy.deepcopy(document)
    path = data.draw(st.sampled_from(_paths(document)))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    key, value = path[-1], parent[path[-1]]
    action = data.draw(st.sampled_from(["replace", "delete", "retype", "nudge", "graft", "note"]))
    if action == "delete":
        del parent[key]
        return document
    if action == "graft":
        graft = donor
        for step in path:
            try:
                graft = graft[step]
            except (KeyError, IndexError, TypeError):
                graft = value
                break
        parent[key] = copy.deepcopy(graft)
        return document
    strategies = {
        "replace": JSON_VALUES,
        "retype": _retyped(value),
        "nudge": _nudged(value),
        "note": NUMBERS_OF_NOTE,
    }
    parent[key] = data.draw(strategies[action])
    return document


def _mutations(data: st.DataObject, document: Any, donor: Any) -> Any:
    for _ in range(data.draw(st.integers(1, 3))):
        if not _paths(document):
            break
        document = _mutate(data, document, donor)
    return document


def _text(document: Any) -> str:
    return json.dumps(document).replace(f'"{HUGE}"', "1e400")


def _fuzz_report(capsys: Any, workdir: Path, genuine: dict[str, Genuine], data: Any) -> None:
    """A whole report or a shard, mutated, read by --merge alone."""
    name = data.draw(st.sampled_from(["good", "naive"]))
    which = data.draw(st.sampled_from([None, 0, 1]))
    run, donor = genuine[name], genuine["good" if name == "naive" else "naive"]
    original = run.report if which is None else run.shards[which]
    donated = donor.report if which is None else donor.shards[which]
    path = workdir / "fuzzed.json"
    path.write_text(_text(_mutations(data, original, donated)))
    argv = ["--merge", str(path), *data.draw(st.sampled_from([[], ["--json"]]))]
    status, _err = _answer(capsys, "report", argv)
    if name == "naive":
        assert status != 0, "a tampered failing report passed"


def _fuzz_shards(capsys: Any, workdir: Path, genuine: dict[str, Genuine], data: Any) -> None:
    """The failing candidate's two shard reports, one or both mutated, merged in either order."""
    shards, donors = genuine["naive"].shards, genuine["good"].shards
    paths = []
    for index in range(2):
        document = shards[index]
        if index == 0 or data.draw(st.booleans()):
            document = _mutations(data, document, donors[index])
        paths.append(workdir / f"shard{index}.json")
        paths[-1].write_text(_text(document))
    if data.draw(st.booleans()):
        paths.reverse()
    status, _err = _answer(capsys, "shard set", ["--merge", *map(str, paths)])
    assert status != 0, "tampered shards of a failing candidate merged into a PASS"


def _fuzz_checkpoint(capsys: Any, workdir: Path, genuine: dict[str, Genuine], data: Any) -> None:
    """A whole run's checkpoint, mutated, resumed (nothing is left to run unless it was
    accepted with fewer rows, which reconciliation forbids: the runs stay quick)."""
    name = data.draw(st.sampled_from(["good", "naive"]))
    run, donor = genuine[name], genuine["good" if name == "naive" else "naive"]
    path = workdir / "fuzzed.ckpt"
    path.write_text(_text(_mutations(data, run.checkpoint, donor.checkpoint)))
    status, _err = _answer(
        capsys, "checkpoint", [run.target, "--workers", "0", "--resume", str(path)]
    )
    if name == "naive":
        assert status != 0, "a tampered checkpoint of a failing run passed"


Body = Callable[[Any, Path, dict[str, Genuine], Any], None]


def _fuzz(body: Body, examples: int) -> Callable[..., None]:
    @fuzz_settings(examples)
    @given(data=st.data())
    def test(
        capsys: pytest.CaptureFixture[str],
        workdir: Path,
        genuine: dict[str, Genuine],
        data: st.DataObject,
    ) -> None:
        body(capsys, workdir, genuine, data)

    return test


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tampered")


BODIES: dict[str, tuple[Body, int]] = {
    "report": (_fuzz_report, 150),
    "shards": (_fuzz_shards, 100),
    "checkpoint": (_fuzz_checkpoint, 100),
}
for _name, (_body, _examples) in BODIES.items():
    globals()[f"test_fuzz_tampered_{_name}"] = _fuzz(_body, _examples)
    globals()[f"test_fuzz_tampered_{_name}_many"] = pytest.mark.slow(
        _fuzz(_body, _examples * SLOW_FACTOR)
    )


@pytest.fixture(scope="module", autouse=True)
def _print_counts() -> Iterator[None]:
    """After the module (seen with -s): how many inputs were answered, and how."""
    yield
    for (entry, status), count in sorted(TRIED.items()):
        print(f"{entry}: exit {status}: {count}")
    total = sum(TRIED.values())
    print(f"{total} inputs, every one answered with exit 0, 1 or 2 and no traceback")
