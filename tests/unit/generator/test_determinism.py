"""Same seed → byte-identical output; shards partition users exactly; streams per user."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from sendflowr.errors import ConfigError
from sendflowr.generator import generate_canonical, model_for, parse_shard
from sendflowr.generator.outputs.files import JsonlOutput
from sendflowr.generator.rows import event_ids
from sendflowr.generator.run import Plan, generate_blocks, run

START, END = date(2025, 10, 1), date(2025, 11, 1)


def _jsonl(
    tmp_path: Path, name: str, seed: int, shard: str | None = None, users: int = 24
) -> bytes:
    model = model_for(None)
    plan = Plan(model, seed, START, END, users=users, shard=parse_shard(shard))
    path = tmp_path / name
    run(plan, JsonlOutput(model, path))
    return path.read_bytes()


def test_same_seed_gives_byte_identical_jsonl(tmp_path: Path) -> None:
    one = _jsonl(tmp_path, "a.jsonl", 11)
    assert one == _jsonl(tmp_path, "b.jsonl", 11)
    assert one != _jsonl(tmp_path, "c.jsonl", 12)
    assert b"@" not in one  # never a raw address in a file


def test_shards_union_equals_the_unsharded_run(tmp_path: Path) -> None:
    whole = _jsonl(tmp_path, "w.jsonl", 5).splitlines()
    parts = _jsonl(tmp_path, "0.jsonl", 5, "0/2").splitlines()
    parts += _jsonl(tmp_path, "1.jsonl", 5, "1/2").splitlines()
    assert sorted(parts) == sorted(whole)
    assert len(set(parts)) == len(parts)


def test_a_users_events_do_not_depend_on_other_users() -> None:
    small = [
        e for e in generate_canonical(seed=3, users=6, end=END) if e.recipient_id.endswith("05")
    ]
    big = [
        e for e in generate_canonical(seed=3, users=12, end=END) if e.recipient_id.endswith("05")
    ]
    assert small and small == big


def test_event_ids_are_uuid7_of_the_event_time() -> None:
    events = generate_canonical(seed=9, count=500)
    assert len(events) == 500
    ids = {e.event_id for e in events}
    assert len(ids) == 500
    for e in events:
        hexed = e.event_id.replace("-", "")
        assert hexed[12] == "7" and hexed[16] in "89ab"
        assert int(hexed[:12], 16) == int(e.timestamp.timestamp() * 1000)


def test_event_id_text_matches_uuid_module() -> None:
    import uuid

    model = model_for(None)
    block = next(generate_blocks(Plan(model, 1, START, END, users=1)))[0]
    text = event_ids(block).tobytes().decode()
    for i in range(0, 36 * 20, 36):
        assert str(uuid.UUID(text[i : i + 36])) == text[i : i + 36]
        assert uuid.UUID(text[i : i + 36]).version == 7


def test_quick_mode_takes_users_in_order_and_cuts_at_count() -> None:
    model = model_for(None)
    plan = Plan(model, 1, START, END, count=1234)
    blocks = [b for b, _ in generate_blocks(plan)]
    users = np.concatenate([b.user for b in blocks])
    assert len(users) == 1234
    assert np.all(np.diff(users) >= 0) and users[0] == 0


@pytest.mark.parametrize("text", ["3/2", "x", "1/0", "-1/2", "1/2/3"])
def test_bad_shard_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shard(text)
    assert info.value.option == "--shard"
