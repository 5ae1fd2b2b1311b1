"""Real gateway and tracing libraries -> landing files -> `aiw run` -> marts that match what the fake served.

The `litellm` SDK (its standard logging payload, written by a custom logger) calls the local fake OpenAI
server (tests/adapters/produce_gateways.py, in a subprocess); the whole pipeline then runs on the files
written.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from ingestion.layout import Layout
from orchestration.cli import main
from tests.adapters.produce_gateways import LITELLM_FEATURE
from tests.adapters.test_real_clients import REPO_ROOT, check_latency, fct


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    root = tmp_path_factory.mktemp("gateways")
    layout = Layout.from_env(root / "aiw").ensure()
    truth_path = root / "truth.json"
    done = subprocess.run([sys.executable, "-m", "tests.adapters.produce_gateways", str(layout.home),
                           str(truth_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rc = main(["--home", str(layout.home), "run"])
    return layout, json.loads(truth_path.read_text()), rc


def test_the_pipeline_runs_and_counts_reconcile(produced):
    layout, _, rc = produced
    assert rc == 0
    got = duckdb.sql(f"select source, lines, accepted, quarantined, duplicates, skipped "
                     f"from read_parquet('{layout.manifest}/*.parquet') order by source").fetchall()
    assert got == [("litellm", 5, 5, 0, 0, 0)]


def test_litellm_payloads_match_the_served_tokens_models_costs_and_timings(produced):
    layout, truth, _ = produced
    rows, served = fct(layout, "litellm"), truth["litellm"]
    assert len(rows) == len(served) == 5
    for row, call in zip(rows, served, strict=True):
        assert row["model_id"] == call["request_model"]
        # The cost-map key is the dated model the server answered with, streams included.
        assert row["model_version"] == (call["response_model"] or call["request_model"])
        assert (row["provider"], row["feature_id"], row["session_id"]) == ("openai", LITELLM_FEATURE, "sess-gw-1")
        assert row["user_id"].startswith("pii_")  # the `user` was an e-mail address: its keyed hash
        assert row["is_error"] == (call["status"] >= 400)
        if call["status"] >= 400:
            # A failed call is logged with zero tokens and zero cost.
            assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (0, 0, 0)
        elif call["prompt_tokens"] is None:
            # A stream without usage: LiteLLM counts the tokens itself with its bundled tokenizer, so the
            # payload has tokens (and a cost) the provider never reported. They are LiteLLM's estimate.
            assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        else:
            assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (
                call["prompt_tokens"], call["completion_tokens"], call["cached_tokens"])
        # Non-streamed calls: the first token came with the answer; streams: before the end.
        assert 0 <= row["ttft_ms"] <= row["total_latency_ms"]
        if not call["stream"]:
            assert row["ttft_ms"] == row["total_latency_ms"]
    check_latency(rows, served)
    # Cached tokens reached the marts (the OTel instrumentation drops them): the mini calls' 64 of 120.
    assert [r["cached_tokens"] for r in rows][:2] == [64, 64]


def test_no_message_content_reaches_the_lake(produced):
    layout, _, _ = produced
    flat = repr(duckdb.sql(f"select * from read_parquet('{layout.lake}/**/*.parquet', union_by_name = true)")
                .fetchall())
    assert "call 555" not in flat and "Hello there" not in flat and "bob@example.com" not in flat
