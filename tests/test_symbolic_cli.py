"""`symsoftmax verify` and `symsoftmax derive`: output, JSON, exit status, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

from symsoftmax.cli import main
from symsoftmax.cli.verify import MAX_EXHAUSTIVE_K
from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.any_k.claims import CLAIMS
from symsoftmax.symbolic.any_k.online_proofs import ONLINE
from symsoftmax.symbolic.any_k.variants import VARIANTS
from symsoftmax.symbolic.fixed_k import proofs
from symsoftmax.symbolic.identities import IDENTITIES
from symsoftmax.symbolic.options import STYLES, WHATS


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_verify_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--k", "3")
    assert status == 0
    for name in proofs.FIXED_K_NAMES:
        assert name[:20] in out
    count = len(proofs.FIXED_K_NAMES)
    assert f"all identities proven ({count}/{count})" in out


def test_verify_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--k", "20", "--json")
    data = json.loads(out)
    assert status == 0 and data["k"] == 20 and data["all_proven"] is True
    assert [d["name"] for d in data["identities"]] == list(proofs.names_for(20))
    assert set(proofs.FIXED_K_NAMES) - set(proofs.names_for(20)) == set(proofs.CASE_PROOF_NAMES)
    for entry in data["identities"]:
        assert {"name", "proven", "method", "seconds"} <= set(entry)
        assert entry["proven"] is True and entry["seconds"] >= 0
    assert data["identities"][0]["method"].startswith("permutation symmetry")


def test_verify_exhaustive_flag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--k", "18", "--exhaustive", "--json")
    data = json.loads(out)
    assert status == 0
    jacobian = data["identities"][0]
    assert jacobian["method"] == "exact ring, every entry" and jacobian["entries_checked"] == 324


def test_verify_general_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--general", "--json")
    data = json.loads(out)
    assert status == 0 and data["k"] == "general" and data["all_proven"] is True
    # the definition's claims, the online identities, the sink and soft-cap variants
    case_proofs = set(CLAIMS) | set(ONLINE) | set(VARIANTS)
    derivatives = [d for d in data["identities"] if d["name"] not in case_proofs]
    assert all("1 ≤ i, j, k ≤ K" in d["assumptions"][0] for d in derivatives)
    assert {d["name"] for d in data["identities"]} >= case_proofs


def test_verify_general_table_states_the_assumption(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "verify", "--general")
    assert status == 0 and "assumption: 1 ≤ i, j, k ≤ K" in out


def test_verify_exits_1_and_names_the_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = cf.s[cf.i] * (cf.s[cf.j] - sp.KroneckerDelta(cf.i, cf.j))
    identity = dataclasses.replace(IDENTITIES["jacobian"], closed_form=lambda: wrong)
    monkeypatch.setitem(IDENTITIES, "jacobian", identity)  # the registry every proof reads
    status, out, _ = _run(capsys, "verify", "--k", "3")
    assert status == 1
    assert "jacobian (∂σ_i/∂z_j = σ_i(δ_ij − σ_j)) NOT proven at entry (1, 1)" in out
    count = len(proofs.FIXED_K_NAMES)
    assert "residual" in out and f"NOT all identities proven ({count - 1}/{count})" in out
    status, out, _ = _run(capsys, "verify", "--k", "3", "--json")
    data = json.loads(out)
    assert status == 1 and data["all_proven"] is False
    assert data["identities"][0]["entry"] == [1, 1] and data["identities"][0]["residual"]


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--k", "0"),
        ("verify", "--k", "-3"),
        ("verify", "--k", "2.5"),
        ("verify", "--k", "1e5"),
        ("verify", "--k", "100001"),
        ("verify", "--general", "--exhaustive"),
        ("verify", "--k", "١٢"),
        ("verify", "--k", "1_000"),
        ("verify", "--k", "9" * 5000),
        ("derive", "jacobian", "--k", "17"),
        ("derive", "jacobian", "--k", "１"),
        ("derive", "jacobian", "--k", "0"),
        ("derive", "jacobian", "--k", "x"),
        ("derive", "jacobian"),
        ("derive", "--k", "3"),
        ("derive", "jacobian", "--k", "3", "--write-derivations", "d"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: Any) -> None:
    status, out, err = _run(capsys, *args)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "error" in err and out == ""


@pytest.mark.parametrize("k", [MAX_EXHAUSTIVE_K + 1, 100_000])
def test_exhaustive_beyond_its_limit_is_refused_at_once_with_the_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    def never(*args: Any) -> Any:
        raise AssertionError("no proof may start")

    monkeypatch.setattr("symsoftmax.symbolic.prove_all", never)
    status, out, err = _run(capsys, "verify", "--k", str(k), "--exhaustive")
    assert status == 2 and out == ""
    assert err.strip() == (
        f"symsoftmax verify: error: --exhaustive with K = {k} checks {k**3} second-derivative "
        f"entries; the limit is K = {MAX_EXHAUSTIVE_K} (about a minute, growing as K³); drop "
        "--exhaustive to prove it by permutation symmetry"
    )


def test_exhaustive_up_to_its_limit_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, str]] = []
    real = proofs.prove_all

    def recorded(size: int, mode: str) -> Any:
        calls.append((size, mode))
        return real(2, mode)  # the proof itself at K = 2: this checks the gate, not sympy

    monkeypatch.setattr("symsoftmax.symbolic.prove_all", recorded)
    status, _, err = _run(capsys, "verify", "--k", str(MAX_EXHAUSTIVE_K), "--exhaustive")
    assert (status, err) == (0, "")
    assert calls == [(MAX_EXHAUSTIVE_K, "exhaustive")]


def test_write_derivations_refuses_an_empty_name_and_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    status, out, err = _run(capsys, "derive", "--write-derivations", "")
    assert (status, out) == (2, "")
    assert err.strip() == "symsoftmax derive: error: --write-derivations: empty folder name"
    status, out, err = _run(capsys, "derive", "--write-derivations", "afile")
    assert (status, out) == (2, "")
    assert err.strip() == "symsoftmax derive: error: --write-derivations: afile: not a folder"
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_bad_k_from_the_shell_has_no_traceback() -> None:
    # The console script installed beside this interpreter: PATH need not hold its folder (a
    # venv's python run without activating the venv).
    script = str(Path(sysconfig.get_path("scripts")) / "symsoftmax")
    done = subprocess.run(
        [script, "verify", "--k", "-1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "symsoftmax verify: error: --k must be an integer in 1..100000, got -1"
    )


@pytest.mark.parametrize("what", WHATS)
def test_derive_every_format(capsys: pytest.CaptureFixture[str], what: str) -> None:
    for style in STYLES:
        status, out, _ = _run(capsys, "derive", what, "--k", "2", "--format", style)
        assert status == 0 and out.strip(), (what, style)
    status, out, _ = _run(capsys, "derive", what, "--k", "2", "--format", "latex")
    assert "e^{z_{1}}" in out


def _generated(capsys: pytest.CaptureFixture[str], what: str, size: int) -> Any:
    status, code, _ = _run(capsys, "derive", what, "--k", str(size), "--format", "python")
    assert status == 0
    namespace: dict[str, Any] = {}
    exec(compile(code, f"<derive {what}>", "exec"), namespace)  # our own generated code
    return namespace[what]


def test_generated_python_matches_independent_numpy(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    z, g, y = rng.normal(size=4), rng.normal(size=4), rng.dirichlet(np.ones(4))
    e = np.exp(z - z.max())
    sigma = e / e.sum()
    jac = np.diag(sigma) - np.outer(sigma, sigma)
    np.testing.assert_allclose(_generated(capsys, "softmax", 4)(z), sigma, rtol=1e-13)
    np.testing.assert_allclose(_generated(capsys, "jacobian", 4)(z), jac, atol=1e-15)
    np.testing.assert_allclose(_generated(capsys, "vjp", 4)(z, g), jac.T @ g, atol=1e-14)
    np.testing.assert_allclose(
        _generated(capsys, "cross_entropy_grad", 4)(z, y), sigma - y, atol=1e-15
    )
    # second derivative against central differences of the Jacobian
    h, hessian = 1e-5, _generated(capsys, "hessian", 4)(z)
    jacobian = _generated(capsys, "jacobian", 4)
    for n in range(4):
        step = np.zeros(4)
        step[n] = h
        numeric = (jacobian(z + step) - jacobian(z - step)) / (2 * h)
        np.testing.assert_allclose(hessian[:, :, n], numeric, atol=1e-9)
    lse = _generated(capsys, "logsumexp", 4)(z)
    assert abs(lse - (z.max() + np.log(e.sum()))) < 1e-13


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_generated_c_compiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for what in ("jacobian", "vjp"):
        status, code, _ = _run(capsys, "derive", what, "--k", "3", "--format", "c")
        assert status == 0
        source = tmp_path / f"{what}.c"
        source.write_text(code)
        done = subprocess.run(
            ["cc", "-fsyntax-only", "-Wall", "-Werror", str(source)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# SIGTERM during a long proof (outside audit: `verify --k 100000` needed SIGKILL)
# --------------------------------------------------------------------------------------------


_STOPPED_PROOF = """
import gc, os, signal, sys, threading
from sympy.core.cache import CACHE
from symsoftmax.cli import main
gc.collect()
timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM))
timer.start()
status = main(["verify", "--k", "100000"])
timer.cancel()
left = gc.collect()
cached = sum(c.cache_info().currsize for c in CACHE)
print(status, left, cached, file=sys.__stdout__)
"""


def test_sigterm_leaves_the_stopped_proof_to_nothing_at_exit() -> None:
    """Stopped, `verify` frees its work at once: nothing is left for the cyclic collector or in
    SymPy's cache for the interpreter's exit to go through (that took seconds). Run in a fresh
    interpreter of its own, with a time limit: a SIGTERM sent to a test worker that did not
    turn it into an exception would leave the proof of K = 100000 running for hours."""
    done = subprocess.run(
        [sys.executable, "-c", _STOPPED_PROOF], capture_output=True, text=True, timeout=120
    )
    assert done.stderr.strip().splitlines()[-1:] == ["symsoftmax verify: terminated"], done.stderr
    status, left, cached = map(int, done.stdout.split())
    assert status == 143
    assert left < 10_000  # the abandoned frames were freed, not left in a cycle
    assert cached == 0


def _rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_sigterm_ends_a_long_verify_promptly() -> None:
    """`verify --k 100000`, busy for half a minute (800 MB of expressions): SIGTERM ends it
    within 2 s, with one line (it took 3-6 s before on a loaded 2-core machine, 1 s now)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "symsoftmax", "verify", "--k", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while _rss_mb(child.pid) < 800:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert (child.returncode, out, err) == (143, "", "symsoftmax verify: terminated\n")
    assert took < 2.0, f"{took:.2f} s from SIGTERM to exit"


def test_write_derivations_refuses_a_missing_folder_before_the_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As --report does: a folder that does not exist is an error, not created."""

    def no_rendering() -> None:
        raise AssertionError("rendered before the folder was checked")

    monkeypatch.setattr("symsoftmax.symbolic.printing.derivations.render_derivations", no_rendering)
    missing = tmp_path / "none" / "x"
    status, out, err = _run(capsys, "derive", "--write-derivations", str(missing))
    assert (status, out) == (2, "")
    assert err == f"symsoftmax derive: error: {missing}: No such file or directory\n"
    assert os.listdir(tmp_path) == []
