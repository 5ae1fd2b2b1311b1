"""The Dagster code location loads, with the assets, the blocking contract check and the alert sensors."""

from __future__ import annotations

import dagster as dg


def test_definitions_load():
    from orchestration.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"lake_interactions", "lake_feedback", "marts/fct_ai_interactions", "marts/mart_session_cost",
            "marts/mart_model_drift", "marts/mart_latency_slo", "marts/mart_spend_forecast",
            "marts/mart_spend_anomalies"} <= keys
    lake_asset = defs.resolve_assets_def("lake_interactions")
    (spec,) = lake_asset.check_specs
    assert spec.name == "event_contract" and spec.blocking
    assert {s.name for s in defs.sensors} >= {"session_over_budget_alerts", "user_over_budget_alerts",
                                              "latency_slo_breach_alerts", "model_drift_alerts",
                                              "spend_forecast_over_budget_alerts", "spend_anomaly_alerts"}
    # dbt source -> lake asset: the marts sit downstream of the lake, not beside it.
    graph = defs.resolve_asset_graph()
    stg = dg.AssetKey(["staging", "stg_lake__interactions"])
    assert dg.AssetKey("lake_interactions") in graph.get(stg).parent_keys
