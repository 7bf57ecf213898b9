"""`report --world FILE` judges the stored data against FILE's numbers, not the shipped ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sendflowr.generator import generate_canonical
from sendflowr.report import load_world_dict
from sendflowr.report.checks import Expectation, build_sections
from sendflowr.store import ClickHouseStore
from tests.store_support import events_to_columns

_SHIPPED = Path(__file__).resolve().parents[2] / "src/sendflowr/resources/world.json"


def _judged(store: ClickHouseStore, world: dict[str, Any]) -> dict[str, Expectation]:
    sections = build_sections(store, store.database, world)
    return {e.name: e for s in sections for e in s.expectations}


def test_a_custom_world_is_judged_by_its_own_caps_and_windows(
    store: ClickHouseStore, tmp_path: Path
) -> None:
    events = generate_canonical(seed=11)
    store.insert_columns("email_events", events_to_columns(events, datetime.now(UTC)))
    custom = json.loads(_SHIPPED.read_text())
    custom["latency"]["caps"]["email"] = 5
    custom["circuit_breakers"]["hours"]["support_ticket"] = 2000
    path = tmp_path / "world.json"
    path.write_text(json.dumps(custom))

    shipped = _judged(store, load_world_dict())
    mine = _judged(store, load_world_dict(path))

    cap = "email latency never above its cap"
    assert (shipped[cap].target, shipped[cap].status) == ("≤ 900 s", "pass")
    assert (mine[cap].target, mine[cap].status) == ("≤ 5 s", "fail")
    assert shipped["no sends inside support_ticket suppression (48 h)"].status == "pass"
    window = mine["no sends inside support_ticket suppression (2000 h)"]
    assert window.status == "fail", window
