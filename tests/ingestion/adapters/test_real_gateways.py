"""Real gateway and tracing libraries -> landing files -> `aiw run` -> marts that match what the fake served.

The `litellm` SDK (its standard logging payload, written by a custom logger), the OpenAI client instrumented
by OpenInference, and Langfuse's OpenAI integration (its SDK's OTLP export, received by a local endpoint)
call the local fake OpenAI server (tests/ingestion/adapters/produce_gateways.py, in subprocesses); the whole pipeline
then runs on the files they wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from ingestion.layout import Layout
from orchestration.cli import main
from tests.ingestion.adapters.produce_gateways import LANGFUSE_FEATURE, LITELLM_FEATURE, OPENINFERENCE_FEATURE
from tests.ingestion.adapters.test_real_clients import check_latency, fct
from tests.paths import REPO


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    root = tmp_path_factory.mktemp("gateways")
    layout = Layout.from_env(root / "aiw").ensure()
    truth: dict[str, list[dict]] = {}
    for mode in ("litellm", "tracers"):
        truth_path = root / f"truth-{mode}.json"
        done = subprocess.run([sys.executable, "-m", "tests.ingestion.adapters.produce_gateways", mode,
                               str(layout.home), str(truth_path)], cwd=REPO, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        truth |= json.loads(truth_path.read_text())
    rc = main(["--home", str(layout.home), "run"])
    return layout, truth, rc


def test_the_pipeline_runs_and_counts_reconcile(produced):
    layout, _, rc = produced
    assert rc == 0
    got = duckdb.sql(f"select source, parse_filename(relative_path), lines, accepted, quarantined, duplicates, "
                     f"skipped from read_parquet('{layout.manifest}/*.parquet') order by all").fetchall()
    # Langfuse: five generations and the request-handler span (skipped).
    assert got == [("litellm", "payloads.jsonl", 5, 5, 0, 0, 0), ("otlp", "langfuse.jsonl", 6, 5, 0, 0, 1),
                   ("otlp", "openinference.jsonl", 5, 5, 0, 0, 0)]


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


def by_session(layout, session: str) -> list[dict]:
    return [r for r in fct(layout, "otlp") if r["session_id"] == session]


def test_openinference_spans_match_the_served_tokens_models_and_timings(produced):
    layout, truth, _ = produced
    rows, served = by_session(layout, "sess-oi-1"), truth["openinference"]
    assert len(rows) == len(served) == 5
    for row, call in zip(rows, served, strict=True):
        # The requested model from llm.invocation_parameters, the served one from llm.model_name (absent
        # on the failed call).
        assert row["model_id"] == call["request_model"]
        assert row["model_version"] == (call["response_model"] or call["request_model"])
        assert (row["provider"], row["feature_id"]) == ("openai", OPENINFERENCE_FEATURE)
        assert row["user_id"].startswith("pii_") and row["is_error"] == (call["status"] >= 400)
        # Unlike the OTel GenAI instrumentation, OpenInference keeps the cached tokens.
        assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (
            call["prompt_tokens"], call["completion_tokens"], call["cached_tokens"] or 0)
        assert row["ttft_ms"] is None
    check_latency(rows, served)


def test_langfuse_sdk_spans_match_the_served_tokens_models_and_timings(produced):
    layout, truth, _ = produced
    rows, served = by_session(layout, "sess-lf-1"), truth["langfuse"]
    assert len(rows) == len(served) == 5
    for row, call in zip(rows, served, strict=True):
        # Langfuse records only one model: the served one, or on the failed call the requested one.
        assert row["model_id"] == row["model_version"] == (call["response_model"] or call["request_model"])
        # No provider attribute: the warehouse has none to price with, yet genai-prices still finds the model.
        assert row["provider"] is None and row["feature_id"] == LANGFUSE_FEATURE
        assert row["user_id"].startswith("pii_") and row["is_error"] == (call["status"] >= 400)
        assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (
            call["prompt_tokens"], call["completion_tokens"], call["cached_tokens"] or 0)
        # Langfuse records the completion start only on streams.
        assert (row["ttft_ms"] is not None) == call["stream"]
        if call["stream"]:
            assert 0 < row["ttft_ms"] < row["total_latency_ms"]
    check_latency(rows, served)


def test_no_message_content_reaches_the_lake(produced):
    layout, _, _ = produced
    flat = repr(duckdb.sql(f"select * from read_parquet('{layout.lake}/**/*.parquet', union_by_name = true)")
                .fetchall())
    assert "call 555" not in flat and "Hello there" not in flat and "bob@example.com" not in flat
