"""Resolution rules on the SQLite store (a file, no service): same inputs → same id,
links only add, every store resolution audited, no key → error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sendflowr.errors import IdentityError
from sendflowr.identity import IdentityResolver, hash_email, keys_from, universal_id_for
from sendflowr.identity.sqlite import SqliteIdentityStore


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[IdentityResolver]:
    r = IdentityResolver(SqliteIdentityStore(tmp_path / "identity.sqlite3"))
    r.start()
    yield r
    r.stop()


def test_new_identity_id_derives_from_the_strongest_key(resolver: IdentityResolver) -> None:
    result = resolver.resolve(keys_from(email="Ann@Example.com", klaviyo_id="K1"))
    assert result.created
    assert result.universal_id == universal_id_for("email", hash_email("ann@example.com"))
    assert result.confidence == 1.0
    only_cookie = resolver.resolve(keys_from(cookie="c-1"))
    assert only_cookie.universal_id == universal_id_for("cookie", "c-1")
    assert only_cookie.confidence == 0.5


def test_same_inputs_same_id_across_resolvers(tmp_path: Path, resolver: IdentityResolver) -> None:
    first = resolver.resolve(keys_from(email="a@example.com"))
    other = IdentityResolver(SqliteIdentityStore(tmp_path / "identity.sqlite3"))
    other.start()
    try:
        again = other.resolve(keys_from(email="A@EXAMPLE.COM "))
    finally:
        other.stop()
    assert again.universal_id == first.universal_id
    assert not again.created


def test_a_known_probabilistic_key_brings_new_keys_to_its_identity(
    resolver: IdentityResolver,
) -> None:
    original = resolver.resolve(keys_from(email="a@example.com", klaviyo_id="K1"))
    via_klaviyo = resolver.resolve(keys_from(klaviyo_id="K1", phone="+14155552671"))
    assert via_klaviyo.universal_id == original.universal_id
    assert via_klaviyo.confidence == 0.95  # linked through the 0.95 Klaviyo link
    by_phone = resolver.resolve(keys_from(phone="+1 415 555 2671"))
    assert by_phone.universal_id == original.universal_id


def test_links_only_add_never_overwrite(resolver: IdentityResolver) -> None:
    a = resolver.resolve(keys_from(email="a@example.com"))
    b = resolver.resolve(keys_from(email="b@example.com", klaviyo_id="K2"))
    # K2 already belongs to b's identity: a request joining a and K2 does not move it.
    joined = resolver.resolve(keys_from(email="a@example.com", klaviyo_id="K2"))
    assert joined.universal_id == a.universal_id
    assert any(step.startswith("conflict klaviyo_id") for step in joined.steps)
    links = resolver.lookup(list(keys_from(klaviyo_id="K2")))
    assert [link.universal_id for link in links.values()] == [b.universal_id]


def test_batch_resolution_dedupes_and_keeps_order(resolver: IdentityResolver) -> None:
    sets = [keys_from(email=f"u{i % 3}@example.com") for i in range(9)]
    results = resolver.resolve_many(sets)
    assert [r.universal_id for r in results[:3]] * 3 == [r.universal_id for r in results]
    assert len({r.universal_id for r in results}) == 3
    assert resolver.store_resolutions == 3
    assert [r.created for r in results] == [True] * 3 + [False] * 6
    cached = resolver.cached(sets)
    assert cached is not None
    assert [(r.universal_id, r.created) for r in cached] == [
        (r.universal_id, False) for r in results
    ]


def test_every_store_resolution_is_audited(resolver: IdentityResolver) -> None:
    first = resolver.resolve(keys_from(email="a@example.com", recipient_id="r1"))
    resolver.resolve(keys_from(recipient_id="r1", cookie="ck"))
    trail = resolver.audit(first.universal_id)
    assert len(trail) == 2
    assert trail[0].steps[1].startswith("create ")
    assert trail[1].confidence == 0.95
    assert all("@" not in value for record in trail for _, value in record.keys)


def test_no_usable_key_is_an_error_not_a_random_id(resolver: IdentityResolver) -> None:
    with pytest.raises(IdentityError):
        resolver.resolve(())
    with pytest.raises(IdentityError):
        resolver.resolve_many([keys_from(email="a@example.com"), ()])
    assert resolver.store_resolutions == 0


def test_link_adds_keys_to_an_existing_identity_only(resolver: IdentityResolver) -> None:
    person = resolver.resolve(keys_from(email="a@example.com"))
    linked = resolver.link(person.universal_id, keys_from(device_id="d1"))
    assert linked.universal_id == person.universal_id
    assert resolver.resolve(keys_from(device_id="d1")).universal_id == person.universal_id
    with pytest.raises(IdentityError):
        resolver.link("sf_0000000000000000", keys_from(device_id="d2"))


def test_created_only_when_the_identity_was_new(resolver: IdentityResolver) -> None:
    keys = keys_from(email="new@example.com")
    assert resolver.resolve_many([keys])[0].created is True
    assert resolver.resolve_many([keys])[0].created is False  # from the cache
    fresh = IdentityResolver(resolver.store)  # another process: no cache, same store
    assert fresh.resolve_many([keys])[0].created is False
