"""The Dagster code location: assembles lake, warehouse, report and alert definitions. The work lives in defs/."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.alerts.sensors import alert_sensors
from orchestration.defs.lake.assets import load_lake
from orchestration.defs.lake.checks import landing_freshness
from orchestration.defs.lake.jobs import load_lake_job
from orchestration.defs.lake.schedules import daily_catch_up, hourly_freshness, landing_freshness_job
from orchestration.defs.lake.sensors import new_landing_files
from orchestration.defs.report.assets import warehouse_report
from orchestration.defs.warehouse.assets import warehouse_models_asset
from orchestration.defs.warehouse.jobs import build_marts_job
from orchestration.defs.warehouse.project import dbt_resource
from orchestration.defs.warehouse.sensors import marts_after_lake_load
from orchestration.resources import WarehouseSettings

defs = dg.Definitions(
    assets=[load_lake, warehouse_models_asset(), warehouse_report],
    asset_checks=[landing_freshness],
    jobs=[load_lake_job, build_marts_job, landing_freshness_job],
    sensors=[new_landing_files, marts_after_lake_load, *alert_sensors],
    schedules=[daily_catch_up, hourly_freshness],
    resources={"settings": WarehouseSettings(), "dbt": dbt_resource()},
    # On 2 cores the multiprocess executor spends 15-20 s starting each step (measured here). The executor
    # is a code-location setting; dagster.yaml (the instance) holds the pool limit.
    executor=dg.in_process_executor,
)
