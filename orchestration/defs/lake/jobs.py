"""Jobs over the lake asset (kept apart from definitions.py so sensors and schedules can target them)."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.lake.assets import load_date_partitions, load_lake
from orchestration.names import LOAD_LAKE_JOB

load_lake_job = dg.define_asset_job(
    LOAD_LAKE_JOB, selection=[load_lake], partitions_def=load_date_partitions,
    description="Load one load date's landing files into the lake (with the contract check).")
