"""Kafka records → events or dead letters with a reason."""

from __future__ import annotations

import msgspec
import orjson

from sendflowr.events import encode_event
from sendflowr.sink.records import decode_records
from tests.unit.sink.factory import FakeRecord, make_events


def _one(value: bytes | None) -> tuple[str, str] | None:
    decoded = decode_records([FakeRecord(value, 7, _partition=2, _key=b"k")])
    events, dead = decoded.events, decoded.dead
    if events:
        return None
    assert len(dead) == 1
    letter = dead[0]
    assert (letter.partition, letter.offset, letter.key, letter.value) == (2, 7, b"k", value)
    return letter.reason, letter.detail


def _event_json(**changes: object) -> bytes:
    data = orjson.loads(encode_event(make_events(1)[0]))
    data.update(changes)
    return orjson.dumps(data)


def test_valid_records_become_events_with_their_source_records() -> None:
    events = make_events(3)
    records = [FakeRecord(encode_event(e), i) for i, e in enumerate(events)]
    decoded = decode_records(records)
    as_dicts = msgspec.structs.asdict
    assert [as_dicts(e) for e in decoded.events] == [as_dicts(e) for e in events]
    assert decoded.sources == records and decoded.dead == []
    # The values themselves go to the store: one canonical event on one line each.
    assert decoded.lines == [r.value() for r in records]


def test_each_kind_of_poison_gets_its_reason() -> None:
    assert _one(None) == ("empty_value", "record has no value")
    assert _one(b'{"event_type": "opened"')[0] == "malformed_json"  # type: ignore[index]
    reason, detail = _one(b'{"subject": "\xff\xfe"}')  # type: ignore[misc]
    assert reason == "invalid_utf8" and "byte" in detail
    assert _one(b'{"event_type": "opened"}')[0] == "schema_invalid"  # type: ignore[index]


def test_semantic_checks_reject_what_the_table_cannot_hold() -> None:
    cases = {
        "unknown event type": _event_json(event_type="teleported"),
        "unknown channel": _event_json(channel="fax"),
        "universal_id: is empty": _event_json(universal_id=""),
        "event_id: is not a UUID": _event_json(event_id="not-a-uuid"),
        "4294967295": _event_json(payload_size_bytes=2**32),
        "1900-2299": _event_json(timestamp="2400-01-01T00:00:00Z"),
        # 2299 where it was written, 2300 in UTC, where DateTime64 counts.
        "(UTC)": _event_json(timestamp="2299-12-31T23:00:00-05:00"),
        "must fall in": _event_json(timestamp="0001-01-01T00:00:00+05:00"),
    }
    for expected, value in cases.items():
        result = _one(value)
        assert result is not None and result[0] == "schema_invalid", expected
        assert expected in result[1]


def test_event_ids_are_stored_in_one_canonical_spelling() -> None:
    event_id = make_events(1)[0].event_id
    decoded = decode_records([FakeRecord(_event_json(event_id=event_id.upper()), 0)])
    assert decoded.dead == [] and decoded.events[0].event_id == event_id
    # A value the store would read differently travels re-encoded.
    assert decoded.lines == [encode_event(decoded.events[0])]


def test_a_value_holding_two_events_cannot_spill_into_the_batch() -> None:
    first, second, third = (encode_event(e) for e in make_events(3))
    records = [FakeRecord(first, 0), FakeRecord(second + b"," + third, 1), FakeRecord(third, 2)]
    decoded = decode_records(records)
    assert [s.offset() for s in decoded.sources] == [0, 2]
    assert [(d.offset, d.reason) for d in decoded.dead] == [(1, "malformed_json")]
    assert [encode_event(e) for e in decoded.events] == [first, third]
    assert decoded.lines == [first, third]


def test_one_poison_record_leaves_its_neighbours_intact() -> None:
    valid = [encode_event(e) for e in make_events(3, seed=9)]
    poison = [
        None,
        b'{"event_type": "opened"',
        b'{"subject": "\xff\xfe"}',
        b'{"event_type": "opened"}',
        _event_json(event_type="teleported"),
        _event_json(channel="fax"),
        _event_json(universal_id=""),
        _event_json(event_id="not-a-uuid"),
        _event_json(payload_size_bytes=2**32),
        _event_json(queue_depth_estimate=2**32),
        _event_json(timestamp="2400-01-01T00:00:00Z"),
        _event_json(send_time="1899-12-31T23:59:59Z"),
    ]
    for bad in poison:
        records = [FakeRecord(v, i) for i, v in enumerate([valid[0], bad, *valid[1:]])]
        decoded = decode_records(records)
        assert [d.offset for d in decoded.dead] == [1], bad
        assert [msgspec.json.decode(line) for line in decoded.lines] == [
            msgspec.json.decode(v) for v in valid
        ], bad


def test_a_time_before_year_one_in_utc_is_a_dead_letter_in_any_batch() -> None:
    valid = [encode_event(e) for e in make_events(2, seed=4)]
    bad = _event_json(timestamp="0001-01-01T00:00:00+05:00")
    decoded = decode_records([FakeRecord(v, i) for i, v in enumerate([valid[0], bad, valid[1]])])
    assert [(d.offset, d.reason) for d in decoded.dead] == [(1, "schema_invalid")]
    assert len(decoded.events) == 2


def test_json_nested_too_deep_for_the_decoder_is_a_dead_letter_not_an_exception() -> None:
    deep = b'{"a":' * 3000 + b"1" + b"}" * 3000
    value = encode_event(make_events(1)[0])[:-1] + b',"deep":' + deep + b"}"
    got = _one(value)
    assert got is not None
    reason, detail = got
    assert reason == "schema_invalid" and "deeper than" in detail
    good = [FakeRecord(encode_event(e), i) for i, e in enumerate(make_events(5))]
    decoded = decode_records([*good[:2], FakeRecord(value, 9), *good[2:]])
    assert len(decoded.events) == 5 and len(decoded.lines) == 5
    assert [d.offset for d in decoded.dead] == [9]


def test_metadata_depth_follows_the_contract_on_every_path() -> None:
    """Metadata deeper than the fast decoder's type takes the record-by-record path and
    is stored up to the contract's depth; one level more, or beyond what any decoder
    reads, is a dead letter naming the reason, and the neighbours are stored."""
    valid = [encode_event(e) for e in make_events(3, seed=4)]

    def with_metadata(depth: int) -> bytes:
        event = make_events(1, seed=depth)[0]
        text = encode_event(msgspec.structs.replace(event, metadata={}))
        nested = b'{"a":' * (depth - 1) + b'{"leaf":1}' + b"}" * (depth - 1)
        return text[:-1] + b',"metadata":' + nested + b"}"

    for depth, dead in ((4, False), (32, False), (33, True), (3000, True)):
        records = [
            FakeRecord(v, i) for i, v in enumerate([valid[0], with_metadata(depth), *valid[1:]])
        ]
        decoded = decode_records(records)
        if dead:
            assert [(d.offset, d.reason) for d in decoded.dead] == [(1, "schema_invalid")]
            assert "deeper than 32" in decoded.dead[0].detail
            assert len(decoded.events) == 3
        else:
            assert decoded.dead == [] and len(decoded.events) == 4, depth
