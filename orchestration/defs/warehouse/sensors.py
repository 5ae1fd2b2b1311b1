"""The marts follow the lake: after a successful lake load (sensor, schedule, backfill or UI), build them."""


import dagster as dg

from orchestration.defs.warehouse.jobs import build_marts_job
from orchestration.names import LAKE_INTERACTIONS, LOAD_LAKE_JOB

LAKE_KEY = dg.AssetKey(LAKE_INTERACTIONS)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, request_job=build_marts_job, minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When a run that materialized lake_interactions succeeds, launch build_marts_job "
                "(dbt build + report), unless one is already queued.")
def marts_after_lake_load(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.job_name == build_marts_job.name:
        return dg.SkipReason("a marts build finished")
    if run.job_name != LOAD_LAKE_JOB and LAKE_KEY not in (run.asset_selection or set()):
        return dg.SkipReason(f"run {run.run_id[:8]} ({run.job_name}) did not load the lake")
    waiting = context.instance.get_run_records(dg.RunsFilter(
        job_name=build_marts_job.name,
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]),
        limit=1)
    if waiting:
        # A backfill of many load dates needs one marts build after them, not one per date.
        return dg.SkipReason("a marts build is already waiting; it will see this load too")
    return dg.RunRequest(run_key=f"after:{run.run_id}", tags={"aiw/after_lake_run": run.run_id})
