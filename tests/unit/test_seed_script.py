"""The seed's script runs under any ``python3`` once ``.venv`` exists, and says what to do
when it does not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate-synthetic-data.py"


def _bare_python() -> str:
    """The base interpreter behind this venv: without the venv it has no sendflowr."""
    for name in (f"python{sys.version_info.major}.{sys.version_info.minor}", "python3"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    pytest.skip("no base interpreter found")


def test_bare_interpreter_lacks_the_package() -> None:
    probe = subprocess.run(
        [_bare_python(), "-I", "-S", "-c", "import sendflowr"], capture_output=True, text=True
    )
    assert probe.returncode != 0 and "sendflowr" in probe.stderr


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="no .venv")
def test_summary_under_a_python_without_the_package_reexecs_into_venv() -> None:
    out = subprocess.run(
        [_bare_python(), "-I", "-S", str(SCRIPT), "--summary"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Users: 350" in out.stdout and "morning_person" in out.stdout


def test_missing_venv_says_what_to_do(tmp_path: Path) -> None:
    # A checkout with the script but neither .venv nor src/: nothing to fall back on.
    (tmp_path / "scripts").mkdir()
    copy = tmp_path / "scripts" / SCRIPT.name
    shutil.copy(SCRIPT, copy)
    out = subprocess.run(
        [_bare_python(), "-I", "-S", str(copy), "--summary"], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert "scripts/up" in out.stderr and "pip install -e" in out.stderr
    assert "Traceback" not in out.stderr
