"""The loader's fast path through the contract gives exactly the rows of the reference SQL.

`staged_select(fast=True)` (what the loader runs) and `staged_select(fast=False)` (the reference: every
line through the full diagnosis and the scrubber) must stage the same rows, column for column, on a hostile
corpus (tests/builders/contract_corpus.py). The mutation test proves the comparison has teeth: with any one rule, type
check or the PII pre-filter left out of the fast path, some line of the corpus comes out different.
"""

from __future__ import annotations

import duckdb
import pytest

from ingestion.contract import staging_sql as cs
from ingestion.contract.pii import set_key
from tests.builders.contract_corpus import NOW_MS, corpus_lines, interaction
from tests.conftest import TEST_PII_KEY


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    set_key(con, TEST_PII_KEY)
    for table, lines in (("lines", corpus_lines()), ("rule_lines", corpus_lines(pii=False, spellings=1))):
        con.execute(f"create table {table} (file_idx integer, line_no bigint, line varchar)")
        con.executemany(f"insert into {table} values (0, ?, ?)", list(enumerate(lines, start=1)))
        con.execute(f"create table {table}_reference as {cs.staged_select(table, NOW_MS, fast=False)}")
    yield con
    con.close()


def _differences(con: duckdb.DuckDBPyConnection, lines: str = "lines") -> list[tuple]:
    """Rows of the fast path and of the reference that the other does not have (the path flag aside)."""
    con.execute(f"create or replace view reference as select * from {lines}_reference")
    con.execute(f"create or replace table fast as {cs.staged_select(lines, NOW_MS, fast=True)}")
    return con.execute("""
        (select 'fast only', * exclude (took_fast_path) from fast
         except all select 'fast only', * exclude (took_fast_path) from reference)
        union all
        (select 'reference only', * exclude (took_fast_path) from reference
         except all select 'reference only', * exclude (took_fast_path) from fast)
        order by line_no
    """).fetchall()


def test_the_fast_path_stages_exactly_the_reference_rows(con):
    assert _differences(con) == []
    assert _differences(con, "rule_lines") == []
    _differences(con)
    lines, fast, broken = con.execute(
        "select count(*), count(*) filter (where took_fast_path), count(*) filter (where len(rules) > 0) "
        "from fast").fetchone()
    # The corpus is mostly hostile, yet its valid lines do take the fast path, and no broken line does.
    assert fast >= 300 and broken >= 1500 and lines > fast + broken
    assert con.execute("select count(*) from fast where took_fast_path and len(rules) > 0").fetchone()[0] == 0
    assert con.execute("select count(*) from reference where took_fast_path").fetchone()[0] == 0


def test_valid_lines_as_producers_write_them_take_the_fast_path(con):
    import json

    con.execute("create or replace table plain (file_idx integer, line_no bigint, line varchar)")
    con.executemany("insert into plain values (0, ?, ?)",
                    [(i, json.dumps(interaction(event_id=f"e{i}", user_id=f"u{i % 7}"))) for i in range(1, 201)])
    rows = con.execute(f"select took_fast_path, rules from ({cs.staged_select('plain', NOW_MS)})").fetchall()
    assert rows == [(True, [])] * 200


def _fast_path_parts() -> list[str]:
    """Names of the parts of the fast condition the mutation test leaves out one at a time."""
    parts = [f"{kind}:{rule}:{i}" for kind in ("interaction", "feedback")
             for i, (_, rule) in enumerate(cs.fast_checks(kind, NOW_MS))]
    # A value of another JSON type never reads as an allowed value of an enum field ("primary", "up", ...):
    # there the allowed-values rule alone keeps wrong types out. schema_version is the exception (1.1).
    types = [f"type:{f.name}" for f in cs.all_fields() if not f.allowed or f.name == "schema_version"]
    return parts + types + ["pii_prefilter", "pii_prefilter_of_maps"]


@pytest.mark.parametrize("part", _fast_path_parts())
def test_leaving_any_check_out_of_the_fast_path_is_caught(con, monkeypatch, part):
    kind, _, rest = part.partition(":")
    real_checks = cs.fast_checks
    if kind in ("interaction", "feedback"):
        index = int(rest.rsplit(":", 1)[1])

        def checks(record_type, now_ms):
            out = real_checks(record_type, now_ms)
            return [x for i, x in enumerate(out) if not (record_type == kind and i == index)]

        monkeypatch.setattr(cs, "fast_checks", checks)
    elif kind == "type":
        real_fast = cs._typed_fast
        # The field's text read without its type check: any JSON type passes as the field's own.
        # DuckDB's lenient conversion ("5" -> 5, 5 -> "5") without the JSON type check: any JSON type passes.
        monkeypatch.setattr(cs, "_typed_fast", lambda f, i: (f"coalesce({real_fast(f, i)}, v.{f.name})"
                                                             if f.name == rest else real_fast(f, i)))
    elif part == "pii_prefilter_of_maps":  # the pre-filter searching the string fields but not the tags
        real_texts = cs._prefiltered_texts
        monkeypatch.setattr(cs, "_prefiltered_texts", lambda fields: real_texts([f for f in fields if f.kind != "map"]))
    else:
        monkeypatch.setattr(cs, "PREFILTER", "^\\x00\\x01$")  # a pre-filter that matches nothing
    lines = "lines" if part.startswith("pii_prefilter") else "rule_lines"
    assert _differences(con, lines), f"leaving {part} out of the fast path changed no row of the corpus"
