"""The marts job: every dbt model (with its tests as checks), then the HTML report."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.report.assets import warehouse_report
from orchestration.defs.warehouse.assets import warehouse_models_asset
from orchestration.names import BUILD_MARTS_JOB

build_marts_job = dg.define_asset_job(
    BUILD_MARTS_JOB, selection=dg.AssetSelection.assets(warehouse_models_asset(), warehouse_report),
    description="dbt build of staging, intermediate and mart models, then the HTML report.")
