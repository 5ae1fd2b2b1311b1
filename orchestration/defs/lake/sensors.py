"""Event-driven loads: a sensor that notices new landing files and launches one lake run per load date."""


import hashlib

import dagster as dg

from ingestion.lake import loader as lake
from orchestration.defs.lake.assets import load_date_partitions
from orchestration.defs.lake.jobs import load_lake_job
from orchestration.resources import WarehouseSettings


def pending_run_requests(settings: WarehouseSettings, partition_keys: set[str]) -> tuple[list[dg.RunRequest],
                                                                                           list[str]]:
    """One RunRequest per load date with unloaded files; dates outside the partitions are reported instead.

    The run key names the exact files with their sizes and modification times, so a date is launched again
    only when a file lands or grows (a load that failed its contract check is not retried in a loop; fix the
    data or re-run from the UI). Files still within the quiet period wait for a later tick. Files whose path
    date is outside the window get one run of the newest partition, which records them as rejected (every
    lake run does), since no partition can hold them.
    """
    layout = settings.layout()
    pending, _settling = lake.pending_files(layout)
    by_date: dict[str, list[str]] = {}
    for f in pending:
        st = f.path.stat()
        by_date.setdefault(f.load_date, []).append(f"{f.relative_path}:{st.st_size}:{st.st_mtime_ns}")
    requests, outside = [], [f.relative_path for f in lake.out_of_window_files(layout)]
    for load_date, paths in sorted(by_date.items()):
        if load_date not in partition_keys:
            outside.append(load_date)
            continue
        digest = hashlib.sha1("\n".join(sorted(paths)).encode()).hexdigest()[:12]
        requests.append(dg.RunRequest(run_key=f"{load_date}:{digest}", partition_key=load_date,
                                      tags={"aiw/landing_files": str(len(paths))}))
    if outside and partition_keys:
        digest = hashlib.sha1("\n".join(sorted(outside)).encode()).hexdigest()[:12]
        requests.append(dg.RunRequest(run_key=f"reject:{digest}", partition_key=max(partition_keys),
                                      tags={"aiw/out_of_window_files": str(len(outside))}))
    return requests, outside


@dg.sensor(job=load_lake_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches load_lake_job for each load date with new files under AIW_HOME/landing "
                       "(one run per date; the marts follow via marts_after_lake_load).")
def new_landing_files(context: dg.SensorEvaluationContext, settings: WarehouseSettings) -> dg.SensorResult:
    keys = set(load_date_partitions.get_partition_keys())
    requests, outside = pending_run_requests(settings, keys)
    if outside:
        context.log.warning(f"landing files with path dates outside the load-date window (a run records them "
                            f"as rejected): {outside}")
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new landing files"))
    return dg.SensorResult(run_requests=requests)
