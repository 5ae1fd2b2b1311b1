"""The four readers of the findings (alert rules, `aiw demo`, the marts' Dagster metadata, the HTML report) show
the same numbers, and those numbers are the ones plain Python computes from the mart rows written here."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections import defaultdict

import duckdb
import pytest

from ingestion.layout import Layout
from orchestration.alerts.rules import RULES
from orchestration.cli import _findings
from orchestration.metadata import mart_metadata
from orchestration.report.queries import read_report_data
from orchestration.warehouse import findings
from orchestration.warehouse.connection import WarehouseBusy, WarehouseMissing, open_readonly, try_open_readonly

D = [dt.date(2026, 11, 17) + dt.timedelta(days=i) for i in range(6)]
SLO_MS = 1500.0


def _hour(h: int) -> dt.datetime:
    return dt.datetime(2026, 11, 19, h)


# (feature_id, model_id, hour, ttft_p95_ms, samples): breached when p95 > SLO. Two runs of chat x gpt-4o, a
# tie on breached hours with search x gpt-4o-mini, p95s ending in .5 (DuckDB and Python round those apart).
LATENCY = ([("chat", "gpt-4o", _hour(h), p, 30) for h, p in
            [(10, 1600.5), (11, 1700.0), (12, 2500.5), (13, 900.0), (15, 1800.0), (16, 1650.0)]]
           + [("search", "gpt-4o-mini", _hour(h), 1510.0 + h, 12) for h in range(10, 15)]
           + [("search", "gpt-4o", _hour(10), 700.0, 50)])
# (model_id, model_version, event_date, interactions, drift_detected, drift_reason)
DRIFT = [("gpt-4o", "v2", D[1], 40, True, "regeneration_rate 0.30 vs 0.08"),
         ("gpt-4o", "v2", D[2], 45, True, "regeneration_rate 0.31 vs 0.08"),
         ("gpt-4o", "v2", D[3], 47, False, None),
         ("gpt-4o", "v2", D[4], 50, True, "error_rate 0.2 vs 0.01"),
         ("gpt-4o-mini", "v1", D[2], 10, True, "avg_implicit_quality 0.4 vs 0.8"),
         ("gpt-4o-mini", "v0", D[2], 99, False, None)]
# (session_id, user_id, interactions, cost_usd, budget_usd)
SESSIONS = [("s1", "u1", 30, 2.4, 0.5), ("s2", "u2", 9, 0.9, 0.5), ("s3", "u1", 4, 0.6, 0.5),
            ("s4", "u3", 3, 0.3, 0.5), ("s5", "u2", 1, 0.1, 0.5)]
# (user_id, event_date, cost_usd_7d, cost_usd_30d): budgets 20 (7 days) and 60 (30 days)
USER_DAILY = [("u1", D[0], 5.0, 5.0), ("u1", D[1], 21.0, 26.0), ("u1", D[2], 25.5, 51.5), ("u1", D[3], 12.0, 63.5),
              ("u1", D[4], 22.25, 70.0), ("u2", D[1], 30.0, 30.0), ("u2", D[2], 3.0, 33.0), ("u3", D[0], 1.0, 1.0)]
BUDGET_7D, BUDGET_30D = 20.0, 60.0
# (tag_key, tag_value, window_days, event_date, cost_usd_window, budget_usd): acme over twice (two episodes),
# globex over its 30-day budget from its first day, hooli never.
TAG_BUDGET_DAILY = [("tenant", "acme", 7, D[0], 25.0, 20.0), ("tenant", "acme", 7, D[1], 30.0, 20.0),
                    ("tenant", "acme", 7, D[2], 10.0, 20.0), ("tenant", "acme", 7, D[4], 21.0, 20.0),
                    ("tenant", "globex", 30, D[1], 70.0, 60.0), ("tenant", "globex", 30, D[2], 75.0, 60.0),
                    ("tenant", "hooli", 7, D[1], 5.0, 60.0)]
# (dimension, dimension_key, dimension_value, event_date, projected_month_cost_usd, budget_usd): acme over twice in
# November (two episodes), globex over on November 30 and again on December 1 (a new month, a new episode),
# a feature without a budget never.
D_DEC = dt.date(2026, 12, 1)
FORECAST = [("tag", "tenant", "acme", D[0], 150.0, 100.0), ("tag", "tenant", "acme", D[1], 120.0, 100.0),
            ("tag", "tenant", "acme", D[2], 90.0, 100.0), ("tag", "tenant", "acme", D[4], 101.0, 100.0),
            ("tag", "tenant", "globex", dt.date(2026, 11, 30), 70.0, 60.0),
            ("tag", "tenant", "globex", D_DEC, 75.0, 62.0),
            ("feature", "feature_id", "chat", D[1], 500.0, None)]
# (dimension, dimension_key, dimension_value, event_date, is_anomaly): chat jumps on D[1] and D[2] (one run) and
# again on D[4] (another); staging on D[2]; search never.
ANOMALIES = [("feature", "feature_id", "chat", D[0], False), ("feature", "feature_id", "chat", D[1], True),
             ("feature", "feature_id", "chat", D[2], True), ("feature", "feature_id", "chat", D[3], False),
             ("feature", "feature_id", "chat", D[4], True), ("tag", "env", "staging", D[2], True),
             ("feature", "feature_id", "search", D[2], False)]
# (event_date, model_id, user_id, cost_usd)
INTERACTIONS = [(D[i % 5], m, f"u{i % 3 + 1}", 0.01 * (i + 1)) for i in range(20) for m in ("gpt-4o", "gpt-4o-mini")]


@pytest.fixture
def con(layout: Layout):
    build(layout)
    reader = open_readonly(layout.warehouse)
    yield reader
    reader.close()


def build(layout: Layout) -> None:
    """Write the mart rows above into layout.warehouse (the columns the four readers read)."""
    w = duckdb.connect(str(layout.warehouse))
    w.execute("create schema marts")
    w.execute("create table marts.fct_ai_interactions (event_date date, model_id varchar, user_id varchar, "
              "cost_usd double)")
    w.executemany("insert into marts.fct_ai_interactions values (?, ?, ?, ?)", INTERACTIONS)
    w.execute("create table marts.mart_latency_slo (feature_id varchar, model_id varchar, hour_ts timestamp, "
              "ttft_p95_ms double, slo_ttft_ms double, ttft_samples bigint, slo_breached boolean)")
    w.executemany("insert into marts.mart_latency_slo values (?, ?, ?, ?, ?, ?, ?)",
                  [(f, m, h, p, SLO_MS, n, p > SLO_MS) for f, m, h, p, n in LATENCY])
    w.execute("create table marts.mart_model_drift (model_id varchar, model_version varchar, event_date date, "
              "interactions bigint, drift_detected boolean, drift_reason varchar)")
    w.executemany("insert into marts.mart_model_drift values (?, ?, ?, ?, ?, ?)", DRIFT)
    w.execute("create table marts.mart_session_cost (session_id varchar, user_id varchar, interactions bigint, "
              "cost_usd double, budget_usd double, over_budget boolean, first_event_ts timestamp, "
              "last_event_ts timestamp)")
    w.executemany("insert into marts.mart_session_cost values (?, ?, ?, ?, ?, ?, ?, ?)",
                  [(*s, s[3] > s[4], _hour(8), _hour(9)) for s in SESSIONS])
    w.execute("create table marts.mart_user_cost_daily (user_id varchar, event_date date, cost_usd double, "
              "cost_usd_7d double, cost_usd_30d double, budget_7d_usd double, budget_30d_usd double, "
              "over_budget_7d boolean, over_budget_30d boolean)")
    w.executemany("insert into marts.mart_user_cost_daily values (?, ?, 1.0, ?, ?, ?, ?, ?, ?)",
                  [(u, d, c7, c30, BUDGET_7D, BUDGET_30D, c7 > BUDGET_7D, c30 > BUDGET_30D)
                   for u, d, c7, c30 in USER_DAILY])
    w.execute("create table marts.mart_tag_budget_daily (tag_key varchar, tag_value varchar, window_days integer, "
              "event_date date, cost_usd_window double, budget_usd double, over_budget boolean, "
              "budget_tag_value varchar)")
    w.executemany("insert into marts.mart_tag_budget_daily values (?, ?, ?, ?, ?, ?, ?, '*')",
                  [(*r, r[4] > r[5]) for r in TAG_BUDGET_DAILY])
    w.execute("create table marts.mart_spend_forecast (dimension varchar, dimension_key varchar, "
              "dimension_value varchar, event_date date, month_start date, month_to_date_cost_usd double, "
              "projected_month_cost_usd double, projected_month_cost_high_usd double, budget_usd double, "
              "budget_runs_out_on date, projected_over_budget boolean)")
    w.executemany("insert into marts.mart_spend_forecast values (?, ?, ?, ?, ?, 1.0, ?, ?, ?, null, ?)",
                  [(dim, k, v, d, d.replace(day=1), p, p + 10, b, None if b is None else p > b)
                   for dim, k, v, d, p, b in FORECAST])
    w.execute("create table marts.mart_spend_anomalies (dimension varchar, dimension_key varchar, "
              "dimension_value varchar, event_date date, cost_usd double, baseline_weeks integer, "
              "baseline_median_usd double, baseline_mad_usd double, robust_z double, is_anomaly boolean)")
    w.executemany("insert into marts.mart_spend_anomalies values (?, ?, ?, ?, 9.0, 4, 2.0, 0.5, 9.4, ?)", ANOMALIES)
    w.execute("create table marts.mart_feature_quality_daily (feature_id varchar, event_date date, "
              "ttft_p95_ms double, avg_implicit_quality double, regeneration_rate double)")
    w.execute("create table marts.mart_routing (feature_id varchar, event_date date, routing_strategy varchar, "
              "interactions bigint)")
    w.close()


def _expected_series() -> list[tuple[str, str, int, float, float, dt.datetime, dt.datetime]]:
    """Per breached feature x model: hours, worst p95, SLO, first and last hour; most hours first, then by name."""
    by: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = defaultdict(list)
    for f, m, h, p, _n in LATENCY:
        if p > SLO_MS:
            by[(f, m)].append((h, p))
    rows = [(f, m, len(v), max(p for _, p in v), SLO_MS, min(h for h, _ in v), max(h for h, _ in v))
            for (f, m), v in by.items()]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))


def _expected_drift() -> list[tuple[str, str, dt.date, str, int, int, int, str]]:
    by: dict[tuple[str, str], list[tuple[dt.date, int, str]]] = defaultdict(list)
    for m, v, d, n, drifted, reason in DRIFT:
        if drifted:
            by[(m, v)].append((d, n, reason))
    rows = []
    for (m, v), days in by.items():
        days.sort()
        rows.append((m, v, days[0][0], days[0][2], days[0][1], len(days), sum(n for _, n, _ in days), days[-1][2]))
    return sorted(rows, key=lambda r: (r[2], r[0], r[1]))


def test_the_findings_are_the_mart_rows_gathered(con):
    assert [tuple(vars(b).values()) for b in findings.slo_breaches(con)] == _expected_series()
    assert [tuple(vars(d).values()) for d in findings.model_drift(con)] == _expected_drift()
    over = sorted((s for s in SESSIONS if s[3] > s[4]), key=lambda s: -s[3])
    assert [s.session_id for s in findings.sessions_over_budget(con)] == [s[0] for s in over]
    t = findings.totals(con)
    assert (t.interactions, t.sessions, t.sessions_over_budget) == (len(INTERACTIONS), len(SESSIONS), len(over))
    assert t.over_budget_cost_usd == pytest.approx(sum(s[3] for s in over))
    assert t.cost_usd == pytest.approx(sum(c for *_, c in INTERACTIONS))
    # Tag budgets: an episode starts on a row over budget whose previous row (same value and window) was not.
    previous: dict[tuple, bool] = {}
    tag_starts = []
    for key, value, window, day, cost, budget in sorted(TAG_BUDGET_DAILY, key=lambda r: (r[0], r[1], r[2], r[3])):
        if cost > budget and not previous.get((key, value, window), False):
            tag_starts.append((day, key, value, window))
        previous[(key, value, window)] = cost > budget
    assert [(b.event_date, b.tag_key, b.tag_value, b.window_days)
            for b in findings.tag_budget_breaches(con)] == sorted(tag_starts)
    assert len(tag_starts) == 3
    # Forecasts over budget: a row over whose previous row (same series and month) was not.
    previous, forecast_starts = {}, []
    for dim, key, value, day, projected, budget in sorted(FORECAST, key=lambda r: r[3]):
        over = budget is not None and projected > budget
        series = (dim, key, value, day.month)
        if over and not previous.get(series, False):
            forecast_starts.append((day, key, value))
        previous[series] = over
    assert [(f.event_date, f.dimension_key, f.dimension_value)
            for f in findings.spend_forecasts_over_budget(con)] == sorted(forecast_starts)
    assert len(forecast_starts) == 4
    # Spend anomalies: a run of consecutive anomalous days of a series, by its first day.
    flagged = {(k, v, d) for _dim, k, v, d, a in ANOMALIES if a}
    runs = sorted((d, k, v) for k, v, d in flagged if (k, v, d - dt.timedelta(days=1)) not in flagged)
    assert [(a.event_date, a.dimension_key, a.dimension_value) for a in findings.spend_anomalies(con)] == runs
    assert len(runs) == 3
    # Runs of breached hours start where the hour before was not breached.
    breached = {(f, m, h) for f, m, h, p, _ in LATENCY if p > SLO_MS}
    starts = sorted((h, f, m) for f, m, h in breached if (f, m, h - dt.timedelta(hours=1)) not in breached)
    assert [(r.hour_ts, r.feature_id, r.model_id) for r in findings.slo_breach_runs(con)] == starts
    # User budget episodes: a day over budget whose previous row was not.
    for window, column, budget in (("7d", 2, BUDGET_7D), ("30d", 3, BUDGET_30D)):
        episodes, previous = [], {}
        for row in sorted(USER_DAILY, key=lambda r: (r[0], r[1])):
            over_now = row[column] > budget
            if over_now and not previous.get(row[0], False):
                episodes.append((row[1], row[0]))
            previous[row[0]] = over_now
        assert [(b.event_date, b.user_id) for b in findings.user_budget_breaches(con, window)] == sorted(episodes)


def test_the_four_readers_show_the_same_findings(con):
    series, drift = _expected_series(), _expected_drift()
    alerts = {name: rule(con) for name, rule in RULES.items()}
    demo = _findings(con)
    slo_table = mart_metadata(con, "mart_latency_slo")["slo_breaches"].value
    drift_table = mart_metadata(con, "mart_model_drift")["drift_findings"].value
    report = read_report_data(con)

    # Drift: the first day of each drifting version, everywhere; the reason of that day in the demo and the alert.
    for m, v, first, first_reason, first_n, days, _n, latest in drift:
        assert f"drift: {m} {v} got worse from {first}: {first_reason}" in demo
        (alert,) = [a for a in alerts["model_drift"] if a.key == f"model_drift:{m}@{v}"]
        assert alert.details["event_date"] == str(first) and alert.details["reason"] == first_reason
        assert alert.details["interactions"] == first_n
        assert f"| {m} | {v} | {first} | {days} | {latest} |" in drift_table
    assert report.drift == [(m, v, str(first), days, n, latest) for m, v, first, _r, _n, days, n, latest in drift]
    assert len(alerts["model_drift"]) == len(drift)

    # SLO: breached hours, worst p95 and first hour per feature x model; one alert per run of breached hours.
    assert report.slo_breaches == [(f, m, hours, worst, f"{first:%Y-%m-%d %H}:00")
                                   for f, m, hours, worst, _slo, first, _last in series]
    demo_latency = [line for line in demo if line.startswith("latency: ")]
    assert demo_latency == [f"latency: {f} on {m} broke the p95 TTFT SLO in {hours} hour(s) from "
                            f"{first:%Y-%m-%d %H}:00, worst p95 {worst:.0f} ms"
                            for f, m, hours, worst, _slo, first, _last in series]
    table_rows = slo_table.splitlines()[2:]
    # The metadata table rounds the worst p95 half away from zero (2500.5 -> 2501), as DuckDB's round() did.
    assert table_rows == [f"| {f} | {m} | {hours} | {int(worst + 0.5):,} | {slo:,.0f} | {first} | {last} |"
                          for f, m, hours, worst, slo, first, last in series]
    assert "| 2,501 |" in slo_table
    runs = {a.key for a in alerts["latency_slo_breach"]}
    assert runs == {"latency_slo:chat:gpt-4o:2026-11-19T10", "latency_slo:chat:gpt-4o:2026-11-19T15",
                    "latency_slo:search:gpt-4o-mini:2026-11-19T10"}

    # Budgets: the same sessions over budget in the alerts, the demo, the report's headline.
    over = [s for s in SESSIONS if s[3] > s[4]]
    assert {a.details["session_id"] for a in alerts["session_over_budget"]} == {s[0] for s in over}
    assert (f"budget: {len(over)} session(s) over the session budget, ${sum(s[3] for s in over):.2f} in total"
            in demo)
    assert report.headline["sessions_over_budget"] == len(over)
    assert report.headline["sessions"] == len(SESSIONS) and report.headline["interactions"] == len(INTERACTIONS)
    # Users: the demo names each user ever over the 7-day budget; the alerts fire once per episode.
    peaks = {u: max(c for uu, _d, c, _ in USER_DAILY if uu == u) for u, _d, c7, _ in USER_DAILY if c7 > BUDGET_7D}
    firsts = {u: min(d for uu, d, c, _ in USER_DAILY if uu == u and c > BUDGET_7D) for u in peaks}
    assert [line for line in demo if line.startswith("budget: user ")] == [
        f"budget: user {u} over the ${BUDGET_7D:.0f} 7-day budget from {firsts[u]} (peak ${peaks[u]:.2f})"
        for u in sorted(peaks, key=lambda u: -peaks[u])]
    assert {a.key for a in alerts["user_over_budget"]} == {
        "user_over_budget_7d:u1:2026-11-18", "user_over_budget_7d:u1:2026-11-21", "user_over_budget_7d:u2:2026-11-18",
        "user_over_budget_30d:u1:2026-11-20"}


def test_the_readonly_opener_says_what_is_wrong(layout: Layout):
    with pytest.raises(WarehouseMissing, match="run `aiw run`"):
        open_readonly(layout.warehouse)
    assert try_open_readonly(layout.warehouse) is None
    # A writer in another process (as dbt is) holds the file: no reader gets in, however long it waits.
    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "sys.stdin.read()", str(layout.warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match="locked by a writer"):
            open_readonly(layout.warehouse, wait_seconds=0.6)
        assert time.monotonic() - started >= 0.6
        assert try_open_readonly(layout.warehouse) is None
    finally:
        writer.communicate("")
    reader = open_readonly(layout.warehouse)
    with pytest.raises(duckdb.Error):
        reader.execute("create table t (x int)")  # read-only
    reader.close()
