"""The same dbt project on Spark and on DuckDB, over the same lake: every mart equal, twice.

1. Synthetic landing files -> `aiw run` (lake + DuckDB build). Then `dbt build --target spark` (a local
   Spark, state under the temporary AIW_HOME) over the same lake directories. Every model of the marts
   folder is exported to Parquet from both engines and compared row by row.
2. A later load brings late events for existing sessions, an exact retry of a loaded event (dropped by
   the loader), late feedback, and feedback whose interaction has not arrived; then a second "loader"
   delivers an event_id that is already in the warehouse (the dedup in fct must keep one). Both engines
   build incrementally (Spark also runs the unit tests), and the marts are compared again, and once more
   after DuckDB rebuilds from scratch: incremental Spark == full DuckDB.

Real Spark (local[2]) and real DuckDB. Slow (minutes): run by `make test-spark`, not by `make test`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import END_DATE, event, write_landing
from tests.paths import REPO
from tests.spark.compare import compare_exports

pytestmark = pytest.mark.spark

PROJECT = REPO / "dbt_project"
DBT = str(Path(sys.executable).parent / "dbt")
EVENTS = 5_000
TIMINGS = REPO / "test-artifacts" / "spark-vs-duckdb.json"


def dbt(home: Path, *args: str, target: str = "duckdb") -> tuple[float, str]:
    """Run dbt against `home` on `target`; seconds taken and its output. Fails the test on a non-zero exit."""
    env = {**os.environ, "AIW_HOME": str(home), "AIW_DBT_TARGET": target, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "AIW_SPARK_DIR": str(home / "spark")}
    started = time.perf_counter()
    done = subprocess.run([DBT, *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
                          env=env, capture_output=True, text=True, cwd=home)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, \
        f"dbt {' '.join(args)} on {target} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return seconds, done.stdout


def export(home: Path, target: str, name: str) -> Path:
    directory = home / "export" / name
    directory.mkdir(parents=True)
    dbt(home, "run-operation", "export_marts", "--args", json.dumps({"directory": str(directory)}), target=target)
    return directory


def assert_equal_marts(left: Path, right: Path) -> None:
    diffs = compare_exports(left, right)
    assert {"fct_ai_interactions", "mart_session_cost", "mart_user_cost_daily", "mart_feature_quality_daily",
            "mart_model_drift", "mart_latency_slo", "mart_routing", "mart_duplicate_generations",
            "feedback_unmatched"} <= set(diffs)
    assert {name: d[:5] for name, d in diffs.items() if d} == {}


def lake_sql(layout: Layout, sql: str) -> list[tuple]:
    raw = f"read_parquet('{layout.raw_interactions}/**/*.parquet', hive_partitioning = true)"
    quarantine = f"read_parquet('{layout.quarantine}/**/*.parquet')"
    return duckdb.sql(sql.format(raw=raw, quarantine=quarantine)).fetchall()


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """Lake + DuckDB via `aiw run`, then a full build on each engine over the same lake, timed."""
    layout = Layout.from_env(tmp_path_factory.mktemp("spark") / "aiw").ensure()
    gen = synthetic.generate(layout, synthetic.Options(events=EVENTS, days=3, seed=7, end_date=END_DATE),
                             keep_records=True)
    assert main(["--home", str(layout.home), "run"]) == 0
    duckdb_seconds, _ = dbt(layout.home, "build", "--full-refresh")
    spark_seconds, out = dbt(layout.home, "build", target="spark")
    TIMINGS.parent.mkdir(exist_ok=True)
    TIMINGS.write_text(json.dumps({
        "events_generated": EVENTS, "interactions": gen.valid_interactions,
        "full_build_seconds": {"duckdb": round(duckdb_seconds, 1), "spark_local2": round(spark_seconds, 1)},
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, indent=2) + "\n")
    return layout, gen, out


def test_spark_builds_every_model_and_test(first):
    _layout, _gen, out = first
    assert "ERROR=0" in out and "SKIP=0" in out
    assert "9 incremental models" in out and "data tests" in out  # mart_cost_by_tag_daily is the 9th


def test_first_build_marts_equal(first):
    layout, _gen, _ = first
    assert_equal_marts(export(layout.home, "duckdb", "duckdb-1"), export(layout.home, "spark", "spark-1"))


@pytest.fixture(scope="module")
def second(first):
    """Late data, a retry and a second delivery of a loaded event; incremental builds on both engines."""
    layout, gen, _ = first
    later = (END_DATE + dt.timedelta(days=2)).isoformat()
    target = gen.valid_records[5]
    late = event(900_001, session_id=target["session_id"], user_id=target["user_id"], timestamp=target["timestamp"] + 1,
                 model_id=target["model_id"], model_version=target["model_version"])
    rated = next(r for r in gen.valid_records[100:] if not r.get("explicit_rating") and r["schema_version"] == "1.1")
    feedback = {"record_type": "feedback", "schema_version": "1.1", "feedback_id": "f_late_down",
                "target_event_id": rated["event_id"], "timestamp": rated["timestamp"] + 120_000, "kind": "rating",
                "rating": "down"}
    orphan = {**feedback, "feedback_id": "f_orphan", "target_event_id": "e_not_yet_arrived"}
    retry = gen.valid_records[7]
    write_landing(layout, "late.ndjson", [late, retry, feedback, orphan], load_date=later)
    assert main(["--home", str(layout.home), "run"]) == 0  # DuckDB: incremental, through Dagster

    # A second writer delivers an already-loaded event again, in its own load partition, loaded later: the
    # warehouse keeps the copy accepted first.
    again = gen.valid_records[11]["event_id"]
    load_date = (END_DATE + dt.timedelta(days=3)).isoformat()
    partition = layout.raw_interactions / f"load_date={load_date}"
    partition.mkdir(parents=True)
    duckdb.sql(f"""
        copy (select * replace ('second-writer' as load_id, loaded_at + interval 1 day as loaded_at,
                                cast('{load_date}' as date) as load_date)
              from read_parquet('{layout.raw_interactions}/*/*.parquet') where event_id = '{again}')
        to '{partition}/second-writer.parquet' (format parquet)""")
    # Incremental builds, unit tests included, on both engines.
    duckdb_seconds, _ = dbt(layout.home, "build", "--select", "fqn:*")
    spark_seconds, out = dbt(layout.home, "build", "--select", "fqn:*", target="spark")
    timings = json.loads(TIMINGS.read_text())
    timings["incremental_build_with_unit_tests_seconds"] = {
        "duckdb": round(duckdb_seconds, 1), "spark_local2": round(spark_seconds, 1)}
    TIMINGS.write_text(json.dumps(timings, indent=2) + "\n")
    return layout, {"late": late, "target": target, "retry": retry, "feedback": feedback, "again": again}, out


def test_spark_incremental_build_and_unit_tests_pass(second):
    _layout, _cases, out = second
    assert "ERROR=0" in out and "unit tests" in out


def test_incremental_marts_equal_and_count_each_event_once(second):
    layout, cases, _ = second
    duck, spark = export(layout.home, "duckdb", "duckdb-2"), export(layout.home, "spark", "spark-2")
    assert_equal_marts(duck, spark)

    fct = f"read_parquet('{spark}/fct_ai_interactions/*.parquet')"
    (distinct_in_lake,), = lake_sql(layout, "select count(distinct event_id) from {raw}")
    (rows_in_lake,), = lake_sql(layout, "select count(*) from {raw}")
    assert rows_in_lake == distinct_in_lake + 1  # the second writer's copy
    assert duckdb.sql(f"select count(*), count(distinct event_id) from {fct}").fetchall() == [
        (distinct_in_lake, distinct_in_lake)]
    (first_load,), = lake_sql(layout, f"select load_id from {{raw}} where event_id = '{cases['again']}' "
                                      "and load_id <> 'second-writer'")
    assert duckdb.sql(f"select load_id from {fct} where event_id = '{cases['again']}'").fetchall() == [
        (first_load,)]  # the first accepted copy wins, once (docs/operations.md)
    retry = cases["retry"]["event_id"]
    assert duckdb.sql(f"select count(*) from {fct} where event_id = '{retry}'").fetchall() == [(1,)]
    # The late event, from a load partition created after Spark's first build, is in its own day and session.
    target = cases["target"]
    (late_date, target_date), = duckdb.sql(
        f"select max(event_date) filter (where event_id = '{cases['late']['event_id']}'), "
        f"max(event_date) filter (where event_id = '{target['event_id']}') from {fct}").fetchall()
    assert late_date == target_date
    sessions = f"read_parquet('{{}}/mart_session_cost/*.parquet') where session_id = '{target['session_id']}'"
    first_export = layout.home / "export" / "spark-1"
    (before,), = duckdb.sql(f"select interactions from {sessions.format(first_export)}").fetchall()
    (after,), = duckdb.sql(f"select interactions from {sessions.format(spark)}").fetchall()
    assert after == before + 1
    assert duckdb.sql(f"select explicit_rating, feedback_records from {fct} "
                      f"where event_id = '{cases['feedback']['target_event_id']}'").fetchall() == [("down", 1)]
    assert duckdb.sql(f"select target_event_id from read_parquet('{spark}/feedback_unmatched/*.parquet')"
                      ).fetchall() == [("e_not_yet_arrived",)]


def test_incremental_spark_equals_duckdb_rebuilt_from_scratch(second):
    layout, _cases, _ = second
    dbt(layout.home, "build", "--full-refresh")
    assert_equal_marts(export(layout.home, "duckdb", "duckdb-full"), layout.home / "export" / "spark-2")


def test_lake_tables_on_spark_are_the_lake_directories(second):
    layout, _cases, _ = second
    _seconds, out = dbt(layout.home, "show", "--output", "json", "--log-format", "text", "--inline",
                        "select (select count(*) from {{ source('lake', 'quarantine') }}) as quarantined, "
                        "(select count(*) from {{ source('lake', 'raw_interactions') }}) as accepted, "
                        "(select count(distinct load_date) from {{ source('lake', 'raw_interactions') }}) as loads",
                        target="spark")
    shown = json.loads(out[out.rindex("{", 0, out.index('"show"')):out.rindex("}") + 1])["show"][0]
    (quarantined,), = lake_sql(layout, "select count(*) from {quarantine}")
    (accepted, loads), = lake_sql(layout, "select count(*), count(distinct load_date) from {raw}")
    assert (shown["quarantined"], shown["accepted"], shown["loads"]) == (quarantined, accepted, loads)
    assert quarantined > 0 and loads == 5
    assert any((layout.home / "spark" / "metastore_db").iterdir())  # Spark's state stayed in the temporary home


MOVING_KEYS = """
{{ config(unique_key='id', partition_by='p') }}
{% if is_incremental() %}
select 'a' as id, 2 as p, 'moved' as v
{% else %}
select 'a' as id, 1 as p, 'first' as v union all select 'b', 2, 'first' union all select 'c', 3, 'first'
{% endif %}
"""


def test_a_key_that_moves_partition_leaves_no_copy_behind(second, tmp_path):
    """delete+insert semantics when a replaced row lived in a partition the new rows do not touch (the
    model takes its incremental config from the marts folder, like every mart)."""
    import shutil

    layout, _cases, _ = second
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "moving_keys.sql").write_text(MOVING_KEYS)
    env = {**os.environ, "AIW_HOME": str(layout.home), "AIW_SPARK_DIR": str(layout.home / "spark"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    query = "select id, p, v from {{ ref('moving_keys') }} order by id"
    for target in ("duckdb", "spark"):
        for args in (["run", "--select", "moving_keys", "--full-refresh"], ["run", "--select", "moving_keys"],
                     ["show", "--inline", query, "--output", "json"]):
            done = subprocess.run([DBT, *args, "--target", target, "--project-dir", str(project),
                                   "--profiles-dir", str(project)], env=env, capture_output=True, text=True,
                                  cwd=tmp_path)
            assert done.returncode == 0, done.stdout[-3000:]
        rows = json.loads(done.stdout[done.stdout.rindex("{", 0, done.stdout.index('"show"')):])["show"]
        assert [(r["id"], r["p"], r["v"]) for r in rows] == [("a", 2, "moved"), ("b", 2, "first"),
                                                            ("c", 3, "first")], target
