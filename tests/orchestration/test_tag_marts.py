"""Cost by tag and tag budgets on hand-made calls whose costs are known: `aiw run` -> marts -> alerts.

The calls use a model genai-prices does not know, so each costs exactly what its producer estimated; sample
rates, errors, a call of unknown cost and untagged 1.0/1.1 calls are mixed in. Expected rows and alerts
are computed below in plain Python from the calls and dbt_project/seeds/tag_budgets.csv.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict

import pytest

from orchestration.cli import main
from tests.conftest import END_DATE, event, run_on_calls, warehouse_rows
from tests.paths import REPO

FIRST = END_DATE - dt.timedelta(days=19)


def _call(i: int, day: int, cost: float | None, tags: dict | None, sample_rate: float = 1.0,
          error: bool = False, quality_slow: bool = False) -> dict:
    ts = int(dt.datetime.combine(FIRST + dt.timedelta(days=day), dt.time(12), tzinfo=dt.UTC).timestamp() * 1000)
    record = event(i, schema_version="1.2" if tags is not None else "1.1", timestamp=ts + i,
                   model_id="in-house-llm", estimated_cost_usd=cost, sample_rate=sample_rate, is_error=error,
                   total_latency_ms=4000.0 if quality_slow else 900.0, ttft_ms=100.0)
    if tags is not None:
        record["tags"] = tags
    return record


# (day, cost, tags, sample_rate, is_error, slow)
PLAN = [
    (0, 4.0, {"tenant": "acme", "env": "prod"}, 0.5, False, False),  # weighs 2: $8
    (1, 5.0, {"tenant": "acme", "env": "prod"}, 1.0, True, True),
    (2, 10.0, {"tenant": "acme", "env": "staging"}, 1.0, False, False),  # acme 7d: 23 > 20, first episode
    (3, 1.0, {"tenant": "acme", "env": "prod"}, 1.0, False, False),  # still over (24): same episode
    (12, 1.0, {"tenant": "acme", "env": "prod"}, 1.0, False, False),  # 7d back to 1: episode over
    (13, 25.0, {"tenant": "acme", "env": "staging"}, 1.0, False, False),  # 26 > 20: second episode
    (13, None, {"tenant": "acme", "env": "prod"}, 1.0, False, False),  # unknown cost: counted, adds nothing
    (2, 3.0, {"tenant": "globex", "team": "search"}, 0.25, False, False),  # $12, under the '*' $60
    (5, 30.0, {"tenant": "globex", "team": "search"}, 0.5, True, False),  # $60: 72 > 60 in 7d
    (6, 40.0, {"env": "staging"}, 1.0, False, False),  # staging 7d: 40 (+ day 2's 10) > 25
    (4, 99.0, None, 1.0, False, False),  # 1.1 call, untagged: in no row
    (7, 99.0, {}, 1.0, False, False),  # 1.2, empty tags: in no row
]
CALLS = [_call(i, *p) for i, p in enumerate(PLAN)]


def _budgets() -> list[tuple[str, str, int, float]]:
    with open(REPO / "dbt_project" / "seeds" / "tag_budgets.csv") as fh:
        return [(r["tag_key"], r["tag_value"], int(r["window_days"]), float(r["budget_usd"]))
                for r in csv.DictReader(fh)]


def _daily() -> dict[tuple[str, str, dt.date], dict]:
    out: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "w": 0.0, "cost": 0.0, "unpriced": 0, "errors": 0,
                                                  "quality": []})
    for (day, cost, tags, rate, error, slow), call in zip(PLAN, CALLS, strict=True):
        for key, value in (tags or {}).items():
            row = out[(key, value, FIRST + dt.timedelta(days=day))]
            row["n"] += 1
            row["w"] += 1 / rate
            row["cost"] += (cost or 0) / rate
            row["unpriced"] += cost is None
            row["errors"] += error
            # The warehouse's implicit quality: 1.0, x0.6 when slower than 3000 ms (40 completion tokens of
            # ~100+i prompt tokens are never verbose).
            row["quality"].append(0.6 if slow else 1.0)
            row["prompt"] = row.get("prompt", 0) + call["prompt_tokens"] / rate
    return out


def _expected_breaches() -> set[tuple[str, str, int, dt.date]]:
    daily = _daily()
    starts = set()
    for key, value in {(k, v) for k, v, _ in daily}:
        days = sorted(d for k, v, d in daily if (k, v) == (key, value))
        for window in sorted({w for k, _, w, _ in _budgets() if k == key}):
            lines = [b for b in _budgets() if b[0] == key and b[2] == window]
            own = [b for b in lines if b[1] == value]
            line = (own or [b for b in lines if b[1] == "*"] or [None])[0]
            if line is None:
                continue
            was_over = False
            for day in days:
                total = sum(daily[(key, value, d)]["cost"] for d in days if day - dt.timedelta(days=window) < d <= day)
                over = total > line[3]
                if over and not was_over:
                    starts.add((key, value, window, day))
                was_over = over
    return starts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return run_on_calls(tmp_path_factory.mktemp("tags") / "aiw", CALLS)


def test_cost_by_tag_daily_weighs_by_sample_rate_and_leaves_untagged_calls_out(built):
    rows = warehouse_rows(built, """
        select tag_key, tag_value, event_date, interactions, estimated_interactions, prompt_tokens, cost_usd,
               unpriced_interactions, error_rate, avg_implicit_quality
        from marts.mart_cost_by_tag_daily""")
    expected = _daily()
    assert {(k, v, d) for k, v, d, *_ in rows} == set(expected)
    for key, value, day, n, w, prompt, cost, unpriced, error_rate, quality in rows:
        e = expected[(key, value, day)]
        assert (n, unpriced) == (e["n"], e["unpriced"])
        assert (w, prompt, cost) == (pytest.approx(e["w"]), pytest.approx(e["prompt"]), pytest.approx(e["cost"]))
        assert error_rate == pytest.approx(e["errors"] / e["n"])
        assert quality == pytest.approx(sum(e["quality"]) / len(e["quality"]))


def test_tag_budget_alerts_fire_once_per_breach_episode(built):
    expected = _expected_breaches()
    # The plan was written to breach: two acme episodes (own $20 line), globex over the '*' line, staging.
    assert {(k, v) for k, v, _, _ in expected} == {("tenant", "acme"), ("tenant", "globex"), ("env", "staging")}
    assert len([b for b in expected if b[:2] == ("tenant", "acme")]) == 2
    alerts = [json.loads(line) for line in (built.alerts / "alerts.jsonl").read_text().splitlines()]
    fired = {(a["details"]["tag_key"], a["details"]["tag_value"], a["details"]["window_days"],
              dt.date.fromisoformat(a["details"]["event_date"])) for a in alerts if a["kind"].startswith("tag_over")}
    assert fired == expected
    assert len([a for a in alerts if a["kind"].startswith("tag_over")]) == len(expected)

    # A second run fires nothing again.
    assert main(["--home", str(built.home), "run"]) == 0
    again = (built.alerts / "alerts.jsonl").read_text().splitlines()
    assert len(again) == len(alerts)
