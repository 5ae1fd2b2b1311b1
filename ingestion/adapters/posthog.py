"""PostHog batch-export events -> canonical 1.1 interaction and feedback records. Pure, no I/O.

Input is one exported event: `{uuid, event, distinct_id, person_id, properties, timestamp, created_at}`
(`properties` may be an object or a JSON string). What is mapped:
- `$ai_generation` and `$ai_embedding`: one interaction, field by field (seconds -> ms, cached tokens
  added into prompt tokens when `$ai_cache_reporting_exclusive` says they were reported apart);
- `ai_interaction`: a custom event whose properties are our own contract record (kept in the schema
  version it was written in);
- `$ai_feedback`, `$ai_metric` and `survey sent` tied to a trace: a feedback record when they carry a
  rating or a regenerate/edit signal;
everything else returns None: skipped and counted by the loader. The mapping table is in docs/adapters.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ingestion.adapters.common import (
    add_if_number,
    as_text,
    content_hash,
    first,
    is_number,
    iso_to_epoch_ms,
    names_from_env,
    present,
    scrub_record,
    seconds_to_ms,
)
from ingestion.contract.schema import CONTENT_FIELDS, FEEDBACK_FIELDS, INTERACTION_FIELDS

GENERATION_EVENTS = frozenset({"$ai_generation", "$ai_embedding"})
CUSTOM_EVENT = "ai_interaction"
FEEDBACK_EVENTS = frozenset({"$ai_feedback", "$ai_metric", "survey sent"})

DEFAULT_FEATURE_PROPERTIES = ("feature_id", "$ai_feature_id", "$ai_span_name")
FEATURE_ENV = "AIW_POSTHOG_FEATURE_PROPERTY"
UNKNOWN_FEATURE = "unknown"

# Fields a custom ai_interaction event may carry: the contract's, nothing else (content never passes).
_CONTRACT_NAMES = frozenset({"record_type"} | {f.name for f in INTERACTION_FIELDS} | {f.name for f in FEEDBACK_FIELDS})
_CUSTOM_NAMES = _CONTRACT_NAMES - set(CONTENT_FIELDS)

# How feedback values read as a thumbs rating. Numbers: 1-5 survey scales (>= 4 up, <= 2 down) and
# +1/-1/0 thumbs; a 3 is neutral and gives no rating.
_UP = frozenset({"up", "thumbs_up", "thumbsup", "👍", "good", "positive", "like", "yes", "true", "helpful"})
_DOWN = frozenset({"down", "thumbs_down", "thumbsdown", "👎", "bad", "negative", "dislike", "no", "false",
                   "unhelpful"})
_RATING_METRICS = ("rating", "thumb", "feedback", "helpful", "satisf")
_KINDS = {"regenerated": "regenerated", "regenerate": "regenerated", "edited": "edited", "edit": "edited"}


@dataclass(frozen=True)
class PosthogOptions:
    """Which event properties name the product feature (first present wins)."""

    feature_properties: tuple[str, ...] = DEFAULT_FEATURE_PROPERTIES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PosthogOptions:
        """Options from AIW_POSTHOG_FEATURE_PROPERTY (comma-separated property names)."""
        return cls(feature_properties=names_from_env(FEATURE_ENV, DEFAULT_FEATURE_PROPERTIES, environ))


def is_event(value: Any) -> bool:
    """The object looks like an exported PostHog event (has an event name)."""
    return isinstance(value, dict) and isinstance(value.get("event"), str)


def properties_of(event: dict[str, Any]) -> dict[str, Any]:
    props = event.get("properties")
    if isinstance(props, (str, bytes)):
        try:
            props = orjson.loads(props)
        except orjson.JSONDecodeError:
            return {}
    return props if isinstance(props, dict) else {}


def event_to_record(event: dict[str, Any], options: PosthogOptions) -> dict[str, Any] | None:
    """One exported event -> a canonical record (PII-scrubbed), or None when it is not an AI event we map."""
    name = event.get("event")
    if name in GENERATION_EVENTS:
        return scrub_record(generation_record(event, properties_of(event), options))
    if name == CUSTOM_EVENT:
        return scrub_record(custom_record(event, properties_of(event)))
    if name in FEEDBACK_EVENTS:
        record = feedback_record(event, properties_of(event))
        return scrub_record(record) if record is not None else None
    return None


def _event_time_ms(event: dict[str, Any]) -> Any:
    return iso_to_epoch_ms(event.get("timestamp") if event.get("timestamp") is not None else event.get("created_at"))


def _user_id(event: dict[str, Any], p: dict[str, Any]) -> Any:
    # Without a user the OpenAI wrapper sends the trace id as distinct_id and turns person processing off:
    # that is no user, and counting it as one would make every trace a user.
    if p.get("$process_person_profile") is False:
        return None
    return event.get("distinct_id")


def generation_record(event: dict[str, Any], p: dict[str, Any], options: PosthogOptions) -> dict[str, Any]:
    """A `$ai_generation` / `$ai_embedding` event as an interaction record (not yet scrubbed)."""
    event_id = present(p.get("$ai_span_id"), p.get("$ai_generation_id"), event.get("uuid"))
    latency_ms = seconds_to_ms(p.get("$ai_latency"))
    captured_ms = _event_time_ms(event)
    # PostHog stamps the event when the call has finished; the contract's timestamp is the call start.
    start_ms = int(captured_ms - latency_ms) if is_number(captured_ms) and is_number(latency_ms) else captured_ms
    prompt = p.get("$ai_input_tokens")
    cache_read = p.get("$ai_cache_read_input_tokens")
    cache_write = p.get("$ai_cache_creation_input_tokens")
    if p.get("$ai_cache_reporting_exclusive") is True:
        # Anthropic-style usage: input tokens exclude cache reads and writes; the contract counts them inside.
        prompt = add_if_number(add_if_number(prompt, cache_read), cache_write)
    feature = first(*(p.get(k) for k in options.feature_properties), UNKNOWN_FEATURE)
    http_status = p.get("$ai_http_status")
    return {
        "schema_version": "1.1",
        "event_id": event_id,
        "session_id": present(p.get("$ai_session_id"), p.get("$session_id"), p.get("$ai_trace_id"), event_id),
        "user_id": _user_id(event, p),
        "timestamp": start_ms,
        "feature_id": feature,
        # The wrapper reports the model asked for, not a dated response model: it serves as both.
        "model_id": p.get("$ai_model"),
        "model_version": present(p.get("$ai_model_version"), p.get("$ai_model")),
        "provider": p.get("$ai_provider"),
        "ttft_ms": seconds_to_ms(p.get("$ai_time_to_first_token")),
        "total_latency_ms": latency_ms,
        "prompt_tokens": prompt,
        "completion_tokens": p.get("$ai_output_tokens"),
        "cached_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": p.get("$ai_reasoning_tokens"),
        "estimated_cost_usd": p.get("$ai_total_cost_usd"),
        "implicit_quality_score": None,
        "is_error": p.get("$ai_is_error") is True or (is_number(http_status) and http_status >= 400),
        "trace_id": p.get("$ai_trace_id"),
        "prompt_hash": content_hash(p.get("$ai_input")),
        "response_hash": content_hash(p.get("$ai_output_choices")),
    }


def custom_record(event: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """An `ai_interaction` event: its properties are a contract record; the event supplies missing ids."""
    record = {k: v for k, v in p.items() if k in _CUSTOM_NAMES}
    if record.get("record_type") == "feedback":
        record["feedback_id"] = first(record.get("feedback_id"), event.get("uuid"))
    else:
        record["event_id"] = first(record.get("event_id"), event.get("uuid"))
        record["user_id"] = first(record.get("user_id"), event.get("distinct_id"))
    record["timestamp"] = first(record.get("timestamp"), _event_time_ms(event))
    return record


def rating_of(value: Any) -> str | None:
    """'up' / 'down' for a thumbs, boolean or 1-5 scale answer; None when it is neutral or not a rating."""
    if isinstance(value, bool):
        return "up" if value else "down"
    if isinstance(value, str):
        text = value.strip(" ").lower()
        if text in _UP:
            return "up"
        if text in _DOWN:
            return "down"
        try:
            value = float(text)
        except ValueError:
            return None
    if is_number(value):
        if value >= 4 or value == 1:
            return "up"
        if value <= 0 or value == 2:
            return "down"
    return None


def feedback_record(event: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
    """`$ai_feedback` / `$ai_metric` / `survey sent` -> a feedback record, or None without a usable signal.

    The target is the generation when the event names it (`$ai_span_id`, `$ai_generation_id`), else the trace.
    Free text (`$ai_feedback_text`, survey answers that are not ratings) is never kept.
    """
    target = present(p.get("$ai_span_id"), p.get("$ai_generation_id"), p.get("$ai_trace_id"))
    if target is None:
        return None
    name = event.get("event")
    if name == "$ai_metric":
        metric = as_text(p.get("$ai_metric_name")).strip(" ").lower()
        value = p.get("$ai_metric_value")
        kind = _KINDS.get(metric)
        if kind is not None:
            if rating_of(value) == "down":
                return None  # "regenerated: false" says the user did not
            rating = None
        elif any(word in metric for word in _RATING_METRICS):
            kind, rating = "rating", rating_of(value)
        else:
            return None  # another metric (a score of the output, say): not user feedback
    elif name == "$ai_feedback":
        kind = "rating"
        rating = rating_of(first(p.get("$ai_feedback_rating"), p.get("$ai_feedback_score"), p.get("rating")))
    else:
        kind = "rating"
        rating = rating_of(p.get("$survey_response"))
    if kind == "rating" and rating is None:
        return None
    return {
        "record_type": "feedback",
        "schema_version": "1.1",
        "feedback_id": event.get("uuid"),
        "target_event_id": target,
        "timestamp": _event_time_ms(event),
        "kind": kind,
        "rating": rating,
    }


def line_records(value: Any, options: PosthogOptions) -> list[dict[str, Any] | None] | None:
    """The records of one parsed source line: [record or None (skipped)]; None when it is not an event."""
    return [event_to_record(value, options)] if is_event(value) else None
