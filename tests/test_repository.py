"""Repository-level promises: CI runs the README's test command verbatim; sources are cited
inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```bash\n")[1:]
    return [block.split("```", 1)[0].strip() for block in blocks]


def test_readme_gives_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert "pip install -e ." in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines


# --- sources are cited inside the repository ------------------------------------------------
# Code and docs cite IEEE 754-2019, papers, or a page of this repository; never a path on the
# machine they were written on, nor a folder outside the checkout.

CITING_FOLDERS = ("symsoftmax", "docs", "benchmarks", "scripts")
CITING_FILES = ("README.md", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".json", ".toml", ".txt", ".cfg"}

MACHINE_PATH = re.compile(r"(?<![\w.:/~-])/(?:work|tmp|root|home|mnt|Users)/")
OUTSIDE_FOLDER = re.compile(r"(?<![\w./-])shared/")
PARENT_PATH = re.compile(r"(?<![\w.])(?:\.\./)+[^\s()\[\]`'\"<>,;]*")


def outside_citations(text: str, file: Path, root: Path = ROOT) -> list[str]:
    """Each citation in ``text`` (of ``file``) of a path outside ``root``, as 'line: text'.

    A ``../`` path counts when it leaves the repository or names nothing there (a relative
    link between docs pages, such as ``../README.md`` from docs/, is fine).
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        bad = [m.group() for m in MACHINE_PATH.finditer(line)]
        bad += [m.group() for m in OUTSIDE_FOLDER.finditer(line)]
        for match in PARENT_PATH.finditer(line):
            target = (file.parent / match.group().split("#")[0]).resolve()
            if not (target.is_relative_to(root.resolve()) and target.exists()):
                bad.append(match.group())
        found += [f"{number}: {b}" for b in bad]
    return found


def _citing_files() -> list[Path]:
    files = [ROOT / name for name in CITING_FILES]
    for folder in CITING_FOLDERS:
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in TEXT_SUFFIXES]
    return [p for p in files if p.is_file() and "__pycache__" not in p.parts]


def test_no_citation_of_a_path_outside_the_repository() -> None:
    problems = []
    for path in _citing_files():
        for problem in outside_citations(path.read_text(encoding="utf-8"), path):
            problems.append(f"{path.relative_to(ROOT)}:{problem}")
    assert not problems, "paths outside the repository cited:\n" + "\n".join(problems)


def test_the_citation_check_knows_outside_from_inside() -> None:
    page = ROOT / "docs" / "guide.md"
    # The bad examples are assembled here so that this file does not itself hold such a path.
    machine_root, temp, home = ("/" + name for name in ("work", "tmp", "root"))
    outside = [
        f"see {machine_root}/shared/reference/numerics.md",
        "(source: shared/reference/x.md)",
        f"written to {temp}/out.json",
        "[notes](../../elsewhere/notes.md)",
        "[gone](../no_such_file.md)",
        f"cf. {home}/notes.txt",
    ]
    inside = [
        "[the README](../README.md#install)",
        "[reference](reference.md), docs/guide.md, symsoftmax/validation/worker.py",
        "PASS: .../... tests passed",
        "https://example.org/tmp/x and a/tmp/b",
        "~/.cache/symsoftmax",
    ]
    for text in outside:
        assert outside_citations(text, page), text
    for text in inside:
        assert not outside_citations(text, page), text
