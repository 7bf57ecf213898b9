"""The fidelity report: does the stored data show every behaviour of the model?"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sendflowr.report.checks import Expectation, Section, build_sections
from sendflowr.report.local import zone_sections
from sendflowr.report.page import render_page
from sendflowr.report.truth import load_truth, truth_section
from sendflowr.store.access import Queryable

__all__ = ["Expectation", "Section", "load_world_dict", "write_report"]


def load_world_dict(path: Path | None = None) -> dict[str, Any]:
    """The generator's world file (the shipped one unless ``path``) as plain data."""
    if path is not None:
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    text = resources.files("sendflowr.resources").joinpath("world.json").read_text()
    shipped: dict[str, Any] = json.loads(text)
    return shipped


def write_report(
    store: Queryable,
    database: str,
    out: Path,
    *,
    world: dict[str, Any] | None = None,
    truth: Path | None = None,
) -> tuple[Path, list[Section]]:
    """Measure, plot and write ``out/report.html``; return its path and the sections.

    With ``truth`` (the generator's ``--truth`` file) a ground-truth section is added.
    """
    world = world or load_world_dict()
    sections = build_sections(store, database, world)
    sections.extend(zone_sections(store, database, world))
    if truth is not None:
        sections.append(truth_section(store, database, load_truth(truth)))
    path = render_page(sections, database=database, created=datetime.now(UTC), out=out)
    return path, sections
