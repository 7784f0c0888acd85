"""The package's import structure: no cycles, and the verifier wing apart from the proofs.

Every module of ``symsoftmax`` is parsed with :mod:`ast` (nothing is imported) and every import
statement is an edge, wherever it stands: at the top, inside a function (the usual way to hide a
cycle), or in a ``TYPE_CHECKING`` block. ``import a.b`` and ``from a import b`` point at the
module ``a.b`` when it exists, otherwise at ``a``; relative forms (``from . import x``,
``from ..y import z``) are resolved against the importing module's package. A name that a
package loads lazily (its ``_LAZY`` table, :mod:`symsoftmax._lazy`) points at the module that
defines it, which is what the import runs. That a submodule's import runs its parent package
first is not an edge: every submodule would otherwise form a cycle with its own package.

The wings (docs/guide.md): symbolic → numeric (the proofs and the NumPy generated from them), and
formats/rounding → reference → vectors → validation (the verifier). The verifier must not reach
the proofs, not even indirectly: a verifier that ran the code it checks would agree with it.
"""

from __future__ import annotations

import ast
import json.decoder
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from symsoftmax._lazy import lazy_names

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "symsoftmax"

VERIFIER_WING = (
    "symsoftmax.formats",
    "symsoftmax.rounding",
    "symsoftmax.reference",
    "symsoftmax.vectors",
    "symsoftmax.validation",
)
PROOF_WING = ("symsoftmax.symbolic", "symsoftmax.numeric")


def module_files(root: Path = ROOT / PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def lazy_table(tree: ast.Module) -> dict[str, str]:
    """A package's ``_LAZY = {"name": "module", ...}`` literal (empty if it has none)."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
                table = ast.literal_eval(node.value) if node.value is not None else {}
                assert isinstance(table, dict)
                return table
    return {}


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of the package its import statements run (see the docstring)."""
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}
    lazy = {name: lazy_table(tree) for name, tree in trees.items()}

    def target(dotted: str) -> str | None:
        """The package module that ``dotted`` names, or None outside the package."""
        parts = dotted.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in modules:
                return candidate
            parts.pop()
        return None

    def from_target(base: str, name: str) -> str | None:
        if f"{base}.{name}" in modules:
            return f"{base}.{name}"
        if name in lazy.get(base, {}):
            return target(lazy[base][name])
        return target(base)

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, tree in trees.items():
        is_package = _is_package(modules[module])
        for node in ast.walk(tree):
            found: list[str | None] = []
            if isinstance(node, ast.Import):
                found = [target(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    _resolve_relative(module, is_package, node.level, node.module)
                    if node.level
                    else node.module or ""
                )
                found = [from_target(base, alias.name) for alias in node.names]
            graph[module] |= {t for t in found if t is not None and t != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a → … → a) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError("a strongly connected component without a cycle")


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or not, with the module that imports it."""
    via: dict[str, str] = {}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for nxt in sorted(graph[node]):
            if nxt not in via and nxt != start:
                via[nxt] = node
                frontier.append(nxt)
    return via


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def crossings(
    graph: dict[str, set[str]], sources: tuple[str, ...], forbidden: tuple[str, ...]
) -> list[str]:
    """Each import chain 'a → … → z' from a module under ``sources`` to one under ``forbidden``."""
    found = []
    for module in sorted(graph):
        if not _in(module, sources):
            continue
        via = reachable(graph, module)
        for reached in sorted(via):
            if _in(reached, forbidden):
                chain = [reached]
                while chain[-1] != module:
                    chain.append(via[chain[-1]])
                found.append(" → ".join(reversed(chain)))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(module_files())


def test_the_package_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    cycles = [" → ".join(cycle) for cycle in find_cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_verifier_wing_imports_nothing_of_the_proofs(graph: dict[str, set[str]]) -> None:
    found = crossings(graph, VERIFIER_WING, PROOF_WING)
    assert not found, "the verifier reaches the proofs:\n" + "\n".join(found)


def test_the_wings_are_where_the_package_says() -> None:
    modules = module_files()
    for prefix in (*VERIFIER_WING, *PROOF_WING):
        assert prefix in modules, f"{prefix} is named as a wing but is not a module"


# --- the graph builder itself, on small made-up packages -----------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, str]:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    graph = import_graph(module_files(tmp_path / "pkg"))
    return {module: ",".join(sorted(targets)) for module, targets in graph.items()}


def test_imports_inside_functions_and_relative_forms_are_edges(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.b import thing\n",
            "pkg/b.py": "from . import c\nfrom .sub.d import x\n",
            "pkg/c.py": "import pkg.sub.d as d\nimport os\n",
            "pkg/sub/__init__.py": "from .. import a\n",
            "pkg/sub/d.py": "from ..c import y\nfrom . import missing_name\n",
        },
    )
    assert graph == {
        "pkg": "",
        "pkg.a": "pkg.b",
        "pkg.b": "pkg.c,pkg.sub.d",
        "pkg.c": "pkg.sub.d",
        "pkg.sub": "pkg.a",
        "pkg.sub.d": "pkg.c,pkg.sub",
    }


def test_a_lazy_name_points_at_the_module_that_defines_it(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "pkg/__init__.py": '_LAZY = {"load": "pkg.io"}\n',
            "pkg/io.py": "",
            "pkg/user.py": "from pkg import load\n",
        },
    )
    assert graph["pkg.user"] == "pkg.io"
    assert graph["pkg"] == ""


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def later():\n    import pkg.c\n",
            "pkg/c.py": "from .a import x\n",
            "pkg/d.py": "from pkg import a\n",
        },
    )
    graph = import_graph(module_files(tmp_path / "pkg"))
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    del graph["pkg.c"]
    graph["pkg.b"] = set()
    assert find_cycles(graph) == []


def test_a_crossing_into_the_proofs_is_traced(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/check/__init__.py": "",
            "pkg/check/a.py": "def f():\n    from pkg import shared\n",
            "pkg/shared.py": "from pkg.proof import p\n",
            "pkg/proof/__init__.py": "",
            "pkg/proof/p.py": "",
        },
    )
    graph = import_graph(module_files(tmp_path / "pkg"))
    assert reachable(graph, "pkg.shared") == {"pkg.proof.p": "pkg.shared"}
    assert crossings(graph, ("pkg.check",), ("pkg.proof",)) == [
        "pkg.check.a → pkg.shared → pkg.proof.p"
    ]
    assert crossings(graph, ("pkg.proof",), ("pkg.check",)) == []


# --- lazy names (symsoftmax._lazy) ------------------------------------------------------------


def test_lazy_names_import_on_first_use_and_keep_the_value() -> None:
    namespace: dict[str, Any] = {"__name__": "json"}
    getattr_, dir_ = lazy_names(namespace, {"sqrt": "math"}, ("decoder",))
    assert "sqrt" not in namespace
    assert getattr_("sqrt") is math.sqrt
    assert namespace["sqrt"] is math.sqrt  # the next access is a plain lookup
    assert getattr_("decoder") is json.decoder
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'cos'"):
        getattr_("cos")
    assert dir_() == ["__name__", "decoder", "sqrt"]


def test_no_lazy_name_is_also_a_submodule_of_its_package() -> None:
    """Importing a submodule binds its name in the package (the import system does that), so a
    lazy name shared with a submodule became the module as soon as anything imported it:
    ``symsoftmax.vectors.lint`` was the function until the CLI or a test imported the module of
    the same name, then ``vectors.lint(...)`` raised "'module' object is not callable"."""
    modules = module_files()
    clashes = [
        f"{package}.{name}"
        for package, path in modules.items()
        if _is_package(path)
        for name in lazy_table(ast.parse(path.read_text(encoding="utf-8")))
        if f"{package}.{name}" in modules
    ]
    assert clashes == []


def test_every_public_name_of_the_vectors_package_survives_its_submodules_imports() -> None:
    code = (
        "import importlib, pkgutil, types, symsoftmax.vectors as v\n"
        "for info in pkgutil.iter_modules(v.__path__):\n"
        "    importlib.import_module(f'symsoftmax.vectors.{info.name}')\n"
        "print(sorted(n for n in v.__all__ if isinstance(getattr(v, n), types.ModuleType)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["[]"]


def test_importing_the_packages_imports_none_of_their_lazy_modules() -> None:
    code = (
        "import sys, symsoftmax, symsoftmax.symbolic, symsoftmax.vectors\n"
        "heavy = {'sympy', 'mpmath', 'symsoftmax.validation', 'symsoftmax.vectors.builder',"
        " 'symsoftmax.symbolic.fixed_k.proofs', 'symsoftmax.numeric'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
        "symsoftmax.vectors.load\n"
        "print('symsoftmax.vectors.check' in sys.modules, 'load' in vars(symsoftmax.vectors))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["[]", "True True"]


# --- the CLI's start-up (docs/performance.md, "CLI start-up") --------------------------------

# Imported by the commands that need them, never to print a version or a help text: each costs
# tens of milliseconds to seconds (jsonschema's pure-Python validators, SymPy).
HEAVY = ("ml_dtypes", "sympy", "mpmath", "jsonschema", "jsonschema_rs")

# Runs the CLI as the console script does, then names the packages of ``forbidden`` it loaded.
_START_UP = """
import sys
forbidden = set(sys.argv[1].split(","))
from symsoftmax.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print(sorted(forbidden & {m for name in sys.modules for m in (name, name.split(".")[0])}))
"""


def _loaded_at_start_up(forbidden: tuple[str, ...], *argv: str) -> str:
    """The modules of ``forbidden`` that ``symsoftmax ARGV`` imported (its output's last line)."""
    run = subprocess.run(
        [sys.executable, "-c", _START_UP, ",".join(forbidden), *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout.splitlines()[-1]


@pytest.mark.parametrize("argv", [("--version",), ("--help",)])
def test_version_and_help_import_no_command_and_no_numpy(argv: tuple[str, ...]) -> None:
    from symsoftmax.cli import COMMANDS

    commands = tuple(f"symsoftmax.cli.{name}" for name in COMMANDS)
    assert _loaded_at_start_up((*HEAVY, "numpy", *commands), *argv) == "[]"


def _commands() -> tuple[str, ...]:
    from symsoftmax.cli import COMMANDS

    return COMMANDS


@pytest.mark.parametrize("command", _commands())
def test_a_commands_help_imports_none_of_the_heavy_packages(command: str) -> None:
    assert _loaded_at_start_up(HEAVY, command, "--help") == "[]"


def test_the_start_up_check_sees_a_heavy_import() -> None:
    # The check itself can fail: a command that needs SymPy, run, is seen loading it.
    assert _loaded_at_start_up(("sympy",), "verify", "--k", "2") == "['sympy']"
