"""The month-end spend forecast on hand-made calls whose costs are known: `aiw run` -> mart_spend_forecast -> alerts.

The calls use models genai-prices does not know, so each costs exactly what its producer estimated. Three
series: `trendco`, whose cost grows by $0.50 a day through November after a flat October (a known trend:
the trailing mean lags it); `acme`, $1 on weekdays only (days without calls count 0); staging, two big
days (a young series: one day of history, then three). Expected rows are computed below in plain Python from
the definitions in docs/marts.md (mean and sample deviation of the window's days, Student's t from scipy,
calendar months), never from the SQL.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import math
import statistics
from collections import defaultdict

import pytest
from scipy import stats

from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import END_DATE, event, run_on_calls, warehouse_rows
from tests.paths import REPO

WINDOW_DAYS = 14  # the dbt var spend_forecast_window_days


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# (day, cost as weighted, feature, model, tags): trendco flat $1 in late October, then 2 + 0.5 k on November k.
PLAN = ([(d, 1.0, "trend_feature", "in-house-llm", {"tenant": "trendco", "team": "growth"})
         for d in _days(dt.date(2026, 10, 20), dt.date(2026, 10, 31))]
        + [(d, 2 + 0.5 * d.day, "trend_feature", "in-house-llm", {"tenant": "trendco", "team": "growth"})
           for d in _days(dt.date(2026, 11, 1), END_DATE)]
        + [(d, 1.0, "quiet_feature", "in-house-small", {"tenant": "acme"})
           for d in _days(dt.date(2026, 11, 1), END_DATE) if d.weekday() < 5]
        + [(dt.date(2026, 11, 18), 30.0, "staging_feature", "in-house-llm", {"env": "staging"}),
           (dt.date(2026, 11, 20), 60.0, "staging_feature", "in-house-llm", {"env": "staging"})])


def _calls() -> list[dict]:
    calls = []
    for i, (day, cost, feature, model, tags) in enumerate(PLAN):
        ts = int(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp() * 1000) + i
        # Every third day's call is a 1-in-2 sample: it reports half the cost and weighs 2.
        rate = 0.5 if i % 3 == 0 else 1.0
        calls.append(event(i, schema_version="1.2", timestamp=ts, feature_id=feature, model_id=model,
                           estimated_cost_usd=cost * rate, sample_rate=rate, tags=tags))
    return calls


def _month_budgets() -> dict[tuple[str, str], tuple[float, int, str]]:
    """Per budgeted tag value of the plan: its longest line (own, else '*') as (budget, window, line value)."""
    with open(REPO / "dbt_project" / "seeds" / "tag_budgets.csv") as fh:
        lines = [(r["tag_key"], r["tag_value"], int(r["window_days"]), float(r["budget_usd"]))
                 for r in csv.DictReader(fh)]
    out = {}
    for key, value in {(k, v) for *_, tags in PLAN for k, v in tags.items()}:
        best = None
        for window in sorted({w for k, _, w, _ in lines if k == key}):
            own = [line for line in lines if line[:3] == (key, value, window)]
            star = [line for line in lines if line[:3] == (key, "*", window)]
            if own or star:
                best = (own or star)[0]
        if best is not None:
            out[(key, value)] = (best[3], best[2], best[1])
    return out


def _series() -> dict[tuple[str, str, str], dict[dt.date, float]]:
    out: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))
    budgeted = _month_budgets()
    for day, cost, feature, model, tags in PLAN:
        out[("feature", "feature_id", feature)][day] += cost
        out[("model", "model_id", model)][day] += cost
        for key, value in tags.items():
            if (key, value) in budgeted:
                out[("tag", key, value)][day] += cost
    return out


def _expected() -> dict[tuple, dict]:
    budgets = _month_budgets()
    rows = {}
    for (dimension, key, value), daily in _series().items():
        first = min(daily)
        exceeded_on = None
        for day in sorted(daily):
            month_days = calendar.monthrange(day.year, day.month)[1]
            month_start = day.replace(day=1)
            if day == month_start or (exceeded_on and exceeded_on < month_start):
                exceeded_on = None
            n = min(WINDOW_DAYS, (day - first).days + 1)
            window = [daily.get(day - dt.timedelta(days=i), 0.0) for i in range(n)]
            mtd = sum(c for d, c in daily.items() if month_start <= d <= day)
            rate = statistics.mean(window)
            remaining = month_days - day.day
            projected = mtd + remaining * rate
            if n >= 2:
                half = stats.t.ppf(0.975, n - 1) * statistics.stdev(window) * math.sqrt(remaining + remaining ** 2 / n)
                low, high = max(projected - half, mtd), projected + half
            else:
                low = high = None
            budget = runs_out = over = None
            if dimension == "tag":
                line_budget, line_window, _ = budgets[(key, value)]
                budget = line_budget * month_days / line_window
                if mtd > budget and exceeded_on is None:
                    exceeded_on = day
                if exceeded_on is not None:
                    runs_out = exceeded_on
                elif rate > 0:
                    # Walk the days at the run rate until the cumulative cost is over the budget.
                    spent, ahead = mtd, 0
                    while spent <= budget:
                        ahead += 1
                        spent += rate
                    runs_out = day + dt.timedelta(days=ahead) if ahead <= remaining else None
                over = projected > budget
            rows[(dimension, key, value, day)] = {
                "mtd": mtd, "n": n, "rate": rate, "remaining": remaining, "projected": projected,
                "low": low, "high": high, "budget": budget, "runs_out": runs_out, "over": over}
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return run_on_calls(tmp_path_factory.mktemp("forecast") / "aiw", _calls())


def _mart(layout: Layout) -> dict[tuple, dict]:
    rows = warehouse_rows(layout, """
        select dimension, dimension_key, dimension_value, event_date, month_to_date_cost_usd, window_days,
               daily_run_rate_usd, remaining_days, projected_month_cost_usd, projected_month_cost_low_usd,
               projected_month_cost_high_usd, budget_usd, budget_runs_out_on, projected_over_budget
        from marts.mart_spend_forecast""")
    names = ("mtd", "n", "rate", "remaining", "projected", "low", "high", "budget", "runs_out", "over")
    return {tuple(r[:4]): dict(zip(names, r[4:], strict=True)) for r in rows}


def test_the_known_trend_by_hand(built):
    """trendco on November 20: month to date sum(2 + 0.5 k, k = 1..20) = 40 + 105 = 145; the 14 days Nov 7..20
    average 2 + 0.5 x 13.5 = 8.75; 10 days left: 145 + 87.5 = 232.5, over the $200 (30 days of a 30-day
    month) budget. The real month will cost 145 + sum(2 + 0.5 k, k = 21..30) = 145 + 147.5 = 292.5: the
    trailing mean lags a trend of g a day by g R (n + R) / 2 = 0.5 x 10 x 24 / 2 = 60, outside the interval,
    which is for day-to-day noise around a level (docs/marts.md says so); the projection climbs day by day."""
    row = _mart(built)[("tag", "tenant", "trendco", END_DATE)]
    assert (row["mtd"], row["rate"], row["remaining"], row["projected"], row["budget"]) == (
        pytest.approx(145.0), pytest.approx(8.75), 10, pytest.approx(232.5), pytest.approx(200.0))
    assert 292.5 - row["projected"] == pytest.approx(60.0)
    assert row["low"] < 232.5 < row["high"] < 292.5
    earlier = _mart(built)[("tag", "tenant", "trendco", END_DATE - dt.timedelta(days=3))]
    assert earlier["projected"] < row["projected"]
    # Already spent 145 of 200: at 8.75 a day, 55 more take 7 days (61.25 > 55), so it runs out on Nov 27.
    assert row["runs_out"] == dt.date(2026, 11, 27) and row["over"] is True


def test_every_row_matches_the_method(built):
    actual, expected = _mart(built), _expected()
    assert set(actual) == set(expected)
    # The team tag has no budget line: no row; the month-to-date resets on November 1st.
    assert not [k for k in actual if k[1] == "team"]
    assert actual[("feature", "feature_id", "trend_feature", dt.date(2026, 11, 1))]["mtd"] == pytest.approx(2.5)
    for key, e in expected.items():
        a = actual[key]
        assert (a["n"], a["remaining"], a["runs_out"], a["over"]) == (e["n"], e["remaining"], e["runs_out"],
                                                                      e["over"]), key
        for name in ("mtd", "rate", "projected", "low", "high", "budget"):
            assert a[name] == (None if e[name] is None else pytest.approx(e[name], rel=1e-4)), (key, name)


def test_the_forecast_alert_fires_once_per_episode(built):
    expected = _expected()
    starts, previous = set(), {}
    for (dimension, key, value, day), e in sorted(expected.items(), key=lambda kv: kv[0][3]):
        series = (dimension, key, value, day.year, day.month)
        if e["over"] and not previous.get(series):
            starts.add((key, value, day))
        previous[series] = e["over"]
    # The plan was written to cross: trendco from some day of November, staging from its first day; acme never.
    assert {(k, v) for k, v, _ in starts} == {("tenant", "trendco"), ("env", "staging")}
    alerts = [json.loads(line) for line in (built.alerts / "alerts.jsonl").read_text().splitlines()]
    forecast = [a for a in alerts if a["kind"] == "spend_forecast_over_budget"]
    assert {(a["details"]["tag_key"], a["details"]["tag_value"], dt.date.fromisoformat(a["details"]["event_date"]))
            for a in forecast} == starts
    assert len(forecast) == len(starts)
    assert main(["--home", str(built.home), "run"]) == 0
    assert len((built.alerts / "alerts.jsonl").read_text().splitlines()) == len(alerts)
