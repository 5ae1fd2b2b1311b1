"""Langfuse blob-export observation -> canonical record mapping, by the loader's SQL and the Python reference.

No Langfuse server runs here (the export is written by the server, not by the SDK), so `observation()` is
built from Langfuse's published schema: the docs' "Blob Storage Export Field Reference", enriched
observations (`observations_v2/`, JSONL; timestamps `YYYY-MM-DD HH:MM:SS.ffffff` in UTC), with the values
the SDK spans of tests/ingestion/adapters/produce_gateways.py carried (model, usage document, metadata written as
JSON text)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from ingestion.adapters import langfuse as lf
from tests.conftest import NOW_MS
from tests.ingestion.adapters.engines import records

OPTS = lf.LangfuseOptions()
INPUT = '[{"role": "user", "content": "secret from bob@example.com"}]'


def observation(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "8fa26b9e88bae63f", "trace_id": "53e5d1e4c0ad2c79a1b2c3d4e5f60718", "project_id": "proj-1",
        "environment": "staging", "parent_observation_id": "2c08f1204c0d1c10",
        "start_time": "2026-11-21 11:00:00.073470", "end_time": "2026-11-21 11:00:00.128058",
        "type": "GENERATION", "name": "OpenAI-generation",
        "level": "DEFAULT", "status_message": None, "version": None, "user_id": "user-7", "session_id": "sess-lf-1",
        "trace_name": "handle_request", "completion_start_time": "2026-11-21 11:00:00.100000",
        "input": INPUT, "output": '{"role": "assistant", "content": "secret answer"}',
        "metadata": {"feature_id": '"support_chat_lf"'}, "provided_model_name": "gpt-4o-mini-2024-07-18",
        "internal_model_id": "model-1", "model_parameters": '{"temperature": 1}',
        "usage_details": {"input": 56, "input_cached_tokens": 64, "output": 30, "total": 150},
        "cost_details": {"input": 0.0000084, "input_cached_tokens": 0.0000048, "output": 0.000018,
                         "total": 0.0000312},
        "total_cost": 0.0000312, "latency": 0.054588, "time_to_first_token": 0.02653, "tags": ["team:support"],
    }
    base.update(overrides)
    return base


def mapped(engine: str, obj: Any) -> dict[str, Any] | None:
    (rec,) = records("langfuse", [obj], engine, OPTS)
    return rec


def test_an_exported_generation_maps_field_by_field(engine):
    rec = mapped(engine, observation())
    assert rec["rules"] == []
    assert (rec["event_id"], rec["session_id"], rec["user_id"]) == ("8fa26b9e88bae63f", "sess-lf-1", "user-7")
    assert rec["timestamp"] == NOW_MS - 3_600_000 + 73  # 2026-11-21 11:00:00.073 UTC, whole ms
    assert rec["total_latency_ms"] == pytest.approx(54.588, abs=1e-9)
    assert rec["ttft_ms"] == pytest.approx(26.53, abs=1e-9)
    assert (rec["model_id"], rec["model_version"], rec["provider"]) == (
        "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", None)
    # Langfuse's usage types are exclusive: 56 uncached + 64 cached = 120 prompt tokens.
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"]) == (120, 30, 64)
    assert (rec["estimated_cost_usd"], rec["feature_id"], rec["is_error"]) == (0.0000312, "support_chat_lf", False)
    assert rec["prompt_hash"] == hashlib.md5(INPUT.encode()).hexdigest()
    assert "secret" not in repr(rec) and "bob@" not in repr(rec)


def test_errors_other_types_and_lines_that_are_not_observations(engine):
    rows = records("langfuse", [observation(level="ERROR", usage_details={}, total_cost=None,
                                            cost_details={"total": 0}),
                                observation(type="SPAN"), observation(type="embedding", id="e1"),
                                {"type": 5}, "not json", orjson.dumps([1]).decode()], engine, OPTS)
    assert rows[0]["is_error"] is True and rows[0]["prompt_tokens"] is None and rows[0]["estimated_cost_usd"] == 0
    assert rows[1] is None and rows[2]["event_id"] == "e1"
    assert [r["rules"][0] for r in rows[3:]] == ["not_an_object", "malformed_json", "not_an_object"]


def test_openai_shaped_usage_metadata_as_json_text_and_the_trace_as_session(engine):
    usage = {"prompt_tokens": 120, "completion_tokens": 30,
             "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 5}}
    rec = mapped(engine, observation(usage_details=usage, session_id=None, metadata='{"feature_id": "plain"}'))
    assert (rec["prompt_tokens"], rec["cached_tokens"], rec["reasoning_tokens"]) == (120, 64, 5)
    assert (rec["session_id"], rec["feature_id"]) == ("53e5d1e4c0ad2c79a1b2c3d4e5f60718", "plain")


def test_a_start_time_that_is_not_a_time_is_quarantined(engine):
    rec = mapped(engine, observation(start_time="yesterday"))
    assert rec["rules"][0].startswith("type:timestamp") and rec["ttft_ms"] is None
