#!/usr/bin/env python3
"""The seed's synthetic data generator: the same options as ``sendflowr generate``.

    python3 scripts/generate-synthetic-data.py --count 100
    python3 scripts/generate-synthetic-data.py --dry-run --count 100
    python3 scripts/generate-synthetic-data.py --summary
    python3 scripts/generate-synthetic-data.py            # the full history

It delegates to the installed package, or to the project's ``.venv`` when this
interpreter lacks it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

try:
    from sendflowr.cli import main
except ImportError:
    # Not installed in this interpreter: use the project's .venv (made by scripts/up or
    # scripts/test), or the checkout's src/ if its dependencies happen to be installed.
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from sendflowr.cli import main
    except ImportError as exc:
        sys.exit(
            f"SendFlowr is not installed ({exc.name} missing): run scripts/up once, "
            "or pip install -e ."
        )

if __name__ == "__main__":
    main(args=["generate", *sys.argv[1:]], prog_name="generate-synthetic-data.py")
