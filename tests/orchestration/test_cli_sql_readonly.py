"""`aiw sql` only reads: every way to write a file, attach another database or read outside the warehouse and
the lake is refused with one clear line, and the marts, lake and alert-log views still answer."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingestion.layout import Layout
from ingestion.sql import quote_path
from orchestration.cli import main


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def home(tmp_path: Path) -> Layout:
    return _build_home(tmp_path / "aiw")


def _build_home(root: Path) -> Layout:
    layout = Layout.from_env(root).ensure()
    con = duckdb.connect(str(layout.warehouse))
    con.execute("create schema marts")
    con.execute("create table marts.mart_session_cost as select 's1' as session_id, 1.25::double as cost_usd")
    con.close()
    lake = duckdb.connect()
    day = layout.raw_interactions / "load_date=2026-11-21"
    day.mkdir(parents=True)
    lake.execute(f"copy (select 'e_' || range as event_id from range(3)) to {quote_path(day / 'l1.parquet')}")
    lake.execute("copy (select 'l1' as load_id, 3 as lines, 0 as quarantined) to "
                 f"{quote_path(layout.manifest / 'l1.parquet')}")
    lake.close()
    (layout.alerts / "alert_log.jsonl").write_text(json.dumps({"key": "k1", "event": "fired"}) + "\n")
    other = duckdb.connect(str(layout.home.parent / "other.duckdb"))
    other.execute("create table t as select 1 as x")
    other.close()
    return layout


def _sql(layout: Layout, query: str, capsys) -> tuple[int, str, str]:
    code = main(["--home", str(layout.home), "sql", "--format", "json", query])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_views_still_work(home, capsys):
    for query, expected in [("select count(*) as n from lake_raw_interactions", 3),
                            ("select count(*) as n from lake_manifest", 1),
                            ("select count(*) as n from alert_log", 1),
                            ("select count(*) as n from marts.mart_session_cost", 1)]:
        code, out, err = _sql(home, query, capsys)
        assert code == 0, err
        assert json.loads(out) == [{"n": expected}]
    assert _sql(home, "describe marts.mart_session_cost", capsys)[0] == 0
    assert _sql(home, "explain select * from lake_raw_interactions", capsys)[0] == 0


def test_the_views_work_under_a_home_whose_path_has_a_quote(tmp_path, capsys):
    # The lake and alert-log views name their files in SQL: a quote in AIW_HOME must stay inside the literal.
    layout = _build_home(tmp_path / "o'brien's aiw")
    for query, expected in [("select count(*) as n from lake_raw_interactions", 3),
                            ("select count(*) as n from lake_manifest", 1),
                            ("select count(*) as n from alert_log", 1)]:
        code, out, err = _sql(layout, query, capsys)
        assert code == 0, err
        assert json.loads(out) == [{"n": expected}]


def test_every_write_and_outside_read_is_refused_and_nothing_is_written(home, capsys):
    root = home.home.parent
    other = root / "other.duckdb"
    landing = home.landing_dir("native") / "2026-11-21"
    attempts = {
        "copy to a file": f"copy (select 1) to '{root}/out.csv'",
        "copy into the lake":
            f"copy (select 1 as event_id) to '{home.raw_interactions}/load_date=2026-11-21/x.parquet'",
        "export database": f"export database '{root}/exported'",
        "attach": f"attach '{other}' as o",
        "attach and modify": f"attach '{other}' as o; insert into o.t values (2)",
        "wipe the alert log": f"copy (select 1 as key where false) to '{home.alerts}/alert_log.jsonl' (format json)",
        "plant a landing file": f"copy (select 'x' as event_id) to '{landing}/planted.ndjson' (format json)",
        "read any file": "select * from read_text('/etc/passwd')",
        "read the landing directory": f"select * from read_text('{home.landing}')",
        "turn external access back on": "set enable_external_access = true",
        "install an extension": "install httpfs",
        "load an extension": "load httpfs",
        "two statements": "select 1; select 2",
        "create a table": "create table x as select 1",
    }
    before = _all_files(root)
    refused = {}
    for what, query in attempts.items():
        code, _out, err = _sql(home, query, capsys)
        refused[what] = (code, err.strip())
    assert {w: c for w, (c, _e) in refused.items() if c != 2} == {}, refused
    # One clear line each, no stack trace.
    assert all(e.startswith("error: ") and "\n" not in e for _c, e in refused.values()), refused
    assert _all_files(root) == before  # 0 files written, none changed
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("select count(*) from t").fetchone() == (1,)
    con.close()
