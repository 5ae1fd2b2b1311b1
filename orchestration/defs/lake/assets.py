"""The lake asset: landing files of one load date -> validated Parquet, with the contract as a blocking check."""


import time

import dagster as dg

from ingestion import lake
from ingestion.layout import Layout
from orchestration.defs.lake.checks import CONTRACT_CHECK, contract_check_result
from orchestration.metadata import load_summary_md
from orchestration.resources import WarehouseSettings

# Partitioned by the date a file landed (from its landing/<source>/<YYYY-MM-DD>/ path, else its
# modification date). end_offset=1 makes today's partition available while files are still landing.
load_date_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("lake_interactions", group_name="lake", kinds={"parquet", "duckdb"},
                     description="Accepted interaction records of each load date in the Parquet lake "
                                 "(lake/raw/interactions), with rejected lines in lake/quarantine."),
        dg.AssetSpec("lake_feedback", group_name="lake", kinds={"parquet", "duckdb"},
                     description="Accepted feedback records of each load date (lake/raw/feedback)."),
    ],
    name="load_lake",
    partitions_def=load_date_partitions,
    check_specs=[CONTRACT_CHECK],
    pool="duckdb",
    description="Native landing files of one load date, checked against the event contract and written to the "
                "Parquet lake (raw, quarantine with the rule broken, manifest). Each file is loaded once.",
)
def load_lake(context: dg.AssetExecutionContext, settings: WarehouseSettings):
    layout: Layout = settings.layout()
    load_date = context.partition_key
    now_ms = int(time.time() * 1000)
    result = lake.load_partition(layout, load_date, now_ms=now_ms, progress=context.log.info)
    check = contract_check_result(layout, load_date, result, settings.quarantine_threshold, now_ms)
    yield dg.MaterializeResult(
        asset_key="lake_interactions",
        metadata={
            "files_loaded": len(result.files),
            "lines": result.lines,
            "accepted": result.total("accepted"),
            "quarantined": result.quarantined,
            "duplicates_dropped": result.duplicates,
            "reconciles": all(f.reconciles for f in result.files),
            "quarantine_share": dg.MetadataValue.float(round(result.quarantined / result.lines, 6)
                                                       if result.lines else 0.0),
            "files": dg.MetadataValue.md(load_summary_md(result)),
            "load_id": result.load_id or "(nothing pending)",
            "seconds": round(result.seconds, 2),
        },
        check_results=[check],
    )
    yield dg.MaterializeResult(asset_key="lake_feedback",
                               metadata={"accepted": result.total("feedback_accepted")})
