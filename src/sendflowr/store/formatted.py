"""Queries that name their own output format (``… FORMAT Vertical``), as clickhouse-client
takes them: finding the clause, and making such a query read-only in its own text.

Read-only travels as the query's own ``SETTINGS readonly = 2`` clause, never as a session
setting: chDB applies per-call settings of a raw query with ``SET`` and restores them after,
and ``readonly`` cannot be restored once set, so the whole engine would stay read-only.
"""

from __future__ import annotations

import re
from typing import Final

from sendflowr.errors import ValidationError

__all__ = ["FORMAT_CLAUSE", "format_clause", "readonly_query"]

# A FORMAT clause ends a query (only a semicolon may follow); ClickHouse names formats
# with letters, digits and underscores (Vertical, PrettyCompact, JSONEachRow, CSVWithNames).
FORMAT_CLAUSE: Final = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
# A SETTINGS clause at the end of the statement (no closing parenthesis after it).
_TRAILING_SETTINGS: Final = re.compile(r"\bSETTINGS\b[^()]*$", re.IGNORECASE)
_READONLY: Final = re.compile(r"\breadonly\b", re.IGNORECASE)


def format_clause(query: str) -> str | None:
    """The format a query's own trailing ``FORMAT`` clause names, or None."""
    match = FORMAT_CLAUSE.search(query)
    return match.group(1) if match else None


def readonly_query(query: str) -> str:
    """``query`` (which ends in a FORMAT clause) with ``readonly = 2`` in its own SETTINGS.

    Raises ``ValidationError`` when the query has no FORMAT clause or sets ``readonly``
    itself (a later ``readonly = 0`` in the same clause would win).
    """
    match = FORMAT_CLAUSE.search(query)
    if match is None:
        raise ValidationError("query", "no FORMAT clause at the end of the query")
    head = query[: match.start()].rstrip()
    if _READONLY.search(head):
        raise ValidationError("query", "a read-only query may not set `readonly` itself")
    joiner = ", " if _TRAILING_SETTINGS.search(head) else " SETTINGS "
    return f"{head}{joiner}readonly = 2 FORMAT {match.group(1)}"
