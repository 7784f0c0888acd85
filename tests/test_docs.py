"""The README and every page in docs/ are executed, so their examples stay true.

Two kinds of example are run, each page in a fresh temporary folder of its own:
* ``>>>`` examples (doctest, with ELLIPSIS and NORMALIZE_WHITESPACE);
* ```` ```console ```` blocks: lines starting ``$ `` are shell commands (``> `` continues one), the
  lines after them the expected output (``...`` matches anything). A command must exit 0 unless its
  line makes the status visible itself (for example ``...; echo "exit $?"``).
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_examples(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(page), module_relative=False, optionflags=FLAGS, verbose=False, report=True
    )
    assert result.failed == 0, f"{result.failed} example(s) failed in {_page_id(page)}"


def _console_examples(text: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs from the console blocks of a page."""
    examples: list[tuple[str, list[str]]] = []
    for block in CONSOLE_BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            elif line.startswith("> ") and examples and not examples[-1][1]:
                examples[-1] = (examples[-1][0] + "\n" + line[2:], [])
            elif examples:
                examples[-1][1].append(line)
    return [(cmd, "\n".join(out).strip() + "\n") for cmd, out in examples]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if CONSOLE_BLOCK.search(p.read_text())], ids=_page_id
)
def test_console_examples(page: Path, tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1", TERM="dumb")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    checker = doctest.OutputChecker()
    for command, expected in _console_examples(page.read_text()):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        got = done.stdout.strip() + "\n"
        assert done.returncode == 0, f"`{command}` exited {done.returncode}: {done.stderr}"
        if expected.strip():
            assert checker.check_output(expected, got, FLAGS), (
                f"`{command}` in {_page_id(page)}\nexpected:\n{expected}\ngot:\n{got}"
            )
