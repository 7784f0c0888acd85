"""CLI plumbing shared by every command: help, usage errors as one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symsoftmax.cli import COMMANDS


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
