"""Identity: email normalisation and hashing, and resolution to universal ids (SPEC §3)."""

from sendflowr.identity.keys import hash_email, normalise_email, universal_id_for

__all__ = ["hash_email", "normalise_email", "universal_id_for"]
