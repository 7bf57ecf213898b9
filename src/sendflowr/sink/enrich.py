"""Flagging likely machine traffic before events are stored.

A suspected bot gets ``suspected_bot: true`` and ``bot_reasons`` (a list of
the codes below) in its metadata. (The latency-training columns an event
leaves empty are filled by the load statement itself: ``sink.loadsql``.)

Bot reasons:
- ``open_within_2s``: an open less than 2 s after the message's delivery (the
  delivery time comes from a delivered event seen earlier for the same
  ``message_id``, or from ``send_time + latency_seconds`` on the open itself);
- ``apple_privacy_proxy``: Apple Mail Privacy Protection's fetcher user agent;
- ``scanner_ip``: an address in a known proxy/scanner range (Apple 17.0.0.0/8,
  Google 66.102.0.0/16 and 66.249.0.0/16);
- ``bot_user_agent``: a user agent naming a bot, crawler, spider or scanner.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final

from sendflowr.events import CanonicalEvent

__all__ = ["BOT_REASONS", "SCANNER_NETWORKS", "Enricher", "bot_reasons_for_client"]

BOT_REASONS: Final = ("open_within_2s", "apple_privacy_proxy", "scanner_ip", "bot_user_agent")
SCANNER_NETWORKS: Final = tuple(
    ipaddress.ip_network(n) for n in ("17.0.0.0/8", "66.102.0.0/16", "66.249.0.0/16")
)
OPEN_BOT_WINDOW: Final = timedelta(seconds=2)

_BOT_UA = re.compile(
    r"bot\b|bot/|crawl|spider|scanner|slurp|headless|python-requests|curl/|wget/|"
    r"barracuda|mimecast|proofpoint|safelinks",
    re.IGNORECASE,
)
# Apple MPP fetches with a bare WebKit UA: no Safari, Version or Mobile token.
_APPLE_MPP = re.compile(r"^Mozilla/5\.0 \([^)]*\) AppleWebKit/[\d.]+ \(KHTML, like Gecko\)$")
_OPEN_TYPES: Final = frozenset({"opened"})


@lru_cache(maxsize=4096)
def _ua_reasons(user_agent: str) -> tuple[str, ...]:
    reasons = []
    if _APPLE_MPP.match(user_agent.strip()):
        reasons.append("apple_privacy_proxy")
    if _BOT_UA.search(user_agent):
        reasons.append("bot_user_agent")
    return tuple(reasons)


_SCANNER_PREFIXES: Final = ("17.", "66.102.", "66.249.")


@lru_cache(maxsize=16384)
def _ip_is_scanner(ip: str) -> bool:
    if not ip.startswith(_SCANNER_PREFIXES) and ":" not in ip:
        return False  # fast path: an IPv4 text outside every scanner range (all are IPv4)
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(address in net for net in SCANNER_NETWORKS if net.version == address.version)


def bot_reasons_for_client(user_agent: str, ip_address: str) -> list[str]:
    """Bot reasons that follow from the client alone (user agent and IP address)."""
    reasons = list(_ua_reasons(user_agent)) if user_agent else []
    if ip_address and _ip_is_scanner(ip_address):
        reasons.append("scanner_ip")
    return reasons


class Enricher:
    """Flags suspected bots in place; remembers recent deliveries.

    ``deliveries`` bounds the message_id → delivery time memory used for the
    open-within-2-s rule.
    """

    def __init__(self, deliveries: int = 200_000) -> None:
        self._capacity = deliveries
        self._delivered: OrderedDict[str, datetime] = OrderedDict()

    def _delivery_time(self, event: CanonicalEvent) -> datetime | None:
        if event.message_id:
            seen = self._delivered.get(event.message_id)
            if seen is not None:
                return seen
        if event.send_time is not None and event.latency_seconds is not None:
            return event.send_time + timedelta(seconds=event.latency_seconds)
        return None

    def _remember_delivery(self, event: CanonicalEvent) -> None:
        if not event.message_id:
            return
        self._delivered[event.message_id] = event.timestamp
        if len(self._delivered) > self._capacity:
            self._delivered.popitem(last=False)

    def enrich(self, events: Iterable[CanonicalEvent]) -> list[int]:
        """Flag ``events`` in place (in stream order); return the positions of those flagged."""
        flagged: list[int] = []
        ua_reasons = _ua_reasons
        prefixes = _SCANNER_PREFIXES
        for i, event in enumerate(events):
            # The hot path of the sink: cheap tests first, helpers only when needed.
            kind = event.event_type
            if kind == "delivered":
                self._remember_delivery(event)
                continue
            reasons: list[str] = []
            ua, ip = event.user_agent, event.ip_address
            if ua:
                reasons.extend(ua_reasons(ua))
            if ip and (ip.startswith(prefixes) or ":" in ip) and _ip_is_scanner(ip):
                reasons.append("scanner_ip")
            if kind in _OPEN_TYPES:
                delivered = self._delivery_time(event)
                if delivered is not None and event.timestamp - delivered < OPEN_BOT_WINDOW:
                    reasons.insert(0, "open_within_2s")
            if reasons:
                event.metadata = {**event.metadata, "suspected_bot": True, "bot_reasons": reasons}
                flagged.append(i)
        return flagged
