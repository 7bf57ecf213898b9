"""The composition root imports the roles it composes; nothing loads this package by string."""

from __future__ import annotations

import ast
from pathlib import Path

import sendflowr

PACKAGE = Path(sendflowr.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_composition_root_imports_every_role() -> None:
    compose = _imports(PACKAGE / "serve" / "compose.py")
    for role in ("connector", "sink", "timing"):
        assert f"sendflowr.{role}.role" in compose


def test_roles_import_the_contract_not_the_composition_root() -> None:
    for role in ("connector", "sink", "timing"):
        imported = _imports(PACKAGE / role / "role.py")
        assert "sendflowr.serve.contract" in imported
        assert not any(m.startswith("sendflowr.serve.compose") for m in imported)
    assert not any(m.startswith("sendflowr.") for m in _imports(PACKAGE / "serve" / "__init__.py"))


def test_no_module_of_the_package_is_loaded_by_a_string() -> None:
    loaders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "import_module(" in p.read_text() and p != PACKAGE / "cli" / "__init__.py"
    ]
    assert not loaders, loaders
