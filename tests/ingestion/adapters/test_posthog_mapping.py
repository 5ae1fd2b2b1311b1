"""PostHog export event -> canonical record mapping, by the loader's SQL and by the Python reference alike.

Each test runs with both engines (`tests.ingestion.adapters.engines`) and asserts on what the contract makes of the
record: typed, scrubbed and validated (`rules` lists the contract rules it breaks)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from ingestion.adapters import posthog as ph
from ingestion.contract import pii
from tests.conftest import NOW_MS, TEST_PII_KEY
from tests.ingestion.adapters.engines import records

CAPTURED = dt.datetime.fromtimestamp((NOW_MS - 3_600_000) / 1000, tz=dt.UTC)
OPTS = ph.PosthogOptions()


def generation(**props: object) -> dict:
    base = {"$ai_provider": "anthropic", "$ai_model": "claude-sonnet-4", "$ai_input_tokens": 100,
            "$ai_output_tokens": 40, "$ai_cache_read_input_tokens": 900, "$ai_cache_creation_input_tokens": 20,
            "$ai_cache_reporting_exclusive": True, "$ai_latency": 1.5, "$ai_time_to_first_token": 0.4,
            "$ai_total_cost_usd": 0.0123, "$ai_trace_id": "trace-1", "$ai_session_id": "sess-1",
            "$ai_input": [{"role": "user", "content": "secret prompt"}],
            "$ai_output_choices": [{"role": "assistant", "content": "secret answer"}], "feature_id": "search"}
    base.update(props)
    return {"uuid": "0190e0a5-aaaa-7bbb-8ccc-000000000001", "event": "$ai_generation", "distinct_id": "user-7",
            "person_id": "p-1", "properties": base, "timestamp": CAPTURED.isoformat(), "created_at": None}


def mapped(engine: str, event: dict[str, Any]) -> dict[str, Any] | None:
    (rec,) = records("posthog", [event], engine, OPTS)
    return rec


def test_a_generation_maps_field_by_field_and_validates(engine):
    rec = mapped(engine, generation())
    assert rec["event_id"] == "0190e0a5-aaaa-7bbb-8ccc-000000000001" and rec["session_id"] == "sess-1"
    assert rec["timestamp"] == NOW_MS - 3_600_000 - 1500  # captured at the end: start = capture - latency
    assert (rec["total_latency_ms"], rec["ttft_ms"], rec["estimated_cost_usd"]) == (1500.0, 400.0, 0.0123)
    # exclusive reporting: cache reads and writes come on top of $ai_input_tokens
    assert (rec["prompt_tokens"], rec["cached_tokens"], rec["cache_write_tokens"]) == (1020, 900, 20)
    assert (rec["model_id"], rec["provider"], rec["feature_id"], rec["user_id"]) == (
        "claude-sonnet-4", "anthropic", "search", "user-7")
    assert "secret" not in repr(rec)
    answer = [{"role": "assistant", "content": "secret answer"}]
    assert rec["response_hash"] == hashlib.md5(orjson.dumps(answer)).hexdigest()  # its compact JSON text
    assert rec["rules"] == []


def test_inclusive_reporting_keeps_input_tokens_and_properties_may_be_a_string(engine):
    event = generation(**{"$ai_cache_reporting_exclusive": False, "$ai_input_tokens": 1000})
    event["properties"] = orjson.dumps(event["properties"]).decode()
    rec = mapped(engine, event)
    assert (rec["prompt_tokens"], rec["cached_tokens"]) == (1000, 900)


def test_span_id_keys_a_generation_and_anonymous_traces_have_no_user(engine):
    rec = mapped(engine, generation(**{"$ai_span_id": "span-9", "$process_person_profile": False}))
    assert rec["event_id"] == "span-9" and rec["user_id"] is None


def test_errors_and_email_distinct_ids(engine):
    event = generation(**{"$ai_is_error": True, "$ai_error": "card 4111 1111 1111 1111 declined"})
    event["distinct_id"] = "jane.doe@example.com"
    rec = mapped(engine, event)
    assert rec["is_error"] is True and "declined" not in repr(rec)
    # The contract replaces an id holding PII by its keyed hash (the same for every source).
    assert rec["user_id"] == pii.pseudonym("jane.doe@example.com", TEST_PII_KEY)
    assert mapped(engine, generation(**{"$ai_http_status": 429}))["is_error"] is True


def test_custom_ai_interaction_events_keep_their_schema_version(engine):
    props = {"schema_version": "1.0", "event_id": "e-1", "session_id": "s-1", "timestamp": NOW_MS - 1000,
             "feature_id": "chat", "model_id": "gpt-4o", "model_version": "2024-08-06", "ttft_ms": 100,
             "total_latency_ms": 900, "prompt_tokens": 10, "completion_tokens": 5, "estimated_cost_usd": 0.001,
             "implicit_quality_score": 0.9, "prompt": "secret prompt", "$browser": "Firefox"}
    rec = mapped(engine, {"uuid": "u-1", "event": "ai_interaction", "distinct_id": "d-1", "properties": props,
                          "timestamp": CAPTURED.isoformat()})
    assert rec["schema_version"] == "1.0" and rec["event_id"] == "e-1" and rec["user_id"] == "d-1"
    assert "secret" not in repr(rec) and "Firefox" not in repr(rec)
    assert rec["rules"] == []
    rec = mapped(engine, {"uuid": "u-2", "event": "ai_interaction", "properties": props | {"schema_version": "7"},
                          "timestamp": CAPTURED.isoformat()})
    assert rec["rules"] == ["unsupported_schema_version"]
    rec = mapped(engine, {"uuid": "u-3", "event": "ai_interaction", "properties": {k: v for k, v in props.items()
                                                                                 if k != "event_id"},
                          "timestamp": CAPTURED.isoformat()})
    assert rec["event_id"] == "u-3" and rec["timestamp"] == NOW_MS - 1000  # the event fills in a missing id


def feedback_event(event: str, **props: object) -> dict:
    return {"uuid": "f-1", "event": event, "distinct_id": "user-7", "properties": props,
            "timestamp": CAPTURED.isoformat()}


def test_feedback_events_become_feedback_records(engine):
    rec = mapped(engine, feedback_event("$ai_metric", **{"$ai_trace_id": "trace-1", "$ai_metric_name": "rating",
                                                         "$ai_metric_value": "thumbs_down"}))
    assert {k: rec[k] for k in ("record_type", "schema_version", "feedback_id", "target_event_id", "timestamp",
                                "kind", "rating", "rules")} == {
        "record_type": "feedback", "schema_version": "1.1", "feedback_id": "f-1", "target_event_id": "trace-1",
        "timestamp": NOW_MS - 3_600_000, "kind": "rating", "rating": "down", "rules": []}
    regen = mapped(engine, feedback_event("$ai_metric", **{"$ai_span_id": "span-9", "$ai_metric_name": "regenerated",
                                                           "$ai_metric_value": True}))
    assert (regen["kind"], regen["target_event_id"], regen["rating"]) == ("regenerated", "span-9", None)
    survey = mapped(engine, feedback_event("survey sent", **{"$ai_trace_id": "trace-1", "$survey_response": "5"}))
    assert survey["rating"] == "up"
    thumbs = mapped(engine, feedback_event("$ai_feedback", **{"$ai_trace_id": "t", "$ai_feedback_rating": "up",
                                                              "$ai_feedback_text": "great, call 555-123-4567"}))
    assert thumbs["rating"] == "up" and "555" not in repr(thumbs)


def test_events_without_a_usable_signal_are_skipped(engine):
    skipped = [
        {"uuid": "x", "event": "$pageview", "properties": {}},
        {"uuid": "x", "event": "$ai_trace", "properties": {"$ai_trace_id": "t"}},
        feedback_event("$ai_feedback", **{"$ai_trace_id": "t", "$ai_feedback_text": "meh"}),  # text only
        feedback_event("survey sent", **{"$ai_trace_id": "t", "$survey_response": "3"}),  # neutral
        feedback_event("survey sent", **{"$survey_response": "5"}),  # not tied to a trace
        feedback_event("$ai_metric", **{"$ai_trace_id": "t", "$ai_metric_name": "toxicity", "$ai_metric_value": 1}),
        feedback_event("$ai_metric", **{"$ai_trace_id": "t", "$ai_metric_name": "edited", "$ai_metric_value": False}),
    ]
    assert records("posthog", skipped, engine, OPTS) == [None] * len(skipped)
