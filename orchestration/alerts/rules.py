"""The alert rules: each reads the marts and returns every alert that holds now (fired before or not).

The engine (orchestration/alerts/engine.py) keeps only the ones not fired before; each alert's `key` says
what "the same finding" is (a session, a user's breach episode, a run of breached hours, a model version).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from orchestration.alerts.model import Alert

# A rule reads the marts and returns every alert that holds now (fired before or not).
Rule = Callable[[duckdb.DuckDBPyConnection], list[Alert]]


def sessions_over_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    rows = con.execute("""
        select session_id, user_id, cost_usd, budget_usd, interactions, first_event_ts, last_event_ts
        from marts.mart_session_cost where over_budget order by cost_usd desc
    """).fetchall()
    return [Alert(
        key=f"session_over_budget:{sid}", kind="session_over_budget",
        title=f"Session {sid} cost ${cost:.2f}, over its ${budget:.2f} budget",
        details={"session_id": sid, "user_id": uid, "cost_usd": round(cost, 6), "budget_usd": budget,
                 "interactions": n, "first_event_ts": str(first), "last_event_ts": str(last),
                 "action": "Look at this session's calls in fct_ai_interactions; consider a per-session cap."})
        for sid, uid, cost, budget, n, first, last in rows]


def users_over_rolling_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per user and breach episode: the first day the rolling cost went over budget."""
    alerts = []
    for window in ("7d", "30d"):
        rows = con.execute(f"""
            with flagged as (
                select *, lag(over_budget_{window}) over (partition by user_id order by event_date) as was_over
                from marts.mart_user_cost_daily
            )
            select user_id, event_date, cost_usd_{window}, budget_{window}_usd
            from flagged where over_budget_{window} and not coalesce(was_over, false)
            order by event_date, user_id
        """).fetchall()
        alerts += [Alert(
            key=f"user_over_budget_{window}:{uid}:{day}", kind=f"user_over_budget_{window}",
            title=f"User {uid} spent ${cost:.2f} in the {window} to {day}, over the ${budget:.2f} budget",
            details={"user_id": uid, "event_date": str(day), "window": window, "cost_usd": round(cost, 6),
                     "budget_usd": budget,
                     "action": "Check this user's sessions in mart_session_cost; consider a per-user cap."})
            for uid, day, cost, budget in rows]
    return alerts


def latency_slo_breaches(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per feature x model and run of consecutive breached hours (its first hour)."""
    rows = con.execute("""
        with flagged as (
            select *,
                   lag(hour_ts) over (partition by feature_id, model_id order by hour_ts) as previous_breach
            from marts.mart_latency_slo where slo_breached
        )
        select feature_id, model_id, hour_ts, ttft_p95_ms, slo_ttft_ms, ttft_samples
        from flagged
        where previous_breach is null or previous_breach <> hour_ts - interval 1 hour
        order by hour_ts, feature_id, model_id
    """).fetchall()
    return [Alert(
        key=f"latency_slo:{feature}:{model}:{hour:%Y-%m-%dT%H}", kind="latency_slo_breach",
        title=f"{feature} on {model}: p95 TTFT {p95:.0f} ms over the {slo:.0f} ms SLO from {hour:%Y-%m-%d %H}:00 UTC",
        details={"feature_id": feature, "model_id": model, "hour_ts": hour.isoformat(), "ttft_p95_ms": round(p95, 1),
                 "slo_ttft_ms": slo, "samples": n,
                 "action": "Compare model versions in mart_model_drift and routes in mart_routing for this feature."})
        for feature, model, hour, p95, slo, n in rows]


def model_drift(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per drifting model version, on the first day it drifted."""
    rows = con.execute("""
        select model_id, model_version, event_date, drift_reason, interactions
        from marts.mart_model_drift where drift_detected
        qualify row_number() over (partition by model_id, model_version order by event_date) = 1
        order by event_date, model_id, model_version
    """).fetchall()
    return [Alert(
        key=f"model_drift:{model}@{version}", kind="model_drift",
        title=f"{model} {version} got worse on {day}: {reason}",
        details={"model_id": model, "model_version": version, "event_date": str(day), "reason": reason,
                 "interactions": n,
                 "action": "Roll the version back or pin the previous one; see mart_model_drift for the daily tests."})
        for model, version, day, reason, n in rows]


RULES: dict[str, Rule] = {
    "session_over_budget": sessions_over_budget,
    "user_over_budget": users_over_rolling_budget,
    "latency_slo_breach": latency_slo_breaches,
    "model_drift": model_drift,
}
