"""LiteLLM standard logging payloads -> canonical interaction lines, in DuckDB SQL: the loader's path.

`ingestion.adapters.litellm` is the reference: the same mapping written plainly in Python, one payload at
a time. This module compiles it to one SELECT that DuckDB runs vectorised on every core, parsing each
payload once into a struct that keeps only what the mapping reads (`messages` and the response's choices
stay JSON text, only hashed). A test runs both on the same payloads, good and hostile, and compares what
the contract makes of each record.
"""

from __future__ import annotations

from ingestion.adapters.common_sql import (
    content_hash,
    epoch_seconds_to_ms,
    is_string,
    json_string,
    not_the_format,
    present,
    seconds_between_ms,
    text,
)
from ingestion.adapters.litellm import FEATURE_SOURCES, MODEL_CALL_TYPES, UNKNOWN_FEATURE, LitellmOptions
from ingestion.sql import quote

_TOP_LEVEL = ("call_type", "litellm_call_id", "id", "session_id", "trace_id", "end_user", "startTime", "endTime",
              "completionStartTime", "model", "custom_llm_provider", "prompt_tokens", "completion_tokens",
              "response_cost", "cache_hit", "status", "messages")
_USAGE = ('{"prompt_tokens_details": {"cached_tokens": "JSON", "cache_creation_tokens": "JSON"}, '
          '"cache_read_input_tokens": "JSON", "cache_creation_input_tokens": "JSON", '
          '"completion_tokens_details": {"reasoning_tokens": "JSON"}}')
_RESPONSE = '{"model": "JSON", "choices": "JSON", "output": "JSON", "data": "JSON"}'


def _schema(options: LitellmOptions) -> str:
    keys = "{" + ", ".join(f'"{k}": "JSON"' for k in sorted(set(options.feature_keys))) + "}"
    metadata = ('{"user_api_key_end_user_id": "JSON", "usage_object": ' + _USAGE + ", "
                + ", ".join(f'"{source}": {keys}' for source in FEATURE_SOURCES) + "}")
    return ("{" + ", ".join(f'"{k}": "JSON"' for k in _TOP_LEVEL)
            + f', "response": {_RESPONSE}, "model_map_information": {{"model_map_key": "JSON"}}, '
            f'"model_parameters": {{"user": "JSON"}}, "metadata": {metadata}}}')


def mapped_select(lines_relation: str, options: LitellmOptions) -> str:
    """SELECT (line_no, record_no, is_skipped, line) over a relation of source lines (line_no, line).

    One row per line: a canonical record as JSON text for a model call, `is_skipped` for any other call
    type, and for a line that is not a payload what the contract quarantines (`common_sql.not_the_format`).
    """
    call_types = ", ".join(quote(t) for t in sorted(MODEL_CALL_TYPES))
    feature = "coalesce(" + ", ".join(f'p.metadata.{source}."{key}"' for key in options.feature_keys
                                      for source in FEATURE_SOURCES) + f", {json_string(UNKNOWN_FEATURE)}::JSON)"
    usage = "p.metadata.usage_object"
    event_id = present("p.litellm_call_id", "p.id")
    # litellm.response_content: the choices/output/data of an object response, else the response itself.
    # The struct has no field for a response that is text or a list, so only then is it read from the line.
    response = ("(case when coalesce(p.response.model, p.response.choices, p.response.output, p.response.data) "
                "is not null then coalesce(p.response.choices, p.response.output, p.response.data) "
                "else (case json_type(line, '$.response') when 'OBJECT' then null when 'NULL' then null "
                "else json_extract(line, '$.response') end) end)")
    record = f"""json_object(
        'schema_version', '1.1',
        'event_id', {event_id},
        'session_id', {present('p.session_id', 'p.trace_id', event_id)},
        'user_id', {present('p.end_user', 'p.metadata.user_api_key_end_user_id', 'p.model_parameters.user')},
        'timestamp', {epoch_seconds_to_ms('p.startTime')},
        'feature_id', {feature},
        'model_id', p.model,
        'model_version', {present('p.model_map_information.model_map_key', 'p.response.model', 'p.model')},
        'provider', p.custom_llm_provider,
        'ttft_ms', {seconds_between_ms('p.startTime', 'p.completionStartTime')},
        'total_latency_ms', {seconds_between_ms('p.startTime', 'p.endTime')},
        'prompt_tokens', p.prompt_tokens,
        'completion_tokens', p.completion_tokens,
        'cached_tokens', coalesce({usage}.prompt_tokens_details.cached_tokens, {usage}.cache_read_input_tokens),
        'cache_write_tokens', coalesce({usage}.prompt_tokens_details.cache_creation_tokens,
                                       {usage}.cache_creation_input_tokens),
        'reasoning_tokens', {usage}.completion_tokens_details.reasoning_tokens,
        'estimated_cost_usd', p.response_cost,
        'routing_strategy', case when p.cache_hit::VARCHAR = 'true' then 'cache' end,
        'is_error', coalesce({is_string('p.status')} and {text('p.status')} = 'failure', false),
        'trace_id', p.trace_id,
        'prompt_hash', {content_hash('p.messages')},
        'response_hash', {content_hash(response)}
      )::VARCHAR"""
    # One parse per line: try() makes text that is not JSON a NULL struct (JSON that is not an object
    # parses to a struct of NULLs), and only payloads have a string call_type. json_valid and json_type
    # on the line would each parse it again, which cost more than the whole mapping.
    return f"""
with payloads as (
  select line_no, line, try(from_json(line, '{_schema(options)}')) as parsed
  from {lines_relation}
),
judged as (
  select line_no, line, p, p is not null and {text('p.call_type')} in ({call_types}) as is_model_call
  from (select line_no, line,
               case when json_type(parsed.call_type) = 'VARCHAR' then parsed end as p from payloads)
)
select line_no, 1 as record_no, p is not null and not is_model_call as is_skipped,
       case when p is null then {not_the_format("coalesce(line, '')")}
            when is_model_call then {record} end as line
from judged
"""
