"""Event-driven and scheduled runs, the landing freshness check and the Markdown metadata, on temporary AIW_HOMEs."""

import datetime as dt
import os

import dagster as dg
import duckdb

from ingestion.lake import loader as lake
from orchestration.definitions import defs
from orchestration.defs.lake.checks import freshness_result
from orchestration.defs.lake.schedules import daily_catch_up
from orchestration.defs.lake.sensors import new_landing_files
from orchestration.defs.warehouse.sensors import marts_after_lake_load
from orchestration.metadata import mart_metadata, md_table
from orchestration.resources import WarehouseSettings
from tests.builders import marts_fixture as mf
from tests.conftest import NOW_MS, event, write_landing

NOW = dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC)


def settings_for(layout) -> dict:
    return {"settings": WarehouseSettings(home=str(layout.home))}


def test_definitions_wire_sensors_schedules_checks_and_the_report():
    assert {s.name for s in defs.sensors} >= {"new_landing_files", "marts_after_lake_load"}
    assert {s.name for s in defs.schedules} == {"daily_catch_up", "hourly_landing_freshness"}
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("warehouse_report") in graph.get_all_asset_keys()
    assert dg.AssetKey(["marts", "mart_session_cost"]) in graph.get(dg.AssetKey("warehouse_report")).parent_keys
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {"event_contract", "landing_freshness"} <= checks


def test_sensor_requests_one_run_per_new_load_date_then_nothing(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(3)], load_date="2026-11-19")
    write_landing(layout, "b.ndjson", [event(i) for i in range(3, 6)], load_date="2026-11-20")
    context = dg.build_sensor_context(resources=settings_for(layout))
    result = new_landing_files(context)
    assert sorted(r.partition_key for r in result.run_requests) == ["2026-11-19", "2026-11-20"]
    assert len({r.run_key for r in result.run_requests}) == 2

    lake.load_partition(layout, "2026-11-19", now_ms=NOW_MS)
    again = new_landing_files(dg.build_sensor_context(resources=settings_for(layout)))
    assert [r.partition_key for r in again.run_requests] == ["2026-11-20"]
    # A new file on an already requested date gives a new run key (the earlier one would be deduplicated).
    write_landing(layout, "c.ndjson", [event(9)], load_date="2026-11-20")
    third = new_landing_files(dg.build_sensor_context(resources=settings_for(layout)))
    assert third.run_requests[0].run_key != again.run_requests[0].run_key

    schedule_context = dg.build_schedule_context(resources=settings_for(layout),
                                                 scheduled_execution_time=dt.datetime(2026, 11, 21, 2, 30))
    requests = daily_catch_up(schedule_context)
    assert [r.partition_key for r in requests] == ["2026-11-20"]


def test_lake_run_then_marts_sensor_then_freshness_job(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(25)] + ["{not json"],
                  load_date="2026-11-20")
    instance = dg.DagsterInstance.ephemeral()
    resources = {**settings_for(layout), "dbt": defs.resources["dbt"]}
    result = defs.resolve_job_def("load_lake_job").execute_in_process(
        partition_key="2026-11-20", instance=instance, resources=resources, raise_on_error=False)
    (mat,) = [m for m in result.asset_materializations_for_node("load_lake")
              if m.asset_key == dg.AssetKey("lake_interactions")]
    table = mat.metadata["files"].value
    assert "| native/2026-11-20/a.ndjson | 26 | 25 | 1 | 3.85% | 0 |" in table
    assert mat.metadata["quarantine_share"].value == round(1 / 26, 6)

    assert result.success
    (success,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS]
    run = instance.get_run_by_id(result.run_id)
    context = dg.build_run_status_sensor_context(sensor_name="marts_after_lake_load", dagster_instance=instance,
                                                 dagster_run=run, dagster_event=success)
    request = marts_after_lake_load(context)
    assert isinstance(request, dg.RunRequest) and request.run_key == f"after:{run.run_id}"

    checks = defs.resolve_job_def("landing_freshness_job").execute_in_process(instance=instance, resources=resources)
    (evaluation,) = checks.get_asset_check_evaluations()
    assert evaluation.check_name == "landing_freshness" and evaluation.passed  # the file was just written


def test_freshness_fails_when_nothing_landed_for_too_long(layout):
    assert not freshness_result(layout, 26, NOW).passed  # nothing ever landed
    path = write_landing(layout, "a.ndjson", [event(1)])
    stamp = (NOW - dt.timedelta(hours=30)).timestamp()
    os.utime(path, (stamp, stamp))
    stale = freshness_result(layout, 26, NOW)
    assert not stale.passed and stale.metadata["age_hours"].value == 30.0
    assert freshness_result(layout, 31, NOW).passed


def test_mart_metadata_tables(layout):
    mf.build(layout)
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        sessions = mart_metadata(con, "mart_session_cost")
        slo = mart_metadata(con, "mart_latency_slo")["slo_breaches"].value
    finally:
        con.close()
    assert sessions["dagster/row_count"] == len(mf.SESSIONS)
    top = max(mf.SESSIONS, key=lambda s: s[3])
    assert sessions["top_sessions_by_cost"].value.splitlines()[2].startswith(f"| {top[0]} | {top[1]} |")
    breached = [x for x in mf.LATENCY if x[4]]
    assert f"| chat | gpt-4o | {len(breached)} |" in slo
    assert md_table(["a"], []) .endswith("(none) |")


def test_dbt_materializations_get_row_counts_and_tables(layout):
    from orchestration.defs.warehouse.assets import with_mart_metadata

    mf.build(layout)

    class Context:
        def asset_key_for_output(self, name: str) -> dg.AssetKey:
            return dg.AssetKey(name.split("__"))

    events = [dg.Output(None, "marts__mart_session_cost", metadata={"unique_id": "model.x"}),
              dg.Output(None, "staging__stg_lake__interactions")]
    enriched = list(with_mart_metadata(events, layout.warehouse, Context()))
    assert enriched[0].metadata["dagster/row_count"].value == len(mf.SESSIONS)
    assert "top_sessions_by_cost" in enriched[0].metadata and "unique_id" in enriched[0].metadata
    assert enriched[1] is events[1]
