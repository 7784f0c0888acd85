"""The worker's sandbox and the suite cache: no verdict depends on a file a candidate could write.

Written as attacks. The cache attack runs on every platform: where Landlock is available the
candidate's write is refused, elsewhere the cache is not read; either way the verdict stands.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.validation import sandbox as sandbox_module
from symsoftmax.validation import validate
from symsoftmax.validation.sources import cache_dir, suite_vectors
from symsoftmax.vectors.io import content_sha256, encode_groups, read_npz_model
from symsoftmax.vectors.linter import lint
from symsoftmax.vectors.model import TestGroup, VectorFile

LANDLOCK = sandbox_module.landlock_abi() > 0
needs_landlock = pytest.mark.skipif(not LANDLOCK, reason="this kernel offers no Landlock")

NAIVE = "import numpy as np\n\ndef naive(z):\n    e = np.exp(z)\n    return e / e.sum()\n"

# On its first call, rewrites every cached suite with only the rows it gets right (no special
# value, small entries), and its own outputs as the expected values, checksum recomputed by
# symsoftmax's own save: what an outside auditor did to forge a PASS.
FORGER = (
    NAIVE
    + """
import os
from pathlib import Path

FORGED = []

def _forge():
    from symsoftmax import vectors
    from symsoftmax.vectors.io import content_sha256, encode_groups, read_npz_model
    from symsoftmax.vectors.model import TestGroup, VectorFile
    import dataclasses
    for path in Path(os.environ["SYMSOFTMAX_CACHE_DIR"], "vectors").glob("*.npz"):
        vf = read_npz_model(path)
        groups = []
        for group in vf.groups:
            kept = []
            for tc in group.tests:
                z = tc.inputs["z"]
                if z.size and np.isfinite(z).all() and np.abs(z).max() < 20:
                    mine = naive(z.astype(np.float32)).astype(np.float64)
                    forged = {key: mine for key in tc.expected}
                    kept.append(dataclasses.replace(tc, expected=forged))
            if kept:
                groups.append(TestGroup(group.k, tuple(kept)))
        header = dict(vf.header, numberOfTests=sum(len(g.tests) for g in groups))
        forged = VectorFile(header=header, notes=vf.notes, groups=tuple(groups))
        header["sha256"] = content_sha256(encode_groups(forged))
        try:
            vectors.save(forged, path)
            FORGED.append(str(path))
        except OSError as exc:
            print("forging refused:", exc)

def forger(z):
    if not FORGED:
        FORGED.append("tried")
        _forge()
    return naive(z)
"""
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def _cache_file(op: str = "softmax", dtype: str = "float32", suite: str = "quick") -> Path:
    (path,) = (cache_dir() / "vectors").glob(f"{op}-{dtype}-{suite}-*.npz")
    return path


def _naive32(z: np.ndarray) -> np.ndarray:
    e = np.exp(z.astype(np.float32))
    return (e / e.sum()).astype(np.float64)


def _trimmed(vf: VectorFile, keep: int) -> VectorFile:
    """``vf`` with only its first ``keep`` tests, counts and checksum made consistent."""
    groups, left = [], keep
    for group in vf.groups:
        if left > 0:
            groups.append(TestGroup(group.k, group.tests[:left]))
            left -= len(group.tests[:left])
    header = dict(vf.header, numberOfTests=keep)
    trimmed = VectorFile(header=header, notes=vf.notes, groups=tuple(groups))
    header["sha256"] = content_sha256(encode_groups(trimmed))
    return trimmed


def test_a_candidate_rewriting_the_cached_suite_cannot_forge_a_pass(cache: Path) -> None:
    (Path.cwd() / "forger.py").write_text(FORGER)
    full = len(suite_vectors("softmax", "float32", "quick"))  # the cache entry exists
    first = validate("forger.py:forger", "softmax", "float32", suite="quick", isolate=True)
    assert not first.passed and len(first.results) == full
    second = validate("forger.py:forger", "softmax", "float32", suite="quick", isolate=True)
    assert not second.passed, "the forged cache entry was believed"
    assert len(second.results) == full and second.failed == first.failed
    if LANDLOCK:  # the write itself was refused
        printed = " ".join(text for _, text in first.printed)
        assert "forging refused" in printed and "Permission denied" in printed
        assert len(read_npz_model(_cache_file())) == full


def test_a_trimmed_or_edited_cache_entry_is_made_again(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_module, "landlock_abi", lambda: 1)  # a platform that sandboxes
    full = suite_vectors("softmax", "float32", "quick")
    path = _cache_file()
    vectors.save(_trimmed(full, 40), path)  # written by anyone but this process
    assert len(suite_vectors("softmax", "float32", "quick")) == len(full)
    assert len(read_npz_model(path)) == len(full)  # and the entry was written afresh
    tests = list(full.tests())
    edited = dataclasses.replace(tests[3], inputs={"z": tests[3].inputs["z"] * 2})
    groups = tuple(
        TestGroup(g.k, tuple(edited if tc.tc_id == edited.tc_id else tc for tc in g.tests))
        for g in full.groups
    )
    vectors.save(VectorFile(header=full.header, notes=full.notes, groups=groups), path)
    again = suite_vectors("softmax", "float32", "quick")
    z = next(tc for tc in again.tests() if tc.tc_id == edited.tc_id).inputs["z"]
    np.testing.assert_array_equal(z, tests[3].inputs["z"])


def test_without_landlock_the_cache_is_not_read(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unsandboxed candidate could have written the cache: it is generated afresh."""
    (Path.cwd() / "naive.py").write_text(NAIVE)
    full = suite_vectors("softmax", "float32", "quick")
    # forge the expected values of every test, keeping the manifest: only a sandbox stops this
    with np.errstate(all="ignore"):
        forged = tuple(
            TestGroup(
                g.k,
                tuple(
                    dataclasses.replace(
                        tc,
                        expected={"output": _naive32(tc.inputs["z"])},
                        result="valid",
                        acceptable=(),
                    )
                    for tc in g.tests
                ),
            )
            for g in full.groups
        )
    vectors.save(VectorFile(header=full.header, notes=full.notes, groups=forged), _cache_file())
    monkeypatch.setattr(sandbox_module, "landlock_abi", lambda: 0)
    monkeypatch.setattr("symsoftmax.validation.isolation.landlock_abi", lambda: 0)
    genuine = validate("naive.py:naive", vectors=full, isolate=True, properties=False)
    report = validate("naive.py:naive", "softmax", "float32", suite="quick", isolate=True)
    assert report.failed == genuine.failed > 40 and len(report.results) == len(full)
    assert report.sandbox.startswith("none: the platform offers no Landlock")


def test_lint_says_a_trimmed_suite_is_not_the_suite_it_names(tmp_path: Path) -> None:
    full = vectors.generate("softmax", "float16", suite="quick")
    path = tmp_path / "trimmed.json"
    vectors.save(_trimmed(full, 30), path)
    found = [str(f) for f in lint(path, recheck=False)]
    assert any(
        "header.suite: claims suite 'quick' (softmax, float16, seed 0): has 30 tests, the suite "
        f"has {len(full)}; missing tcIds 31, 32" in line
        for line in found
    ), found
    vectors.save(_trimmed(full, 0), path)
    assert any("has 0 tests" in str(f) for f in lint(path, recheck=False))
    vectors.save(full, path)
    assert list(lint(path, recheck=False)) == []


@needs_landlock
def test_a_sandboxed_candidate_cannot_write_signal_or_reach_the_validators_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "outside.txt"
    (tmp_path / "probe.py").write_text(
        NAIVE
        + f"""
import os, tempfile, subprocess
def _try(what, action):
    try:
        action()
        print(what, "allowed")
    except OSError as exc:
        print(what, "refused", exc.errno)
def probe(z):
    _try("write", lambda: open({str(outside)!r}, "w").write("x"))
    _try("stderr", lambda: open(f"/proc/{{os.getppid()}}/fd/2", "w").write("forged PASS\\n"))
    _try("signal", lambda: os.kill(os.getppid(), 0))
    _try("private", lambda: open(os.path.join(tempfile.gettempdir(), "ok"), "w").write("x"))
    child = subprocess.run(["sh", "-c", "echo x > {outside}"], start_new_session=True)
    print("grandchild", "refused" if child.returncode else "allowed")
    return naive(z)
"""
    )
    rows = vectors.from_rows("softmax", "float32", [[1.0, 2.0]])
    report = validate("probe.py:probe", vectors=rows, isolate=True, properties=False)
    printed = " ".join(text for _, text in report.printed)
    for what in ("write", "stderr", "signal", "grandchild"):
        assert f"{what} refused" in printed, printed
    assert "private allowed" in printed and not outside.exists()
    assert report.sandbox.startswith("Landlock ABI")


@needs_landlock
def test_the_cli_reports_the_sandbox_and_no_sandbox_turns_it_off(tmp_path: Path) -> None:
    (tmp_path / "naive.py").write_text(NAIVE)
    (tmp_path / "rows.json").write_text("[[1, 2, 3]]")
    env = dict(os.environ, SYMSOFTMAX_CACHE_DIR=str(tmp_path / "cache"))
    base = [sys.executable, "-m", "symsoftmax", "validate", "naive.py:naive", "--json"]
    for extra, expected in (([], "Landlock ABI"), (["--no-sandbox"], "none: --no-sandbox")):
        done = subprocess.run(
            [*base, "--suite", "quick", *extra], cwd=tmp_path, env=env, capture_output=True
        )
        assert done.returncode == 1, done.stderr
        assert json.loads(done.stdout)["sandbox"].startswith(expected)
