"""Spend anomalies: hand-made series with a weekly shape, and the generator's planted spike.

Hand-made calls (models genai-prices does not know: each costs what its producer estimated) make series whose
weekdays cost about five times their weekends. Expected rows are computed below in plain Python from the rule
in docs/marts.md (statistics.median of the same weekday 1..4 weeks back), never from the SQL. Then the synthetic
generator's history of four weeks: its planted spike is the only day flagged, and planting it changed no
other value of the data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import statistics

import pytest

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import END_DATE, event, run_on_calls, warehouse_rows

# The dbt vars spend_anomaly_*.
BASELINE_WEEKS, MIN_WEEKS, Z_THRESHOLD, MIN_RELATIVE, MIN_INCREASE = 4, 3, 3.5, 1.5, 1.0
FIRST = END_DATE - dt.timedelta(days=34)  # five weeks


def _weekly(day: dt.date) -> float:
    """A weekday costs ~10, a weekend day ~2, with a little day-to-day wobble."""
    return (10.0 if day.weekday() < 5 else 2.0) + 0.3 * (day.toordinal() % 4)


DAYS = [FIRST + dt.timedelta(days=i) for i in range(35)]
LAST_SATURDAY = max(d for d in DAYS if d.weekday() == 5)
LAST_MONDAY = max(d for d in DAYS if d.weekday() == 0)
# series -> day -> cost. `weekly`: its last Saturday and Sunday cost a weekday's 9 (a jump for a weekend, a
# normal weekday: one two-day episode); its last Monday costs 12.5, ordinary for a Monday. `staging` (a
# budgeted tag value): the same shape, one spike of 40 on the last day. `young`: two weeks old, a spike it
# has no history to judge. `gappy`: calls on Mondays only, a first call on a Friday (no Friday history: 0s).
SERIES: dict[str, dict[dt.date, float]] = {
    "weekly": {d: (9.0 if d in (LAST_SATURDAY, LAST_SATURDAY + dt.timedelta(days=1))
                   else 12.5 if d == LAST_MONDAY else _weekly(d)) for d in DAYS},
    "staging": {d: 40.0 if d == END_DATE else _weekly(d) for d in DAYS},
    "young": {d: 50.0 if d == END_DATE else _weekly(d) for d in DAYS[-14:]},
    "gappy": {**{d: 3.0 for d in DAYS if d.weekday() == 0}, END_DATE: 6.0},
}


def _calls() -> list[dict]:
    calls = []
    for name, daily in SERIES.items():
        for day, cost in sorted(daily.items()):
            ts = int(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp() * 1000) + len(calls)
            i = len(calls)
            # Half of the days come as a 1-in-4 sample reporting a quarter of the cost.
            rate = 0.25 if i % 2 else 1.0
            record = event(i, schema_version="1.2", timestamp=ts, model_id="in-house-llm",
                           feature_id=f"{name}_feature", estimated_cost_usd=cost * rate, sample_rate=rate,
                           tags={"env": "staging"} if name == "staging" else {"team": name})
            calls.append(record)
    return calls


def _expected() -> dict[tuple[str, str, str, dt.date], dict]:
    series = {("feature", "feature_id", f"{name}_feature"): daily for name, daily in SERIES.items()}
    # Only env has a budget line among these tags (dbt_project/seeds/tag_budgets.csv: env,staging).
    series[("tag", "env", "staging")] = SERIES["staging"]
    rows = {}
    for key, daily in series.items():
        first = min(daily)
        for day, cost in daily.items():
            back = [day - dt.timedelta(days=7 * k) for k in range(1, BASELINE_WEEKS + 1)]
            baseline = [daily.get(d, 0.0) for d in back if d >= first]
            median = statistics.median(baseline) if baseline else None
            mad = statistics.median([abs(c - median) for c in baseline]) if baseline else None
            z = (cost - median) / (1.4826 * mad) if mad else None
            flagged = bool(len(baseline) >= MIN_WEEKS and cost - median >= MIN_INCREASE
                           and cost > median * (1 + MIN_RELATIVE) and (mad == 0 or z > Z_THRESHOLD))
            rows[(*key, day)] = {"cost": cost, "weeks": len(baseline), "median": median, "mad": mad, "z": z,
                                 "flag": flagged}
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return run_on_calls(tmp_path_factory.mktemp("anomalies") / "aiw", _calls())


def test_every_row_follows_the_same_weekday_rule(built):
    rows = warehouse_rows(built, """
        select dimension, dimension_key, dimension_value, event_date, cost_usd, baseline_weeks, baseline_median_usd,
               baseline_mad_usd, robust_z, is_anomaly
        from marts.mart_spend_anomalies""")
    expected = _expected()
    assert {tuple(r[:4]) for r in rows} == set(expected)  # the team tag has no budget: no rows
    for *key, cost, weeks, median, mad, z, flag in rows:
        e = expected[tuple(key)]
        assert cost == pytest.approx(e["cost"]), key
        assert (weeks, flag) == (e["weeks"], e["flag"]), key
        for actual, wanted in ((median, e["median"]), (mad, e["mad"]), (z, e["z"])):
            assert actual == (None if wanted is None else pytest.approx(wanted)), key
    flagged = {(k[2], k[3]) for k, e in expected.items() if e["flag"]}
    # The weekend jumps, staging's spike (as a feature and as the budgeted tag value) and gappy's doubled
    # Monday over zero-spread Mondays; not the ordinary 12.5 Monday, not the young series' spike.
    assert flagged == {("weekly_feature", LAST_SATURDAY), ("weekly_feature", LAST_SATURDAY + dt.timedelta(days=1)),
                       ("staging_feature", END_DATE), ("staging", END_DATE), ("gappy_feature", END_DATE)}


def test_one_alert_per_run_of_anomalous_days(built):
    alerts = [json.loads(line) for line in (built.alerts / "alerts.jsonl").read_text().splitlines()]
    fired = sorted((a["details"]["dimension_value"], a["details"]["event_date"])
                   for a in alerts if a["kind"] == "spend_anomaly")
    assert fired == sorted([("weekly_feature", str(LAST_SATURDAY)), ("staging_feature", str(END_DATE)),
                            ("staging", str(END_DATE)), ("gappy_feature", str(END_DATE))])
    assert main(["--home", str(built.home), "run"]) == 0
    assert len((built.alerts / "alerts.jsonl").read_text().splitlines()) == len(alerts)


SYNTHETIC = synthetic.Options(events=11_200, days=28, seed=7, end_date=END_DATE,
                              # The whale's 8 sessions a day of heavy calls make its days jump by design (its
                              # busiest days cost 2.5 times its usual): kept out so every other series is quiet.
                              whale_sessions_per_day=0)


def test_planting_the_spike_changes_nothing_but_that_features_prompts_that_day(tmp_path):
    spiked = synthetic.generate(Layout.from_env(tmp_path / "a").ensure(), SYNTHETIC, keep_records=True)
    plain = synthetic.generate(Layout.from_env(tmp_path / "b").ensure(), dataclasses.replace(SYNTHETIC, spike=None),
                               keep_records=True)
    assert (spiked.spike_feature, spiked.spike_day, plain.spike_day) == ("chat_assistant", END_DATE.isoformat(), "")
    assert len(spiked.valid_records) == len(plain.valid_records)
    changed = 0
    for a, b in zip(spiked.valid_records, plain.valid_records, strict=True):
        day = dt.datetime.fromtimestamp(a["timestamp"] / 1000, dt.UTC).date()
        if a["feature_id"] == "chat_assistant" and day == END_DATE:
            assert a["prompt_tokens"] == int(b["prompt_tokens"] * synthetic.Spike().prompt_factor)
            changed += 1
            continue
        assert a == b
    assert changed > 50


def test_the_planted_spike_is_flagged_and_the_quiet_series_are_not(tmp_path):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    gen = synthetic.generate(layout, SYNTHETIC)
    assert main(["--home", str(layout.home), "run"]) == 0
    flagged = warehouse_rows(layout, """
        select dimension_key, dimension_value, event_date from marts.mart_spend_anomalies where is_anomaly""")
    assert flagged == [("feature_id", gen.spike_feature, dt.date.fromisoformat(gen.spike_day))]
    judged = dict(warehouse_rows(layout, "select dimension_key, count(*) from marts.mart_spend_anomalies "
                                         "where baseline_weeks >= 3 group by 1"))
    # Every feature and budgeted tag value (8 tenants, env=staging) was judged on its last week: not vacuously quiet.
    assert judged["feature_id"] >= 5 * 7 and judged["tenant"] >= 8 * 7 and judged["env"] >= 7
    alerts = [json.loads(line) for line in (layout.alerts / "alerts.jsonl").read_text().splitlines()]
    assert [(a["details"]["dimension_value"], a["details"]["event_date"]) for a in alerts
            if a["kind"] == "spend_anomaly"] == [(gen.spike_feature, gen.spike_day)]
