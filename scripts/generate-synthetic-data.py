#!/usr/bin/env python3
"""The seed's synthetic data generator: the same options as ``sendflowr generate``.

    python3 scripts/generate-synthetic-data.py --count 100
    python3 scripts/generate-synthetic-data.py --dry-run --count 100
    python3 scripts/generate-synthetic-data.py --summary
    python3 scripts/generate-synthetic-data.py            # the full history

It delegates to the installed package; from a bare checkout it uses ``src/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import sendflowr  # noqa: F401
except ImportError:  # not installed: run from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sendflowr.cli import main

if __name__ == "__main__":
    main(args=["generate", *sys.argv[1:]], prog_name="generate-synthetic-data.py")
