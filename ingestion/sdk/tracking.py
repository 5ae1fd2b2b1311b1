"""The producer API: `track_interaction` and `record_feedback`, plus where their records go by default.

Records go to the emitter passed in, else the one set with `configure()`, else one built on first use
from the environment: `AIW_COLLECTOR_URL` + `AIW_COLLECTOR_TOKEN` select the HTTP collector, otherwise
files land under `$AIW_HOME/landing/native/`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from ingestion.sdk.emitter import BatchEmitter
from ingestion.sdk.events import build_feedback, build_interaction, now_ms, text_hash
from ingestion.sdk.pricing import estimate_cost_usd
from ingestion.sdk.transports import HttpTransport, LandingTransport

_default: BatchEmitter | None = None
_default_lock = threading.Lock()

# Per-request fields (session, user, feature...) for instrumented clients, which cannot take extra
# arguments on the provider's call signature. Context variables follow threads and asyncio tasks.
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("aiw_tracking_context",
                                                                             default=_NO_FIELDS)


def configure(emitter: BatchEmitter | None) -> None:
    """Set the emitter records go to when none is passed (None: back to the environment default)."""
    global _default
    with _default_lock:
        _default = emitter


def default_emitter() -> BatchEmitter:
    """The configured emitter, created from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                url = os.environ.get("AIW_COLLECTOR_URL")
                token = os.environ.get("AIW_COLLECTOR_TOKEN")
                transport = HttpTransport(url, token) if url and token else LandingTransport()
                _default = BatchEmitter(transport)
    return _default


@contextlib.contextmanager
def tracking_context(**fields: Any) -> Iterator[None]:
    """Fields (session_id, user_id, feature_id, routing_strategy, tags, prompt_version, ...) for calls tracked
    inside the block.

    `tags` add up: a nested block's tags join the enclosing block's (a key set again takes the inner
    value), and `track_interaction(tags=...)` adds its own on top. Every other field set again replaces.
    """
    outer = _context.get()
    if "tags" in fields:
        fields = {**fields, "tags": {**outer.get("tags", {}), **(fields["tags"] or {})}}
    token = _context.set({**outer, **fields})
    try:
        yield
    finally:
        _context.reset(token)


def context_fields() -> Mapping[str, Any]:
    """The fields set by the enclosing `tracking_context` blocks."""
    return _context.get()


def usage_tokens(usage: Any) -> dict[str, int | None]:
    """Token counts from a provider usage object or dict (OpenAI chat shape; Responses-API names accepted)."""
    if usage is None:
        return {}

    def get(obj: Any, *names: str) -> Any:
        for name in names:
            value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
            if value is not None:
                return value
        return None

    prompt_details = get(usage, "prompt_tokens_details", "input_tokens_details")
    completion_details = get(usage, "completion_tokens_details", "output_tokens_details")
    out = {"prompt_tokens": get(usage, "prompt_tokens", "input_tokens"),
           "completion_tokens": get(usage, "completion_tokens", "output_tokens")}
    if prompt_details is not None:
        out["cached_tokens"] = get(prompt_details, "cached_tokens")
        out["cache_write_tokens"] = get(prompt_details, "cache_write_tokens")
    if completion_details is not None:
        out["reasoning_tokens"] = get(completion_details, "reasoning_tokens")
    return out


_UNSET: Any = object()


def track_interaction(
    *,
    feature_id: str,
    model_id: str,
    session_id: str,
    total_latency_ms: float,
    model_version: str | None = None,
    user_id: str | None = None,
    ttft_ms: float | None = None,
    prompt: str | None = None,
    response: str | None = None,
    usage: Any = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    estimated_cost_usd: float | None = _UNSET,
    price_model: str | None = None,
    stream_chunks_received: int | None = None,
    routing_strategy: str | None = None,
    provider: str | None = None,
    user_regenerated: bool = False,
    user_edited_output: bool = False,
    explicit_rating: str | None = None,
    is_error: bool = False,
    trace_id: str | None = None,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    sample_rate: float | None = None,
    tags: Mapping[str, Any] | None = None,
    prompt_version: str | None = None,
    emitter: BatchEmitter | None = None,
) -> dict[str, Any]:
    """Record one finished model call: build its canonical event (contract 1.2), hand it to the emitter, return it.

    Tokens come from `usage` (the provider's usage object) or the explicit counts; `prompt_tokens` includes
    cached tokens. Cost comes from genai-prices (priced as `price_model`, default `model_id`) unless given;
    an unknown model or missing tokens give a null cost, never an exception. `prompt` and `response` are
    only hashed (a scrubbed prefix), never stored. `timestamp_ms` is the call start (default: now).
    `tags` (customer, tenant, team, environment...) join those of the enclosing `tracking_context` blocks,
    this call's value winning for a key set in both; `prompt_version` defaults to the context's.
    """
    context = _context.get()
    if context:
        tags = {**context.get("tags", {}), **(tags or {})}
        prompt_version = prompt_version if prompt_version is not None else context.get("prompt_version")
    # Ids are strings in the contract; a producer passing `user_id=42` means the id "42".
    feature_id, model_id, session_id = str(feature_id), str(model_id), str(session_id)
    user_id = None if user_id is None else str(user_id)
    model_version = None if model_version is None else str(model_version)
    trace_id = None if trace_id is None else str(trace_id)
    event_id = None if event_id is None else str(event_id)
    if usage is not None:
        counts = usage_tokens(usage)
        prompt_tokens = prompt_tokens if prompt_tokens is not None else counts.get("prompt_tokens")
        completion_tokens = completion_tokens if completion_tokens is not None else counts.get("completion_tokens")
        cached_tokens = cached_tokens if cached_tokens is not None else counts.get("cached_tokens")
        cache_write_tokens = cache_write_tokens if cache_write_tokens is not None else counts.get("cache_write_tokens")
        reasoning_tokens = reasoning_tokens if reasoning_tokens is not None else counts.get("reasoning_tokens")
    timestamp_ms = timestamp_ms if timestamp_ms is not None else now_ms()
    if estimated_cost_usd is _UNSET:
        cost = estimate_cost_usd(price_model or model_id, prompt_tokens, completion_tokens,
                                 cached_tokens=cached_tokens or 0, cache_write_tokens=cache_write_tokens or 0,
                                 provider=provider, timestamp_ms=timestamp_ms)
        estimated_cost_usd = None if cost is None else round(cost, 10)
    record = build_interaction(
        feature_id=feature_id, model_id=model_id, model_version=model_version, session_id=session_id,
        user_id=user_id, event_id=event_id, timestamp_ms=timestamp_ms, ttft_ms=ttft_ms,
        total_latency_ms=total_latency_ms, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        cached_tokens=cached_tokens, cache_write_tokens=cache_write_tokens, reasoning_tokens=reasoning_tokens,
        estimated_cost_usd=estimated_cost_usd, stream_chunks_received=stream_chunks_received,
        routing_strategy=routing_strategy, provider=provider, prompt_hash=text_hash(prompt),
        response_hash=text_hash(response), user_regenerated=user_regenerated,
        user_edited_output=user_edited_output, explicit_rating=explicit_rating, is_error=is_error,
        trace_id=trace_id, sample_rate=sample_rate, tags=tags, prompt_version=prompt_version)
    (emitter or default_emitter()).emit(record)
    return record


def record_feedback(event_id: str, kind: str, *, rating: str | None = None, feedback_id: str | None = None,
                    timestamp_ms: int | None = None, emitter: BatchEmitter | None = None) -> dict[str, Any]:
    """Record behaviour that happened after a call: kind 'regenerated', 'edited' or 'rating' (with rating).

    Pass the same `feedback_id` when retrying so the warehouse counts it once.
    """
    record = build_feedback(event_id, kind, rating=rating, feedback_id=feedback_id, timestamp_ms=timestamp_ms)
    (emitter or default_emitter()).emit(record)
    return record
