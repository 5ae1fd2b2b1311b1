"""OTLP span -> canonical record mapping, by the loader's SQL and by the Python reference alike.

Each test runs with both engines (`tests.ingestion.adapters.engines`) and asserts on what the contract makes of the
record: typed, scrubbed and validated (`rules` lists the contract rules it breaks)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ingestion.adapters import otlp
from ingestion.contract import pii
from tests.conftest import NOW_MS, TEST_PII_KEY
from tests.ingestion.adapters.engines import records

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
START_NS = (NOW_MS - 3_600_000) * 1_000_000


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def span(attrs: dict[str, Any], *, span_id: str = "00f067aa0ba902b7", status: dict | None = None,
         duration_ms: float = 850.0) -> dict[str, Any]:
    return {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": span_id, "name": "chat", "kind": 3,
            "startTimeUnixNano": str(START_NS), "endTimeUnixNano": str(START_NS + int(duration_ms * 1e6)),
            "attributes": [attr(k, v) for k, v in attrs.items()], "status": status or {}}


def traces(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    res = resource if resource is not None else {"service.name": "checkout-assistant"}
    return {"resourceSpans": [{"resource": {"attributes": [attr(k, v) for k, v in res.items()]},
                               "scopeSpans": [{"scope": {"name": "x"}, "spans": list(spans)}]}]}


CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_creation.input_tokens": 50, "gen_ai.usage.reasoning.output_tokens": 20,
        "gen_ai.response.time_to_first_chunk": 0.25, "gen_ai.conversation.id": "conv-1",
        "gen_ai.input.messages": '[{"role":"user","parts":[{"content":"secret prompt"}]}]',
        "gen_ai.output.messages": '[{"role":"assistant","parts":[{"content":"secret answer"}]}]'}


def mapped(engine: str, *spans: dict[str, Any], resource: dict[str, Any] | None = None,
           options: otlp.OtlpOptions | None = None) -> list[dict[str, Any] | None]:
    return records("otlp", [traces(*spans, resource=resource)], engine, options)


def test_a_chat_span_maps_field_by_field_and_validates(engine):
    (rec,) = mapped(engine, span(CHAT))
    assert rec["schema_version"] == "1.1" and rec["event_id"] == TRACE + "00f067aa0ba902b7"
    assert rec["session_id"] == "conv-1" and rec["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert rec["timestamp"] == NOW_MS - 3_600_000 and rec["total_latency_ms"] == 850.0 and rec["ttft_ms"] == 250.0
    assert (rec["model_id"], rec["model_version"], rec["provider"]) == ("gpt-4o", "gpt-4o-2024-08-06", "openai")
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"]) == (1200, 300, 1000)
    assert (rec["cache_write_tokens"], rec["reasoning_tokens"], rec["is_error"]) == (50, 20, False)
    assert rec["feature_id"] == "checkout-assistant"  # service.name: no aiw.feature_id anywhere
    assert rec["estimated_cost_usd"] is None and rec["implicit_quality_score"] is None  # unknown, not zero
    assert rec["prompt_hash"] == hashlib.md5(CHAT["gen_ai.input.messages"].encode()).hexdigest()
    assert rec["response_hash"] == hashlib.md5(CHAT["gen_ai.output.messages"].encode()).hexdigest()
    assert "secret" not in repr(rec)
    assert rec["rules"] == []


def test_older_attribute_names_are_accepted(engine):
    old = {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet",
           "gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.completion_tokens": 5}
    (rec,) = mapped(engine, span(old))
    assert (rec["provider"], rec["model_version"], rec["prompt_tokens"], rec["completion_tokens"]) == (
        "anthropic", "claude-3-5-sonnet", 10, 5)
    assert rec["session_id"] == rec["trace_id"]  # no conversation id: the trace is the session


def test_spans_that_are_not_model_calls_are_skipped_in_place(engine):
    tool = span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, span_id="1" * 16)
    http = span({"http.request.method": "GET"}, span_id="2" * 16)
    got = mapped(engine, tool, span(CHAT), http)
    assert [r is None for r in got] == [True, False, True]


def test_feature_attribute_is_configurable_span_before_resource(engine):
    opts = otlp.OtlpOptions.from_env({"AIW_OTLP_FEATURE_ATTRIBUTE": "app.feature, service.name"})
    assert opts.feature_attributes == ("app.feature", "service.name")
    (rec,) = mapped(engine, span(CHAT | {"app.feature": "search"}),
                    resource={"service.name": "svc", "app.feature": "resource-level"}, options=opts)
    assert rec["feature_id"] == "search"
    (rec,) = mapped(engine, span(CHAT), resource={"aiw.feature_id": "summaries", "service.name": "svc"})
    assert rec["feature_id"] == "summaries"
    (rec,) = mapped(engine, span(CHAT), resource={})
    assert rec["feature_id"] == otlp.UNKNOWN_FEATURE


def test_error_status_base64_ids_and_missing_usage(engine):
    failed = {k: v for k, v in CHAT.items() if not k.startswith("gen_ai.usage")}
    b64 = {"spanId": base64.b64encode(bytes.fromhex("00f067aa0ba902b7")).decode(),
           "traceId": base64.b64encode(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")).decode()}
    s = span(failed, status={"code": 2, "message": "boom"}) | b64  # protobuf's generic JSON mapping
    (rec,) = mapped(engine, s)
    assert rec["is_error"] is True and rec["event_id"] == TRACE + "00f067aa0ba902b7"
    assert rec["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert rec["prompt_tokens"] is None and rec["rules"] == []
    (rec,) = mapped(engine, span(CHAT, status={"code": "STATUS_CODE_ERROR"}))
    assert rec["is_error"] is True


def test_pii_in_attributes_is_scrubbed_and_user_ids_pseudonymised(engine):
    attrs = CHAT | {"gen_ai.conversation.id": "conv for bob@example.com", "user.id": "bob@example.com",
                    "gen_ai.request.model": "gpt 4111 1111 1111 1111"}
    (rec,) = mapped(engine, span(attrs))
    # Ids holding PII become keyed hashes of the whole value; free text is scrubbed.
    assert rec["session_id"] == pii.pseudonym("conv for bob@example.com", TEST_PII_KEY)
    assert rec["model_id"] == "gpt [card]"
    assert rec["user_id"] == pii.pseudonym("bob@example.com", TEST_PII_KEY)


def test_an_all_digit_span_id_is_not_taken_for_a_card_number(engine):
    luhn_valid = "4111111111111111"
    (rec,) = mapped(engine, span(CHAT, span_id=luhn_valid))
    assert rec["event_id"] == TRACE + luhn_valid


def test_wrongly_typed_values_reach_the_contract_instead_of_crashing(engine):
    (rec,) = mapped(engine, span(CHAT | {"gen_ai.usage.input_tokens": "lots"}))
    assert "type:prompt_tokens" in rec["rules"]
    (rec,) = mapped(engine, span(CHAT | {"gen_ai.request.model": ["a", "b"]}))  # an arrayValue
    assert rec["rules"][0] == "type:model_id"
