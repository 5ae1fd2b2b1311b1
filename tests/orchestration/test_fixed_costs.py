"""An `aiw run` with nothing new skips dbt; anything that could change a mart makes it build (real runs)."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.defs.warehouse import inputs
from orchestration.defs.warehouse.assets import warehouse_models_asset
from orchestration.defs.warehouse.project import dbt_resource
from orchestration.defs.warehouse.upgrade import WAREHOUSE_FORMAT
from orchestration.pipeline import PipelineSummary, run_pipeline
from orchestration.resources import WarehouseSettings
from tests.conftest import END_DATE, event, write_landing


def _run(layout: Layout) -> tuple[PipelineSummary, bool]:
    """One `aiw run`; whether dbt built, seen from the warehouse file itself (a build writes it)."""
    before = layout.warehouse.stat().st_mtime_ns if layout.warehouse.exists() else None
    summary = run_pipeline(layout, say=lambda _: None)
    assert summary.ok, (summary.blocked_reason, summary.dbt_error)
    built = layout.warehouse.stat().st_mtime_ns != before
    # The pipeline's own account agrees with the file: a skipped build has no dbt time.
    assert built == ("dbt" in summary.seconds) == (not summary.dbt_skipped)
    return summary, built


def _fact_rows(layout: Layout) -> int:
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        return con.execute("select count(*) from marts.fct_ai_interactions").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, int]:
    layout = Layout.from_env(tmp_path_factory.mktemp("fixed") / "aiw").ensure()
    gen = synthetic.generate(layout, synthetic.Options(events=400, days=1, seed=11, end_date=END_DATE))
    _, built = _run(layout)
    assert built and _fact_rows(layout) == gen.valid_interactions
    return layout, gen.valid_interactions


def test_an_empty_increment_skips_dbt_and_still_evaluates_alerts(built_home):
    layout, rows = built_home
    summary, built = _run(layout)
    assert not built and summary.dbt_skipped and not summary.dbt_warm_start
    assert summary.alerts is not None and summary.alerts.skipped_reason is None  # alerts still evaluated
    assert _fact_rows(layout) == rows


def test_a_new_lake_load_builds(built_home):
    layout, rows = built_home
    write_landing(layout, "late.ndjson", [event(20_001), event(20_002)], load_date=END_DATE.isoformat())
    summary, built = _run(layout)
    assert built and summary.counts.accepted == 2
    # Built by the dbt process started at the beginning of the run (warm_dbt.py), with the new rows.
    assert summary.dbt_warm_start
    assert _fact_rows(layout) == rows + 2
    assert not _run(layout)[1]  # and the run after it has nothing to do again


def test_a_failed_build_is_rebuilt_by_the_next_run_with_the_same_inputs(built_home, monkeypatch):
    layout, _ = built_home
    assert inputs.why_build(layout) is None
    # A build that fails with the same inputs (a DuckDB setting dbt cannot apply): it may have rewritten
    # some marts before failing, so the next run must not trust the record of the build before it.
    monkeypatch.setenv("AIW_DUCKDB_MEMORY_LIMIT", "not-a-size")
    result = dg.materialize([warehouse_models_asset()], raise_on_error=False,
                            resources={"settings": WarehouseSettings(home=str(layout.home)), "dbt": dbt_resource()})
    assert not result.success
    monkeypatch.delenv("AIW_DUCKDB_MEMORY_LIMIT")
    assert inputs.why_build(layout) == "no record of a complete, successful build"
    assert _run(layout)[1]
    assert not _run(layout)[1]


def test_an_older_warehouse_format_builds(built_home):
    layout, rows = built_home
    layout.warehouse_format_stamp.write_text("1\n")
    assert "earlier version" in (inputs.why_build(layout) or "")
    assert _run(layout)[1]
    assert layout.warehouse_format_stamp.read_text().strip() == WAREHOUSE_FORMAT
    assert _fact_rows(layout) >= rows


def test_a_changed_seed_or_dbt_file_means_a_build(built_home, monkeypatch, tmp_path):
    """Without running dbt on an edited copy of the project: why_build is what the pipeline asks."""
    layout, _ = built_home
    project = tmp_path / "dbt_project"
    shutil.copytree(inputs.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(inputs, "DBT_PROJECT_DIR", project)
    assert inputs.why_build(layout) is None  # the copy has the same files: same fingerprint

    seed = project / "seeds" / "price_overrides.csv"
    original = seed.read_bytes()
    seed.write_bytes(original + b"\n")
    assert inputs.why_build(layout) == "changed since the last build: dbt_project"
    seed.write_bytes(original)
    assert inputs.why_build(layout) is None

    (project / "models" / "marts" / "mart_extra.sql").write_text("select 1 as one\n")
    assert inputs.why_build(layout) == "changed since the last build: dbt_project"
    (project / "models" / "marts" / "mart_extra.sql").unlink()
    (project / "target").mkdir(exist_ok=True)
    (project / "target" / "run_results.json").write_text("{}")  # dbt's own output is not an input
    assert inputs.why_build(layout) is None

    monkeypatch.setenv("AIW_DBT_TARGET", "spark")
    assert inputs.why_build(layout) == "changed since the last build: AIW_DBT_TARGET"


def test_a_new_genai_prices_release_builds(built_home, monkeypatch):
    layout, _ = built_home
    real_version = inputs.metadata.version
    monkeypatch.setattr(inputs.metadata, "version",
                        lambda name: "99.0.0" if name == "genai-prices" else real_version(name))
    assert inputs.why_build(layout) == "changed since the last build: genai_prices"
    assert _run(layout)[1]


def test_a_missing_warehouse_builds(tmp_path):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    assert inputs.why_build(layout) == "no warehouse yet"


def test_the_dbt_startup_hooks_we_override_are_still_the_ones_dagster_dbt_calls():
    """WarehouseDbtCliResource saves two dbt start-ups by overriding private hooks of the pinned
    dagster-dbt; if a new release renames them, the overrides would silently stop saving anything."""
    cli_source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in cli_source and "self._initialize_dbt_core_adapter(" in cli_source
    resource = dbt_resource()
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    assert str(resource._cli_version) == inputs.metadata.version("dbt-core")
    assert Path(resource.dbt_executable).exists()
