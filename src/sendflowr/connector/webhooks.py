"""ESP webhook payloads → ``IncomingEvent`` items (then the common ingestion path).

**SendGrid** Event Webhook: a JSON array of objects with ``event`` (processed,
delivered, open, click, bounce, dropped, unsubscribe, group_unsubscribe,
spamreport, …), ``email``, ``timestamp`` (Unix seconds), ``sg_event_id``,
``sg_message_id``, ``url``, ``useragent``, ``ip``, ``type``/``bounce_classification``
and custom arguments (kept in ``metadata``).

**Klaviyo**: system webhooks (``{"data": [{"topic": "event:klaviyo.opened_email",
"external_id", "payload": <Get Event API document>}], "meta": …}``) and flow
webhook objects (``{"metric": "Opened Email", "email", "timestamp", "properties"}``,
alone or in a list). Metric names: Sent Email, Received Email, Opened Email,
Clicked Email, Bounced Email, Dropped Email, Unsubscribed, Marked Email as Spam.

Events of a kind SendFlowr does not model (deferred, Subscribed to List, …) are
skipped and counted, not rejected.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sendflowr.connector.decode import BadBody, Rejection, explain_validation
from sendflowr.connector.signatures import SignatureInvalid
from sendflowr.events import IncomingEvent
from sendflowr.timing.zones import is_zone

__all__ = ["KLAVIYO_METRICS", "SENDGRID_EVENTS", "Mapped", "map_klaviyo", "map_sendgrid"]

SENDGRID_EVENTS: Final = {
    "processed": "sent",
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "dropped": "bounced",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "spamreport": "marked_spam",
}
KLAVIYO_METRICS: Final = {
    "sent email": "sent",
    "received email": "delivered",
    "opened email": "opened",
    "clicked email": "clicked",
    "bounced email": "bounced",
    "dropped email": "bounced",
    "unsubscribed": "unsubscribed",
    "unsubscribed from email marketing": "unsubscribed",
    "marked email as spam": "marked_spam",
}
_SENDGRID_KNOWN: Final = frozenset(
    {"event", "email", "timestamp", "sg_event_id", "sg_message_id", "url", "useragent", "ip"}
    | {"type", "bounce_classification", "reason", "status", "smtp-id"}
)
_KLAVIYO_PROPS: Final = {
    "Subject": "subject",
    "Campaign Name": "campaign_name",
    "$message": "message_id",
    "URL": "click_url",
    "Bounce Type": "bounce_type",
    "Client Name": "user_agent",
}


@dataclass(slots=True)
class Mapped:
    """Events mapped from one webhook request."""

    events: list[tuple[int, IncomingEvent]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0


def _convert(out: Mapped, index: int, fields: dict[str, Any]) -> None:
    clean = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        out.events.append((index, msgspec.convert(clean, IncomingEvent)))
    except msgspec.ValidationError as exc:
        out.rejected.append(Rejection(index, *explain_validation(exc)))


def _unix(value: Any) -> datetime | Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    return value


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadBody("$", f"invalid JSON: {exc}") from None


def map_sendgrid(body: bytes) -> Mapped:
    """Map a SendGrid Event Webhook body; ``BadBody`` if it is not a JSON array."""
    items = _decode(body)
    if not isinstance(items, list):
        raise BadBody("$", "SendGrid posts a JSON array of events")
    out = Mapped()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            out.rejected.append(Rejection(index, "$", "not an object"))
            continue
        event_type = SENDGRID_EVENTS.get(str(item.get("event", "")))
        if event_type is None:
            out.skipped += 1
            continue
        extra = {k: v for k, v in item.items() if k not in _SENDGRID_KNOWN}
        _convert(
            out,
            index,
            {
                "event_type": event_type,
                "timestamp": _unix(item.get("timestamp")),
                "event_id": item.get("sg_event_id"),
                "esp": "sendgrid",
                "recipient_email": item.get("email"),
                "message_id": item.get("sg_message_id"),
                "click_url": item.get("url"),
                "user_agent": item.get("useragent"),
                "ip_address": item.get("ip"),
                "bounce_type": item.get("bounce_classification") or item.get("type")
                if event_type == "bounced"
                else None,
                "metadata": {"sendgrid_event": item.get("event"), **extra},
            },
        )
    return out


def _included(payload: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in payload.get("included") or []:
        if isinstance(item, dict) and item.get("type") == kind:
            attributes = item.get("attributes")
            return attributes if isinstance(attributes, dict) else {}
    return {}


def _location_zone(profile: dict[str, Any]) -> Any:
    """A Klaviyo profile's ``location.timezone`` (an IANA name), when it has one."""
    location = profile.get("location")
    return location.get("timezone") if isinstance(location, dict) else None


def _klaviyo_system(out: Mapped, index: int, item: dict[str, Any]) -> None:
    payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    event = payload.get("data", payload)
    attributes = event.get("attributes", {}) if isinstance(event, dict) else {}
    topic = str(item.get("topic", ""))
    metric = _included(payload, "metric").get("name") or topic.rsplit(".", 1)[-1].replace("_", " ")
    profile = _included(payload, "profile")
    properties = dict(attributes.get("event_properties") or {})
    _klaviyo_event(
        out,
        index,
        metric=str(metric),
        event_id=item.get("external_id") or (event.get("id") if isinstance(event, dict) else None),
        when=attributes.get("datetime") or _unix(attributes.get("timestamp")),
        email=profile.get("email"),
        phone=profile.get("phone_number"),
        zone=_location_zone(profile),
        profile_id=(event.get("relationships", {}).get("profile", {}).get("data") or {}).get("id")
        if isinstance(event, dict)
        else None,
        properties=properties,
    )


def _klaviyo_event(
    out: Mapped,
    index: int,
    *,
    metric: str,
    event_id: Any,
    when: Any,
    email: Any,
    phone: Any,
    profile_id: Any,
    properties: dict[str, Any],
    zone: Any = None,
) -> None:
    event_type = KLAVIYO_METRICS.get(metric.strip().lower())
    if event_type is None:
        out.skipped += 1
        return
    fields: dict[str, Any] = {
        "event_type": event_type,
        "timestamp": when,
        "event_id": event_id,
        "esp": "klaviyo",
        "recipient_email": email,
        "phone": phone,
        "klaviyo_id": profile_id,
    }
    if isinstance(zone, str) and is_zone(zone):  # the profile's location time zone
        fields["timezone"] = zone
    for prop, name in _KLAVIYO_PROPS.items():
        if prop in properties:
            fields[name] = str(properties.pop(prop))
    fields["metadata"] = {"klaviyo_metric": metric, **properties}
    _convert(out, index, fields)


def map_klaviyo(body: bytes, webhook_id: str | None = None) -> Mapped:
    """Map a Klaviyo webhook body (system webhook envelope or flow-webhook objects).

    Klaviyo repeats the ``Klaviyo-Webhook-Id`` header in ``meta.klaviyo_webhook_id``;
    when both are present and differ, the request is refused (``SignatureInvalid``).
    """
    document = _decode(body)
    out = Mapped()
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        meta = document.get("meta")
        claimed = meta.get("klaviyo_webhook_id") if isinstance(meta, dict) else None
        if webhook_id and claimed and not hmac.compare_digest(str(claimed), webhook_id):
            raise SignatureInvalid("Klaviyo-Webhook-Id does not match meta.klaviyo_webhook_id")
        for index, item in enumerate(document["data"]):
            if isinstance(item, dict):
                _klaviyo_system(out, index, item)
            else:
                out.rejected.append(Rejection(index, "$", "not an object"))
        return out
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            out.rejected.append(Rejection(index, "$", "not an object"))
            continue
        props = item.get("properties") or item.get("event_properties") or {}
        _klaviyo_event(
            out,
            index,
            metric=str(item.get("metric") or item.get("event") or ""),
            event_id=item.get("event_id") or item.get("id"),
            when=item.get("datetime") or _unix(item.get("timestamp")),
            email=item.get("email"),
            phone=item.get("phone_number"),
            zone=item.get("timezone") or _location_zone(item),
            profile_id=item.get("profile_id"),
            properties=dict(props) if isinstance(props, dict) else {},
        )
    return out
