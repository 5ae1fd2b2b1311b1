"""The lake asset: landing files of one load date -> validated Parquet, with the contract as a blocking check."""


import time

import dagster as dg

from ingestion import lake
from ingestion.layout import Layout
from orchestration.defs.lake.checks import CONTRACT_CHECK, contract_check_result
from orchestration.resources import WarehouseSettings

# Partitioned by the date a file landed (from its landing/<source>/<YYYY-MM-DD>/ path, else its
# modification date). end_offset=1 makes today's partition available while files are still landing.
load_date_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)


@dg.asset(
    key="lake_interactions",
    group_name="lake",
    partitions_def=load_date_partitions,
    check_specs=[CONTRACT_CHECK],
    pool="duckdb",
    kinds={"parquet", "duckdb"},
    description="Landing files of one load date (native; OTLP spans and PostHog exports through their "
                "adapters), checked against the event contract and written to "
                "the Parquet lake (raw, quarantine with the rule broken, manifest). Each file is loaded once.",
)
def lake_interactions(context: dg.AssetExecutionContext, settings: WarehouseSettings) -> dg.MaterializeResult:
    layout: Layout = settings.layout()
    load_date = context.partition_key
    now_ms = int(time.time() * 1000)
    result = lake.load_partition(layout, load_date, now_ms=now_ms, progress=context.log.info)
    check = contract_check_result(layout, load_date, result, settings.quarantine_threshold, now_ms)
    return dg.MaterializeResult(
        metadata={
            "files_loaded": len(result.files),
            "lines": result.lines,
            "accepted": result.accepted,
            "quarantined": result.quarantined,
            "duplicates_dropped": result.duplicates,
            "skipped": result.skipped,
            "reconciles": all(f.reconciles for f in result.files),
            "load_id": result.load_id or "(nothing pending)",
            "seconds": round(result.seconds, 2),
        },
        check_results=[check],
    )
