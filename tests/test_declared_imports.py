"""Every package the code imports is declared in pyproject.toml, for the part that imports
it: the core (client, models, tracking) in ``dependencies``, the server in the ``server``
extra (the Ray backend in ``ray`` too), the CLI in ``cli``, tracking into a database in
``tracking-db``. An import in a ``try`` that handles ImportError is optional and needs no
declaration."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = {"yaml": "pyyaml"}
"""Import names whose distribution is named otherwise (else ``_`` reads ``-``)."""
PARTS = (
    ("submarine/_trackdb.py", ("tracking-db",)),
    ("submarine/server/run/raybackend/", ("server", "ray")),
    ("submarine/server/", ("server",)),
    ("submarine/cli/", ("cli",)),
)
"""The extras each part of the package may use besides the core."""


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}

    def name(requirement: str) -> str:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match is not None, requirement
        return match.group(0).lower().replace("_", "-")

    return {group: {name(r) for r in requirements} for group, requirements in groups.items()}


def _optional(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside a ``try`` that handles ImportError."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
            for handler in node.handlers
        ):
            lines.update(
                inner.lineno
                for part in node.body
                for inner in ast.walk(part)
                if isinstance(inner, (ast.Import, ast.ImportFrom))
            )
    return lines


def _imports(path: Path) -> set[str]:
    """The top-level names of the third-party packages a module imports."""
    tree = ast.parse(path.read_text())
    optional = _optional(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno in optional:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {
        name
        for name in found
        if name not in sys.stdlib_module_names and name not in ("submarine", "__future__")
    }


def test_every_import_is_declared_for_its_part() -> None:
    declared = _declared()
    undeclared = []
    for path in sorted((ROOT / "submarine").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        extras = next((groups for prefix, groups in PARTS if relative.startswith(prefix)), ())
        allowed = set().union(declared["core"], *(declared[extra] for extra in extras))
        for name in sorted(_imports(path)):
            distribution = DISTRIBUTIONS.get(name, name.replace("_", "-")).lower()
            if distribution not in allowed:
                undeclared.append(f"{relative}: {name} ({', '.join(('core', *extras))})")
    assert not undeclared, "declare in pyproject.toml:\n" + "\n".join(undeclared)
