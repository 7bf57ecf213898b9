"""Identity keys: normalisation and hashing of the deterministic keys."""

from __future__ import annotations

import hashlib

__all__ = ["hash_email", "normalise_email", "universal_id_for"]


def normalise_email(email: str) -> str:
    """Trim and lowercase an address (the only normalisation there is)."""
    return email.strip().lower()


def hash_email(email: str) -> str:
    """Lowercase hex SHA-256 of the normalised address: ``recipient_email_hash``."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def universal_id_for(key_type: str, key_value: str) -> str:
    """The universal id a NEW identity gets when first seen through this key.

    ``"sf_"`` + 16 hex of SHA-256 over the key type and its normalised (for email:
    hashed) value. Deriving it, instead of drawing it at random, makes concurrent
    resolutions of the same new key in several processes agree. An identity that
    already exists keeps its id whatever key later links to it.
    """
    digest = hashlib.sha256(f"sendflowr:{key_type}:{key_value}".encode()).hexdigest()
    return f"sf_{digest[:16]}"
