"""ESP webhook payloads → ``IncomingEvent`` items (then the common ingestion path).

**SendGrid** Event Webhook: a JSON array of objects with ``event`` (processed,
delivered, open, click, bounce, dropped, unsubscribe, group_unsubscribe,
spamreport, …), ``email``, ``timestamp`` (Unix seconds), ``sg_event_id``,
``sg_message_id``, ``url``, ``useragent``, ``ip``, ``type``/``bounce_classification``
and custom arguments (kept in ``metadata``).

**Klaviyo**, every shape it documents:

- system webhooks: ``{"data": [{"topic": "event:klaviyo.opened_email", "external_id",
  "payload": <Get Event API document>}], "meta": …}``, where the payload is
  ``{"data": <event>, "included": [<profile>, <metric>]}`` or the event itself, and
  ``included`` may also sit beside ``payload`` in the item or at the top level;
- flow webhook objects (``{"metric": "Opened Email", "email", "timestamp",
  "properties"}``, the email also under ``profile``/``person``), alone or in a list.

Metric names: Sent Email, Received Email, Opened Email, Clicked Email, Bounced Email,
Dropped Email, Unsubscribed, Marked Email as Spam.

Every item is judged alone (the same contract as ``/api/events``): an item of the
wrong JSON type, with a timestamp that is no time, too large or nested too deep, or
outside the ``contract`` is a ``Rejection`` naming the field; the others go on.
Events of a kind SendFlowr does not model (deferred, Subscribed to List, …) are
skipped and counted, not rejected.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sendflowr.connector.decode import (
    Rejection,
    check_incoming,
    explain_validation,
    split_array,
)
from sendflowr.contract import too_deep
from sendflowr.errors import BadBody, SignatureInvalid, ValidationError
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


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A scalar as text (ids arrive as numbers too); anything else is absent."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _unix(value: Any) -> datetime | Any:
    """Unix seconds (or milliseconds) as a UTC time; other values pass unchanged."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    seconds = value / 1000 if value > 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationError("timestamp", "not a time in the years 1900-2299") from None


def _guarded(out: Mapped, index: int, map_item: Callable[..., None], *args: Any) -> None:
    """Run one item's mapping (``map_item(out, index, *args)``); whatever it raises
    becomes that item's rejection."""
    try:
        map_item(out, index, *args)
    except ValidationError as exc:
        out.rejected.append(Rejection(index, exc.field, exc.reason))
    except RecursionError:
        deep = too_deep()
        out.rejected.append(Rejection(index, deep.field, deep.reason))
    except (TypeError, ValueError, AttributeError, OverflowError, KeyError) as exc:
        # A field of an unexpected JSON type: the item, not the request, is wrong.
        out.rejected.append(Rejection(index, "$", f"unexpected shape ({type(exc).__name__})"))


def _convert(out: Mapped, index: int, fields: dict[str, Any]) -> None:
    clean = {k: v for k, v in fields.items() if v not in (None, "")}
    try:
        event = msgspec.convert(clean, IncomingEvent)
    except msgspec.ValidationError as exc:
        raise ValidationError(*explain_validation(exc)) from None
    check_incoming(event)
    out.events.append((index, event))


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadBody("$", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise too_deep() from None


def _sendgrid_items(body: bytes) -> list[Any]:
    """The array's items; one nested deeper than the decoder goes stays undecoded text."""
    if body.lstrip()[:1] != b"[":
        raise BadBody("$", "SendGrid posts a JSON array of events")
    try:
        items = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadBody("$", f"invalid JSON: {exc}") from None
    except RecursionError:
        return list(split_array(body))
    if not isinstance(items, list):
        raise BadBody("$", "SendGrid posts a JSON array of events")
    return items


def _sendgrid_item(out: Mapped, index: int, item: Any) -> None:
    if isinstance(item, bytes):
        item = _decode(item)  # raises too_deep() for what the array decoder refused
    if not isinstance(item, dict):
        raise ValidationError("$", "not an object")
    event_type = SENDGRID_EVENTS.get(str(item.get("event", "")))
    if event_type is None:
        out.skipped += 1
        return
    extra = {k: v for k, v in item.items() if k not in _SENDGRID_KNOWN}
    bounce = _text(item.get("bounce_classification")) or _text(item.get("type"))
    _convert(
        out,
        index,
        {
            "event_type": event_type,
            "timestamp": _unix(item.get("timestamp")),
            "event_id": _text(item.get("sg_event_id")),
            "esp": "sendgrid",
            "recipient_email": item.get("email"),
            "message_id": _text(item.get("sg_message_id")),
            "click_url": item.get("url"),
            "user_agent": item.get("useragent"),
            "ip_address": item.get("ip"),
            "bounce_type": bounce if event_type == "bounced" else None,
            "metadata": {"sendgrid_event": item.get("event"), **extra},
        },
    )


def map_sendgrid(body: bytes) -> Mapped:
    """Map a SendGrid Event Webhook body; ``BadBody`` if it is not a JSON array."""
    out = Mapped()
    for index, item in enumerate(_sendgrid_items(body)):
        _guarded(out, index, _sendgrid_item, item)
    return out


def _included(sources: list[Any], kind: str, wanted: str | None = None) -> dict[str, Any]:
    """Attributes of the first ``included`` resource of ``kind`` (with id ``wanted`` if
    given) among the ``included`` lists of ``sources``."""
    fallback: dict[str, Any] | None = None
    for source in sources:
        included = _obj(source).get("included")
        for resource in included if isinstance(included, list) else []:
            resource = _obj(resource)
            if resource.get("type") != kind:
                continue
            attributes = _obj(resource.get("attributes"))
            if wanted is None or _text(resource.get("id")) == wanted:
                return attributes
            if fallback is None:
                fallback = attributes
    return fallback or {}


def _location_zone(profile: dict[str, Any]) -> Any:
    """A Klaviyo profile's ``location.timezone`` (an IANA name), when it has one."""
    location = profile.get("location")
    return location.get("timezone") if isinstance(location, dict) else None


def _related_id(event: dict[str, Any], kind: str) -> str | None:
    related = _obj(_obj(event.get("relationships")).get(kind))
    return _text(_obj(related.get("data")).get("id"))


def _klaviyo_system(out: Mapped, index: int, item: dict[str, Any], document: Any) -> None:
    payload = _obj(item.get("payload"))
    event = _obj(payload.get("data")) if "data" in payload else payload
    attributes = _obj(event.get("attributes"))
    properties = dict(_obj(attributes.get("event_properties")))
    sources = [payload, item, document]
    topic = _text(item.get("topic")) or ""
    metric = _included(sources, "metric", _related_id(event, "metric")).get("name")
    if not isinstance(metric, str) or not metric:
        metric = topic.rsplit(".", 1)[-1].replace("_", " ")
    profile_id = _related_id(event, "profile")
    profile = _included(sources, "profile", profile_id)
    email = profile.get("email") or properties.pop("$email", None) or properties.get("email")
    _klaviyo_event(
        out,
        index,
        metric=metric,
        event_id=_text(item.get("external_id")) or _text(event.get("id")),
        when=attributes.get("datetime") or _unix(attributes.get("timestamp")),
        email=email,
        phone=profile.get("phone_number"),
        profile_id=profile_id,
        zone=_location_zone(profile),
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
            value = _text(properties.pop(prop))
            if value is not None:
                fields[name] = value
    fields["metadata"] = {"klaviyo_metric": metric, **properties}
    _convert(out, index, fields)


def _klaviyo_flow(out: Mapped, index: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise ValidationError("$", "not an object")
    person = _obj(item.get("profile")) or _obj(item.get("person"))
    props = item.get("properties") or item.get("event_properties") or {}
    _klaviyo_event(
        out,
        index,
        metric=_text(item.get("metric")) or _text(item.get("event")) or "",
        event_id=_text(item.get("event_id")) or _text(item.get("id")),
        when=item.get("datetime") or _unix(item.get("timestamp") or item.get("time")),
        email=item.get("email") or item.get("$email") or person.get("email"),
        phone=item.get("phone_number") or person.get("phone_number"),
        profile_id=_text(item.get("profile_id")) or _text(person.get("id")),
        zone=item.get("timezone") or _location_zone(person or item),
        properties=dict(props) if isinstance(props, dict) else {},
    )


def map_klaviyo(body: bytes, webhook_id: str | None = None) -> Mapped:
    """Map a Klaviyo webhook body (system webhook envelope or flow-webhook objects).

    Klaviyo repeats the ``Klaviyo-Webhook-Id`` header in ``meta.klaviyo_webhook_id``;
    when both are present and differ, the request is refused (``SignatureInvalid``).
    """
    document = _decode(body)
    out = Mapped()
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        meta = document.get("meta")
        claimed = _text(meta.get("klaviyo_webhook_id")) if isinstance(meta, dict) else None
        if webhook_id and claimed and not hmac.compare_digest(claimed, webhook_id):
            raise SignatureInvalid("Klaviyo-Webhook-Id does not match meta.klaviyo_webhook_id")
        for index, item in enumerate(document["data"]):
            if isinstance(item, dict):
                _guarded(out, index, _klaviyo_system, item, document)
            else:
                out.rejected.append(Rejection(index, "$", "not an object"))
        return out
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        _guarded(out, index, _klaviyo_flow, item)
    return out
