"""The ad-hoc SQL policy on its own: words, statements, clauses and parse trees."""

from __future__ import annotations

import pytest

from sendflowr.errors import ValidationError
from sendflowr.store.adhoc import check_ast, check_text, words

KNOWN = ["file", "url", "s3", "remote", "numbers", "mysql", "input"]


def test_words_skip_strings_quoted_names_and_comments() -> None:
    sql = "SELECT 'INTO OUTFILE', `FORMAT` -- SETTINGS\n/* INFILE */ FROM t # x\n;"
    assert words(sql) == ["SELECT", "FROM", "T", ";"]
    assert words("SELECT format ('{}', x) FROM t") == ["SELECT", "FORMAT(", "X", "FROM", "T"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  with x AS (SELECT 1) SELECT * FROM x",
        "DESCRIBE t",
        "desc t",
        "SHOW TABLES",
        "EXPLAIN SELECT 1",
        "SELECT 'a;b' ;",
        "SELECT 'SETTINGS FORMAT INTO'",
        "SELECT format('{} {}', 'a', 'b')",
        "SELECT(1)",
    ],
)
def test_reads_pass_the_text_check(sql: str) -> None:
    check_text(sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "not nothing"),
        ("INSERT INTO t VALUES (1)", "not INSERT"),
        ("ALTER TABLE t DELETE WHERE 1", "not ALTER"),
        ("/* SELECT */ DROP TABLE t", "not DROP"),
        ("SELECT 1; DROP TABLE t", "one statement"),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
        ("SELECT 1 FORMAT JSON", "FORMAT"),
        ("SELECT 1 INTO(OUTFILE '/tmp/x')", "INTO"),
        ("SELECT 1 SETTINGS(max_threads = 1)", "SETTINGS"),
        ("SET readonly = 0", "not SET"),
    ],
)
def test_the_text_check_refuses(sql: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_text(sql)
    assert info.value.field == "query"
    assert reason in info.value.reason


def _tree(text: str) -> list[str]:
    return text.strip("\n").splitlines()


SELECT_FROM = """
SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Function {fn} (children 1)
     ExpressionList (children 1)
      Identifier x
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      {table}
 Identifier Native
"""


@pytest.mark.parametrize(
    ("fn", "table"),
    [
        ("count", "TableIdentifier email_events"),
        ("count", "TableIdentifier sendflowr.email_events"),
        ("count", "TableIdentifier system.tables"),
        ("sum", "Function numbers (children 1)"),
    ],
)
def test_trees_of_reads_pass(fn: str, table: str) -> None:
    check_ast(_tree(SELECT_FROM.format(fn=fn, table=table)), "sendflowr", KNOWN)


@pytest.mark.parametrize(
    ("fn", "table", "reason"),
    [
        ("count", "Function file (children 1)", "file()"),
        ("count", "Function URL (children 1)", "URL()"),
        ("count", "Function someNewTableFunction (children 1)", "someNewTableFunction()"),
        ("file", "TableIdentifier email_events", "file()"),
        ("getSetting", "TableIdentifier email_events", "getSetting()"),
        ("count", "TableIdentifier other.email_events", "outside"),
        ("count", "TableIdentifier system.processes", "outside"),
        ("count", "TableIdentifier a.b.c", "outside"),
    ],
)
def test_trees_reaching_outside_are_refused(fn: str, table: str, reason: str) -> None:
    known = [*KNOWN, "someNewTableFunction"]
    with pytest.raises(ValidationError) as info:
        check_ast(_tree(SELECT_FROM.format(fn=fn, table=table)), "sendflowr", known)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("tree", "ok"),
    [
        ("InsertQuery   (children 2)\n Function file (children 1)", False),
        ("CreateQuery sendflowr t (children 1)", False),
        ("ShowTables", True),
        ("ShowTables (children 1)\n Identifier sendflowr", True),
        ("ShowTables (children 1)\n Identifier information_schema", False),
        ("ShowCreateTableQuery sendflowr email_events (children 2)\n Identifier sendflowr", True),
        ("ShowCreateTableQuery  email_events (children 1)\n Identifier email_events", True),
        ("ShowCreateTableQuery other t (children 2)\n Identifier other\n Identifier t", False),
        ("Explain EXPLAIN (children 1)\n SelectWithUnionQuery (children 1)", True),
        ("Explain EXPLAIN (children 1)\n CreateQuery x (children 1)", False),
        ("SelectWithUnionQuery (children 2)\n Set", False),
        (
            "SelectWithUnionQuery (children 2)\n ExpressionList (children 1)\n Literal \\'/x\\'",
            False,
        ),
        (
            "Explain EXPLAIN (children 1)\n SelectWithUnionQuery (children 2)\n  Identifier CSV",
            False,
        ),
    ],
)
def test_statement_kinds(tree: str, ok: bool) -> None:
    if ok:
        check_ast(_tree(tree), "sendflowr", KNOWN)
    else:
        with pytest.raises(ValidationError):
            check_ast(_tree(tree), "sendflowr", KNOWN)
