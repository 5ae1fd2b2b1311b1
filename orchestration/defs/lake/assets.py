"""The lake asset: landing files of one load date -> validated Parquet, with the contract as a blocking check."""


import time

import dagster as dg

from ingestion.lake import loader as lake
from ingestion.lake.writer_lock import writer_lock
from ingestion.layout import Layout
from orchestration.defs.lake.checks import CONTRACT_CHECK, contract_check_result
from orchestration.metadata import load_summary_md
from orchestration.names import LAKE_FEEDBACK, LAKE_INTERACTIONS, LOAD_LAKE, PROBLEMS
from orchestration.resources import WarehouseSettings

# Partitioned by the date a file landed (from its landing/<source>/<YYYY-MM-DD>/ path, else its
# modification date). end_offset=1 makes today's partition available while files are still landing.
load_date_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(LAKE_INTERACTIONS, group_name="lake", kinds={"parquet", "duckdb"},
                     description="Accepted interaction records of each load date in the Parquet lake "
                                 "(lake/raw/interactions), with rejected lines in lake/quarantine."),
        dg.AssetSpec(LAKE_FEEDBACK, group_name="lake", kinds={"parquet", "duckdb"},
                     description="Accepted feedback records of each load date (lake/raw/feedback)."),
    ],
    name=LOAD_LAKE,
    partitions_def=load_date_partitions,
    # A backfill or `aiw run` over many load dates is one run: one process, one contract validation.
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[CONTRACT_CHECK],
    pool="duckdb",
    description="Landing files of one load date (native; OTLP spans and PostHog exports through their adapters), "
                "checked against the event contract and written to the Parquet lake (raw, quarantine with the rule "
                "broken, manifest). Each file is loaded once.",
)
def load_lake(context: dg.AssetExecutionContext, settings: WarehouseSettings):
    layout: Layout = settings.layout()
    load_dates = context.partition_keys
    now_ms = int(time.time() * 1000)
    # One writer per AIW_HOME: the loads and the check over what they wrote happen under the writer lock
    # (re-entrant: `aiw run` already holds it when it runs this asset in its own process).
    with writer_lock(layout.home, f"Dagster run {context.run_id[:8]} (load_lake)", say=context.log.info):
        rejected = lake.reject_out_of_window(layout, now_ms=now_ms)
        loads = [lake.load_partition(layout, d, now_ms=now_ms, progress=context.log.info) for d in load_dates]
        loaded = [r for r in loads if r.load_id]
        check = contract_check_result(layout, load_dates, loaded, settings.quarantine_threshold, now_ms,
                                      settings.gx_full_rows)
    problems = [f"{f.relative_path}: rejected: {f.reason}; {lake.what_to_do(f.reason)}" for f in rejected]
    problems += [p for r in loads for p in r.problems()]
    files = [f for r in loaded for f in r.files]
    combined = lake.LoadResult(load_date=",".join(load_dates), files=files)
    counts = lake.LoadCounts.of(files, files_rejected=len(rejected) + sum(len(r.rejected) for r in loads))
    yield dg.MaterializeResult(
        asset_key=LAKE_INTERACTIONS,
        metadata={
            **counts.as_metadata(),  # aiw run reads them back as LoadCounts (orchestration/pipeline.py)
            "load_dates": dg.MetadataValue.json(sorted(r.load_date for r in loaded)),
            PROBLEMS: dg.MetadataValue.json(problems),
            "reconciles": all(f.reconciles for f in files),
            "quarantine_share": dg.MetadataValue.float(round(combined.quarantined / combined.lines, 6)
                                                       if combined.lines else 0.0),
            "files": dg.MetadataValue.md(load_summary_md(combined)),
            "load_ids": dg.MetadataValue.json([r.load_id for r in loaded]),
            "seconds": round(sum(r.seconds for r in loads), 2),
        },
        check_results=[check],
    )
    yield dg.MaterializeResult(asset_key=LAKE_FEEDBACK, metadata={"accepted": counts.feedback_accepted})
