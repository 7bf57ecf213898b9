"""``--json FILE`` for every bench: the figures a run printed, as one JSON object."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["add_json_option", "write_json"]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json FILE`` to a bench's options."""
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE",
        help="also write every figure of the run to FILE (JSON), to compare across runs",
    )  # fmt: skip


def write_json(path: Path | None, bench: str, figures: dict[str, Any]) -> None:
    """Write ``figures`` with the bench's name, the time and the machine to ``path`` (if any)."""
    if path is None:
        return
    record = {
        "bench": bench,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "arguments": sys.argv[1:],
        **figures,
    }
    path.write_text(json.dumps(record, indent=1, default=str))
    print(f"wrote {path}")
