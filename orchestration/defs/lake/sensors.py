"""Event-driven loads: a sensor that notices new landing files and launches one lake run per load date."""


import hashlib

import dagster as dg

from ingestion import lake
from orchestration.defs.lake.assets import load_date_partitions
from orchestration.defs.lake.jobs import load_lake_job
from orchestration.resources import WarehouseSettings


def pending_run_requests(settings: WarehouseSettings, partition_keys: set[str]) -> tuple[list[dg.RunRequest],
                                                                                           list[str]]:
    """One RunRequest per load date with unloaded files; dates outside the partitions are reported instead.

    The run key names the exact files, so a date is launched again only when a new file lands for it
    (a load that failed its contract check is not retried in a loop; fix the data or re-run from the UI).
    """
    pending, _ = lake.pending_files(settings.layout())
    by_date: dict[str, list[str]] = {}
    for f in pending:
        by_date.setdefault(f.load_date, []).append(f.relative_path)
    requests, outside = [], []
    for load_date, paths in sorted(by_date.items()):
        if load_date not in partition_keys:
            outside.append(load_date)
            continue
        digest = hashlib.sha1("\n".join(sorted(paths)).encode()).hexdigest()[:12]
        requests.append(dg.RunRequest(run_key=f"{load_date}:{digest}", partition_key=load_date,
                                      tags={"aiw/landing_files": str(len(paths))}))
    return requests, outside


@dg.sensor(job=load_lake_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches load_lake_job for each load date with new files under AIW_HOME/landing "
                       "(one run per date; the marts follow via marts_after_lake_load).")
def new_landing_files(context: dg.SensorEvaluationContext, settings: WarehouseSettings) -> dg.SensorResult:
    keys = set(load_date_partitions.get_partition_keys())
    requests, outside = pending_run_requests(settings, keys)
    if outside:
        context.log.warning(f"landing files with load dates outside the partitions were skipped: {outside}")
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new landing files"))
    return dg.SensorResult(run_requests=requests)
