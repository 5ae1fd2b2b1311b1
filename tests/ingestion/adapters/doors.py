"""One scenario of model calls, written through every door the warehouse has
(tests/ingestion/adapters/test_every_door.py).

`CALLS` holds what happened: the same calls, tokens, users, sessions and timings for every door. Each
`render_*` writes them the way that door's producer does, in that format's own units and shapes (seconds
or nanoseconds, inclusive or exclusive token counts, JSON-in-attribute documents), with the door's name in
the session, user and feature ids so that all doors can share one AIW_HOME and one `aiw run`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import orjson

from tests.ingestion.adapters.test_otlp_mapping import attr


@dataclass(frozen=True)
class Call:
    index: int
    session: str
    user: str
    model: str
    version: str
    start_ms: int
    latency_ms: int
    ttft_ms: int | None
    prompt: int | None
    completion: int | None
    cached: int | None
    reasoning: int | None
    cost: float | None
    error: bool = False


def calls(base_ms: int) -> list[Call]:
    """Four calls in two sessions: a cached mini call with reasoning, a 4o call, a small one, a failure."""
    return [
        Call(0, "s1", "user-1", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", base_ms, 850, 200, 1200, 300, 1000, 20,
             0.000321),
        Call(1, "s1", "user-1", "gpt-4o", "gpt-4o-2024-08-06", base_ms + 61_234, 1234, 345, 500, 80, 0, 0, 0.00205),
        Call(2, "s2", "user-2", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", base_ms + 3_600_073, 432, 111, 90, 12, 64,
             0, 0.0000144),
        # A failure has no served model: its version is the requested model, as the SDK records it.
        Call(3, "s2", "user-2", "gpt-4o", "gpt-4o", base_ms + 3_700_500, 150, None, None, None, None, None, None,
             error=True),
    ]


def ids(door: str, call: Call) -> dict[str, str]:
    return {"event": f"{door}-e{call.index}", "session": f"{door}-{call.session}", "user": f"{door}-{call.user}",
            "feature": f"{door}-support"}


def _hex(door: str, value: str, digits: int) -> str:
    import hashlib

    return hashlib.sha256(f"{door}/{value}".encode()).hexdigest()[:digits]


def _iso(ms: int, sep: str = "T", zone: str = "Z") -> str:
    """Epoch ms as an ISO time with microseconds (exact: no float on the way)."""
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return at.strftime(f"%Y-%m-%d{sep}%H:%M:%S.%f") + zone


# --- native: the SDK and records posted to the collector --------------------------------------------------

def native_record(door: str, call: Call) -> dict[str, Any]:
    from ingestion.sdk.events import build_interaction

    i = ids(door, call)
    return build_interaction(
        feature_id=i["feature"], model_id=call.model, model_version=call.version, session_id=i["session"],
        user_id=i["user"], event_id=i["event"], timestamp_ms=call.start_ms, ttft_ms=call.ttft_ms,
        total_latency_ms=call.latency_ms, prompt_tokens=call.prompt, completion_tokens=call.completion,
        cached_tokens=call.cached, reasoning_tokens=call.reasoning, estimated_cost_usd=call.cost,
        provider="openai", is_error=call.error, trace_id=f"{door}-t-{call.session}")


# --- OTLP: GenAI, OpenInference and Langfuse SDK spans ------------------------------------------------------

def _span(door: str, call: Call, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"traceId": _hex(door, call.session, 32), "spanId": _hex(door, str(call.index), 16),
            "name": f"chat {call.model}", "kind": 3, "startTimeUnixNano": str(call.start_ms * 1_000_000),
            "endTimeUnixNano": str((call.start_ms + call.latency_ms) * 1_000_000),
            "attributes": [attr(k, v) for k, v in attrs.items() if v is not None],
            "status": {"code": 2} if call.error else {}}


def _traces(spans: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"resource": {"attributes": [attr("service.name", "svc")]},
                                            "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]})


def genai_traces(door: str, scenario: list[Call]) -> bytes:
    spans = []
    for c in scenario:
        i = ids(door, c)
        spans.append(_span(door, c, {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": c.model,
            "gen_ai.response.model": None if c.error else c.version, "gen_ai.usage.input_tokens": c.prompt,
            "gen_ai.usage.output_tokens": c.completion, "gen_ai.usage.cache_read.input_tokens": c.cached,
            "gen_ai.usage.reasoning.output_tokens": c.reasoning,
            "gen_ai.response.time_to_first_chunk": None if c.ttft_ms is None else c.ttft_ms / 1000,
            "gen_ai.conversation.id": i["session"], "user.id": i["user"], "aiw.feature_id": i["feature"],
            "error.type": "500" if c.error else None}))
    return _traces(spans)


def openinference_traces(door: str, scenario: list[Call]) -> bytes:
    spans = []
    for c in scenario:
        i = ids(door, c)
        spans.append(_span(door, c, {
            "openinference.span.kind": "LLM", "llm.system": "openai",
            "llm.invocation_parameters": json.dumps({"model": c.model}),
            "llm.model_name": None if c.error else c.version, "llm.token_count.prompt": c.prompt,
            "llm.token_count.completion": c.completion, "llm.token_count.prompt_details.cache_read": c.cached,
            "llm.token_count.completion_details.reasoning": c.reasoning, "session.id": i["session"],
            "user.id": i["user"], "metadata": json.dumps({"feature_id": i["feature"]})}))
    return _traces(spans)


def _openai_usage(c: Call) -> str | None:
    if c.prompt is None:
        return None
    return json.dumps({"completion_tokens": c.completion, "prompt_tokens": c.prompt,
                       "total_tokens": c.prompt + c.completion,
                       "completion_tokens_details": {"reasoning_tokens": c.reasoning},
                       "prompt_tokens_details": {"cached_tokens": c.cached}})


def langfuse_traces(door: str, scenario: list[Call]) -> bytes:
    spans = []
    for c in scenario:
        i = ids(door, c)
        spans.append(_span(door, c, {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": c.model if c.error else c.version,
            "langfuse.observation.usage_details": _openai_usage(c),
            "langfuse.observation.cost_details": None if c.cost is None else json.dumps({"total": c.cost}),
            "langfuse.observation.completion_start_time": None if c.ttft_ms is None
            else json.dumps(_iso(c.start_ms + c.ttft_ms)),
            "langfuse.observation.level": "ERROR" if c.error else "DEFAULT", "session.id": i["session"],
            "user.id": i["user"], "langfuse.trace.metadata.feature_id": json.dumps(i["feature"])}))
    return _traces(spans)


# --- PostHog, LiteLLM, Langfuse export ----------------------------------------------------------------------

def posthog_events(door: str, scenario: list[Call]) -> list[dict[str, Any]]:
    out = []
    for c in scenario:
        i = ids(door, c)
        props = {"$ai_span_id": i["event"], "$ai_trace_id": f"{door}-t-{c.session}", "$ai_session_id": i["session"],
                 "$ai_model": c.model, "$ai_model_version": c.version, "$ai_provider": "openai",
                 "$ai_latency": c.latency_ms / 1000, "$ai_time_to_first_token": None if c.ttft_ms is None
                 else c.ttft_ms / 1000, "$ai_input_tokens": c.prompt, "$ai_output_tokens": c.completion,
                 "$ai_cache_read_input_tokens": c.cached, "$ai_reasoning_tokens": c.reasoning,
                 "$ai_total_cost_usd": c.cost, "$ai_is_error": c.error, "$ai_http_status": 500 if c.error else 200,
                 "feature_id": i["feature"]}
        # PostHog stamps the event when the call has ended.
        out.append({"uuid": f"{door}-uuid-{c.index}", "event": "$ai_generation", "distinct_id": i["user"],
                    "person_id": None, "properties": {k: v for k, v in props.items() if v is not None},
                    "timestamp": _iso(c.start_ms + c.latency_ms, zone="+00:00"), "created_at": None})
    return out


def litellm_payloads(door: str, scenario: list[Call]) -> list[dict[str, Any]]:
    out = []
    for c in scenario:
        i = ids(door, c)
        start, end = c.start_ms / 1000, (c.start_ms + c.latency_ms) / 1000
        usage = None if c.error else {
            "prompt_tokens": c.prompt, "completion_tokens": c.completion,
            "prompt_tokens_details": {"cached_tokens": c.cached},
            "completion_tokens_details": {"reasoning_tokens": c.reasoning}}
        # As litellm writes them: a failure has zero tokens and cost, and completionStartTime = endTime
        # when no token came (tests/ingestion/adapters/test_real_gateways.py).
        out.append({
            "id": f"chatcmpl-{c.index}", "litellm_call_id": i["event"], "trace_id": f"{door}-t-{c.session}",
            "session_id": i["session"], "call_type": "completion", "cache_hit": None,
            "status": "failure" if c.error else "success", "custom_llm_provider": "openai", "startTime": start,
            "endTime": end, "completionStartTime": end if c.ttft_ms is None else (c.start_ms + c.ttft_ms) / 1000,
            "model": c.model, "model_map_information": {"model_map_key": "" if c.error else c.version},
            "prompt_tokens": c.prompt or 0, "completion_tokens": c.completion or 0,
            "response_cost": c.cost or 0.0, "end_user": i["user"],
            "metadata": {"usage_object": usage, "spend_logs_metadata": {"feature_id": i["feature"]}},
            "messages": [{"role": "user", "content": "hi"}], "response": {} if c.error else {"model": c.model}})
    return out


def langfuse_observations(door: str, scenario: list[Call]) -> list[dict[str, Any]]:
    out = []
    for c in scenario:
        i = ids(door, c)
        # Langfuse's own usage types are exclusive: cached tokens apart from input, reasoning from output.
        usage = {} if c.prompt is None else {
            "input": c.prompt - c.cached, "input_cached_tokens": c.cached, "output": c.completion - c.reasoning,
            "output_reasoning_tokens": c.reasoning, "total": c.prompt + c.completion}
        out.append({
            "id": i["event"], "trace_id": f"{door}-t-{c.session}", "type": "GENERATION",
            "start_time": _iso(c.start_ms, sep=" ", zone=""), "end_time": _iso(c.start_ms + c.latency_ms, " ", ""),
            "completion_start_time": None if c.ttft_ms is None else _iso(c.start_ms + c.ttft_ms, " ", ""),
            "provided_model_name": c.model if c.error else c.version, "user_id": i["user"],
            "session_id": i["session"], "level": "ERROR" if c.error else "DEFAULT", "usage_details": usage,
            "cost_details": {} if c.cost is None else {"total": c.cost}, "total_cost": c.cost,
            "metadata": {"feature_id": json.dumps(i["feature"])}, "input": "hi", "output": "hello"})
    return out
