"""Repository-level promises: CI runs the README's test command verbatim, and the suite again at
the lowest dependency versions pyproject.toml admits; sources are cited inside the repository."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

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


# --- the lowest admitted versions are tested too ----------------------------------------------
# .ci/run runs the suite a second time with every '>=' bound of the runtime dependencies and of
# the test extra pinned by .ci/lowest_constraints.py; a dependency it left out would be tested
# at its newest version only.


def _lowest_constraints_module() -> ModuleType:
    path = ROOT / ".ci" / "lowest_constraints.py"
    spec = importlib.util.spec_from_file_location("lowest_constraints", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_runtime_and_test_dependency_is_pinned_to_its_lower_bound() -> None:
    module = _lowest_constraints_module()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    emitted = module.lowest_constraints({"project": project})
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        bound = re.search(r">=\s*([0-9][^,;\s]*)", requirement)
        assert name and bound, f"{requirement!r} has no '>=' lower bound"
        assert f"{name.group()}=={bound.group(1)}" in emitted, requirement


def test_the_lowest_constraints_script_prints_them_and_refuses_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    script = [sys.executable, str(ROOT / ".ci" / "lowest_constraints.py")]
    done = subprocess.run(script, capture_output=True, text=True, timeout=60, check=True)
    project = {"project": tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]}
    assert done.stdout.splitlines() == _lowest_constraints_module().lowest_constraints(project)
    for requirement in ['numpy>=1.26; python_version < "3.12"', "numpy", "numpy<3", "x>=1.*"]:
        bad = tmp_path / "pyproject.toml"
        bad.write_text(
            f'[project]\ndependencies = ["rich>=13", {json.dumps(requirement)}]\n', "utf-8"
        )
        done = subprocess.run([*script, str(bad)], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (1, ""), requirement
        assert requirement in done.stderr and "Traceback" not in done.stderr, requirement


def test_ci_runs_the_suite_at_the_lowest_versions() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert (
        "python3 -m venv .venv-lowest && . .venv-lowest/bin/activate && "
        "python .ci/lowest_constraints.py > .ci-lowest.txt && "
        "pip install -c .ci-lowest.txt -e '.[test]' && pytest"
    ) in ci_lines


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (case, '-', '_' and '.' alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_file_pins_every_runtime_and_test_dependency_within_its_bounds() -> None:
    """.ci/requirements-lock.txt, the versions of the last green run, reproduces one: every
    dependency pinned with ==, at or above the bound pyproject.toml declares."""
    from packaging.version import Version

    pins: dict[str, str] = {}
    for line in (ROOT / ".ci" / "requirements-lock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pins[_normalized(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        bound = re.search(r">=\s*([0-9][^,;\s]*)", requirement)
        assert name and bound
        pinned = pins.get(_normalized(name.group()))
        assert pinned is not None, f"{name.group()} is not in the lock file"
        assert Version(pinned) >= Version(bound.group(1)), requirement
