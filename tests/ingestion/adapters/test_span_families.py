"""OpenInference and Langfuse SDK spans through the OTLP adapter, by the loader's SQL and the Python reference.

The attributes are those the real instrumentations wrote against the fake OpenAI server
(tests/ingestion/adapters/produce_gateways.py: openinference-instrumentation-openai 0.1.66, langfuse 5.2.0),
message content shortened."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from ingestion.adapters import otlp
from tests.ingestion.adapters.engines import records
from tests.ingestion.adapters.test_otlp_mapping import START_NS, TRACE, attr, span, traces

INPUT_VALUE = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "secret from bob@example.com"}]}'
OPENINFERENCE_LLM = {
    "llm.system": "openai", "input.value": INPUT_VALUE, "input.mime_type": "application/json",
    "output.value": '{"id":"chatcmpl-0001","choices":[{"message":{"content":"secret answer"}}]}',
    "output.mime_type": "application/json", "session.id": "sess-oi-1", "user.id": "user-7",
    "metadata": '{"feature_id": "support_chat_oi"}', "tag.tags": ["t1"],
    "llm.invocation_parameters": '{"model": "gpt-4o-mini"}',
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": "secret from bob@example.com",
    "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.token_count.total": 150, "llm.token_count.prompt": 120,
    "llm.token_count.completion": 30, "llm.token_count.prompt_details.cache_read": 64,
    "llm.token_count.completion_details.reasoning": 0, "llm.output_messages.0.message.content": "secret answer",
    "llm.finish_reason": "stop", "openinference.span.kind": "LLM"}
LANGFUSE_USAGE = ('{"completion_tokens": 80, "prompt_tokens": 300, "total_tokens": 380, '
                  '"completion_tokens_details": {"reasoning_tokens": 0}, '
                  '"prompt_tokens_details": {"cached_tokens": 0}}')
LANGFUSE_GENERATION = {
    "user.id": "user-7", "session.id": "sess-lf-1", "langfuse.trace.metadata.feature_id": '"support_chat_lf"',
    "langfuse.trace.tags": ["t1"], "langfuse.environment": "staging",
    "langfuse.observation.input": '[{"role": "user", "content": "secret from bob@example.com"}]',
    "langfuse.observation.model.parameters": '{"temperature": 1, "max_tokens": "Infinity"}',
    "langfuse.observation.type": "generation", "langfuse.observation.output": "secret answer",
    "langfuse.observation.model.name": "gpt-4o-2024-08-06", "langfuse.observation.usage_details": LANGFUSE_USAGE,
    "langfuse.observation.completion_start_time": '"2026-11-21T11:00:00.300000Z"'}


def mapped(engine: str, attrs: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    (rec,) = records("otlp", [traces(span(attrs, **kwargs), resource={"service.name": "svc"})], engine,
                     otlp.OtlpOptions())
    return rec


def test_an_openinference_llm_span_maps_field_by_field(engine):
    rec = mapped(engine, OPENINFERENCE_LLM)
    assert rec["rules"] == []
    # OpenInference names only the answering model; the requested one comes from the invocation parameters.
    assert (rec["model_id"], rec["model_version"], rec["provider"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18",
                                                                        "openai")
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"], rec["reasoning_tokens"]) == (
        120, 30, 64, 0)
    assert (rec["session_id"], rec["user_id"], rec["feature_id"]) == ("sess-oi-1", "user-7", "support_chat_oi")
    assert rec["prompt_hash"] == hashlib.md5(INPUT_VALUE.encode()).hexdigest()
    assert rec["ttft_ms"] is None and rec["estimated_cost_usd"] is None
    assert "secret" not in repr(rec) and "bob@" not in repr(rec)


def test_openinference_span_kinds_decide_what_is_a_model_call(engine):
    kinds = ["LLM", "EMBEDDING", "CHAIN", "TOOL", "AGENT", "RETRIEVER", "llm", ""]
    doc = traces(*(span({"openinference.span.kind": k, "llm.model_name": "m"}, span_id=f"{i:016x}")
                   for i, k in enumerate(kinds)))
    rows = records("otlp", [doc], engine, otlp.OtlpOptions())
    assert [r is not None for r in rows] == [True, True, False, False, False, False, False, False]


def test_a_failed_openinference_call_keeps_the_requested_model(engine):
    failed = {k: v for k, v in OPENINFERENCE_LLM.items() if not k.startswith(("llm.token", "llm.model", "output"))}
    rec = mapped(engine, failed | {"llm.invocation_parameters": '{"model": "gpt-fails"}'}, status={"code": 2})
    assert (rec["model_id"], rec["model_version"], rec["is_error"], rec["prompt_tokens"]) == (
        "gpt-fails", "gpt-fails", True, None)


def test_a_langfuse_generation_span_maps_field_by_field(engine):
    rec = mapped(engine, LANGFUSE_GENERATION)
    assert rec["rules"] == []
    assert (rec["model_id"], rec["model_version"], rec["provider"]) == ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06",
                                                                        None)
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"], rec["reasoning_tokens"]) == (
        300, 80, 0, 0)
    # The metadata value is JSON text ('"support_chat_lf"'): decoded.
    assert (rec["session_id"], rec["feature_id"]) == ("sess-lf-1", "support_chat_lf")
    # The span starts at 2026-11-21T11:00:00Z (START_NS); the completion started 300 ms later.
    assert dt.datetime.fromtimestamp(START_NS / 1e9, dt.UTC).isoformat() == "2026-11-21T11:00:00+00:00"
    assert rec["ttft_ms"] == 300.0
    assert "secret" not in repr(rec) and rec["trace_id"] == TRACE


def test_langfuse_usage_types_are_exclusive_and_added_up(engine):
    usage = ('{"input": 100, "output": 40, "total": 1160, "cache_read_input_tokens": 1000, '
             '"cache_creation_input_tokens": 20}')
    rec = mapped(engine, LANGFUSE_GENERATION | {"langfuse.observation.usage_details": usage,
                                                "langfuse.observation.cost_details": '{"total": 0.0123}'})
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["cached_tokens"], rec["cache_write_tokens"]) == (
        1120, 40, 1000, 20)
    assert rec["estimated_cost_usd"] == 0.0123 and rec["rules"] == []


def test_a_langfuse_error_level_is_an_error_and_spans_are_skipped(engine):
    rec = mapped(engine, LANGFUSE_GENERATION | {"langfuse.observation.level": "ERROR"})
    assert rec["is_error"] is True
    doc = traces(span({"langfuse.observation.type": "span", "user.id": "u"}),
                 span({"langfuse.observation.type": "embedding", "langfuse.observation.model.name": "e"},
                      span_id="1" * 16))
    assert [r is not None for r in records("otlp", [doc], engine, otlp.OtlpOptions())] == [False, True]


def test_the_gen_ai_family_comes_first_when_a_span_carries_several(engine):
    both = OPENINFERENCE_LLM | {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                "gen_ai.usage.input_tokens": 7}
    rec = mapped(engine, both)
    assert (rec["model_id"], rec["prompt_tokens"], rec["completion_tokens"]) == ("gpt-4o", 7, 30)
    skipped = mapped(engine, OPENINFERENCE_LLM | {"gen_ai.operation.name": "execute_tool"})
    assert skipped is None


def test_resource_metadata_and_attr_helper_shapes(engine):
    # A feature in the resource's OpenInference metadata, a feature attribute of its own winning over it.
    doc = {"resourceSpans": [{"resource": {"attributes": [attr("metadata", '{"feature_id": "from-resource"}')]},
                              "scopeSpans": [{"spans": [span({"openinference.span.kind": "LLM",
                                                              "llm.model_name": "m"})]}]}]}
    (rec,) = records("otlp", [doc], engine, otlp.OtlpOptions())
    assert rec["feature_id"] == "from-resource"
    rec = mapped(engine, OPENINFERENCE_LLM | {"aiw.feature_id": "own"})
    assert rec["feature_id"] == "own"
