"""The validation contract shared by the connector and the sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from sendflowr.contract import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    UINT32_MAX,
    canonical_problem,
    check_event,
    in_range,
    metadata_problem,
)
from sendflowr.errors import ValidationError
from sendflowr.events import CanonicalEvent, IncomingEvent

T0 = datetime(2025, 10, 1, 10, tzinfo=UTC)
GOOD_ID = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def nested(depth: int) -> dict[str, Any]:
    """A metadata object ``depth`` containers deep (itself counting as 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def canonical(**fields: Any) -> CanonicalEvent:
    base: dict[str, Any] = {
        "event_type": "opened",
        "timestamp": T0,
        "event_id": GOOD_ID,
        "universal_id": "sf_0123456789abcdef",
    }
    return msgspec.convert({**base, **fields}, CanonicalEvent)


def test_years_1900_to_2299_in_utc_whatever_the_offset() -> None:
    assert in_range(datetime(1900, 1, 1, tzinfo=UTC))
    assert in_range(datetime(2299, 12, 31, 23, 59, tzinfo=UTC))
    assert not in_range(datetime(1899, 12, 31, 23, 59, tzinfo=UTC))
    assert not in_range(datetime(2300, 1, 1, tzinfo=UTC))
    # 2299 where written, 2300 in UTC; year 1 where written, year 0 in UTC.
    assert not in_range(datetime(2299, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))))
    assert not in_range(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))


def test_metadata_depth_is_bounded_without_recursion() -> None:
    assert metadata_problem(nested(MAX_METADATA_DEPTH)) is None
    assert "deeper than 32" in (metadata_problem(nested(MAX_METADATA_DEPTH + 1)) or "")
    # Far beyond the interpreter's recursion limit: still an answer, not a RecursionError.
    assert "deeper" in (metadata_problem(nested(50_000)) or "")
    assert "deeper" in (
        metadata_problem({"l": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
        or ""
    )


def test_metadata_size_is_bounded() -> None:
    assert metadata_problem({"x": "y" * (MAX_METADATA_BYTES - 20)}) is None
    assert "larger than" in (metadata_problem({"x": "y" * MAX_METADATA_BYTES}) or "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_type": "teleported"}, "event_type"),
        ({"channel": "fax"}, "channel"),
        ({"timestamp": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}, "timestamp"),
        ({"send_time": datetime(2400, 1, 1, tzinfo=UTC)}, "send_time"),
        ({"metadata": nested(40)}, "metadata"),
    ],
)
def test_incoming_events_name_the_field_that_breaks_the_contract(
    fields: dict[str, Any], field: str
) -> None:
    event = msgspec.convert(
        {"event_type": "opened", "timestamp": T0, "recipient_email": "a@b.co", **fields},
        IncomingEvent,
    )
    with pytest.raises(ValidationError) as info:
        check_event(event)
    assert info.value.field == field


def test_counts_beyond_uint32_are_refused_at_decode_time() -> None:
    body = {"event_type": "opened", "timestamp": "2025-10-01T10:00:00Z"}
    msgspec.convert({**body, "payload_size_bytes": UINT32_MAX}, IncomingEvent)
    for name, value in (("payload_size_bytes", UINT32_MAX + 1), ("queue_depth_estimate", -1)):
        with pytest.raises(msgspec.ValidationError, match=name):
            msgspec.json.decode(msgspec.json.encode({**body, name: value}), type=IncomingEvent)


def test_canonical_events_need_a_uuid_and_a_universal_id() -> None:
    assert canonical_problem(canonical()) is None
    assert canonical_problem(canonical(event_id="rbtnWrG1DVDGGGFHFyun0A==")) == (
        "event_id: is not a UUID"
    )
    assert canonical_problem(canonical(universal_id="")) == "universal_id: is empty"
    problem = canonical_problem(canonical(ingested_at=datetime(1800, 1, 1, tzinfo=UTC)))
    assert problem is not None and problem.startswith("ingested_at:")
