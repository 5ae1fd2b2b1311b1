"""The data tests of fct_ai_interactions read only the rows written since the last build that passed them
(dbt_project/macros/tested_rows.sql), and still fail whenever their property breaks: a duplicate of an old id
written by a later build, a failure that a later build must keep reporting, and every row when there is no
passing build to start from. Real dbt on a warehouse built by `aiw run` from a small generated dataset."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from orchestration.defs.warehouse.inputs import DBT_PROJECT_DIR
from orchestration.defs.warehouse.project import DBT_EXECUTABLE
from tests.conftest import END_DATE

FCT = "marts.fct_ai_interactions"


def dbt_test_fct(home: Path, target: Path, select: str = "fct_ai_interactions") -> dict[str, str]:
    """`dbt test` of fct_ai_interactions' data tests (or of `select`); each test's status by its name."""
    subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", select, "--exclude-resource-type", "unit_test",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(target)],
        capture_output=True, text=True, env={**os.environ, "AIW_HOME": str(home)})
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")}


def failing(statuses: dict[str, str]) -> list[str]:
    return sorted(name for name, status in statuses.items() if status != "pass")


def marks(warehouse: Path) -> list:
    with duckdb.connect(str(warehouse)) as con:
        return [r[0] for r in con.execute("select build_started_at from main.data_tests_passed order by 1").fetchall()]


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


def test_fact_tests_read_new_rows_and_still_catch_every_break(tmp_path):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    synthetic.generate(layout, synthetic.Options(events=1500, days=2, seed=11, end_date=END_DATE))
    assert main(["--home", str(layout.home), "run"]) == 0
    warehouse, target = layout.warehouse, tmp_path / "target"

    # The build passed every test: the mark is its start, exactly the updated_at it stamped every row with.
    with duckdb.connect(str(warehouse)) as con:
        (stamp,) = con.execute(f"select max(updated_at) from {FCT}").fetchone()
        (stamps,) = con.execute(f"select count(distinct updated_at) from {FCT}").fetchone()
    assert stamps == 1 and marks(warehouse) == [stamp]
    assert failing(dbt_test_fct(layout.home, target)) == []  # nothing new: nothing to fail on

    # That `dbt test` passed too, and moved the mark to its own start.
    (mark,) = marks(warehouse)[-1:]
    assert mark > stamp
    # A later build (stamping its rows after the mark) writes a second row with an id already in the table: the
    # rows written since the mark are unique among themselves, and the probe of the whole table finds the pair.
    execute(warehouse, f"insert into {FCT} select * replace (cast('{mark}' as timestamp) + interval 1 second "
                       f"as updated_at) from {FCT} order by event_id limit 1")
    first = failing(dbt_test_fct(layout.home, target))
    assert len(first) == 1 and first[0].startswith("unique_in_table_fct_ai_interactions_event_id"), first
    # The mark does not move on a failed test, so the next build reports the same failure.
    assert marks(warehouse)[-1] == mark
    assert failing(dbt_test_fct(layout.home, target)) == first

    # Fixed; then a row the builds never rewrote breaks a rule behind their back. The narrowed tests do not
    # look at it (they read rows written since the mark), which is what makes them cheap ...
    execute(warehouse, f"delete from {FCT} where updated_at > cast('{mark}' as timestamp)")
    execute(warehouse, f"update {FCT} set cost_usd = -1 where event_id = (select min(event_id) from {FCT})")
    assert failing(dbt_test_fct(layout.home, target)) == []
    # ... and without a passing build to start from (a new or emptied warehouse) every row is read again.
    execute(warehouse, "delete from main.data_tests_passed")
    broken = failing(dbt_test_fct(layout.home, target))
    assert len(broken) == 1 and broken[0].startswith("non_negative_fct_ai_interactions_cost_usd"), broken

    # The tests that check several columns at once fail on any one of them.
    execute(warehouse, "update marts.mart_feature_quality_daily set error_rate = 1.5 "
                       "where event_date = (select min(event_date) from marts.mart_feature_quality_daily)")
    execute(warehouse, "update main.model_prices set request_usd = null where provider_id = 'openai'")
    several = failing(dbt_test_fct(layout.home, target, "mart_feature_quality_daily int_catalogue_prices__listed"))
    assert [name.split("_")[:2] for name in several] == [["columns", "in"], ["columns", "not"]], several

    # `--full-refresh` rewrites every row, and its tests read them all: no filter in the compiled tests.
    execute(warehouse, f"insert into main.data_tests_passed values (cast('{mark}' as timestamp), current_timestamp)")
    for extra, filtered in (([], True), (["--full-refresh"], False)):
        done = subprocess.run(
            [DBT_EXECUTABLE, "compile", "--select", "fct_ai_interactions,test_type:data", *extra,
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(target), "--log-path", str(target)],
            capture_output=True, text=True, env={**os.environ, "AIW_HOME": str(layout.home)})
        assert done.returncode == 0, done.stdout[-3000:]
        compiled = list((target / "compiled").rglob("not_null_fct_ai_interactions_event_ts*.sql"))
        assert len(compiled) == 1
        assert ("updated_at > cast(" in compiled[0].read_text()) is filtered, compiled[0].read_text()
