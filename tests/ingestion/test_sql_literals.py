"""The one SQL quoting helper: what DuckDB reads back is exactly the text, the path or the list quoted."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingestion.sql import quote, quote_list, quote_path

AWKWARD = ["plain", "it's", "''", "a'; drop table t; --", "", "back\\slash", "ünïcode \"double\""]


def test_a_quoted_string_reads_back_as_itself():
    con = duckdb.connect()
    for text in AWKWARD:
        assert con.execute(f"select {quote(text)}").fetchone()[0] == text
    assert con.execute(f"select {quote_list(AWKWARD)}").fetchone()[0] == AWKWARD


def test_a_quoted_path_reaches_the_file(tmp_path: Path):
    directory = tmp_path / "o'brien's lake"
    directory.mkdir()
    con = duckdb.connect()
    files = [directory / f"part '{i}'.parquet" for i in range(2)]
    for i, target in enumerate(files):
        con.execute(f"copy (select {i} as x) to {quote_path(target)} (format parquet)")
    assert con.execute(f"select sum(x) from read_parquet({quote_list(files)})").fetchone()[0] == 1
    # A glob stays a glob: only the quotes are escaped.
    assert con.execute(f"select count(*) from read_parquet({quote_path(directory / '*.parquet')})").fetchone()[0] == 2
