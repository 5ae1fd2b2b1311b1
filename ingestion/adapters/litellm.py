"""LiteLLM standard logging payloads -> canonical 1.1 interaction records. Pure, no I/O.

Input is one `StandardLoggingPayload` object: what LiteLLM (SDK or proxy) hands every logging callback as
`kwargs["standard_logging_object"]` and what its S3, GCS and custom loggers write, one JSON object per call.
Times are epoch seconds as floats (`startTime`, `endTime`, `completionStartTime`), usage details sit in
`metadata.usage_object`. A payload whose `call_type` is not a model call (image generation, moderation,
pass-through, ...) is skipped and counted by the loader. The mapping table is in docs/adapters.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingestion.adapters.common import (
    content_hash,
    dig,
    epoch_seconds_to_ms,
    first,
    names_from_env,
    present,
    scrub_record,
    seconds_between_ms,
)

# call_type values of calls to a model that returns tokens (each also has an "a"-prefixed async twin).
MODEL_CALL_TYPES = frozenset(
    prefix + name
    for name in ("completion", "text_completion", "embedding", "responses", "anthropic_messages",
                 "generate_content")
    for prefix in ("", "a"))

DEFAULT_FEATURE_KEYS = ("feature_id",)
FEATURE_ENV = "AIW_LITELLM_FEATURE_KEY"
# Where request metadata lands: the proxy copies the request body's `metadata` into requester_metadata;
# `spend_logs_metadata` is what callers set for spend tracking (both SDK and proxy).
FEATURE_SOURCES = ("requester_metadata", "spend_logs_metadata")
UNKNOWN_FEATURE = "unknown"


@dataclass(frozen=True)
class LitellmOptions:
    """Which request-metadata keys name the product feature (first present wins)."""

    feature_keys: tuple[str, ...] = DEFAULT_FEATURE_KEYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LitellmOptions:
        """Options from AIW_LITELLM_FEATURE_KEY (comma-separated metadata keys)."""
        return cls(feature_keys=names_from_env(FEATURE_ENV, DEFAULT_FEATURE_KEYS, environ))


def is_payload(value: Any) -> bool:
    """The object looks like a standard logging payload (has a call_type)."""
    return isinstance(value, dict) and isinstance(value.get("call_type"), str)


def feature_of(payload: dict[str, Any], options: LitellmOptions) -> Any:
    for key in options.feature_keys:
        for source in FEATURE_SOURCES:
            value = dig(payload, "metadata", source, key)
            if value is not None:
                return value
    return UNKNOWN_FEATURE


def response_content(response: Any) -> Any:
    """What of `response` is model output: its choices (a chat completion) or output (a Responses API
    result), or the response itself when it is text. Ids and timestamps around it are not content."""
    if isinstance(response, dict):
        return first(response.get("choices"), response.get("output"), response.get("data"))
    return response


def payload_to_record(payload: dict[str, Any], options: LitellmOptions) -> dict[str, Any] | None:
    """One payload -> a canonical 1.1 interaction record (PII-scrubbed), or None when it is not a model call."""
    if payload.get("call_type") not in MODEL_CALL_TYPES:
        return None
    usage = dig(payload, "metadata", "usage_object")
    start, end = payload.get("startTime"), payload.get("endTime")
    event_id = present(payload.get("litellm_call_id"), payload.get("id"))
    record = {
        "schema_version": "1.1",
        "event_id": event_id,
        # litellm_session_id lands in trace_id (LiteLLM's grouping of one request's calls); session_id is
        # the newer explicit session.
        "session_id": present(payload.get("session_id"), payload.get("trace_id"), event_id),
        "user_id": present(payload.get("end_user"), dig(payload, "metadata", "user_api_key_end_user_id"),
                           dig(payload, "model_parameters", "user")),
        "timestamp": epoch_seconds_to_ms(start),
        "feature_id": feature_of(payload, options),
        "model_id": payload.get("model"),
        # The priced model: LiteLLM's cost-map key is the dated snapshot even on streams, where
        # response.model repeats the requested model.
        "model_version": present(dig(payload, "model_map_information", "model_map_key"),
                                 dig(payload, "response", "model"), payload.get("model")),
        "provider": payload.get("custom_llm_provider"),
        # Non-streamed calls get completionStartTime = endTime: the first token came with the whole answer.
        "ttft_ms": seconds_between_ms(start, payload.get("completionStartTime")),
        "total_latency_ms": seconds_between_ms(start, end),
        "prompt_tokens": payload.get("prompt_tokens"),
        "completion_tokens": payload.get("completion_tokens"),
        "cached_tokens": first(dig(usage, "prompt_tokens_details", "cached_tokens"),
                               dig(usage, "cache_read_input_tokens")),
        "cache_write_tokens": first(dig(usage, "prompt_tokens_details", "cache_creation_tokens"),
                                    dig(usage, "cache_creation_input_tokens")),
        "reasoning_tokens": dig(usage, "completion_tokens_details", "reasoning_tokens"),
        "estimated_cost_usd": payload.get("response_cost"),
        "implicit_quality_score": None,
        # A cache hit was answered by LiteLLM's own cache, not by the provider.
        "routing_strategy": "cache" if payload.get("cache_hit") is True else None,
        "is_error": payload.get("status") == "failure",
        "trace_id": payload.get("trace_id"),
        "prompt_hash": content_hash(payload.get("messages")),
        "response_hash": content_hash(response_content(payload.get("response"))),
    }
    return scrub_record(record)


def line_records(value: Any, options: LitellmOptions) -> list[dict[str, Any] | None] | None:
    """The records of one parsed source line: [record or None (skipped)]; None when it is not a payload."""
    return [payload_to_record(value, options)] if is_payload(value) else None
