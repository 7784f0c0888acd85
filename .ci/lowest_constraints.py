"""Print pip constraints that pin each dependency to its lower bound: ``name==version``, one a
line, for every ``>=`` bound of pyproject.toml's runtime dependencies and of its ``test`` extra.

CI installs with them (``pip install -c <this output> -e '.[test]'``) so that the test suite
also runs against the oldest versions pyproject.toml admits. A requirement this script cannot
read (an environment marker, a URL, a bound it does not know) or one without a ``>=`` bound is
refused: a message on stderr and exit status 1, so the lowest run never silently installs the
newest version instead.

Usage: python .ci/lowest_constraints.py [path/to/pyproject.toml]  (default: the repository's)
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
REQUIREMENT = re.compile(rf"\s*({NAME.pattern})\s*(?:\[[A-Za-z0-9._,\s-]*\])?\s*(.*?)\s*")
SPECIFIER = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)\s*")
VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?")


class RequirementError(ValueError):
    """A requirement this script cannot turn into a ``name==version`` constraint."""


def lower_bound(requirement: str) -> tuple[str, str]:
    """(name, version) of ``requirement``'s ``>=`` bound: ``"numpy>=1.26,<3"`` → ("numpy",
    "1.26"). A :class:`RequirementError` for anything else."""
    whole = REQUIREMENT.fullmatch(requirement)
    if whole is None:
        raise RequirementError(f"{requirement!r}: cannot parse this requirement")
    name, rest = whole.groups()
    if not rest:
        raise RequirementError(f"{requirement!r}: no '>=' lower bound")
    bounds = []
    for part in rest.split(","):
        spec = SPECIFIER.fullmatch(part)
        if spec is None:
            raise RequirementError(f"{requirement!r}: cannot parse {part.strip()!r}")
        if spec.group(1) == ">=":
            bounds.append(spec.group(2))
    if len(bounds) != 1:
        raise RequirementError(f"{requirement!r}: needs exactly one '>=' lower bound")
    if not VERSION.fullmatch(bounds[0]):
        raise RequirementError(f"{requirement!r}: {bounds[0]!r} is not a plain version")
    return name, bounds[0]


def lowest_constraints(pyproject: dict[str, Any]) -> list[str]:
    """``name==version`` for the runtime dependencies, then the ``test`` extra's, each name
    once (a :class:`RequirementError` if one name has two different bounds)."""
    project = pyproject.get("project", {})
    requirements = [
        *project.get("dependencies", []),
        *project.get("optional-dependencies", {}).get("test", []),
    ]
    pins: dict[str, tuple[str, str]] = {}  # normalized name -> (name, version)
    for requirement in requirements:
        name, version = lower_bound(requirement)
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in pins and pins[key][1] != version:
            raise RequirementError(
                f"{name}: two lower bounds, {pins[key][1]} and {version}; give one"
            )
        pins.setdefault(key, (name, version))
    return [f"{name}=={version}" for name, version in pins.values()]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else PYPROJECT
    try:
        with path.open("rb") as file:
            lines = lowest_constraints(tomllib.load(file))
    except (OSError, tomllib.TOMLDecodeError, RequirementError) as error:
        print(f"lowest_constraints: {path}: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
