"""The policy for ad-hoc SQL (``sendflowr sql`` through serve's admin API).

Only reads of the SendFlowr database pass, and they are refused *before* anything
runs. Two checks, both allowlists where they can be:

1. **Lexical** (``check_text``): the first keyword is ``SELECT``, ``WITH``,
   ``DESCRIBE``/``DESC``, ``SHOW`` or ``EXPLAIN``; one statement; no ``INTO``
   (``INTO OUTFILE``), ``INFILE``, ``SETTINGS`` or ``FORMAT`` clause.
2. **Syntactic** (``check_ast``): ClickHouse's own parser (``EXPLAIN AST``, which
   runs nothing) gives the tree; its top node must be a select, describe, allowed
   show or explain; no function may be a table function outside ``TABLE_FUNCTIONS``
   (``file``, ``url``, ``s3``, ``remote``, ``mysql``, ``executable``, ``input`` … — the
   scalar ``file()`` too) or one of ``HOST_FUNCTIONS``; every table named is in the
   SendFlowr database (or one of ``SYSTEM_TABLES``).

The admin session adds ClickHouse's own guard: ``readonly=1`` (no writes, no
setting changes) and time, memory and result-size limits (``ADMIN_SESSION``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from sendflowr.errors import ValidationError
from sendflowr.store.formatted import FORMAT_CLAUSE

__all__ = [
    "ADMIN_SESSION",
    "HOST_FUNCTIONS",
    "STATEMENTS",
    "SYSTEM_TABLES",
    "TABLE_FUNCTIONS",
    "check_ast",
    "check_text",
    "refused",
    "words",
]

#: ClickHouse settings fixed on the admin session (``readonly`` applied last by the store).
ADMIN_SESSION: Final[dict[str, int | str]] = {
    "max_execution_time": 30,  # seconds; a heavy SELECT stops when its time is up
    "timeout_overflow_mode": "throw",
    "max_memory_usage": 1 << 30,  # 1 GiB per query
    "max_result_rows": 1_000_000,
    "result_overflow_mode": "throw",
    "readonly": 1,  # no writes, and no setting can be changed by a query
}

#: First keywords a statement may start with.
STATEMENTS: Final[frozenset[str]] = frozenset(
    {"SELECT", "WITH", "DESCRIBE", "DESC", "SHOW", "EXPLAIN"}
)

#: Keywords refused anywhere outside strings and quoted names.
_REFUSED_WORDS: Final[dict[str, str]] = {
    "INTO": "INTO (OUTFILE, INSERT) is not allowed: reads only",
    "OUTFILE": "INTO OUTFILE is not allowed",
    "INFILE": "FROM INFILE is not allowed",
    "SETTINGS": "a SETTINGS clause is not allowed: the admin session's limits are fixed",
    "FORMAT": "a FORMAT clause is not allowed: use --format",
}

#: Table functions a query may use (pure generators: no file, URL, database or host);
#: lower case. ``format`` is also the string-formatting scalar function.
TABLE_FUNCTIONS: Final[frozenset[str]] = frozenset(
    "numbers numbers_mt zeros zeros_mt generate_series generateseries values format".split()
)

#: Scalar functions that reach the host (files, models, dictionaries, server internals).
HOST_FUNCTIONS: Final[frozenset[str]] = frozenset(
    {
        "file",
        "catboostevaluate",
        "evalmlmethod",
        "getsetting",
        "getserversetting",
        "getmacro",
        "filesystemavailable",
        "filesystemcapacity",
        "filesystemunreserved",
        "addresstoline",
        "addresstolinewithinlines",
        "addresstosymbol",
        "joinget",
        "joingetornull",
        "dictionary",
    }
)

#: Tables of the ``system`` database a query may read (catalogue, no query texts).
SYSTEM_TABLES: Final[frozenset[str]] = frozenset(
    {"tables", "columns", "parts", "databases", "one", "numbers", "functions", "data_type_families"}
)

#: Top nodes of ``EXPLAIN AST`` that may run.
_TOP_NODES: Final[frozenset[str]] = frozenset(
    """SelectWithUnionQuery SelectIntersectExceptQuery DescribeQuery ShowTables
    ShowCreateTableQuery Explain""".split()
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line>(?:--|\#)[^\n]*)
  | (?P<block>/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
  | (?P<quoted>(?:`(?:[^`\\]|\\.|``)*(?:`|\Z))|(?:"(?:[^"\\]|\\.|"")*(?:"|\Z)))
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<semi>;)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def refused(reason: str) -> ValidationError:
    """The error of a refused query (``field`` = ``query``; HTTP 403 at the admin API)."""
    return ValidationError("query", reason)


def words(sql: str) -> list[str]:
    """The bare words of ``sql``, upper-cased, outside strings, quoted names and comments.

    A ``;`` shows as the word ``;``; a word called as a function (``format(…)``) shows
    with its parenthesis (``FORMAT(``), so it is not taken for a clause.
    """
    out: list[str] = []
    pending: str | None = None
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind in ("space", "line", "block"):
            continue
        if pending is not None:
            out.append(pending + "(" if match.group() == "(" else pending)
            pending = None
        if kind == "word":
            pending = match.group().upper()
        elif kind == "semi":
            out.append(";")
    if pending is not None:
        out.append(pending)
    return out


#: Output formats a query may name in its trailing ``FORMAT`` clause (text renderings only).
OUTPUT_FORMATS: Final = frozenset(
    {"TabSeparated", "TabSeparatedWithNames", "TabSeparatedWithNamesAndTypes", "TSV",
     "TSVWithNames", "TSVWithNamesAndTypes", "CSV", "CSVWithNames", "Values", "Vertical",
     "JSON", "JSONCompact", "JSONEachRow", "JSONCompactEachRow", "JSONStrings", "JSONLines",
     "NDJSON", "Markdown", "Pretty", "PrettyCompact", "PrettyCompactMonoBlock",
     "PrettyNoEscapes", "PrettySpace", "PrettySpaceNoEscapes", "PrettyCompactNoEscapes",
     "XML", "LineAsString", "RawBLOB", "TSKV"}
)  # fmt: skip


def split_format(sql: str) -> tuple[str, str | None]:
    """``sql`` without its trailing ``FORMAT name`` clause, and the name (None if none).

    Raises ``ValidationError`` for a format that is not a text output format."""
    match = FORMAT_CLAUSE.search(sql)
    if match is None:
        return sql, None
    wanted = {name.lower(): name for name in OUTPUT_FORMATS}.get(match.group(1).lower())
    if wanted is None:
        raise refused(f"FORMAT {match.group(1)} is not an allowed output format")
    return sql[: match.start()].rstrip(), wanted


def check_text(sql: str) -> None:
    """Refuse (``ValidationError``) what the words alone show: a statement that is not a
    read, several statements, or a clause that writes, reads files or lifts limits.
    (A trailing ``FORMAT`` clause is split off by ``split_format`` before this runs.)"""
    found = [w if w == "FORMAT(" else w.rstrip("(") for w in words(sql)]
    if not found or found[0] not in STATEMENTS:
        first = found[0] if found else "nothing"
        raise refused(f"only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN may run, not {first}")
    while found and found[-1] == ";":
        found.pop()
    if ";" in found:
        raise refused("one statement at a time")
    for word in found:
        reason = _REFUSED_WORDS.get(word)
        if reason is not None:
            raise refused(reason)


def _table_ok(name: str, database: str) -> bool:
    parts = name.split(".")
    if len(parts) == 1:
        return True  # the session's database (ours), or a WITH name
    if len(parts) != 2:
        return False
    db, table = parts
    return db == database or (db == "system" and table.lower() in SYSTEM_TABLES)


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _check_select_clauses(lines: list[str]) -> None:
    """A select's own children are its expression lists only: an extra child is an
    ``INTO OUTFILE`` target, a ``FORMAT`` or ``SETTINGS`` (whatever the lexer saw)."""
    for i, line in enumerate(lines):
        if line.split()[0] != "SelectWithUnionQuery":
            continue
        depth = _depth(line)
        for child in lines[i + 1 :]:
            if _depth(child) <= depth:
                break
            if _depth(child) == depth + 1 and child.split()[0] != "ExpressionList":
                raise refused("INTO OUTFILE, FORMAT and SETTINGS clauses are not allowed")


def check_ast(tree: Iterable[str], database: str, table_functions: Iterable[str]) -> None:
    """Refuse what ClickHouse's parse tree shows (the lines of ``EXPLAIN AST``).

    ``table_functions``: every table-function name the engine knows
    (``system.table_functions``), so a new one is refused until allowed here.
    """
    lines = [line for line in tree if line.strip()]
    if len(lines) > 1 and lines[-1] == " Identifier Native":
        lines.pop()  # the client's own FORMAT Native (check_text refused any in the query)
    if not lines:
        raise refused("the query could not be parsed")
    top = lines[0].split()[0]
    if top not in _TOP_NODES:
        raise refused(f"{top} statements may not run here")
    if top == "Explain" and (len(lines) < 2 or lines[1].split()[0] not in _TOP_NODES - {"Explain"}):
        raise refused("EXPLAIN only of a SELECT, DESCRIBE or SHOW")
    if top == "ShowCreateTableQuery":
        named = lines[0].split(" (children", 1)[0].split()[1:]
        if not _table_ok(".".join(named), database):
            raise refused(f"table {'.'.join(named)} is outside the {database} database")
    _check_select_clauses(lines)
    known = {name.lower() for name in table_functions}
    for line in lines[1:] if top == "ShowCreateTableQuery" else lines:
        node, _, rest = line.strip().partition(" ")
        name = rest.split(" (children", 1)[0].strip()
        if node == "Function":
            low = name.lower()
            if (low in known and low not in TABLE_FUNCTIONS) or low in HOST_FUNCTIONS:
                raise refused(f"function {name}() is not allowed: it reaches outside the store")
        elif node == "TableIdentifier" and not _table_ok(name, database):
            raise refused(f"table {name} is outside the {database} database")
        elif node == "Identifier" and top == "ShowTables" and name not in {database, "system"}:
            raise refused(f"database {name} is not the {database} database")
        elif node == "Set":
            raise refused("a SETTINGS clause is not allowed")
