"""Privacy by construction: no raw address leaves the connector.

- **Free text** (``subject``, ``click_url``, ``user_agent``, ``campaign_name`` and every
  string of ``metadata``, keys included) is scrubbed: whatever looks like an address is
  replaced by ``[redacted-email]``.
- **Ids and enums** (``event_id``, ``campaign_id``, ``esp``, ``bounce_type``,
  ``campaign_type``, ``ip_address``, ``channel``, ``event_type``) that hold an address
  are refused (``ValidationError`` naming the field): such a value is a sender's mistake
  that no scrubbing can make meaningful, and it is never stored.
- **Identity ids and message ids** (``recipient_id``, ``esp_user_id``, …, and
  ``message_id``, whose RFC 5322 form ``<local@host>`` looks like an address) holding an
  address are replaced by its hash by the caller (``canonical``): deterministic, so a
  message's events still join.

"Looks like an address" is one Unicode-aware rule: a local part of any non-space
characters except delimiters (so ``josé``, ``ñame``, decomposed accents), an ``@``
(also ``%40``, the full-width ``＠`` and the small ``﹫``), and a domain of one or more
labels — internationalised (``exämple.com``), dotless (``localhost``) or a bracketed
literal (``[127.0.0.1]``). It errs on the side of redacting: ``user@host`` in a text is
redacted although it may not be a mailbox. Every walk over ``metadata`` is iterative.
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import Any, Final

from sendflowr.errors import ValidationError

__all__ = [
    "REDACTED",
    "REFUSED_FIELDS",
    "contains_address",
    "json_may_hold_address",
    "refuse_addresses",
    "scrub",
    "scrub_metadata",
]

REDACTED: Final = "[redacted-email]"
#: Id and enum fields where an address is refused rather than stored.
REFUSED_FIELDS: Final = (
    "event_id",
    "campaign_id",
    "esp",
    "bounce_type",
    "campaign_type",
    "ip_address",
    "channel",
    "event_type",
)
_DELIMITERS: Final = r"\s@\uff20\ufe6b<>()\[\]{}\\,;:\"'`/?=&#|"
_LOCAL: Final = rf"[^{_DELIMITERS}]+"
# A domain label: ASCII letters, digits, hyphens, or any non-ASCII character (IDN labels,
# combining marks); ASCII punctuation ends it ("a@b.com!" is "a@b.com").
_LABEL: Final = r"(?:[A-Za-z0-9\-]|[^\x00-\x7f\s\uff20\ufe6b])+"
_ADDRESS: Final = re.compile(
    rf"{_LOCAL}(?:@|%40|\uff20|\ufe6b)(?:\[[^\]\s]+\]|{_LABEL}(?:\.{_LABEL})*)",
    re.IGNORECASE,
)


# The at-signs as msgspec writes them in JSON (UTF-8, unescaped): one search for all.
_AT_IN_JSON: Final = re.compile("@|%40|\uff20|\ufe6b".encode())


def _may_hold(text: str) -> bool:
    # Spelled out: on every text of every event, a generator costs more than the search.
    return "@" in text or "%40" in text or "\uff20" in text or "\ufe6b" in text


def json_may_hold_address(encoded: bytes) -> bool:
    """Whether JSON text (as msgspec writes it) may hold an address: a cheap pre-check."""
    if _AT_IN_JSON.search(encoded) is not None:
        return True
    if b"\\u" not in encoded:
        return False
    lowered = encoded.lower()
    return b"\\u0040" in lowered or b"\\uff20" in lowered or b"\\ufe6b" in lowered


def contains_address(text: str) -> bool:
    """Whether ``text`` holds anything that looks like an address (the module's rule)."""
    return _may_hold(text) and _ADDRESS.search(text) is not None


def scrub(text: str) -> str:
    """``text`` with everything that looks like an address replaced by ``REDACTED``."""
    if not _may_hold(text):
        return text
    return _ADDRESS.sub(REDACTED, text)


def scrub_metadata(value: Any) -> Any:
    """A copy of a JSON value with address-looking text redacted in keys and strings.

    Iterative (an explicit stack), so no nesting depth can exhaust the interpreter's.
    """
    if isinstance(value, str):
        return scrub(value)
    if not isinstance(value, dict | list):
        return value
    root: dict[str, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in pairs:
            copy: Any
            if isinstance(child, dict):
                copy = {}
                stack.append((child, copy))
            elif isinstance(child, list):
                copy = []
                stack.append((child, copy))
            elif isinstance(child, str):
                copy = scrub(child)
            else:
                copy = child
            if isinstance(target, dict):
                target[scrub(str(key))] = copy
            else:
                target.append(copy)
    return root


_refused_values: Final = attrgetter(*REFUSED_FIELDS)


def refuse_addresses(event: Any) -> None:
    """Raise ``ValidationError`` for the first of ``REFUSED_FIELDS`` of ``event`` that
    holds an address."""
    values: tuple[str, ...] = _refused_values(event)
    if not _may_hold("\n".join(values)):  # one look at all of them: the common case
        return
    for field, text in zip(REFUSED_FIELDS, values, strict=True):
        if contains_address(text):
            raise ValidationError(field, "looks like an email address; refused, not stored")
