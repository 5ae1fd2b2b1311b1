"""The alert rules: each reads the marts and returns every alert that holds now (fired before or not).

The engine (orchestration/alerts/engine.py) keeps only the ones not fired before; each alert's `key` says
what "the same finding" is (a session, a user's breach episode, a run of breached hours, a model version).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from orchestration.alerts.model import Alert
from orchestration.warehouse import findings

# A rule reads the marts and returns every alert that holds now (fired before or not).
Rule = Callable[[duckdb.DuckDBPyConnection], list[Alert]]


def sessions_over_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    return [Alert(
        key=f"session_over_budget:{s.session_id}", kind="session_over_budget",
        title=f"Session {s.session_id} cost ${s.cost_usd:.2f}, over its ${s.budget_usd:.2f} budget",
        details={"session_id": s.session_id, "user_id": s.user_id, "cost_usd": round(s.cost_usd, 6),
                 "budget_usd": s.budget_usd, "interactions": s.interactions,
                 "first_event_ts": str(s.first_event_ts), "last_event_ts": str(s.last_event_ts),
                 "action": "Look at this session's calls in fct_ai_interactions; consider a per-session cap."})
        for s in findings.sessions_over_budget(con)]


def users_over_rolling_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per user and breach episode: the first day the rolling cost went over budget."""
    return [Alert(
        key=f"user_over_budget_{b.window}:{b.user_id}:{b.event_date}", kind=f"user_over_budget_{b.window}",
        title=(f"User {b.user_id} spent ${b.cost_usd:.2f} in the {b.window} to {b.event_date}, "
               f"over the ${b.budget_usd:.2f} budget"),
        details={"user_id": b.user_id, "event_date": str(b.event_date), "window": b.window,
                 "cost_usd": round(b.cost_usd, 6), "budget_usd": b.budget_usd,
                 "action": "Check this user's sessions in mart_session_cost; consider a per-user cap."})
        for window in findings.WINDOWS for b in findings.user_budget_breaches(con, window)]


def tags_over_rolling_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per budgeted tag value, window and breach episode: the first day it went over budget."""
    return [Alert(
        key=f"tag_over_budget_{b.window_days}d:{b.tag_key}={b.tag_value}:{b.event_date}",
        kind=f"tag_over_budget_{b.window_days}d",
        title=(f"{b.tag_key}={b.tag_value} spent ${b.cost_usd:.2f} in the {b.window_days} days to {b.event_date}, "
               f"over the ${b.budget_usd:.2f} budget"),
        details={"tag_key": b.tag_key, "tag_value": b.tag_value, "window_days": b.window_days,
                 "event_date": str(b.event_date), "cost_usd": round(b.cost_usd, 6), "budget_usd": b.budget_usd,
                 "budget_line": f"{b.tag_key},{b.budget_tag_value},{b.window_days}",
                 "action": "See mart_cost_by_tag_daily for this tag value's days; raise the budget in "
                           "dbt_project/seeds/tag_budgets.csv or cap its callers."})
        for b in findings.tag_budget_breaches(con)]


def spend_forecasts_over_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per budgeted tag value and run of days in a month whose month-end projection is over budget."""
    return [Alert(
        key=f"spend_forecast_over_budget:{f.dimension_key}={f.dimension_value}:{f.event_date}",
        kind="spend_forecast_over_budget",
        title=(f"{f.dimension_key}={f.dimension_value} is on course for ${f.projected_month_cost_usd:.2f} this month "
               f"(${f.month_to_date_cost_usd:.2f} so far on {f.event_date}), over the ${f.budget_usd:.2f} budget"),
        details={"tag_key": f.dimension_key, "tag_value": f.dimension_value, "event_date": str(f.event_date),
                 "month_to_date_cost_usd": round(f.month_to_date_cost_usd, 6),
                 "projected_month_cost_usd": round(f.projected_month_cost_usd, 6),
                 "projected_month_cost_high_usd": (None if f.projected_month_cost_high_usd is None
                                                   else round(f.projected_month_cost_high_usd, 6)),
                 "budget_usd": round(f.budget_usd, 6),
                 "budget_runs_out_on": None if f.budget_runs_out_on is None else str(f.budget_runs_out_on),
                 "action": "See mart_spend_forecast for the run rate and mart_cost_by_tag_daily for the days; "
                           "raise the budget in dbt_project/seeds/tag_budgets.csv or cap its callers."})
        for f in findings.spend_forecasts_over_budget(con)]


def spend_anomalies(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per feature or budgeted tag value and run of consecutive days whose cost jumped."""
    return [Alert(
        key=f"spend_anomaly:{a.dimension_key}={a.dimension_value}:{a.event_date}", kind="spend_anomaly",
        title=(f"{a.dimension_key}={a.dimension_value} cost ${a.cost_usd:.2f} on {a.event_date}, against a "
               f"${a.baseline_median_usd:.2f} median of the same weekday"),
        details={"dimension": a.dimension, "dimension_key": a.dimension_key, "dimension_value": a.dimension_value,
                 "event_date": str(a.event_date), "cost_usd": round(a.cost_usd, 6),
                 "baseline_median_usd": round(a.baseline_median_usd, 6),
                 "robust_z": None if a.robust_z is None else round(a.robust_z, 2), "baseline_weeks": a.baseline_weeks,
                 "action": "See that day's calls in fct_ai_interactions (tokens per call, models, routes) and "
                           "mart_spend_anomalies for the baseline."})
        for a in findings.spend_anomalies(con)]


def latency_slo_breaches(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per feature x model and run of consecutive breached hours (its first hour)."""
    return [Alert(
        key=f"latency_slo:{r.feature_id}:{r.model_id}:{r.hour_ts:%Y-%m-%dT%H}", kind="latency_slo_breach",
        title=(f"{r.feature_id} on {r.model_id}: p95 TTFT {r.ttft_p95_ms:.0f} ms over the {r.slo_ttft_ms:.0f} ms "
               f"SLO from {r.hour_ts:%Y-%m-%d %H}:00 UTC"),
        details={"feature_id": r.feature_id, "model_id": r.model_id, "hour_ts": r.hour_ts.isoformat(),
                 "ttft_p95_ms": round(r.ttft_p95_ms, 1), "slo_ttft_ms": r.slo_ttft_ms, "samples": r.samples,
                 "action": "Compare model versions in mart_model_drift and routes in mart_routing for this feature."})
        for r in findings.slo_breach_runs(con)]


def model_drift(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per drifting model version, on the first day it drifted."""
    return [Alert(
        key=f"model_drift:{d.model_id}@{d.model_version}", kind="model_drift",
        title=f"{d.model_id} {d.model_version} got worse on {d.first_day}: {d.first_reason}",
        details={"model_id": d.model_id, "model_version": d.model_version, "event_date": str(d.first_day),
                 "reason": d.first_reason, "interactions": d.first_day_interactions,
                 "action": "Roll the version back or pin the previous one; see mart_model_drift for the daily tests."})
        for d in findings.model_drift(con)]


RULES: dict[str, Rule] = {
    "session_over_budget": sessions_over_budget,
    "user_over_budget": users_over_rolling_budget,
    "tag_over_budget": tags_over_rolling_budget,
    "spend_forecast_over_budget": spend_forecasts_over_budget,
    "spend_anomaly": spend_anomalies,
    "latency_slo_breach": latency_slo_breaches,
    "model_drift": model_drift,
}
