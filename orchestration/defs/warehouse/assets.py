"""dbt models as Dagster assets: staging -> intermediate -> marts, with dbt tests as asset checks."""


from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ingestion.lake.writer_lock import writer_lock
from ingestion.prices import lake_directory, resolve_lake_models
from orchestration.defs.warehouse.inputs import build_inputs, forget_build, record_build
from orchestration.defs.warehouse.project import dbt_project, ensure_manifest, finish_invocation
from orchestration.defs.warehouse.upgrade import needs_full_refresh, record_format
from orchestration.metadata import mart_metadata
from orchestration.names import WAREHOUSE_MODELS
from orchestration.resources import WarehouseSettings, dbt_sees_home
from orchestration.warehouse.connection import open_readonly


def with_mart_metadata(events: list[Any], warehouse: Path, context: dg.AssetExecutionContext) -> Iterator[Any]:
    """The dbt events, with row counts and Markdown tables added to materializations of marts models."""
    con = open_readonly(warehouse) if warehouse.exists() else None
    try:
        for event in events:
            key = getattr(event, "asset_key", None)
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
            if con is None or key is None or len(key.path) != 2 or key.path[0] != "marts":
                yield event
                continue
            extra = mart_metadata(con, key.path[1])
            if isinstance(event, dg.Output):
                yield event.with_metadata({**event.metadata, **extra})
            elif isinstance(event, dg.MaterializeResult):
                yield event._replace(metadata={**(event.metadata or {}), **extra})
            else:
                yield event
    finally:
        if con is not None:
            con.close()


class WarehouseTranslator(DagsterDbtTranslator):
    """Asset groups follow the dbt folders (staging, intermediate, marts, audit)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)


@cache
def warehouse_models_asset() -> dg.AssetsDefinition:
    """The dbt models as one multi-asset, made on first use (cached): importing this module parses nothing.

    The asset graph comes from dbt's manifest, so the first call needs one; ensure_manifest() runs
    `dbt parse` only when the manifest is missing or was parsed from other project files.
    """

    @dbt_assets(
        manifest=ensure_manifest(),
        project=dbt_project(),
        dagster_dbt_translator=WarehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
        pool="duckdb",
        name=WAREHOUSE_MODELS,
    )
    def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                         settings: WarehouseSettings) -> Iterator[Any]:
        """`dbt build` of the selected models against $AIW_HOME/warehouse.duckdb.

        The formula unit tests are code tests, not data checks: they run in the test suite
        (tests/dbt_project/test_dbt_unit.py), not on every data run.
        """
        layout = settings.layout()
        # Hold the materializations until dbt has exited: only then can this process open the warehouse
        # (DuckDB has one writer) to add row counts and the Markdown tables to each mart's materialization.
        # One writer per AIW_HOME: a dbt build never runs beside a lake load or another build.
        with writer_lock(layout.home, f"Dagster run {context.run_id[:8]} (dbt build)", say=context.log.info):
            # What this build reads, taken before it starts; recorded only once it has succeeded, so that a
            # later `aiw run` with the same inputs can skip dbt (inputs.py). Until then nothing is recorded.
            inputs = build_inputs(layout)
            forget_build(layout)
            # genai-prices decides what each model string means (ingestion/prices.py): once per distinct
            # model key in the lake, right before dbt prices the calls with it.
            keys = resolve_lake_models(lake_directory(layout))
            context.log.info(f"resolved {keys} distinct (provider, model_id, model_version) keys with genai-prices")
            args = ["build", "--exclude-resource-type", "unit_test"]
            if needs_full_refresh(layout):
                context.log.warning("warehouse.duckdb was built by an earlier version of this project: rebuilding "
                                    "every selected model from the lake (dbt build --full-refresh)")
                args.append("--full-refresh")
            with dbt_sees_home(layout):  # profiles.yml and the lake sources read AIW_HOME
                invocation = dbt.cli(args, context=context)
            events = list(invocation.stream())  # raises when a model or a data test fails
            finish_invocation(invocation.target_path)
            if not context.is_subset:  # a build of some models leaves the others in their old format
                record_format(layout)
                record_build(layout, inputs)
            yield from with_mart_metadata(events, layout.warehouse, context)

    return warehouse_models
