"""The Unicode-aware address rule: scrubbing free text, refusing ids and enums."""

from __future__ import annotations

import unicodedata

import msgspec
import pytest

from sendflowr.connector.privacy import (
    REDACTED,
    contains_address,
    json_may_hold_address,
    refuse_addresses,
    scrub,
    scrub_metadata,
)
from sendflowr.errors import ValidationError
from sendflowr.events import IncomingEvent

LEAKS = [
    "josé@example.com",
    unicodedata.normalize("NFD", "josé@example.com"),  # e + combining acute accent
    "leak@exämple.com",
    "ñame@correo.es",
    "leak@localhost",
    "root@[127.0.0.1]",
    "Ann.Lee+tag@Example.COM",
    "ann.lee%40example.com",
    "full\uff20width.example",
    "用户@例子.广告",
]


@pytest.mark.parametrize("address", LEAKS)
def test_every_kind_of_address_is_redacted_whole(address: str) -> None:
    text = f"Hello {address}, welcome!"
    assert contains_address(text)
    assert scrub(text) == f"Hello {REDACTED}, welcome!"


def test_text_around_an_address_survives() -> None:
    url = "https://shop.example.com/p?who=ann%40example.com&utm=spring"
    assert scrub(url) == f"https://shop.example.com/p?who={REDACTED}&utm=spring"
    assert scrub("mailto:ann@example.com>") == f"mailto:{REDACTED}>"
    assert scrub("reach ann@example.com.") == f"reach {REDACTED}."


@pytest.mark.parametrize("text", ["no address here", "@handle says hi", "msg_00001_00002", ""])
def test_text_without_an_address_is_untouched(text: str) -> None:
    assert not contains_address(text)
    assert scrub(text) == text


def test_metadata_is_scrubbed_in_keys_and_values_iteratively() -> None:
    value = {"note": "cc bob@exämple.org", "leak@localhost": [1, {"x": "ñame@b.io"}], "n": 2}
    assert scrub_metadata(value) == {
        "note": f"cc {REDACTED}",
        REDACTED: [1, {"x": REDACTED}],
        "n": 2,
    }
    deep: object = "x@y.z"
    for _ in range(5_000):  # deeper than the interpreter's recursion limit
        deep = [deep]
    out = scrub_metadata({"d": deep})["d"]
    for _ in range(5_000):
        out = out[0]
    assert out == REDACTED


def test_json_precheck_sees_every_at_sign_spelling() -> None:
    for text in ("a@b", "a%40b", "a\uff20b", "a\\u0040b"):
        assert json_may_hold_address(text.encode())
    assert not json_may_hold_address(b'{"plain": "text"}')


def test_ids_and_enums_holding_an_address_are_refused_naming_the_field() -> None:
    base = {"event_type": "opened", "timestamp": "2025-10-01T10:00:00Z", "campaign_id": "spring"}
    refuse_addresses(msgspec.convert(base, IncomingEvent))
    for field in ("campaign_id", "esp", "bounce_type", "ip_address", "event_id"):
        with pytest.raises(ValidationError) as info:
            refuse_addresses(msgspec.convert({**base, field: "leak@exämple.com"}, IncomingEvent))
        assert info.value.field == field
        assert "exämple" not in info.value.reason
