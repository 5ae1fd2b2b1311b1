"""A warehouse built by an earlier version is rebuilt from the lake instead of failing the next build."""

from __future__ import annotations

import duckdb

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from orchestration.defs.warehouse.upgrade import WAREHOUSE_FORMAT
from tests.conftest import END_DATE, event, write_landing


def _fact_columns_and_rows(layout: Layout) -> tuple[set[str], int]:
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        columns = {r[0] for r in con.execute("describe marts.fct_ai_interactions").fetchall()}
        rows = con.execute("select count(*) from marts.fct_ai_interactions").fetchone()[0]
        return columns, rows
    finally:
        con.close()


def test_an_older_warehouse_is_rebuilt_from_the_lake(tmp_path):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    gen = synthetic.generate(layout, synthetic.Options(events=600, days=1, seed=5, end_date=END_DATE))
    assert main(["--home", str(layout.home), "run"]) == 0
    assert layout.warehouse.exists()

    # What the first release left behind: a fact table without the columns this version reads back
    # from it, and no format stamp.
    con = duckdb.connect(str(layout.warehouse))
    con.execute("alter table marts.fct_ai_interactions drop column cache_write_tokens")
    con.close()
    layout.warehouse_format_stamp.unlink(missing_ok=True)

    write_landing(layout, "late.ndjson", [event(10_001)], load_date=END_DATE.isoformat())
    assert main(["--home", str(layout.home), "run"]) == 0
    columns, rows = _fact_columns_and_rows(layout)
    assert "cache_write_tokens" in columns
    assert rows == gen.valid_interactions + 1
    assert layout.warehouse_format_stamp.read_text().strip() == WAREHOUSE_FORMAT == "3"
