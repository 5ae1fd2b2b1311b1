"""dbt models as Dagster assets: staging -> intermediate -> marts, with dbt tests as asset checks."""


import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.defs.warehouse.project import dbt_project, ensure_manifest
from orchestration.resources import WarehouseSettings


class WarehouseTranslator(DagsterDbtTranslator):
    """Asset groups follow the dbt folders (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project(),
    dagster_dbt_translator=WarehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    pool="duckdb",
)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                     settings: WarehouseSettings) -> Iterator[Any]:
    """`dbt build` of the selected models against $AIW_HOME/warehouse.duckdb.

    The formula unit tests are code tests, not data checks: they run in the test suite
    (tests/test_dbt_unit.py), not on every data run.
    """
    layout = settings.layout()
    os.environ["AIW_HOME"] = str(layout.home)  # profiles.yml and the lake sources read it
    yield from dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context).stream()
