"""The fidelity report: does the stored data show every behaviour of the model?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.generator.world import load_world
from sendflowr.report.checks import Expectation, Section, build_sections
from sendflowr.report.local import zone_sections
from sendflowr.report.page import render_page
from sendflowr.report.truth_checks import load_truth, truth_section
from sendflowr.store.access import Queryable

__all__ = ["Expectation", "Section", "load_world_dict", "write_report"]


def load_world_dict(path: Path | None = None) -> dict[str, Any]:
    """The generator's world file (the shipped one unless ``path``), validated, as plain data.

    The report judges the data against these numbers (latency caps, suppression
    windows, personas, history), so a custom world is judged by its own.
    """
    world: dict[str, Any] = msgspec.to_builtins(load_world(path))
    return world


def write_report(
    store: Queryable,
    database: str,
    out: Path,
    *,
    world: dict[str, Any] | None = None,
    truth: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[Path, list[Section]]:
    """Measure, plot and write ``out/report.html``; return its path and the sections.

    With ``truth`` (the generator's ``--truth`` file) a ground-truth section is added.
    """
    world = world or load_world_dict()
    sections = build_sections(store, database, world)
    sections.extend(zone_sections(store, database, world))
    if truth is not None:
        sections.append(truth_section(store, database, load_truth(truth)))
    path = render_page(sections, database=database, created=clock.now(), out=out)
    return path, sections
