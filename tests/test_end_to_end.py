"""End to end on a temporary AIW_HOME: synthetic landing files -> `aiw run` -> lake, marts, alerts.

Expectations come from the generator's ground truth (what it wrote as valid, as retries, and as each
kind of contract violation), computed here in plain Python, never read back from the warehouse.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import duckdb
import pytest

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import END_DATE, event, write_landing

BUDGET = 0.50


def warehouse_rows(layout: Layout, sql: str) -> list[tuple]:
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def expected_sessions(records: list[dict]) -> dict[str, tuple[int, int, float]]:
    sessions: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])
    for r in records:
        s = sessions[r["session_id"]]
        s[0] += 1
        s[1] += r["prompt_tokens"] + r["completion_tokens"]
        s[2] += r["estimated_cost_usd"]
    return {k: tuple(v) for k, v in sessions.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    layout = Layout.from_env(tmp_path_factory.mktemp("e2e") / "aiw").ensure()
    gen = synthetic.generate(layout, synthetic.Options(events=4000, days=3, seed=11, end_date=END_DATE),
                             keep_records=True)
    rc = main(["--home", str(layout.home), "run"])
    return layout, gen, rc


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
    expected = expected_sessions(gen.valid_records)
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
    over = {sid for sid, (_n, _t, cost) in expected_sessions(gen.valid_records).items() if cost > BUDGET}
    assert over, "the generator's whale user should blow the session budget"
    alerts = [json.loads(line) for line in (layout.alerts / "alerts.jsonl").read_text().splitlines()]
    assert Counter(a["key"] for a in alerts) == Counter(f"session_over_budget:{sid}" for sid in over)
    assert all(a["details"]["cost_usd"] > BUDGET for a in alerts)


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
                 timestamp=target["timestamp"] + 1, estimated_cost_usd=0.125, prompt_tokens=10, completion_tokens=5)
    write_landing(layout, "late.ndjson", [late], load_date=END_DATE.replace(day=END_DATE.day + 2).isoformat())
    old = dict((r[0], r) for r in before)[target["session_id"]]
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
