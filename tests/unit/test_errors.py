"""Every exception SendFlowr defines lives in ``errors.py`` and is drawn in its tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sendflowr import errors

PACKAGE = Path(errors.__file__).parent
_EXCEPTION_BASES = {"Exception", "BaseException", *errors.__all__}


def test_every_error_is_drawn_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    missing = [name for name in errors.__all__ if not re.search(rf"[─ ]{name}\s", doc)]
    assert not missing, missing


def test_no_exception_class_outside_errors_py() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & _EXCEPTION_BASES:
                    found.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert not found, found
