"""The experiment's page: lift by arm with intervals, per persona (placeholder, see below)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["write_page"]


def write_page(results: dict[str, Any], folder: Path) -> Path:
    """Write ``folder/experiment.html``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment.html"
    path.write_text("<pre>" + orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "</pre>")
    return path
