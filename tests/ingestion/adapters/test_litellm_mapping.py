"""LiteLLM standard logging payload -> canonical record mapping, by the loader's SQL and the Python reference.

Each test runs with both engines (`tests.ingestion.adapters.engines`) and asserts on what the contract makes of the
record. `payload()` has the shape litellm 1.110 hands its callbacks (captured from a real call in
tests/ingestion/adapters/produce_gateways.py; the keys the mapping does not read are trimmed)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from ingestion.adapters import litellm as ll
from tests.conftest import NOW_MS
from tests.ingestion.adapters.engines import records

START_S = (NOW_MS - 3_600_000) / 1000 + 0.123456
OPTS = ll.LitellmOptions()
MESSAGES = [{"role": "user", "content": "secret prompt from bob@example.com"}]
CHOICES = [{"finish_reason": "stop", "index": 0, "message": {"content": "secret answer", "role": "assistant"}}]


def payload(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "chatcmpl-0001", "litellm_call_id": "99606e12-d6bb-4726-ab3b-045395358562",
        "trace_id": "70599440-d063-4691-b4ec-0af4b8670f23", "session_id": "", "call_type": "completion",
        "cache_hit": None, "stream": None, "status": "success", "custom_llm_provider": "openai",
        "startTime": START_S, "endTime": START_S + 0.4576, "completionStartTime": START_S + 0.2,
        "response_time": 0.4576, "model": "gpt-4o-mini", "response_cost": 3.12e-05, "total_tokens": 150,
        "prompt_tokens": 120, "completion_tokens": 30, "request_tags": ["team-a"], "end_user": None,
        "metadata": {"user_api_key_alias": "key-1", "user_api_key_team_alias": "search-team",
                     "user_api_key_end_user_id": None, "requester_metadata": {"feature_id": "search"},
                     "spend_logs_metadata": None,
                     "usage_object": {"completion_tokens": 30, "prompt_tokens": 120, "total_tokens": 150,
                                      "completion_tokens_details": {"reasoning_tokens": 4},
                                      "prompt_tokens_details": {"cached_tokens": 64}}},
        "messages": MESSAGES,
        "response": {"id": "chatcmpl-0001", "created": 1796223371, "model": "gpt-4o-mini-2024-07-18",
                     "object": "chat.completion", "choices": CHOICES},
        "model_parameters": {"user": "user-7"},
        "model_map_information": {"model_map_key": "gpt-4o-mini-2024-07-18", "model_map_value": {}},
        "error_str": None, "hidden_params": {"litellm_model_name": "openai/gpt-4o-mini"},
    }
    base.update(overrides)
    return base


def mapped(engine: str, obj: Any) -> dict[str, Any] | None:
    (rec,) = records("litellm", [obj], engine, OPTS)
    return rec


def test_a_payload_maps_field_by_field_and_validates(engine):
    rec = mapped(engine, payload())
    assert rec["rules"] == []
    assert rec["event_id"] == "99606e12-d6bb-4726-ab3b-045395358562"
    # session_id is empty: the trace (litellm_session_id lands there) is the session
    assert rec["session_id"] == rec["trace_id"] == "70599440-d063-4691-b4ec-0af4b8670f23"
    assert rec["timestamp"] == int(START_S * 1000)
    assert rec["total_latency_ms"] == pytest.approx(457.6, abs=1e-3)
    assert rec["ttft_ms"] == pytest.approx(200.0, abs=1e-3)
    assert (rec["model_id"], rec["model_version"], rec["provider"]) == (
        "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai")
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"], rec["reasoning_tokens"]) == (
        120, 30, 64, 4)
    assert rec["cache_write_tokens"] is None
    assert (rec["estimated_cost_usd"], rec["feature_id"], rec["user_id"]) == (3.12e-05, "search", "user-7")
    assert (rec["is_error"], rec["routing_strategy"]) == (False, None)
    assert rec["prompt_hash"] == hashlib.md5(orjson.dumps(MESSAGES)).hexdigest()
    assert rec["response_hash"] == hashlib.md5(orjson.dumps(CHOICES)).hexdigest()
    assert "secret" not in repr(rec) and "bob@" not in repr(rec)


def test_a_failure_is_an_error_and_a_cache_hit_is_routed_by_cache(engine):
    failed = mapped(engine, payload(status="failure", response={}, prompt_tokens=0, completion_tokens=0,
                                    response_cost=0.0, model_map_information={"model_map_key": ""}))
    assert failed["is_error"] is True and failed["model_version"] == "gpt-4o-mini"
    assert (failed["prompt_tokens"], failed["response_hash"]) == (0, None)
    hit = mapped(engine, payload(cache_hit=True, response_cost=0.0))
    assert (hit["routing_strategy"], hit["estimated_cost_usd"]) == ("cache", 0.0)


def test_anthropic_style_usage_and_the_proxy_s_end_user_and_session(engine):
    usage = {"prompt_tokens": 1200, "completion_tokens": 10, "cache_read_input_tokens": 1000,
             "cache_creation_input_tokens": 50}
    rec = mapped(engine, payload(prompt_tokens=1200, end_user="cust-9", session_id="sess-1",
                                 metadata={"usage_object": usage, "user_api_key_end_user_id": "other",
                                           "spend_logs_metadata": {"feature_id": "summarise"}}))
    assert (rec["cached_tokens"], rec["cache_write_tokens"], rec["rules"]) == (1000, 50, [])
    assert (rec["user_id"], rec["session_id"], rec["feature_id"]) == ("cust-9", "sess-1", "summarise")


def test_the_feature_key_is_configurable_and_unknown_when_absent(engine):
    rec = mapped(engine, payload(metadata={"requester_metadata": {"product_area": "billing"}}))
    assert rec["feature_id"] == "unknown"
    (rec,) = records("litellm", [payload(metadata={"requester_metadata": {"product_area": "billing"}})], engine,
                     ll.LitellmOptions.from_env({"AIW_LITELLM_FEATURE_KEY": "product_area, feature_id"}))
    assert rec["feature_id"] == "billing"


def test_calls_that_are_not_model_calls_are_skipped_and_other_lines_quarantined(engine):
    rows = records("litellm", [payload(call_type="image_generation"), payload(call_type="aembedding",
                                                                              response="text"),
                               {"call_type": 5}, "not json"], engine, OPTS)
    assert rows[0] is None
    assert rows[1]["response_hash"] == hashlib.md5(b"text").hexdigest() and rows[1]["rules"] == []
    assert [r["rules"][0] for r in rows[2:]] == ["not_an_object", "malformed_json"]


def test_times_of_the_wrong_type_are_quarantined_not_guessed(engine):
    rec = mapped(engine, payload(startTime="2026-11-21T10:00:00", completionStartTime=None))
    assert rec["rules"][0].startswith("type:timestamp") and rec["ttft_ms"] is None
