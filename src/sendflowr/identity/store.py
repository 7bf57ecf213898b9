"""The identity store contract and the resolution algorithm every SQL backend shares.

Three tables (same DDL on SQLite and PostgreSQL):

- ``identities(universal_id PRIMARY KEY, created_at)``
- ``identity_links(key_type, key_value, universal_id, confidence, created_at)``,
  primary key ``(key_type, key_value)``: a key links to exactly one identity, for good.
- ``identity_audit(id, universal_id, keys, steps, confidence, created_at)``: one row
  per resolution the store performs.
- ``identity_zones(universal_id PRIMARY KEY, timezone, observed_at, updated_at)``: the
  identity's latest known IANA time zone, from the newest event (by its own time)
  that carried one.

Resolution of a key set, inside ONE transaction for a whole batch of sets:
look every key up; link each unknown key (``INSERT … ON CONFLICT DO NOTHING``, so
links only add) to the identity of the strongest known key, or — when no key is
known — to a new identity whose id is ``universal_id_for`` of the strongest key;
then read the links back. The answer is the identity the strongest key is linked
to after that, which is what every concurrent process reads too.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.errors import IdentityError
from sendflowr.identity.keys import universal_id_for
from sendflowr.identity.model import IdentityKey, Resolution, strongest

__all__ = ["AuditRecord", "IdentityStore", "Link", "SqlIdentityStore"]

KeySet = tuple[IdentityKey, ...]


@dataclass(frozen=True, slots=True)
class Link:
    """A stored key → identity link."""

    universal_id: str
    confidence: float


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited resolution."""

    universal_id: str
    keys: list[list[str]]
    steps: list[str]
    confidence: float
    created_at: str


class IdentityStore(Protocol):
    """What the resolver needs from a store."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def resolve_many(self, key_sets: Sequence[KeySet]) -> list[Resolution]: ...
    def lookup(self, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]: ...
    def audit(self, universal_id: str) -> list[AuditRecord]: ...
    def link(self, universal_id: str, keys: Sequence[IdentityKey]) -> Resolution: ...
    def record_zones(self, rows: Sequence[tuple[str, str, str]]) -> None: ...
    def zone_of(self, universal_id: str) -> str | None: ...


class SqlIdentityStore(ABC):
    """The shared algorithm; backends provide connection, transaction and four statements."""

    #: Where link and audit times come from (an instance may set its own).
    clock: Clock = SYSTEM_CLOCK

    # --- backend hooks ---------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Connect and create the tables if needed."""

    @abstractmethod
    def stop(self) -> None:
        """Close the connection."""

    @abstractmethod
    def _begin(self, write: bool) -> Any:
        """A context manager: a transaction yielding a cursor; commits on success."""

    @abstractmethod
    def _select_links(self, cur: Any, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]:
        """Links of ``keys`` that exist."""

    @abstractmethod
    def _insert_identities(self, cur: Any, ids: Sequence[str], now: str) -> set[str]:
        """Insert identities, ignoring those that exist; return the ids this call inserted."""

    @abstractmethod
    def _insert_links(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        """Insert ``(key_type, key_value, universal_id, confidence)`` rows, ignoring taken keys."""

    @abstractmethod
    def _insert_audit(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        """Insert ``(universal_id, keys_json, steps_json, confidence)`` audit rows."""

    @abstractmethod
    def _select_identity(self, cur: Any, universal_id: str) -> bool:
        """Whether ``universal_id`` exists."""

    @abstractmethod
    def _select_audit(self, cur: Any, universal_id: str) -> list[tuple[Any, ...]]:
        """``(universal_id, keys, steps, confidence, created_at)`` rows of one identity."""

    @abstractmethod
    def _upsert_zones(self, cur: Any, rows: Sequence[tuple[str, str, str]], now: str) -> None:
        """Store ``(universal_id, timezone, observed_at)`` unless a newer observation exists."""

    @abstractmethod
    def _select_zone(self, cur: Any, universal_id: str) -> str | None:
        """The stored zone of one identity."""

    # --- time zones ------------------------------------------------------------
    def record_zones(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Remember each identity's latest zone: ``(universal_id, timezone, observed_at)``.

        ``observed_at`` is the event's own time as ISO-8601 UTC with milliseconds
        (text that sorts as time); an older observation never replaces a newer one.
        """
        latest: dict[str, tuple[str, str]] = {}
        for uid, zone, at in rows:
            if uid not in latest or at >= latest[uid][1]:
                latest[uid] = (zone, at)
        if not latest:
            return
        now = self.clock.now().isoformat()
        ordered = [(uid, zone, at) for uid, (zone, at) in sorted(latest.items())]
        with self._begin(write=True) as cur:
            self._upsert_zones(cur, ordered, now)

    def zone_of(self, universal_id: str) -> str | None:
        """The latest known IANA zone of ``universal_id`` (None when never seen)."""
        with self._begin(write=False) as cur:
            return self._select_zone(cur, universal_id)

    # --- the algorithm ---------------------------------------------------------
    def lookup(self, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]:
        """Existing links of ``keys`` (read-only)."""
        with self._begin(write=False) as cur:
            return self._select_links(cur, sorted(set(keys)))

    def audit(self, universal_id: str) -> list[AuditRecord]:
        """The audit trail of one identity, oldest first."""
        with self._begin(write=False) as cur:
            rows = self._select_audit(cur, universal_id)
        return [
            AuditRecord(r[0], json.loads(r[1]), json.loads(r[2]), float(r[3]), str(r[4]))
            for r in rows
        ]

    def link(self, universal_id: str, keys: Sequence[IdentityKey]) -> Resolution:
        """Link ``keys`` to the existing identity ``universal_id`` (keys already linked stay).

        Raises ``IdentityError`` when ``universal_id`` is unknown.
        """
        now = self.clock.now().isoformat()
        ordered = sorted(set(keys))
        with self._begin(write=True) as cur:
            if not self._select_identity(cur, universal_id):
                raise IdentityError("universal_id", f"unknown identity {universal_id}")
            before = self._select_links(cur, ordered)
            rows = [
                (k.key_type, k.value, universal_id, k.confidence)
                for k in ordered
                if k not in before
            ]
            if rows:
                self._insert_links(cur, rows, now)
            after = self._select_links(cur, ordered)
            steps = [f"link-request {','.join(k.key_type for k in ordered)} -> {universal_id}"]
            for k in ordered:
                link = after[k]
                if k in before:
                    verb = "kept" if link.universal_id == universal_id else "conflict"
                else:
                    verb = "link" if link.universal_id == universal_id else "race"
                steps.append(f"{verb} {k.key_type} -> {link.universal_id} ({link.confidence:.2f})")
            keys_json = json.dumps([[k.key_type, k.value] for k in ordered])
            self._insert_audit(cur, [(universal_id, keys_json, json.dumps(steps), 1.0)], now)
        return Resolution(universal_id, 1.0, False, tuple(steps))

    def resolve_many(self, key_sets: Sequence[KeySet]) -> list[Resolution]:
        """Resolve every key set in one transaction; same order as ``key_sets``.

        Raises ``IdentityError`` (before touching the store) when a set is empty.
        """
        targets = [strongest(ks) for ks in key_sets]
        all_keys = sorted({k for ks in key_sets for k in ks})
        now = self.clock.now().isoformat()
        with self._begin(write=True) as cur:
            known = self._select_links(cur, all_keys)
            pending: dict[IdentityKey, Link] = {}
            new_ids: set[str] = set()
            created: list[bool] = []
            for ks, target in zip(key_sets, targets, strict=True):
                found = [k for k in ks if k in known or k in pending]
                # A key linked through a found one is only as sure as that link.
                ceiling = 1.0
                if found:
                    anchor = strongest(tuple(found))
                    anchor_link = known.get(anchor) or pending[anchor]
                    uid, ceiling = anchor_link.universal_id, anchor_link.confidence
                    created.append(False)
                else:
                    uid = universal_id_for(target.key_type, target.value)
                    new_ids.add(uid)
                    created.append(True)
                for k in ks:
                    if k not in known and k not in pending:
                        pending[k] = Link(uid, min(k.confidence, ceiling))
            # "created" only for an identity this transaction inserted (not a racing process).
            inserted = self._insert_identities(cur, sorted(new_ids), now) if new_ids else set()
            created = [
                was_new and pending[t].universal_id in inserted
                for was_new, t in zip(created, targets, strict=True)
            ]
            if pending:
                rows = [
                    (k.key_type, k.value, link.universal_id, link.confidence)
                    for k, link in sorted(pending.items())
                ]
                self._insert_links(cur, rows, now)
                # Another process may have linked some of these keys first: read back.
                known.update(self._select_links(cur, sorted(pending)))
            results: list[Resolution] = []
            audit_rows: list[tuple[str, str, str, float]] = []
            for ks, target, was_new in zip(key_sets, targets, created, strict=True):
                link = known[target]
                steps = _steps(ks, known, pending, target, was_new)
                results.append(Resolution(link.universal_id, link.confidence, was_new, steps))
                keys_json = json.dumps([[k.key_type, k.value] for k in ks])
                audit_rows.append(
                    (link.universal_id, keys_json, json.dumps(steps), link.confidence)
                )
            self._insert_audit(cur, audit_rows, now)
        return results


def _steps(
    ks: KeySet,
    known: dict[IdentityKey, Link],
    pending: dict[IdentityKey, Link],
    target: IdentityKey,
    was_new: bool,
) -> tuple[str, ...]:
    steps = [f"lookup {','.join(k.key_type for k in ks)}"]
    uid = known[target].universal_id
    if was_new:
        steps.append(f"create {pending[target].universal_id} from {target.key_type}")
    for k in ks:
        link = known[k]
        mine = pending.get(k)
        if mine is None:
            steps.append(f"found {k.key_type} -> {link.universal_id} ({link.confidence:.2f})")
        elif mine.universal_id == link.universal_id:
            steps.append(f"link {k.key_type} -> {link.universal_id} ({link.confidence:.2f})")
        else:
            steps.append(f"race {k.key_type} already -> {link.universal_id}")
        if link.universal_id != uid:
            steps.append(f"conflict {k.key_type} stays on {link.universal_id}")
    steps.append(f"resolved {uid} via {target.key_type}")
    return tuple(steps)
