"""Langfuse observations -> canonical interaction lines, in DuckDB SQL: the loader's path.

`ingestion.adapters.langfuse` is the reference. `usage_tokens` serves the OTLP adapter's SQL too (Langfuse
SDK spans carry the same usage document as an attribute).
"""

from __future__ import annotations

from collections.abc import Callable

from ingestion.adapters.common_sql import add_if_number
from ingestion.adapters.langfuse import CACHE_READ_KEYS, CACHE_WRITE_KEYS, REASONING_KEYS


def usage_tokens(key: Callable[..., str]) -> dict[str, str]:
    """The token fields (langfuse.usage_tokens) as JSON expressions; `key(*path)` is the JSON value at a
    key path of the usage document (NULL when absent or null)."""
    cached = "coalesce(" + ", ".join(key(k) for k in CACHE_READ_KEYS) + ")"
    cache_write = "coalesce(" + ", ".join(key(k) for k in CACHE_WRITE_KEYS) + ")"
    reasoning = "coalesce(" + ", ".join(key(k) for k in REASONING_KEYS) + ")"
    is_openai = f"({key('prompt_tokens')} is not null or {key('completion_tokens')} is not null)"

    def pick(openai: str, langfuse: str) -> str:
        return f"(case when {is_openai} then {openai} else {langfuse} end)"
    return {
        "prompt_tokens": pick(key("prompt_tokens"), add_if_number(add_if_number(key("input"), cached), cache_write)),
        "completion_tokens": pick(key("completion_tokens"), add_if_number(key("output"), reasoning)),
        "cached_tokens": pick(key("prompt_tokens_details", "cached_tokens"), cached),
        "cache_write_tokens": pick("NULL::JSON", cache_write),
        "reasoning_tokens": pick(key("completion_tokens_details", "reasoning_tokens"), reasoning),
    }
