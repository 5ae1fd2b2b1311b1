"""Langfuse observations -> canonical 1.1 interaction records. Pure, no I/O.

Two ways Langfuse data arrives, one meaning:
- the Langfuse SDK's OpenTelemetry spans (`langfuse.observation.*` attributes): OTLP, read by the OTLP
  adapter (`otlp`), which uses `usage_tokens` below for the usage document such a span carries;
- the blob-storage export of enriched observations (`observations_v2/` JSONL; Langfuse docs, "Blob Storage
  Export Field Reference"): one observation per line, mapped here. `GENERATION` and `EMBEDDING`
  observations are model calls; spans, events, tools, agents ... are skipped and counted by the loader.
The mapping table is in docs/adapters.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingestion.adapters.common import (
    add_if_number,
    content_hash,
    dig,
    first,
    json_decoded,
    names_from_env,
    parse_iso,
    present,
    scrub_record,
)

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")

# Langfuse's own usage types are exclusive (its `total` is the sum of the others); the contract counts
# cache reads and writes inside prompt tokens and reasoning inside completion tokens, so they are added.
CACHE_READ_KEYS = ("input_cached_tokens", "input_cache_read", "cache_read_input_tokens")
CACHE_WRITE_KEYS = ("input_cache_creation", "cache_creation_input_tokens")
REASONING_KEYS = ("output_reasoning_tokens", "output_reasoning")


def usage_tokens(usage: Any) -> dict[str, Any]:
    """The contract's token fields from a Langfuse usage document (None where it says nothing).

    Two shapes occur: OpenAI's usage object as the SDK's OpenAI integration passes it on
    (`prompt_tokens`, `completion_tokens`, `*_details`: already inclusive), and Langfuse's usage types
    (`input`, `output`, `input_cached_tokens`, `cache_read_input_tokens`, ...: exclusive)."""
    if not isinstance(usage, dict):
        return dict.fromkeys(TOKEN_FIELDS)
    if usage.get("prompt_tokens") is not None or usage.get("completion_tokens") is not None:
        return {"prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
                "cached_tokens": dig(usage, "prompt_tokens_details", "cached_tokens"),
                "cache_write_tokens": None,
                "reasoning_tokens": dig(usage, "completion_tokens_details", "reasoning_tokens")}
    cached = first(*(usage.get(k) for k in CACHE_READ_KEYS))
    cache_write = first(*(usage.get(k) for k in CACHE_WRITE_KEYS))
    reasoning = first(*(usage.get(k) for k in REASONING_KEYS))
    return {"prompt_tokens": add_if_number(add_if_number(usage.get("input"), cached), cache_write),
            "completion_tokens": add_if_number(usage.get("output"), reasoning),
            "cached_tokens": cached, "cache_write_tokens": cache_write, "reasoning_tokens": reasoning}


# Observation types that are model calls (SPAN, EVENT, TOOL, AGENT, CHAIN, RETRIEVER, ... are not).
MODEL_CALL_TYPES = frozenset({"GENERATION", "EMBEDDING"})
DEFAULT_FEATURE_KEYS = ("feature_id",)
FEATURE_ENV = "AIW_LANGFUSE_FEATURE_KEY"
UNKNOWN_FEATURE = "unknown"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class LangfuseOptions:
    """Which observation metadata keys name the product feature (first present wins)."""

    feature_keys: tuple[str, ...] = DEFAULT_FEATURE_KEYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LangfuseOptions:
        """Options from AIW_LANGFUSE_FEATURE_KEY (comma-separated metadata keys)."""
        return cls(feature_keys=names_from_env(FEATURE_ENV, DEFAULT_FEATURE_KEYS, environ))


def is_observation(value: Any) -> bool:
    """The object looks like an exported observation (has a type)."""
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def epoch_us(value: Any) -> int | None:
    """An export timestamp (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC; any ISO-8601 time, naive meaning UTC) as
    whole epoch microseconds; None for anything else."""
    parsed = parse_iso(value) if isinstance(value, str) else None
    return None if parsed is None else (parsed - _EPOCH) // dt.timedelta(microseconds=1)


def _whole_ms(us: int) -> int:
    """Microseconds -> whole milliseconds, truncated toward zero (as DuckDB's integer division does)."""
    return us // 1000 if us >= 0 else -(-us // 1000)


def feature_of(observation: dict[str, Any], options: LangfuseOptions) -> Any:
    """The first feature key present in the metadata (an object, or JSON text of one); values the SDK
    wrote as JSON text ('"search"') are decoded."""
    metadata = observation.get("metadata")
    if not isinstance(metadata, dict):
        metadata = json_decoded(metadata)
    for key in options.feature_keys:
        value = dig(metadata, key)
        if value is not None:
            decoded = json_decoded(value)
            if decoded is not None:
                return decoded
    return UNKNOWN_FEATURE


def observation_to_record(observation: dict[str, Any], options: LangfuseOptions) -> dict[str, Any] | None:
    """One exported observation -> a canonical 1.1 interaction record (PII-scrubbed), or None when it is
    not a model call."""
    if observation.get("type", "").upper() not in MODEL_CALL_TYPES:
        return None
    start = epoch_us(observation.get("start_time"))
    end = epoch_us(observation.get("end_time"))
    completion_start = epoch_us(observation.get("completion_start_time"))
    event_id = observation.get("id")
    model = observation.get("provided_model_name")
    record = {
        "schema_version": "1.1",
        "event_id": event_id,
        "session_id": present(observation.get("session_id"), observation.get("trace_id"), event_id),
        "user_id": observation.get("user_id"),
        # A start time that is not a time is passed on for the contract to reject (type:timestamp).
        "timestamp": _whole_ms(start) if start is not None else observation.get("start_time"),
        "feature_id": feature_of(observation, options),
        # Langfuse records one model name: the one the SDK saw (the served, dated model on success).
        "model_id": model,
        "model_version": model,
        "provider": None,
        "ttft_ms": (completion_start - start) / 1000 if start is not None and completion_start is not None else None,
        "total_latency_ms": (end - start) / 1000 if start is not None and end is not None else None,
        **usage_tokens(observation.get("usage_details")),
        "estimated_cost_usd": first(observation.get("total_cost"), dig(observation, "cost_details", "total")),
        "implicit_quality_score": None,
        "is_error": observation.get("level") == "ERROR",
        "trace_id": observation.get("trace_id"),
        "prompt_hash": content_hash(observation.get("input")),
        "response_hash": content_hash(observation.get("output")),
    }
    return scrub_record(record)


def line_records(value: Any, options: LangfuseOptions) -> list[dict[str, Any] | None] | None:
    """The records of one parsed source line: [record or None (skipped)]; None when not an observation."""
    return [observation_to_record(value, options)] if is_observation(value) else None
