"""Helpers for the reliability suite: plant a case on a temporary AIW_HOME, then count what reached the lake."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingestion.layout import Layout


def lake_rows(layout: Layout, directory: Path, what: str = "count(*)") -> tuple:
    if not any(directory.rglob("*.parquet")):
        return (0,) if what == "count(*)" else (None,)
    con = duckdb.connect()
    try:
        return con.execute(f"select {what} from read_parquet('{directory}/**/*.parquet', union_by_name = true)"
                           ).fetchone()
    finally:
        con.close()


def manifest_rows(layout: Layout) -> list[dict]:
    if not any(layout.manifest.glob("*.parquet")):
        return []
    con = duckdb.connect()
    rel = con.execute(f"select * from read_parquet('{layout.manifest}/*.parquet', union_by_name = true) "
                      "order by relative_path, loaded_at")
    names = [d[0] for d in rel.description]
    out = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    con.close()
    return out
