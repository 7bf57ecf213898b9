"""Hypothesis strategies for *valid-looking* events: what a careless client or a hostile one
sends, close enough to real traffic that it reaches the deep paths (identity, scrubbing,
bounds, ids, the sink) instead of bouncing off the first schema check."""

from __future__ import annotations

import base64
import json
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

__all__ = ["PLANTED_DOMAIN", "Deep", "batches", "encode_body", "event", "id_text"]

#: Every address these strategies make uses this domain (or an internationalised or local
#: variant of it), so a scan can tell a leaked planted address from anything else.
PLANTED_DOMAIN = "fuzz-planted.example"

EVENT_TYPES = [
    "sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "marked_spam",
    "site_visit", "sms_click", "product_view", "support_ticket", "complaint",
    "unsubscribe_request",
]  # fmt: skip

_LOCAL = st.text(
    alphabet=st.sampled_from(list(string.ascii_letters + string.digits + "._+-") + list("éñøü漢ß")),
    min_size=1,
    max_size=12,
)
_DOMAINS = st.sampled_from(
    [PLANTED_DOMAIN, f"ex\u00e4mple.{PLANTED_DOMAIN}", f"sub.{PLANTED_DOMAIN}", "localhost"]
)


@st.composite
def email(draw: st.DrawFn) -> str:
    """An address in one of the planted domains, in mixed case and with stray spaces."""
    local = draw(_LOCAL).strip(".") or "x"
    domain = draw(_DOMAINS)
    if domain == "localhost":
        local = f"fuzzlocal{local}"
    address = f"{local}@{domain}"
    if draw(st.booleans()):
        address = address.upper()
    return draw(st.sampled_from(["", " ", "\t"])) + address + draw(st.sampled_from(["", " "]))


def _offset() -> st.SearchStrategy[timezone]:
    minutes = st.sampled_from([0, 0, 0, 60, -300, 330, 345, -720, 840, 570, -210])
    return minutes.map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def timestamp(draw: st.DrawFn) -> Any:
    """Mostly plausible instants, sometimes far outside any sane range or badly typed."""
    kind = draw(st.integers(0, 9))
    if kind <= 6:
        base = datetime(2025, 10, 1, tzinfo=UTC)
        moment = base + timedelta(seconds=draw(st.integers(-(10**8), 10**8)))
        return moment.astimezone(draw(_offset())).isoformat()
    if kind == 7:
        year = draw(st.sampled_from([1, 1, 1000, 1899, 1900, 2299, 2300, 9999]))
        return datetime(year, 1, 1, tzinfo=draw(_offset())).isoformat()
    if kind == 8:
        return draw(st.sampled_from(["2025-10-01T09:02:00", "not a time", "", "2025-13-40T99:99Z"]))
    return draw(st.one_of(st.integers(-(10**20), 10**20), st.floats(), st.none()))


@st.composite
def id_text(draw: st.DrawFn) -> Any:
    """Event ids as providers make them: UUIDs, base64 (SendGrid), ULIDs, short ids, junk."""
    kind = draw(st.integers(0, 7))
    if kind <= 2:
        return str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
    if kind == 3:
        raw = draw(st.binary(min_size=16, max_size=16))
        return base64.b64encode(raw).decode()
    if kind == 4:
        return "".join(draw(st.lists(st.sampled_from("0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
                                     min_size=26, max_size=26)))  # fmt: skip
    if kind == 5:
        return draw(st.text(min_size=1, max_size=40))
    if kind == 6:
        return draw(email())
    return draw(st.one_of(st.integers(), st.none(), st.just("")))


def _metadata() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        email(),
        st.sampled_from(["email", "sms", "push", "morning_person"]),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=10), children, max_size=3),
        ),
        max_leaves=25,
    )


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` levels deep, spelled out only when the body is encoded
    (Hypothesis would have to print it, and ``json`` cannot encode it)."""

    depth: int
    leaf: str
    lists: bool

    def json(self) -> str:
        opening, closing = ("[", "]") if self.lists else ('{"a":', "}")
        return opening * self.depth + json.dumps(self.leaf) + closing * self.depth


def deep() -> st.SearchStrategy[Deep]:
    """A stack-exhaustion probe: nesting far beyond any real payload."""
    return st.builds(
        Deep,
        st.sampled_from([40, 500, 3000]),
        st.sampled_from(["x", "deep@" + PLANTED_DOMAIN]),
        st.booleans(),
    )


def encode_body(value: Any) -> str:
    """JSON text of ``value`` with every ``Deep`` spelled out (big ints kept exact)."""
    spelled: dict[str, str] = {}

    def default(obj: Any) -> Any:
        if isinstance(obj, Deep):
            token = f"__deep_{len(spelled)}__"
            spelled[f'"{token}"'] = obj.json()
            return token
        return str(obj)

    text = json.dumps(value, default=default)
    for token, nested in spelled.items():
        text = text.replace(token, nested)
    return text


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.nothing(), strategy)


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    """One incoming event: identity and type mostly right, everything else anywhere."""
    out: dict[str, Any] = {"event_type": draw(st.one_of(st.sampled_from(EVENT_TYPES), st.text()))}
    out["timestamp"] = draw(timestamp())
    if draw(st.integers(0, 9)) > 0:
        out["recipient_email"] = draw(email())
    optional: dict[str, st.SearchStrategy[Any]] = {
        "event_id": id_text(),
        "message_id": id_text(),
        "campaign_id": st.one_of(
            st.sampled_from(["newsletter", "promotion"]), st.text(max_size=20), email()
        ),
        "campaign_name": st.one_of(st.text(max_size=40), email()),
        "subject": st.one_of(st.text(max_size=60), email().map(lambda e: f"Hi {e}, news")),
        "esp": st.one_of(
            st.sampled_from(["klaviyo", "sendgrid", "twilio"]), st.text(max_size=12), email()
        ),
        "channel": st.one_of(st.sampled_from(["email", "sms", "push"]), st.text(max_size=6)),
        "campaign_type": st.one_of(st.sampled_from(["promotional", "transactional"]), email()),
        "bounce_type": st.one_of(st.sampled_from(["hard", "soft"]), email()),
        "ip_address": st.one_of(st.sampled_from(["17.0.0.1", "203.0.113.9", "::1"]), email()),
        "user_agent": st.text(max_size=40),
        "click_url": st.one_of(st.just("https://shop.example/p?x=1"), email()),
        "payload_size_bytes": st.integers(-1, 2**65),
        "queue_depth_estimate": st.integers(-1, 2**65),
        "latency_seconds": st.one_of(st.floats(), st.integers(-5, 10**6)),
        "recipient_id": st.one_of(st.text(min_size=1, max_size=20), email()),
        "phone": st.sampled_from(["+14155550100", "4155550100", "+0", "phone"]),
        "metadata": st.one_of(
            st.dictionaries(st.text(max_size=10), _metadata(), max_size=4), deep()
        ),
    }  # fmt: skip
    for key, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            out[key] = draw(strategy)
    return out


def batches(max_size: int = 12) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A request's worth of events."""
    return st.lists(event(), min_size=1, max_size=max_size)
