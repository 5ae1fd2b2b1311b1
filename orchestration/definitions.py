"""The Dagster code location: assembles lake, warehouse and alert definitions. The work lives in defs/."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.alerts.sensors import alert_sensors
from orchestration.defs.lake.assets import load_date_partitions, load_lake
from orchestration.defs.warehouse.assets import warehouse_models
from orchestration.defs.warehouse.project import dbt_resource
from orchestration.resources import WarehouseSettings

load_lake_job = dg.define_asset_job(
    "load_lake_job", selection=[load_lake], partitions_def=load_date_partitions,
    description="Load one load date's landing files into the lake (with the contract check).")
build_marts_job = dg.define_asset_job(
    "build_marts_job", selection=dg.AssetSelection.assets(warehouse_models),
    description="dbt build of staging, intermediate and mart models.")

defs = dg.Definitions(
    assets=[load_lake, warehouse_models],
    jobs=[load_lake_job, build_marts_job],
    sensors=alert_sensors,
    resources={"settings": WarehouseSettings(), "dbt": dbt_resource()},
    # On 2 cores the multiprocess executor spends 15-20 s starting each step (STACK-NOTES).
    executor=dg.in_process_executor,
)
