"""The engine's model numbers come from the world file, validated."""

from __future__ import annotations

import json
from importlib import resources

import msgspec
import pytest

from sendflowr.errors import ConfigError
from sendflowr.generator.world import default_world, parse_world
from sendflowr.timing.context import FATIGUE_FACTORS, HOT_PATH_HORIZON_MINUTES
from sendflowr.timing.params import DEFAULT_PARAMS, ModelParams

_RAW = json.loads(resources.files("sendflowr.resources").joinpath("world.json").read_text())


def test_the_shipped_parameters_are_the_world_files() -> None:
    assert dict(DEFAULT_PARAMS.latency_caps) == {
        k: float(v) for k, v in _RAW["latency"]["caps"].items()
    }
    assert dict(DEFAULT_PARAMS.suppression_hours) == _RAW["circuit_breakers"]["hours"]
    assert HOT_PATH_HORIZON_MINUTES == _RAW["hot_paths"]["window_minutes"]
    assert list(FATIGUE_FACTORS) == _RAW["fatigue"]["multipliers"]


def test_a_custom_world_gives_its_own_numbers() -> None:
    raw = json.loads(json.dumps(_RAW))
    raw["latency"]["caps"]["sms"] = 45
    raw["circuit_breakers"]["hours"]["complaint"] = 12
    params = ModelParams.from_world(parse_world(json.dumps(raw).encode()))
    assert params.cap("sms") == 45.0
    assert params.suppression_hours["complaint"] == 12.0
    assert params.cap("fax") == max(params.latency_caps.values())


def test_out_of_range_parameters_are_refused() -> None:
    world = msgspec.structs.replace(
        default_world(),
        fatigue=msgspec.structs.replace(default_world().fatigue, multipliers=[]),
    )
    with pytest.raises(ConfigError, match="fatigue.multipliers"):
        ModelParams.from_world(world)
