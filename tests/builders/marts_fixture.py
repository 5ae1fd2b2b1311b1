"""A small warehouse with hand-written mart rows, so report numbers can be checked against plain Python."""

from __future__ import annotations

import datetime as dt

import duckdb

from ingestion.layout import Layout

DAYS = [dt.date(2026, 11, 18) + dt.timedelta(days=i) for i in range(3)]
# (event_date, model_id, user_id, cost_usd): one row per interaction
INTERACTIONS = [(DAYS[i % 3], model, f"u{i % 4}", round(0.01 * (i % 7 + 1) * (3 if model == "gpt-4o" else 1), 4))
                for i in range(60) for model in (("gpt-4o", "gpt-4o-mini") if i % 2 else ("gpt-4o-mini",))]
# (session_id, user_id, interactions, cost_usd, budget_usd)
SESSIONS = [(f"s{i}", f"u{i % 4}", i % 5 + 1, c, 0.5) for i, c in enumerate(
    [0.0005, 0.0015, 0.003, 0.004, 0.03, 0.03, 0.07, 0.3, 0.45, 0.5, 0.8, 1.7, 2.4])]
FEATURES = ["chat", "search"]
# (feature_id, event_date, ttft_p95_ms, avg_implicit_quality, regeneration_rate)
FEATURE_DAILY = [(f, d, 900.0 + 400 * i + (700 if f == "chat" else 0), 0.8 - 0.1 * i, 0.05 + 0.05 * i)
                 for f in FEATURES for i, d in enumerate(DAYS)]
SLO_MS = 1500.0
# (feature_id, model_id, hour_ts, ttft_p95_ms, slo_breached)
LATENCY = [("chat", "gpt-4o", dt.datetime(2026, 11, 19, h), 1400.0 + 60 * h, 1400.0 + 60 * h > SLO_MS)
           for h in range(5)]
# (model_id, model_version, event_date, interactions, drift_detected, drift_reason)
DRIFT = [("gpt-4o", "2024-11-20", DAYS[1], 40, True, "regeneration_rate 0.3 vs 0.08"),
         ("gpt-4o", "2024-11-20", DAYS[2], 45, True, "regeneration_rate 0.31 vs 0.08"),
         ("gpt-4o", "2024-08-06", DAYS[2], 90, False, None)]
# (feature_id, event_date, routing_strategy, interactions)
ROUTING = [("chat", DAYS[0], "primary", 80), ("chat", DAYS[1], "primary", 70), ("chat", DAYS[1], "fallback", 30),
           ("chat", DAYS[0], "cache", 20), ("search", DAYS[0], "primary", 50)]


def build(layout: Layout) -> None:
    """Write the marts above into layout.warehouse (only the columns the report reads)."""
    con = duckdb.connect(str(layout.warehouse))
    try:
        con.execute("create schema marts")
        con.execute("create table marts.fct_ai_interactions (event_date date, model_id varchar, user_id varchar, "
                    "cost_usd double)")
        con.executemany("insert into marts.fct_ai_interactions values (?, ?, ?, ?)", INTERACTIONS)
        con.execute("create table marts.mart_session_cost (session_id varchar, user_id varchar, interactions int, "
                    "cost_usd double, budget_usd double, over_budget boolean)")
        con.executemany("insert into marts.mart_session_cost values (?, ?, ?, ?, ?, ? > ?)",
                        [(*s, s[3], s[4]) for s in SESSIONS])
        con.execute("create table marts.mart_feature_quality_daily (feature_id varchar, event_date date, "
                    "ttft_p95_ms double, avg_implicit_quality double, regeneration_rate double)")
        con.executemany("insert into marts.mart_feature_quality_daily values (?, ?, ?, ?, ?)", FEATURE_DAILY)
        con.execute("create table marts.mart_latency_slo (feature_id varchar, model_id varchar, hour_ts timestamp, "
                    "ttft_p95_ms double, slo_ttft_ms double, slo_breached boolean)")
        con.executemany("insert into marts.mart_latency_slo values (?, ?, ?, ?, ?, ?)",
                        [(f, m, h, p, SLO_MS, b) for f, m, h, p, b in LATENCY])
        con.execute("create table marts.mart_model_drift (model_id varchar, model_version varchar, event_date date, "
                    "interactions int, drift_detected boolean, drift_reason varchar)")
        con.executemany("insert into marts.mart_model_drift values (?, ?, ?, ?, ?, ?)", DRIFT)
        con.execute("create table marts.mart_routing (feature_id varchar, event_date date, routing_strategy varchar, "
                    "interactions int)")
        con.executemany("insert into marts.mart_routing values (?, ?, ?, ?)", ROUTING)
    finally:
        con.close()
