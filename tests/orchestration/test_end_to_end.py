"""End to end on a temporary AIW_HOME: synthetic landing files -> `aiw run` -> lake, marts, alerts.

Expectations come from the generator's ground truth (what it wrote as valid, as retries, and as each
kind of contract violation), computed here in plain Python, never read back from the warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter

import duckdb
import pytest

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from tests.builders import truth
from tests.conftest import END_DATE, event, warehouse_rows, write_landing
from tests.paths import REPO

BUDGET = truth.SESSION_BUDGET


def read_alerts(layout: Layout) -> list[dict]:
    return [json.loads(line) for line in (layout.alerts / "alerts.jsonl").read_text().splitlines()]


# The AIW_* environment variables before and after the module's `aiw run` (see the `run` fixture).
AIW_ENVIRONMENT: dict[str, dict[str, str]] = {}


def _aiw_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AIW_")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    layout = Layout.from_env(tmp_path_factory.mktemp("e2e") / "aiw").ensure()
    # Enough calls per hour (~60 for chat_assistant on gpt-4o) for the SLO and drift tests to judge.
    gen = synthetic.generate(layout, synthetic.Options(events=24_000, days=3, seed=11, end_date=END_DATE),
                             keep_records=True)
    AIW_ENVIRONMENT["before"] = _aiw_environment()
    rc = main(["--home", str(layout.home), "run"])
    AIW_ENVIRONMENT["after"] = _aiw_environment()
    return layout, gen, rc


def test_a_run_leaves_the_process_environment_as_it_was(run):
    # dbt is given AIW_HOME while it starts; the home of one run must not stay behind for the rest of the
    # process (a later Layout.from_env() would find it).
    assert AIW_ENVIRONMENT["after"] == AIW_ENVIRONMENT["before"]


def test_counts_reconcile_with_what_was_landed(run):
    layout, gen, rc = run
    assert rc == 0
    (lines, accepted, feedback, quarantined, duplicates), = duckdb.sql(
        f"select sum(lines), sum(accepted), sum(feedback_accepted), sum(quarantined), sum(duplicates) "
        f"from read_parquet('{layout.manifest}/*.parquet')").fetchall()
    assert lines == gen.lines == accepted + feedback + quarantined + duplicates
    assert (accepted, feedback, duplicates) == (gen.valid_interactions, gen.valid_feedback, gen.duplicates)
    by_rule = dict(duckdb.sql(f"select rule, count(*) from read_parquet('{layout.quarantine}/**/*.parquet') "
                              "group by 1").fetchall())
    assert by_rule == dict(gen.planted)
    assert len(gen.planted) >= 12, "every kind of contract violation was planted"


def test_session_cost_matches_the_rows_written(run):
    layout, gen, _ = run
    expected = truth.sessions(gen.valid_records)
    got = {sid: (n, tokens, cost, over) for sid, n, tokens, cost, over in warehouse_rows(
        layout, "select session_id, interactions, total_tokens, cost_usd, over_budget from marts.mart_session_cost")}
    assert set(got) == set(expected)
    for sid, (n, tokens, cost) in expected.items():
        assert got[sid][:2] == (n, tokens), sid
        assert got[sid][2] == pytest.approx(cost, abs=1e-9), sid
        assert got[sid][3] == (cost > BUDGET), sid
    assert warehouse_rows(layout, "select count(*) from marts.fct_ai_interactions") == [(gen.valid_interactions,)]


def test_one_alert_per_over_budget_session(run):
    layout, gen, _ = run
    over = {sid for sid, (_n, _t, cost) in truth.sessions(gen.valid_records).items() if cost > BUDGET}
    assert over, "the generator's whale user should blow the session budget"
    alerts = [a for a in read_alerts(layout) if a["kind"] == "session_over_budget"]
    assert Counter(a["key"] for a in alerts) == Counter(f"session_over_budget:{sid}" for sid in over)
    assert all(a["details"]["cost_usd"] > BUDGET for a in alerts)


def test_report_headline_matches_what_was_landed(run, tmp_path):
    # Runs before the tests below add a late event and change a price (the module shares one run).
    from orchestration.report.build import write_report

    layout, gen, _ = run
    expected = truth.sessions(gen.valid_records)
    result = write_report(layout, tmp_path / "report.html")
    headline = result.data.headline
    assert headline["interactions"] == gen.valid_interactions
    assert headline["sessions"] == len(expected)
    assert headline["cost_usd"] == pytest.approx(sum(c for _, _, c in expected.values()), abs=1e-6)
    assert headline["sessions_over_budget"] == sum(c > BUDGET for _, _, c in expected.values())
    assert [(m, v) for m, v, *_ in result.data.drift] == [tuple(gen.regression_version.split("@"))]


def test_second_run_changes_nothing_and_a_late_event_lands_in_its_session(run, capsys):
    layout, gen, _ = run
    before = warehouse_rows(layout, "select * from marts.mart_session_cost order by session_id")
    alerts_before = (layout.alerts / "alerts.jsonl").read_text()
    assert main(["--home", str(layout.home), "run"]) == 0
    assert "0 load date(s) with new landing files" in capsys.readouterr().out
    assert warehouse_rows(layout, "select * from marts.mart_session_cost order by session_id") == before
    assert (layout.alerts / "alerts.jsonl").read_text() == alerts_before

    # A straggler for an existing session lands two days later, with its original timestamp.
    target = gen.valid_records[5]
    late = event(99_999, session_id=target["session_id"], user_id=target["user_id"],
                 timestamp=target["timestamp"] + 1, estimated_cost_usd=0.125, prompt_tokens=10, completion_tokens=5,
                 model_id="in-house-llm")  # no price for it: the producer's estimate counts
    write_landing(layout, "late.ndjson", [late], load_date=END_DATE.replace(day=END_DATE.day + 2).isoformat())
    old = warehouse_rows(layout, "select session_id, user_id, interactions, total_tokens, cost_usd "
                                 f"from marts.mart_session_cost where session_id = '{target['session_id']}'")[0]
    assert main(["--home", str(layout.home), "run"]) == 0
    out = capsys.readouterr().out
    assert "1 load date(s) with new landing files" in out
    (sid, n, tokens, cost), = warehouse_rows(
        layout, f"select session_id, interactions, total_tokens, cost_usd from marts.mart_session_cost "
                f"where session_id = '{target['session_id']}'")
    assert (n, tokens) == (old[2] + 1, old[3] + 15)
    assert cost == pytest.approx(old[4] + 0.125, abs=1e-9)
    date_of = "select event_date from marts.fct_ai_interactions where event_id = '{}'"
    late_date = warehouse_rows(layout, date_of.format("e99999"))
    assert late_date == warehouse_rows(layout, date_of.format(target["event_id"]))


def test_sql_command_answers_in_json(run, capsys):
    layout, _, _ = run
    assert main(["--home", str(layout.home), "sql",
                 "select * from marts.mart_session_cost order by cost_usd desc limit 5", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and rows[0]["cost_usd"] >= rows[-1]["cost_usd"]
    assert main(["--home", str(layout.home), "sql", "select count(*) as n from lake_quarantine"]) == 0
    assert "(1 row)" in capsys.readouterr().out


def test_a_mostly_broken_file_blocks_the_marts_and_says_where(tmp_path, capsys):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    lines = [event(i) for i in range(8)] + ['{"oops"', event(9, prompt_tokens=-1)]
    write_landing(layout, "bad.ndjson", lines)
    assert main(["--home", str(layout.home), "run"]) == 1
    out = capsys.readouterr().out
    assert "quarantined share 20.00% is above the 5% threshold" in out
    assert "native/2026-11-20/bad.ndjson:9 malformed_json" in out
    assert "native/2026-11-20/bad.ndjson:10 range:prompt_tokens" in out
    assert not layout.warehouse.exists(), "a blocking contract failure must stop the marts"


def test_warehouse_cost_is_tokens_times_the_price_of_the_day(run):
    layout, gen, _ = run
    expected = {r["event_id"]: truth.cost(r) for r in gen.valid_records}
    got = dict(warehouse_rows(layout, "select event_id, cost_usd from marts.fct_ai_interactions "
                                      "where cost_source = 'price_table'"))
    assert len(got) == len(expected)
    assert all(got[e] == pytest.approx(c, rel=1e-9, abs=1e-12) for e, c in expected.items())


def test_drift_flags_exactly_the_planted_regression(run):
    layout, gen, _ = run
    flagged = warehouse_rows(layout, "select distinct model_id || '@' || model_version from marts.mart_model_drift "
                                     "where drift_detected")
    assert flagged == [(gen.regression_version,)]
    (first_day, reason), = warehouse_rows(
        layout, "select min(event_date), min_by(drift_reason, event_date) from marts.mart_model_drift "
                "where drift_detected")
    assert first_day.isoformat() == gen.regression_day
    assert "ttft_ms +" in reason and "regeneration_rate" in reason and "vs previous version 2024-08-06" in reason
    alerts = [a for a in read_alerts(layout) if a["kind"] == "model_drift"]
    assert [a["key"] for a in alerts] == [f"model_drift:{gen.regression_version}"]


def test_latency_slo_breaches_are_the_planted_ones_and_match_an_independent_p95(run):
    layout, gen, _ = run
    expected = truth.slo_breaches(gen.valid_records)
    got = set(warehouse_rows(layout, "select feature_id, model_id, hour_ts from marts.mart_latency_slo "
                                     "where slo_breached"))
    assert got == expected and expected
    regression_day = dt.date.fromisoformat(gen.regression_day)
    assert all(model == "gpt-4o" and hour.date() >= regression_day for _f, model, hour in expected)
    # p95 itself, for the busiest breached hour
    feature, model, hour = max(expected, key=lambda k: k[2])
    ttfts = [r["ttft_ms"] for r in gen.valid_records
             if (r["feature_id"], r["model_id"], truth.hour_of(r)) == (feature, model, hour)]
    (p95,), = warehouse_rows(layout, f"select ttft_p95_ms from marts.mart_latency_slo where feature_id = '{feature}' "
                                     f"and model_id = '{model}' and hour_ts = '{hour}'")
    assert p95 == pytest.approx(truth.percentile(ttfts, 0.95), abs=1e-3)
    alerts = [a for a in read_alerts(layout) if a["kind"] == "latency_slo_breach"]
    runs = {(f, m, h) for f, m, h in expected if (f, m, h - dt.timedelta(hours=1)) not in expected}
    assert {a["key"] for a in alerts} == {f"latency_slo:{f}:{m}:{h:%Y-%m-%dT%H}" for f, m, h in runs}


def test_rolling_user_budget_alerts_only_the_planted_whale(run):
    layout, gen, _ = run
    expected = truth.users_over_7d_budget(gen.valid_records)
    assert {u for u, _ in expected} == {gen.whale_user}
    alerts = [a for a in read_alerts(layout) if a["kind"] == "user_over_budget_7d"]
    assert {a["key"] for a in alerts} == {f"user_over_budget_7d:{u}:{d}" for u, d in expected}


def test_feature_quality_rates_after_late_feedback(run):
    layout, gen, _ = run
    rows = truth.merged(gen.valid_records, gen.valid_feedback_records)
    day = dt.date.fromisoformat(gen.regression_day)
    chat = [r for r in rows if r["feature_id"] == "chat_assistant" and truth.day_of(r) == day]
    rated = [r for r in chat if r["explicit_rating"]]
    got = warehouse_rows(layout, f"""
        select interactions, avg_implicit_quality, regeneration_rate, edit_rate, rating_rate, thumbs_up_rate,
               ttft_p95_ms, cost_usd
        from marts.mart_feature_quality_daily where feature_id = 'chat_assistant' and event_date = '{day}'""")[0]
    assert got[0] == len(chat)
    assert got[1] == pytest.approx(sum(r["quality"] for r in chat) / len(chat), abs=1e-6)
    assert got[2] == pytest.approx(sum(r["user_regenerated"] for r in chat) / len(chat))
    assert got[3] == pytest.approx(sum(r["user_edited_output"] for r in chat) / len(chat))
    assert got[4] == pytest.approx(len(rated) / len(chat))
    assert got[5] == pytest.approx(sum(r["explicit_rating"] == "up" for r in rated) / len(rated))
    assert got[6] == pytest.approx(truth.percentile([r["ttft_ms"] for r in chat], 0.95), abs=1e-3)
    assert got[7] == pytest.approx(sum(truth.cost(r) for r in chat), rel=1e-9)
    late = [f for f in gen.valid_feedback_records]
    assert late, "the generator sends some ratings later, as feedback records"
    sample = late[0]
    assert warehouse_rows(layout, f"select explicit_rating, feedback_records from marts.fct_ai_interactions "
                                  f"where event_id = '{sample['target_event_id']}'") == [(sample["rating"], 1)]


def test_routing_and_duplicate_generations(run):
    layout, gen, _ = run
    day = dt.date.fromisoformat(gen.regression_day)
    calls = [r for r in gen.valid_records if r["feature_id"] == "summarize_doc" and truth.day_of(r) == day]
    by_route = {k: [r for r in calls if r["routing_strategy"] == k] for k in ("primary", "fallback", "cache")}
    got = {row[0]: row[1:] for row in warehouse_rows(layout, f"""
        select routing_strategy, interactions, share, cost_usd, fallback_premium_usd, cache_savings_usd
        from marts.mart_routing where feature_id = 'summarize_doc' and event_date = '{day}'""")}
    primary_per_call = sum(truth.cost(r) for r in by_route["primary"]) / len(by_route["primary"])
    for route, rows in by_route.items():
        n, share, cost_usd, premium, savings = got[route]
        assert (n, share) == (len(rows), pytest.approx(len(rows) / len(calls)))
        assert cost_usd == pytest.approx(sum(truth.cost(r) for r in rows), rel=1e-9)
    assert got["fallback"][3] == pytest.approx(
        sum(truth.cost(r) for r in by_route["fallback"]) - len(by_route["fallback"]) * primary_per_call, abs=1e-9)
    assert got["cache"][4] == pytest.approx(got["cache"][2] / 0.15 - got["cache"][2], abs=1e-9)

    expected = truth.duplicate_responses(gen.valid_records)
    assert expected, "the generator repeats some responses"
    got = {h: (n, w) for h, n, w in warehouse_rows(
        layout, "select response_hash, occurrences, wasted_tokens from marts.mart_duplicate_generations")}
    assert got == expected


def _plain_dbt_build(layout: Layout, tmp_path, override_line: str, prepare_home=None) -> tuple:  # noqa: ANN001
    """A copy of the run's AIW_HOME (passed to `prepare_home` if given) and of the dbt project with one line
    added to price_overrides.csv, then a plain `dbt build` of that project against that home:
    (home, completed process)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path / "aiw"
    shutil.copytree(layout.home, home)
    if prepare_home is not None:
        prepare_home(home)
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs"))
    with open(project / "seeds" / "price_overrides.csv", "a") as fh:
        fh.write(override_line)
    dbt = str(Path(sys.executable).parent / "dbt")
    done = subprocess.run([dbt, "build", "--project-dir", str(project), "--profiles-dir", str(project)],
                          env={**os.environ, "AIW_HOME": str(home)}, capture_output=True, text=True)
    return home, done


def test_changing_a_price_reprices_history(run, tmp_path):
    """An override added to the seed, then a plain rebuild: every past call of that model is re-priced."""
    layout, gen, _ = run
    home, done = _plain_dbt_build(layout, tmp_path,
                                  ",equals,gpt-4o-mini,1.0,0.5,1.0,2.0,0,2000-01-01,9999-12-31,negotiated rate\n")
    assert done.returncode == 0, done.stdout[-3000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    rows = con.execute("select event_id, cost_usd, cost_source from marts.fct_ai_interactions "
                       "where model_id = 'gpt-4o-mini'").fetchall()
    session_total = con.execute("select sum(cost_usd) from marts.mart_session_cost").fetchone()[0]
    unpriced = con.execute("select coalesce(sum(cost_usd), 0) from marts.fct_ai_interactions "
                           "where cost_source = 'producer_estimate'").fetchone()[0]  # the late in-house call
    con.close()
    mini = {r["event_id"]: r for r in gen.valid_records if r["model_id"] == "gpt-4o-mini"}
    assert len(rows) == len(mini) > 0
    for event_id, cost_usd, source in rows:
        r = mini[event_id]
        expected = ((r["prompt_tokens"] - r["cached_tokens"]) * 1.0 + r["cached_tokens"] * 0.5
                    + r["completion_tokens"] * 2.0) / 1e6 * (0.15 if r["routing_strategy"] == "cache" else 1.0)
        assert (cost_usd, source) == (pytest.approx(expected, rel=1e-9), "override")
    others = sum(truth.cost(r) for r in gen.valid_records if r["model_id"] != "gpt-4o-mini")
    repriced = sum(c for _e, c, _s in rows)
    assert session_total == pytest.approx(others + repriced + unpriced, rel=1e-9)


def test_a_blank_override_price_fails_the_build_naming_the_row(run, tmp_path):
    """A blank cell in price_overrides.csv is an error naming the row, never a silently ignored override."""
    import re
    import shutil

    def resolve_again(home):  # noqa: ANN001
        shutil.rmtree(home / "lake" / "prices")
        # A plain dbt build needs the resolution: `aiw prices resolve` writes it from the lake.
        assert main(["--home", str(home), "prices", "resolve"]) == 0
        assert (home / "lake" / "prices" / "model_resolution" / "resolution.parquet").exists()

    layout, _gen, _ = run
    home, done = _plain_dbt_build(
        layout, tmp_path, "openai,equals,gpt-4o,1.0,0.5,,2.0,0,2026-01-01,9999-12-31,cache writes forgotten\n",
        prepare_home=resolve_again)
    assert done.returncode != 0
    assert "price_overrides_have_every_price" in done.stdout
    # dbt points at the stored failing rows; each names the override row and its blank cells.
    where = re.search(r"select \* from (\S+)", done.stdout)
    assert where, done.stdout[-3000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    failures = con.execute(f"select override_row, problems from {where.group(1)}").fetchall()
    con.close()
    assert failures == [("price_overrides.csv row (provider_id=openai, match_type=equals, match_value=gpt-4o, "
                         "valid_from=2026-01-01)", "cache_write_usd_per_mtok is blank")]


def test_demo_findings_name_the_planted_cases(run):
    from orchestration.cli import _findings

    layout, gen, _ = run
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    lines = _findings(con)
    con.close()
    model, version = gen.regression_version.split("@")
    assert any(line.startswith(f"drift: {model} {version} got worse from {gen.regression_day}") for line in lines)
    assert any(line.startswith(f"budget: user {gen.whale_user} over the $20 7-day budget") for line in lines)
    assert any(line.startswith("latency: chat_assistant on gpt-4o broke the p95 TTFT SLO") for line in lines)


def test_cost_by_tag_matches_an_independent_sum_over_the_tagged_calls(run):
    layout, gen, rc = run
    assert rc == 0
    expected = truth.cost_by_tag_daily(truth.merged(gen.valid_records, gen.valid_feedback_records))
    rows = warehouse_rows(layout, "select tag_key, tag_value, event_date, interactions, cost_usd, "
                                  "avg_implicit_quality, unpriced_interactions, error_rate "
                                  "from marts.mart_cost_by_tag_daily")
    assert {(k, v, d) for k, v, d, *_ in rows} == set(expected)
    assert {"tenant", "team", "env"} == {k for k, *_ in rows}
    for key, value, day, calls, cost, quality, unpriced, error_rate in rows:
        n, c, q = expected[(key, value, day)]
        assert (calls, unpriced, error_rate) == (n, 0, 0.0), (key, value, day)
        assert cost == pytest.approx(c, rel=1e-9) and quality == pytest.approx(q, abs=1e-6), (key, value, day)


def test_every_query_in_the_marts_doc_runs(run):
    import re

    layout, _, _ = run
    doc = (REPO / "docs" / "marts.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", doc, flags=re.S)
    queries = [q.strip() for block in blocks for q in block.split(";") if q.strip()]
    assert len(queries) >= 9
    for query in queries:
        assert warehouse_rows(layout, query), query  # every answer has rows on the test data
