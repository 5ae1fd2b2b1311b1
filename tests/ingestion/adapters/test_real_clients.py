"""Real producer libraries -> landing files -> `aiw run` -> marts that match what the fake server served.

The OpenAI SDK instrumented with opentelemetry-instrumentation-openai-v2 and PostHog's OpenAI wrapper call a
local fake OpenAI server (tests/ingestion/adapters/produce.py, in a subprocess); the whole pipeline then runs on the
OTLP and PostHog files they produced.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest
from genai_prices import Usage, calc_price

from ingestion.layout import Layout
from orchestration.cli import main
from tests.paths import REPO

# The calls are sequential and the server answers within milliseconds: a client-side latency must cover the
# server's time and may add at most this much of client and export overhead.
LATENCY_SLACK_MS = 3000
# The fake server's time runs until its handler returns, which for a stream is after the last chunk is written:
# a client that has read that chunk may stop its clock a fraction of a millisecond earlier (seen under load).
SERVER_AFTER_CLIENT_MS = 5


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    root = tmp_path_factory.mktemp("clients")
    layout = Layout.from_env(root / "aiw").ensure()
    truth_path = root / "truth.json"
    done = subprocess.run([sys.executable, "-m", "tests.ingestion.adapters.produce", str(layout.home), str(truth_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rc = main(["--home", str(layout.home), "run"])
    return layout, json.loads(truth_path.read_text()), rc


def fct(layout: Layout, source: str) -> list[dict]:
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        cur = con.execute("select * from marts.fct_ai_interactions where source = ? order by event_ts", [source])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def check_latency(rows: list[dict], served: list[dict]) -> None:
    for row, call in zip(rows, served, strict=True):
        server_ms = call["seconds"] * 1000
        assert server_ms - SERVER_AFTER_CLIENT_MS <= row["total_latency_ms"] <= server_ms + LATENCY_SLACK_MS, (
            row, call)


def test_the_pipeline_runs_and_counts_reconcile(produced):
    layout, _, rc = produced
    assert rc == 0
    got = duckdb.sql(f"select source, lines, accepted, feedback_accepted, quarantined, duplicates, skipped "
                     f"from read_parquet('{layout.manifest}/*.parquet') order by source").fetchall()
    # OTLP: five chat spans plus the request-handler span (skipped). PostHog: five generations, one
    # $ai_metric rating (feedback) and a $pageview (skipped).
    assert got == [("otlp", 6, 5, 0, 0, 0, 1), ("posthog", 7, 5, 1, 0, 0, 1)]


def test_otel_spans_match_the_served_tokens_models_and_timings(produced):
    layout, truth, _ = produced
    rows, served = fct(layout, "otlp"), truth["otlp"]
    assert len(rows) == len(served) == 5
    for row, call in zip(rows, served, strict=True):
        assert row["model_id"] == call["request_model"]
        assert row["model_version"] == (call["response_model"] or call["request_model"])
        assert row["provider"] == "openai" and row["feature_id"] == "support_chat"
        assert (row["prompt_tokens"], row["completion_tokens"]) == (call["prompt_tokens"], call["completion_tokens"])
        # The instrumentation reports no cached tokens (the server sent prompt_tokens_details.cached_tokens),
        # no time to first chunk and no cost: the marts say 0 cached and unknown TTFT; the warehouse prices
        # the tokens it has (genai-prices' list price), and a call without tokens has an unknown cost.
        assert row["cached_tokens"] == 0 and row["ttft_ms"] is None
        if call["prompt_tokens"] is None:
            assert (row["cost_usd"], row["cost_source"]) == (None, "unknown")
        else:
            usage = Usage(input_tokens=call["prompt_tokens"], output_tokens=call["completion_tokens"])
            listed = float(calc_price(usage, row["model_version"], provider_id="openai").total_price)
            assert (row["cost_usd"], row["cost_source"]) == (pytest.approx(listed, rel=1e-9), "price_table")
        assert row["is_error"] == (call["status"] >= 400)
    check_latency(rows, served)
    assert len({r["session_id"] for r in rows}) == 1  # one request handler trace: one session
    assert [r["prompt_tokens"] is None for r in rows] == [False, False, False, True, True]  # stream w/o usage, 500


def test_posthog_events_match_the_served_tokens_models_and_timings(produced):
    layout, truth, _ = produced
    rows, served = fct(layout, "posthog"), truth["posthog"]
    assert len(rows) == len(served) == 5
    for row, call in zip(rows, served, strict=True):
        # The wrapper reports the model asked for; it serves as model and version.
        assert row["model_id"] == row["model_version"] == call["request_model"]
        assert row["provider"] == "openai" and row["feature_id"] == "support_chat_ph"
        assert row["session_id"] == "sess-ph-1"
        assert row["user_id"].startswith("pii_")  # the distinct_id was an e-mail address: its keyed hash
        assert (row["prompt_tokens"], row["completion_tokens"]) == (call["prompt_tokens"], call["completion_tokens"])
        assert row["cached_tokens"] == (call["cached_tokens"] or 0)
        assert row["ttft_ms"] is None and row["is_error"] == (call["status"] >= 400)
    check_latency(rows, served)
    # The wrapper turned on include_usage for the stream that did not ask for it: both streams have tokens.
    assert [c["include_usage"] for c in served if c["stream"]] == [True, True]
    feedback = duckdb.sql(f"select target_event_id, kind, rating from read_parquet("
                          f"'{layout.raw_feedback}/**/*.parquet')").fetchall()
    assert feedback == [("trace-ph-1", "rating", "up")]
    # The rating names the trace, not a generation: it is about the trace's last generation (rows are in
    # event_ts order), and nothing of it is left unmatched.
    assert [(r["explicit_rating"], r["feedback_records"]) for r in rows] == [(None, 0)] * 4 + [("up", 1)]
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.feedback_unmatched").fetchone() == (0,)
    finally:
        con.close()


def test_no_message_content_reaches_the_lake(produced):
    layout, _, _ = produced
    flat = repr(duckdb.sql(f"select * from read_parquet('{layout.lake}/**/*.parquet', union_by_name = true)")
                .fetchall())
    assert "call 555" not in flat and "Hello there" not in flat and "bob@example.com" not in flat
