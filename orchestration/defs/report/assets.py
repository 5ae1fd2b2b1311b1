"""The report as an asset: one self-contained HTML file rebuilt after the marts."""


import dagster as dg

from orchestration.report.build import write_report
from orchestration.resources import WarehouseSettings

MART_KEYS = [dg.AssetKey(["marts", name]) for name in (
    "fct_ai_interactions", "mart_session_cost", "mart_feature_quality_daily", "mart_latency_slo",
    "mart_model_drift", "mart_routing")]


@dg.asset(deps=MART_KEYS, group_name="reports", kinds={"html"}, pool="duckdb",
          description="AIW_HOME/reports/report.html: cost per day by model, session cost distribution, TTFT p95 "
                      "vs SLO, quality and regeneration by feature, drift table, routing shares. Opens offline.")
def warehouse_report(context: dg.AssetExecutionContext, settings: WarehouseSettings) -> dg.MaterializeResult:
    result = write_report(settings.layout())
    d, h = result.data, result.data.headline
    context.log.info(f"report written to {result.path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.path)),
        "size_kib": round(result.bytes / 1024, 1),
        "events_from": str(d.first_date), "events_to": str(d.last_date),
        "interactions": h["interactions"], "cost_usd": round(h["cost_usd"], 2),
        "sessions_over_budget": h["sessions_over_budget"],
        "slo_breach_series": len(d.slo_breaches), "drifting_versions": len(d.drift),
    })
