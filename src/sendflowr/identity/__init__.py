"""Identity: email normalisation and hashing, and resolution to universal ids.

``IdentityResolver`` over an ``IdentityStore`` (``open_store(settings)``: SQLite file
by default, PostgreSQL with ``SENDFLOWR_IDENTITY_URL``). New identities get
``universal_id_for(key_type, value)`` of their strongest key.
"""

from sendflowr.identity.keys import hash_email, normalise_email, universal_id_for
from sendflowr.identity.model import (
    KEY_CONFIDENCE,
    IdentityKey,
    Resolution,
    key_of,
    normalise_phone,
)
from sendflowr.identity.resolver import IdentityResolver, key_set, keys_from, open_store
from sendflowr.identity.store import AuditRecord, IdentityStore, Link

__all__ = [
    "KEY_CONFIDENCE",
    "AuditRecord",
    "IdentityKey",
    "IdentityResolver",
    "IdentityStore",
    "Link",
    "Resolution",
    "hash_email",
    "key_of",
    "key_set",
    "keys_from",
    "normalise_email",
    "normalise_phone",
    "open_store",
    "universal_id_for",
]
