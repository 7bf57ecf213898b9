"""Every document the code and the README cite is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CITED = re.compile(r"docs/[A-Za-z0-9_./-]+\.md")


def _texts() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "src" / "sendflowr").rglob("*"))]
    return [p for p in files if p.is_file() and p.suffix in {".md", ".py", ".json"}]


def test_every_cited_docs_page_exists() -> None:
    cited = {(p, m) for p in _texts() for m in _CITED.findall(p.read_text())}
    assert cited, "nothing cites docs/ (the test would prove nothing)"
    missing = sorted(f"{p.relative_to(ROOT)}: {m}" for p, m in cited if not (ROOT / m).is_file())
    assert not missing, missing


def test_no_reference_to_a_spec_outside_the_repository() -> None:
    files = [*_texts(), *sorted((ROOT / "tests").rglob("*.py"))]
    citing = [str(p.relative_to(ROOT)) for p in files if "SPEC" + " §" in p.read_text()]
    assert not citing, citing
