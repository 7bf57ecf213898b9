"""Identity keys: normalisation and hashing of the deterministic keys."""

from __future__ import annotations

import hashlib

__all__ = ["hash_email", "normalise_email"]


def normalise_email(email: str) -> str:
    """Trim and lowercase an address (the only normalisation SPEC §1 allows)."""
    return email.strip().lower()


def hash_email(email: str) -> str:
    """Lowercase hex SHA-256 of the normalised address: ``recipient_email_hash``."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()
