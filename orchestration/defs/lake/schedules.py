"""The safety net: a daily schedule that loads whatever landed but was not loaded (sensor off, daemon down)."""


import dagster as dg

from orchestration.defs.lake.assets import load_date_partitions
from orchestration.defs.lake.checks import landing_freshness
from orchestration.defs.lake.jobs import load_lake_job
from orchestration.defs.lake.sensors import pending_run_requests
from orchestration.resources import WarehouseSettings


@dg.schedule(job=load_lake_job, cron_schedule="30 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="02:30 UTC daily: a lake run for every load date that still has unloaded landing files. "
                         "Normally the new_landing_files sensor got there first and this skips.")
def daily_catch_up(context: dg.ScheduleEvaluationContext, settings: WarehouseSettings):
    keys = set(load_date_partitions.get_partition_keys(current_time=context.scheduled_execution_time))
    requests, _ = pending_run_requests(settings, keys)
    if not requests:
        return dg.SkipReason("nothing pending: the sensor loaded everything")
    # A run key of its own per day, so the sensor's earlier request for the same files does not swallow it.
    day = context.scheduled_execution_time.date().isoformat()
    return [dg.RunRequest(run_key=f"catch-up:{day}:{r.run_key}", partition_key=r.partition_key, tags=r.tags)
            for r in requests]


landing_freshness_job = dg.define_asset_job(
    "landing_freshness_job", selection=dg.AssetSelection.checks(landing_freshness),
    description="Runs only the landing_freshness check (no data is loaded).")

hourly_freshness = dg.ScheduleDefinition(
    name="hourly_landing_freshness", job=landing_freshness_job, cron_schedule="15 * * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: does AIW_HOME/landing still receive data? (fails after AIW_FRESHNESS_MAX_HOURS)")
