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

from typing import Any

from ingestion.adapters.common import add_if_number, dig, first

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
