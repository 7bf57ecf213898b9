"""The one ingestion path every endpoint uses: keys → identity → canonical → Kafka.

``Ingestor.ingest`` takes decoded events (and the rejections decoding produced),
resolves all identities of the request in one store transaction (or none, when
the process cache knows them), builds the canonical events and awaits Kafka's
acknowledgement of all of them. It raises ``KafkaUnavailable`` when Kafka did
not confirm; then nothing is reported accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.connector.canonical import canonicalise, identity_keys
from sendflowr.connector.decode import Rejection
from sendflowr.connector.metrics import ConnectorMetrics
from sendflowr.connector.publisher import Publisher
from sendflowr.contract import check_canonical
from sendflowr.errors import KafkaUnavailable, ValidationError
from sendflowr.events import CanonicalEvent, IncomingEvent, encode_event
from sendflowr.identity import IdentityResolver, Resolution
from sendflowr.identity.store import KeySet

__all__ = ["IngestResult", "Ingestor"]

_KEYS_CACHE_SIZE = 200_000


@dataclass(slots=True)
class IngestResult:
    """What one request produced: the published events and the rejected items."""

    published: list[CanonicalEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Number of events Kafka acknowledged."""
        return len(self.published)

    def body(self) -> dict[str, object]:
        """The JSON answer: ``{"accepted": N, "rejected": [{index, field, reason}]}``."""
        return {
            "accepted": self.accepted,
            "rejected": [
                {"index": r.index, "field": r.field, "reason": r.reason} for r in self.rejected
            ],
        }


class Ingestor:
    """Validated events → acknowledged Kafka records."""

    def __init__(
        self,
        resolver: IdentityResolver,
        publisher: Publisher,
        metrics: ConnectorMetrics,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.resolver = resolver
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        # Raw identity fields → (normalised keys, email hash): senders repeat the same
        # people, so hashing and normalising once per person and process is enough.
        # In memory only; never written anywhere.
        self._keys_cache: dict[tuple[str, ...], tuple[KeySet, str]] = {}

    async def _resolve(self, key_sets: Sequence[KeySet]) -> list[Resolution]:
        cached = self.resolver.cached(key_sets)
        if cached is not None:
            self.metrics.identity_cache_hits.inc(len(key_sets))
            return cached
        return await asyncio.to_thread(self.resolver.resolve_many, key_sets)

    async def ingest(
        self,
        events: Sequence[tuple[int, IncomingEvent]],
        rejected: Sequence[Rejection] = (),
        *,
        source: str = "api",
    ) -> IngestResult:
        """Resolve, canonicalise and publish ``events``; raises ``KafkaUnavailable``."""
        result = IngestResult(rejected=list(rejected))
        valid: list[IncomingEvent] = []
        indexes: list[int] = []
        hashes: list[str] = []
        key_sets: list[KeySet] = []
        cache = self._keys_cache
        for index, event in events:
            raw = (
                event.recipient_email,
                event.phone,
                event.recipient_id,
                event.esp_user_id,
                event.klaviyo_id,
                event.shopify_customer_id,
            )
            known = cache.get(raw)
            if known is None:
                try:
                    known = identity_keys(event)
                except ValidationError as exc:
                    result.rejected.append(Rejection(index, exc.field, exc.reason))
                    continue
                if len(cache) >= _KEYS_CACHE_SIZE:
                    cache.clear()
                cache[raw] = known
            keys, email_hash = known
            valid.append(event)
            indexes.append(index)
            key_sets.append(keys)
            hashes.append(email_hash)
        resolutions = await self._resolve(key_sets) if valid else []
        now = self.clock.now()
        canonical: list[CanonicalEvent] = []
        for index, event, email_hash, resolution in zip(
            indexes, valid, hashes, resolutions, strict=True
        ):
            built = canonicalise(event, email_hash, resolution, now)
            try:
                # The contract the sink applies: what would be dead-lettered is a 422 here.
                check_canonical(built, made_from=event)
            except ValidationError as exc:
                result.rejected.append(Rejection(index, exc.field, exc.reason))
                continue
            canonical.append(built)
        result.rejected.sort(key=lambda r: r.index)
        if result.rejected:
            self.metrics.rejected.labels(source).inc(len(result.rejected))
        if not canonical:
            return result
        self.metrics.accepted.inc(len(canonical))
        records = [(c.universal_id.encode(), encode_event(c)) for c in canonical]
        started = time.perf_counter()
        try:
            await self.publisher.publish(records)
        except KafkaUnavailable:
            self.metrics.publish_failures.inc()
            raise
        self.metrics.publish_latency.observe(time.perf_counter() - started)
        self.metrics.published.inc(len(records))
        result.published = canonical
        zones = [
            (c.universal_id, c.timezone, c.timestamp.isoformat(timespec="milliseconds"))
            for c in canonical
            if c.timezone
        ]
        if zones:  # the identity's latest known zone (issue #15)
            await asyncio.to_thread(self.resolver.record_zones, zones)
        return result
