"""Langfuse observations -> canonical interaction lines, in DuckDB SQL: the loader's path.

`ingestion.adapters.langfuse` is the reference: the same mapping written plainly in Python, one observation
at a time. This module compiles it to one SELECT that DuckDB runs vectorised on every core, parsing each
exported observation once into a struct that keeps only what the mapping reads. `usage_tokens` serves the
OTLP adapter's SQL too (Langfuse SDK spans carry the same usage document as an attribute). A test runs both
engines on the same observations, good and hostile, and compares what the contract makes of each record.
"""

from __future__ import annotations

from collections.abc import Callable

from ingestion.adapters.common_sql import (
    add_if_number,
    content_hash,
    is_string,
    json_decoded,
    json_in,
    json_path,
    json_string,
    not_the_format,
    present,
    text,
)
from ingestion.adapters.langfuse import (
    CACHE_READ_KEYS,
    CACHE_WRITE_KEYS,
    MODEL_CALL_TYPES,
    REASONING_KEYS,
    UNKNOWN_FEATURE,
    LangfuseOptions,
)
from ingestion.sql import quote

_FIELDS = ("id", "trace_id", "type", "start_time", "end_time", "completion_start_time", "provided_model_name",
           "user_id", "session_id", "level", "total_cost", "input", "output", "metadata")
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "input", "output", *CACHE_READ_KEYS, *CACHE_WRITE_KEYS,
               *REASONING_KEYS)
# A usage document as a struct of what usage_tokens reads (JSON leaves).
USAGE_SCHEMA = ("{" + ", ".join(f'"{k}": "JSON"' for k in _USAGE_KEYS)
                + ', "prompt_tokens_details": {"cached_tokens": "JSON"}, '
                '"completion_tokens_details": {"reasoning_tokens": "JSON"}}')
_SCHEMA = ("{" + ", ".join(f'"{f}": "JSON"' for f in _FIELDS)
           + f', "usage_details": {USAGE_SCHEMA}, "cost_details": {{"total": "JSON"}}}}')


def struct_path(struct: str) -> Callable[..., str]:
    """key(*path) for usage_tokens over a struct parsed with USAGE_SCHEMA."""
    return lambda *path: struct + "".join(f'."{k}"' for k in path)


def usage_tokens(key: Callable[..., str]) -> dict[str, str]:
    """The token fields (langfuse.usage_tokens) as JSON expressions; `key(*path)` is the JSON value at a
    key path of the usage document (NULL when absent or null), a struct field parsed with USAGE_SCHEMA."""
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


def _epoch_us(expr: str) -> str:
    """langfuse.epoch_us: an ISO time string as whole epoch microseconds (BIGINT); NULL otherwise."""
    return f"(case when {is_string(expr)} then epoch_us(try_cast({text(expr)} as TIMESTAMPTZ)) end)"


def _feature(options: LangfuseOptions) -> str:
    """langfuse.feature_of: the first feature key in the metadata object (or JSON text of one), decoded."""
    metadata = "o.metadata"

    def value(key: str) -> str:
        in_object = f"nullif(json_extract({metadata}, {json_path(key)}), 'null')"
        found = (f"(case when json_type({metadata}) = 'OBJECT' then {in_object} "
                 f"when {is_string(metadata)} then {json_in(metadata, key)} end)")
        return json_decoded(found)
    return "coalesce(" + ", ".join(value(k) for k in options.feature_keys) + \
        f", {json_string(UNKNOWN_FEATURE)}::JSON)"


def mapped_select(lines_relation: str, options: LangfuseOptions) -> str:
    """SELECT (line_no, record_no, is_skipped, line) over a relation of source lines (line_no, line).

    One row per line: a canonical record as JSON text for a model call, `is_skipped` for any other
    observation, and for a line that is not an observation what the contract quarantines.
    """
    types = ", ".join(quote(t) for t in sorted(MODEL_CALL_TYPES))
    tokens = usage_tokens(struct_path("o.usage_details"))
    token_fields = ",\n        ".join(f"'{field}', {expr}" for field, expr in tokens.items())
    record = f"""json_object(
        'schema_version', '1.1',
        'event_id', o.id,
        'session_id', {present('o.session_id', 'o.trace_id', 'o.id')},
        'user_id', o.user_id,
        'timestamp', case when start_us is not null then (start_us // 1000)::JSON else o.start_time end,
        'feature_id', {_feature(options)},
        'model_id', o.provided_model_name,
        'model_version', o.provided_model_name,
        'ttft_ms', (completion_start_us - start_us) / 1000,
        'total_latency_ms', (end_us - start_us) / 1000,
        {token_fields},
        'estimated_cost_usd', coalesce(o.total_cost, o.cost_details.total),
        'is_error', coalesce({is_string('o.level')} and {text('o.level')} = 'ERROR', false),
        'trace_id', o.trace_id,
        'prompt_hash', {content_hash('o.input')},
        'response_hash', {content_hash('o.output')}
      )::VARCHAR"""
    # One parse per line, as in litellm_sql: try() turns text that is not JSON into a NULL struct.
    return f"""
with parsed as (
  select line_no, line, try(from_json(line, '{_SCHEMA}')) as doc from {lines_relation}
),
observations as (
  select line_no, line, o, upper({text('o.type')}) in ({types}) as is_model_call,
         {_epoch_us('o.start_time')} as start_us, {_epoch_us('o.end_time')} as end_us,
         {_epoch_us('o.completion_start_time')} as completion_start_us
  from (select line_no, line, case when json_type(doc.type) = 'VARCHAR' then doc end as o from parsed)
)
select line_no, 1 as record_no, o is not null and not is_model_call as is_skipped,
       case when o is null then {not_the_format("coalesce(line, '')")}
            when is_model_call then {record} end as line
from observations
"""
