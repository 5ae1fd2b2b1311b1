"""The findings, read from the marts once for every reader: the alert rules, `aiw demo`, the marts' Dagster
metadata and the HTML report all show these values, so they cannot disagree.

Each function runs one query on a read-only connection (connection.py) and returns typed rows in a fixed
order; readers format them and never query the same thing again. The marts decide what is a breach, a
drift or a jump (their columns `slo_breached`, `drift_detected`, `over_budget*`, `projected_over_budget`,
`is_anomaly`); this module only gathers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import duckdb

Window = Literal["7d", "30d"]
WINDOWS: tuple[Window, ...] = ("7d", "30d")


@dataclass(frozen=True)
class Totals:
    """The headline: interactions (and their span of days, cost, users) and sessions (and how many over budget)."""

    first_date: dt.date | None
    last_date: dt.date | None
    interactions: int
    cost_usd: float
    users: int
    sessions: int
    sessions_over_budget: int
    over_budget_cost_usd: float  # the cost of the sessions over budget, together


def totals(con: duckdb.DuckDBPyConnection) -> Totals:
    (first, last, interactions, cost, users), = con.execute(
        "select min(event_date), max(event_date), count(*), coalesce(sum(cost_usd), 0), count(distinct user_id) "
        "from marts.fct_ai_interactions").fetchall()
    (sessions, over, over_cost), = con.execute(
        "select count(*), count_if(over_budget), coalesce(sum(cost_usd) filter (where over_budget), 0) "
        "from marts.mart_session_cost").fetchall()
    return Totals(first, last, interactions, cost, users, sessions, over, over_cost)


@dataclass(frozen=True)
class SessionOverBudget:
    session_id: str
    user_id: str
    cost_usd: float
    budget_usd: float
    interactions: int
    first_event_ts: dt.datetime
    last_event_ts: dt.datetime


def sessions_over_budget(con: duckdb.DuckDBPyConnection) -> list[SessionOverBudget]:
    """Every session over its budget, costliest first."""
    return [SessionOverBudget(*row) for row in con.execute("""
        select session_id, user_id, cost_usd, budget_usd, interactions, first_event_ts, last_event_ts
        from marts.mart_session_cost where over_budget order by cost_usd desc, session_id
    """).fetchall()]


@dataclass(frozen=True)
class UserBudgetBreach:
    """The first day of one episode of a user's rolling cost over budget (the days after it stay over)."""

    user_id: str
    event_date: dt.date
    window: Window
    cost_usd: float
    budget_usd: float


def user_budget_breaches(con: duckdb.DuckDBPyConnection, window: Window) -> list[UserBudgetBreach]:
    """Each episode of a user's rolling `window` cost over budget, on its first day, in date order."""
    if window not in WINDOWS:
        raise ValueError(f"window {window!r}: use one of {WINDOWS}")
    return [UserBudgetBreach(uid, day, window, cost, budget) for uid, day, cost, budget in con.execute(f"""
        with flagged as (
            select *, lag(over_budget_{window}) over (partition by user_id order by event_date) as was_over
            from marts.mart_user_cost_daily
        )
        select user_id, event_date, cost_usd_{window}, budget_{window}_usd
        from flagged where over_budget_{window} and not coalesce(was_over, false)
        order by event_date, user_id
    """).fetchall()]


@dataclass(frozen=True)
class UserOverBudget:
    """A user whose rolling cost went over budget at least once: since when, and how high it got."""

    user_id: str
    first_day: dt.date
    peak_cost_usd: float
    budget_usd: float


def users_over_budget(con: duckdb.DuckDBPyConnection, window: Window = "7d") -> list[UserOverBudget]:
    """Every user ever over the rolling `window` budget, highest peak first."""
    if window not in WINDOWS:
        raise ValueError(f"window {window!r}: use one of {WINDOWS}")
    return [UserOverBudget(*row) for row in con.execute(f"""
        select user_id, min(event_date), max(cost_usd_{window}), any_value(budget_{window}_usd)
        from marts.mart_user_cost_daily where over_budget_{window} group by 1 order by 3 desc, 1
    """).fetchall()]


@dataclass(frozen=True)
class TagBudgetBreach:
    """The first day of one episode of a tag value's rolling cost over its budget (the days after it stay over)."""

    tag_key: str
    tag_value: str
    window_days: int
    event_date: dt.date
    cost_usd: float
    budget_usd: float
    budget_tag_value: str  # the budget line: the value itself or '*'


def tag_budget_breaches(con: duckdb.DuckDBPyConnection) -> list[TagBudgetBreach]:
    """Each episode of a budgeted tag value's rolling cost over budget, on its first day, in date order.

    An episode is a run of the value's days with calls (the mart's rows) that are all over budget, as for
    the user budgets: a day back under budget ends it, and the next day over starts another."""
    return [TagBudgetBreach(*row) for row in con.execute("""
        with flagged as (
            select *, lag(over_budget) over (partition by tag_key, tag_value, window_days order by event_date)
                      as was_over
            from marts.mart_tag_budget_daily
        )
        select tag_key, tag_value, window_days, event_date, cost_usd_window, budget_usd, budget_tag_value
        from flagged where over_budget and not coalesce(was_over, false)
        order by event_date, tag_key, tag_value, window_days
    """).fetchall()]


@dataclass(frozen=True)
class SpendForecastOverBudget:
    """The first day of a run of days whose month-end projection for a budgeted series is over its budget."""

    dimension_key: str
    dimension_value: str
    event_date: dt.date
    month_to_date_cost_usd: float
    projected_month_cost_usd: float
    projected_month_cost_high_usd: float | None
    budget_usd: float
    budget_runs_out_on: dt.date | None


def spend_forecasts_over_budget(con: duckdb.DuckDBPyConnection) -> list[SpendForecastOverBudget]:
    """Each episode of a projection over budget, on its first day, in date order.

    An episode is a run of the series' days with calls (the mart's rows) in one month that all project
    over budget: a day projecting under ends it, and a new month starts afresh (the budget is monthly)."""
    return [SpendForecastOverBudget(*row) for row in con.execute("""
        with flagged as (
            select *, lag(projected_over_budget) over (
                          partition by dimension, dimension_key, dimension_value, month_start order by event_date)
                      as was_over
            from marts.mart_spend_forecast
        )
        select dimension_key, dimension_value, event_date, month_to_date_cost_usd, projected_month_cost_usd,
               projected_month_cost_high_usd, budget_usd, budget_runs_out_on
        from flagged where projected_over_budget and not coalesce(was_over, false)
        order by event_date, dimension_key, dimension_value
    """).fetchall()]


@dataclass(frozen=True)
class SpendAnomaly:
    """The first day of a run of consecutive days whose cost jumped above the series' same-weekday baseline."""

    dimension: str
    dimension_key: str
    dimension_value: str
    event_date: dt.date
    cost_usd: float
    baseline_median_usd: float
    robust_z: float | None  # null when the baseline has no spread
    baseline_weeks: int


def spend_anomalies(con: duckdb.DuckDBPyConnection) -> list[SpendAnomaly]:
    """Each run of consecutive anomalous days of a feature or budgeted tag value, by its first day, in date order."""
    return [SpendAnomaly(*row) for row in con.execute("""
        with flagged as (
            select *, lag(event_date) over (partition by dimension, dimension_key, dimension_value
                                            order by event_date) as previous_anomaly
            from marts.mart_spend_anomalies where is_anomaly
        )
        select dimension, dimension_key, dimension_value, event_date, cost_usd, baseline_median_usd, robust_z,
               baseline_weeks
        from flagged
        where previous_anomaly is null or previous_anomaly <> event_date - 1
        order by event_date, dimension, dimension_key, dimension_value
    """).fetchall()]


@dataclass(frozen=True)
class SloBreaches:
    """One feature x model whose p95 time to first token broke the SLO: in how many hours, how badly, when."""

    feature_id: str
    model_id: str
    breached_hours: int
    worst_p95_ms: float
    slo_ttft_ms: float
    first_hour: dt.datetime
    last_hour: dt.datetime


def slo_breaches(con: duckdb.DuckDBPyConnection) -> list[SloBreaches]:
    """Every feature x model with a breached hour, most breached hours first."""
    return [SloBreaches(*row) for row in con.execute("""
        select feature_id, model_id, count(*), max(ttft_p95_ms), max(slo_ttft_ms), min(hour_ts), max(hour_ts)
        from marts.mart_latency_slo where slo_breached group by all order by 3 desc, 1, 2
    """).fetchall()]


@dataclass(frozen=True)
class SloBreachRun:
    """The first hour of a run of consecutive breached hours of one feature x model."""

    feature_id: str
    model_id: str
    hour_ts: dt.datetime
    ttft_p95_ms: float
    slo_ttft_ms: float
    samples: int


def slo_breach_runs(con: duckdb.DuckDBPyConnection) -> list[SloBreachRun]:
    """Each run of consecutive breached hours, by its first hour, in time order."""
    return [SloBreachRun(*row) for row in con.execute("""
        with flagged as (
            select *,
                   lag(hour_ts) over (partition by feature_id, model_id order by hour_ts) as previous_breach
            from marts.mart_latency_slo where slo_breached
        )
        select feature_id, model_id, hour_ts, ttft_p95_ms, slo_ttft_ms, ttft_samples
        from flagged
        where previous_breach is null or previous_breach <> hour_ts - interval 1 hour
        order by hour_ts, feature_id, model_id
    """).fetchall()]


@dataclass(frozen=True)
class Drift:
    """One model version that drifted: its first drifting day (with that day's reason and traffic) and since."""

    model_id: str
    model_version: str
    first_day: dt.date
    first_reason: str
    first_day_interactions: int
    days: int  # days flagged as drifting
    interactions: int  # on those days
    latest_reason: str


def model_drift(con: duckdb.DuckDBPyConnection) -> list[Drift]:
    """Every drifting model version, in the order they started drifting."""
    return [Drift(*row) for row in con.execute("""
        select model_id, model_version, min(event_date), arg_min(drift_reason, event_date),
               arg_min(interactions, event_date), count(*), sum(interactions), arg_max(drift_reason, event_date)
        from marts.mart_model_drift where drift_detected group by all order by 3, 1, 2
    """).fetchall()]
