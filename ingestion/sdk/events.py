"""Canonical records (the contract's latest version, 1.2) built from what a producer knows about a call. Pure: no I/O.

Raw prompt and response text never leaves this module: only a hash of a scrubbed prefix does.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ingestion.contract.pii import id_has_pii, scrub
from ingestion.contract.quality import producer_quality
from ingestion.contract.schema import FEEDBACK_KINDS, LATEST_VERSION

# How much of the prompt/response is hashed. Enough to tell prompts and answers apart (and to find
# repeated identical answers) while keeping the caller-side cost flat for long texts.
HASH_PREFIX_CHARS = 1024
ROUTING_STRATEGIES = ("primary", "fallback", "cache")
RATINGS = ("up", "down")


def now_ms() -> int:
    """Wall-clock now as epoch milliseconds UTC (the contract's timestamp unit)."""
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """A random 96-bit id; retries of the same record must reuse it, so it is made once per record."""
    return prefix + os.urandom(12).hex()


def text_hash(text: str | None) -> str | None:
    """Hash of the scrubbed prefix of a text: comparable across calls, never reversible to the text."""
    if text is None:
        return None
    prefix = scrub(text[:HASH_PREFIX_CHARS])
    return hashlib.blake2b(prefix.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@lru_cache(maxsize=8192)
def pseudonymous_user_id(user_id: str) -> str:
    """The user id itself, or a stable hash of it when it carries PII (an e-mail or phone as id).

    Judged as an id (`pii.id_has_pii`): a numeric user id that happens to pass Luhn is not a card number.
    """
    if not id_has_pii(user_id):
        return user_id
    return "u_" + hashlib.blake2b(user_id.encode(), digest_size=12).hexdigest()


def build_interaction(
    *,
    feature_id: str,
    model_id: str,
    session_id: str,
    total_latency_ms: float,
    model_version: str | None = None,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    ttft_ms: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    estimated_cost_usd: float | None = None,
    stream_chunks_received: int | None = None,
    routing_strategy: str | None = None,
    provider: str | None = None,
    prompt_hash: str | None = None,
    response_hash: str | None = None,
    user_regenerated: bool = False,
    user_edited_output: bool = False,
    explicit_rating: str | None = None,
    is_error: bool = False,
    trace_id: str | None = None,
    sample_rate: float | None = None,
    tags: Mapping[str, Any] | None = None,
    prompt_version: str | None = None,
) -> dict[str, Any]:
    """One interaction record (the contract's latest version) with the producer-side implicit quality filled in.

    Optional fields that are unknown are left out rather than written as null, which keeps lines short;
    required 1.1-nullable fields (ttft, tokens, cost, quality) are written as null when unknown.
    """
    quality = None
    if prompt_tokens is not None and completion_tokens is not None:
        quality = round(producer_quality(user_regenerated, user_edited_output, total_latency_ms, prompt_tokens,
                                         completion_tokens), 4)
    record: dict[str, Any] = {
        "schema_version": LATEST_VERSION,
        "event_id": event_id or new_id("e_"),
        "session_id": session_id,
        "timestamp": timestamp_ms if timestamp_ms is not None else now_ms(),
        "feature_id": feature_id,
        "model_id": model_id,
        "model_version": model_version or "unknown",
        "ttft_ms": ttft_ms,
        "total_latency_ms": total_latency_ms,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "estimated_cost_usd": estimated_cost_usd,
        "user_regenerated": user_regenerated,
        "user_edited_output": user_edited_output,
        "implicit_quality_score": quality,
        "is_error": is_error,
    }
    # Optional fields only when known (a missing optional field and a null one mean the same). Plain ifs:
    # this runs on the caller's thread for every event.
    if user_id:
        record["user_id"] = pseudonymous_user_id(user_id)
    if routing_strategy is not None:
        record["routing_strategy"] = routing_strategy
    if stream_chunks_received is not None:
        record["stream_chunks_received"] = stream_chunks_received
    if cached_tokens is not None:
        record["cached_tokens"] = cached_tokens
    if cache_write_tokens is not None:
        record["cache_write_tokens"] = cache_write_tokens
    if reasoning_tokens is not None:
        record["reasoning_tokens"] = reasoning_tokens
    if explicit_rating is not None:
        record["explicit_rating"] = explicit_rating
    if provider is not None:
        record["provider"] = provider
    if prompt_hash is not None:
        record["prompt_hash"] = prompt_hash
    if response_hash is not None:
        record["response_hash"] = response_hash
    if trace_id is not None:
        record["trace_id"] = trace_id
    if sample_rate is not None:
        record["sample_rate"] = sample_rate
    if tags:
        # The contract's tag values are strings: a producer tagging `{"customer_id": 42}` means "42". A tag
        # set to None is not set. Keys and values are otherwise kept as given; the loader quarantines a key
        # outside the pattern, with the rule (docs/contract.md).
        record["tags"] = {str(k): str(v) for k, v in tags.items() if v is not None}
    if prompt_version is not None:
        record["prompt_version"] = str(prompt_version)
    return record


def build_feedback(target_event_id: str, kind: str, *, rating: str | None = None, feedback_id: str | None = None,
                   timestamp_ms: int | None = None) -> dict[str, Any]:
    """One feedback record: behaviour observed after the call it targets (regenerate, edit, rating)."""
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"feedback kind {kind!r} is not one of {', '.join(FEEDBACK_KINDS)}")
    if kind == "rating" and rating not in RATINGS:
        raise ValueError(f"a rating feedback needs rating='up' or 'down', got {rating!r}")
    if not target_event_id:
        raise ValueError("feedback needs the event_id of the interaction it is about")
    record: dict[str, Any] = {
        "record_type": "feedback",
        "schema_version": LATEST_VERSION,
        "feedback_id": feedback_id or new_id("f_"),
        "target_event_id": target_event_id,
        "timestamp": timestamp_ms if timestamp_ms is not None else now_ms(),
        "kind": kind,
    }
    if rating is not None:
        record["rating"] = rating
    return record
