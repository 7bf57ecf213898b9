#!/usr/bin/env python3
"""The seed's synthetic data generator: the same options as ``sendflowr generate``.

    python3 scripts/generate-synthetic-data.py --count 100
    python3 scripts/generate-synthetic-data.py --dry-run --count 100
    python3 scripts/generate-synthetic-data.py --summary
    python3 scripts/generate-synthetic-data.py            # the full history

It runs under any ``python3``: it delegates to the installed package, or re-executes
itself with the project's ``.venv`` when this interpreter lacks it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
HINT = (
    "SendFlowr is not installed in this Python ({missing} missing) and {venv} has no "
    "interpreter.\nRun scripts/up (or scripts/test) once to create it, or install the "
    "package here with: pip install -e {root}"
)


def _in_project_venv() -> bool:
    # A venv's python resolves to the interpreter that made it, so comparing resolved
    # executables cannot tell them apart; the venv prefix can.
    return Path(sys.prefix).resolve() == VENV.resolve()


try:
    from sendflowr.cli import main
except ImportError as exc:
    if VENV_PYTHON.exists() and not _in_project_venv():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    # No .venv (or it lacks the package): the checkout's src/ works if its dependencies do.
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from sendflowr.cli import main
    except ImportError:
        sys.exit(HINT.format(missing=exc.name or exc, venv=VENV, root=ROOT))

if __name__ == "__main__":
    main(args=["generate", *sys.argv[1:]], prog_name="generate-synthetic-data.py")
