"""The timing benches' --world and --seeds options: bad input is a usage error saying why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from _timing_common import parse_seeds, world_option  # noqa: E402


def test_every_world_file_the_benches_ship_is_accepted() -> None:
    worlds = sorted((BENCH / "worlds").glob("*.json"))
    assert len(worlds) >= 7
    for path in worlds:
        assert world_option(str(path)) == path


def test_a_world_file_missing_a_section_names_it(tmp_path: Path) -> None:
    shipped = json.loads((BENCH / "worlds" / "shipped_plus_nights.json").read_text())
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"personas": shipped["personas"]}))
    with pytest.raises(argparse.ArgumentTypeError, match="missing required field `name`"):
        world_option(str(partial))


def test_no_such_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="No such file"):
        world_option(str(tmp_path / "absent.json"))


def test_a_bad_seed_list_is_a_usage_error_saying_what_is_wrong() -> None:
    assert parse_seeds("1-3,42") == [1, 2, 3, 42]
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not a seed"):
        parse_seeds("1,x")
    with pytest.raises(argparse.ArgumentTypeError, match="range '5-2' is empty"):
        parse_seeds("5-2")
