"""The world file: the shipped one is valid and documented; broken ones fail in one line."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sendflowr.errors import ConfigError
from sendflowr.generator import default_world, load_world
from sendflowr.generator.model import compile_world


def _shipped() -> dict[str, Any]:
    text = resources.files("sendflowr.resources").joinpath("world.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def test_shipped_world_matches_the_spec_table() -> None:
    world = default_world()
    assert sum(p.count for p in world.personas) == world.history.users == 350
    assert len(world.personas) == 9 and len(world.campaigns) == 8 and len(world.providers) == 7
    morning = world.personas[0]
    assert (morning.name, morning.peak_hours, morning.click_rate, morning.open_rate) == (
        "morning_person",
        [7, 8, 9],
        0.15,
        0.35,
    )
    assert world.latency.caps == {"email": 900, "sms": 120, "push": 30}
    assert world.circuit_breakers.hours["unsubscribe_request"] == 168
    assert (world.history.end - world.history.start).days == 101


def test_every_section_has_a_source() -> None:
    data = _shipped()
    sections = set(data) - {"name", "description", "sources"}
    documented = {key.split(".")[0] for key in data["sources"]}
    assert sections <= documented, sections - documented


def test_layout_keeps_exact_persona_counts() -> None:
    model = compile_world(default_world())
    counts = {name: int((model.layout == i).sum()) for i, name in enumerate(model.persona_names)}
    assert counts == {p.name: p.count for p in default_world().personas}
    assert len(set(model.layout[:9].tolist())) == 9  # a prefix mixes personas


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["personas"][0].update(peak_hours=[25]), "personas[0].peak_hours"),
        (lambda d: d["personas"][0].update(open_rate=1.5), "open_rate"),
        (lambda d: d["providers"][0].update(channel="fax"), "channel"),
        (lambda d: d["personas"].append(dict(d["personas"][0])), "unique"),
        (lambda d: d["history"].update(end="2025-01-01"), "history.end"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["providers"].__delitem__(slice(5, 7)), "push"),
        (lambda d: d["latency"].update(jitter=[1.2, 0.9]), "latency.jitter"),
    ],
)
def test_invalid_world_is_one_line_config_error(tmp_path: Path, edit: Any, needle: str) -> None:
    data = _shipped()
    edit(data)
    with pytest.raises(ConfigError) as info:
        load_world(_write(tmp_path, data))
    assert info.value.option == "--world"
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_world(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_world(tmp_path / "missing.json")


def test_a_replaced_world_changes_the_simulation(tmp_path: Path) -> None:
    from sendflowr.generator import generate_canonical
    from sendflowr.generator import load_world as lw

    data = _shipped()
    data["personas"] = [dict(data["personas"][0], count=3)]
    data["history"]["users"] = 3
    world = lw(_write(tmp_path, data))
    events = generate_canonical(world, seed=1, end=world.history.start.replace(month=11))
    assert {e.metadata["persona"] for e in events} == {"morning_person"}
    assert {e.recipient_id for e in events} == {f"synth_user_{i:05d}" for i in range(3)}
