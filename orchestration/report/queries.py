"""What the report shows, read from the marts (read-only) into plain Python values."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb

from orchestration.warehouse import findings

# Session-cost bin edges in USD: roughly logarithmic, because session costs span four orders of magnitude
# and a linear histogram would put almost every session in its first bar.
COST_EDGES = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]


@dataclass
class ReportData:
    """Everything one report page needs, already aggregated."""

    first_date: dt.date | None = None
    last_date: dt.date | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    cost_by_day_model: list[tuple[str, str, float]] = field(default_factory=list)  # day, model, USD
    session_costs: list[float] = field(default_factory=list)
    session_budget: float | None = None
    feature_daily: list[tuple[str, str, float | None, float | None, float | None]] = field(default_factory=list)
    # (feature, day, ttft_p95_ms, avg_implicit_quality, regeneration_rate)
    slo_ttft_ms: float | None = None
    slo_breaches: list[tuple[str, str, int, float, str]] = field(default_factory=list)
    # (feature, model, breached hours, worst p95 ms, first breached hour)
    drift: list[tuple[str, str, str, int, int, str]] = field(default_factory=list)
    # (model, version, first drift day, days drifting, interactions on drifting days, latest reason)
    routing: list[tuple[str, str, int]] = field(default_factory=list)  # feature, strategy, interactions
    top_sessions: list[tuple[str, str, int, float, bool]] = field(default_factory=list)


def session_cost_bins(costs: list[float], budget: float | None) -> tuple[list[tuple[str, int]], int | None]:
    """Count sessions per cost bin; return the bins and the index of the first bin at or above the budget."""
    edges = sorted(set(COST_EDGES + ([budget] if budget else [])))
    counts = Counter()
    for c in costs:
        counts[sum(1 for e in edges if c >= e)] += 1  # bin i holds edges[i-1] <= c < edges[i]
    labels = [f"<${edges[0]:g}"] + [f"${a:g}-{b:g}" for a, b in zip(edges, edges[1:], strict=False)] \
        + [f">=${edges[-1]:g}"]
    bins = [(label, counts.get(i, 0)) for i, label in enumerate(labels)]
    # Trim empty bins at both ends so the chart spends its width on the data.
    lo = next((i for i, (_, n) in enumerate(bins) if n), 0)
    hi = max((i for i, (_, n) in enumerate(bins) if n), default=len(bins) - 1)
    hot = edges.index(budget) + 1 if budget in edges else None
    return bins[lo:hi + 1], (None if hot is None else max(hot - lo, 0))


def read_report_data(con: duckdb.DuckDBPyConnection) -> ReportData:
    """Run the report's queries against the marts schema (the findings from orchestration/warehouse/findings.py)."""
    d = ReportData()

    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    t = findings.totals(con)
    d.first_date, d.last_date = t.first_date, t.last_date
    d.headline = {"interactions": t.interactions, "cost_usd": t.cost_usd, "sessions": t.sessions,
                  "sessions_over_budget": t.sessions_over_budget, "users": t.users}
    d.cost_by_day_model = [(str(day), model, c) for day, model, c in rows(
        "select event_date, model_id, sum(cost_usd) from marts.fct_ai_interactions group by all order by 1, 2")]
    d.session_costs = [c for (c,) in rows("select cost_usd from marts.mart_session_cost")]
    budget = rows("select budget_usd from marts.mart_session_cost group by 1 order by count(*) desc limit 1")
    d.session_budget = budget[0][0] if budget else None
    d.feature_daily = [(f, str(day), p95, q, r) for f, day, p95, q, r in rows(
        "select feature_id, event_date, ttft_p95_ms, avg_implicit_quality, regeneration_rate "
        "from marts.mart_feature_quality_daily order by 1, 2")]
    slo = rows("select min(slo_ttft_ms) from marts.mart_latency_slo")
    d.slo_ttft_ms = slo[0][0] if slo else None
    d.slo_breaches = [(b.feature_id, b.model_id, b.breached_hours, b.worst_p95_ms, f"{b.first_hour:%Y-%m-%d %H}:00")
                      for b in findings.slo_breaches(con)]
    d.drift = [(x.model_id, x.model_version, str(x.first_day), x.days, x.interactions, x.latest_reason)
               for x in findings.model_drift(con)]
    d.routing = rows("select feature_id, routing_strategy, sum(interactions)::bigint from marts.mart_routing "
                     "group by all order by 1, 2")
    d.top_sessions = rows("select session_id, user_id, interactions, cost_usd, over_budget "
                          "from marts.mart_session_cost order by cost_usd desc, session_id limit 10")
    return d
