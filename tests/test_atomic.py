"""write_atomic: whole files or nothing, errors naming the target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from symsoftmax.atomic import check_target, write_atomic


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["out.json"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(FileNotFoundError) as info:
        write_atomic(target, "x")
    assert info.value.filename == str(target)


def test_failure_midway_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # as if the run were interrupted just before the rename

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_overwriting_keeps_the_old_files_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, "old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert sorted(os.listdir(real.parent)) == ["real.json"]  # the temporary was next to it
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "data" / "created.json")
    write_atomic(dangling, "x")
    assert (tmp_path / "data" / "created.json").read_text() == "x"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", FileNotFoundError),
        ("folder", IsADirectoryError),
        ("folder/", IsADirectoryError),
        ("new-folder/", IsADirectoryError),
        ("folder-link", IsADirectoryError),
    ],
)
def test_folders_and_empty_names_are_refused_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, error: type[OSError]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder-link").symlink_to(tmp_path / "folder")
    with pytest.raises(error) as info:
        write_atomic(name, "x")
    assert info.value.filename == name
    assert sorted(os.listdir(tmp_path)) == ["folder", "folder-link"]
    assert os.listdir(tmp_path / "folder") == []


def test_unwritable_folder_names_the_target(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as info:
            write_atomic(folder / "out.json", "x")
        assert info.value.filename == str(folder / "out.json")
    finally:
        folder.chmod(0o700)


# The child writes through the CLI and stalls inside the write (in fsync) until signalled.
_STALLED_WRITE = """
import os, sys, time
from symsoftmax.cli import main

real_fsync = os.fsync
def stalled_fsync(fd):
    print("writing", flush=True)
    time.sleep(60)
    real_fsync(fd)
os.fsync = stalled_fsync
sys.exit(main(["derive", "--write-derivations", sys.argv[1]]))
"""


@pytest.mark.parametrize(
    ("signum", "status", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_signal_during_a_cli_write_leaves_no_temporary(
    tmp_path: Path, signum: int, status: int, word: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _STALLED_WRITE, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "writing\n"
    assert any(name.endswith(".tmp") for name in os.listdir(tmp_path))  # caught mid-write
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == status, err
    assert err.strip() == f"symsoftmax derive: {word}"
    assert os.listdir(tmp_path) == []


def test_check_target_refuses_what_write_atomic_would(tmp_path: Path) -> None:
    check_target(tmp_path / "new.json")  # fine: nothing is created
    assert os.listdir(tmp_path) == []
    for name in ("", str(tmp_path), f"{tmp_path}/x/"):
        with pytest.raises(OSError) as info:
            check_target(name)
        assert info.value.filename == name
