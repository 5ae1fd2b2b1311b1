"""PostHog batch-export events -> canonical interaction and feedback lines, in DuckDB SQL: the loader's path.

`ingestion.adapters.posthog` is the reference: the same mapping written plainly in Python, one event at a
time. This module compiles it to one SELECT that DuckDB runs vectorised on every core, parsing each event
and its properties once into structs that keep only what the mapping reads. A test runs both on the same
events, good and hostile, and compares what the contract makes of each record.
"""

from __future__ import annotations

from ingestion.adapters.common_sql import (
    add_if_number,
    content_hash,
    is_number,
    is_string,
    iso_to_epoch_ms,
    json_string,
    not_the_format,
    present,
    seconds_to_ms,
    text,
)
from ingestion.adapters.posthog import (
    _CUSTOM_NAMES,
    _DOWN,
    _KINDS,
    _RATING_METRICS,
    _UP,
    CUSTOM_EVENT,
    FEEDBACK_EVENTS,
    GENERATION_EVENTS,
    UNKNOWN_FEATURE,
    PosthogOptions,
)
from ingestion.sql import quote

_EVENT_FIELDS = '"uuid": "JSON", "event": "JSON", "distinct_id": "JSON", "timestamp": "JSON", "created_at": "JSON"'

# Properties the generation and feedback mappings read (besides the contract's names and feature properties).
_PROPERTIES = (
    "$ai_span_id", "$ai_generation_id", "$ai_trace_id", "$ai_session_id", "$session_id", "$ai_latency",
    "$ai_input_tokens", "$ai_output_tokens", "$ai_cache_read_input_tokens", "$ai_cache_creation_input_tokens",
    "$ai_cache_reporting_exclusive", "$ai_model", "$ai_model_version", "$ai_provider", "$ai_time_to_first_token",
    "$ai_reasoning_tokens", "$ai_total_cost_usd", "$ai_is_error", "$ai_http_status", "$ai_input",
    "$ai_output_choices", "$process_person_profile", "$ai_metric_name", "$ai_metric_value", "$ai_feedback_rating",
    "$ai_feedback_score", "rating", "$survey_response",
)


def _names(options: PosthogOptions) -> list[str]:
    """Every property the mapping reads with these options, each once."""
    return sorted(set(_PROPERTIES) | set(_CUSTOM_NAMES) | set(options.feature_properties))


def _p(name: str) -> str:
    """The JSON value of property `name` (NULL when absent or null)."""
    return f'p."{name}"'


def rating_of(expr: str) -> str:
    """'up' / 'down' (VARCHAR) for a thumbs, boolean or 1-5 scale answer; NULL otherwise (posthog.rating_of)."""
    word = f"lower(trim({text(expr)}))"
    up = ", ".join(quote(w) for w in sorted(_UP))
    down = ", ".join(quote(w) for w in sorted(_DOWN))

    def scale(number: str) -> str:
        return (f"(case when isnan({number}) then null when {number} >= 4 or {number} = 1 then 'up' "
                f"when {number} <= 0 or {number} = 2 then 'down' end)")
    return (f"(case when json_type({expr}) = 'BOOLEAN' "
            f"then (case when {expr}::VARCHAR = 'true' then 'up' else 'down' end) "
            f"when {is_string(expr)} then (case when {word} in ({up}) then 'up' when {word} in ({down}) then 'down' "
            f"else {scale(f'try_cast(trim({text(expr)}) as DOUBLE)')} end) "
            f"when {is_number(expr)} then {scale(f'{expr}::DOUBLE')} end)")


def mapped_select(lines_relation: str, options: PosthogOptions) -> str:
    """SELECT (line_no, record_no, is_skipped, line) over a relation of source lines (line_no, line).

    One row per line: a canonical record as JSON text for an AI event we map, `is_skipped` for any other
    event, and for a line that is not an event what the contract quarantines (`common_sql.not_the_format`).
    """
    props_schema = "{" + ", ".join(f'"{n}": "JSON"' for n in _names(options)) + "}"
    generations = ", ".join(quote(e) for e in sorted(GENERATION_EVENTS))
    feedback_events = ", ".join(quote(e) for e in sorted(FEEDBACK_EVENTS))

    # Generations ---------------------------------------------------------------------------------------
    event_id = present(_p("$ai_span_id"), _p("$ai_generation_id"), "e.uuid")
    latency = seconds_to_ms(_p("$ai_latency"))
    cache_read, cache_write = _p("$ai_cache_read_input_tokens"), _p("$ai_cache_creation_input_tokens")
    prompt = _p("$ai_input_tokens")

    exclusive_prompt = add_if_number(add_if_number(prompt, cache_read), cache_write)
    feature = "coalesce(" + ", ".join(_p(n) for n in options.feature_properties) + \
        f", {json_string(UNKNOWN_FEATURE)}::JSON)"
    user = (f"(case when {_p('$process_person_profile')}::VARCHAR = 'false' then null "
            f"else e.distinct_id end)")
    start = (f"(case when {is_number('event_ms')} and {is_number(latency)} "
             f"then trunc(event_ms::DOUBLE - ({latency})::DOUBLE)::BIGINT::JSON else event_ms end)")
    http_status = _p("$ai_http_status")
    generation = f"""json_object(
        'schema_version', '1.1',
        'event_id', {event_id},
        'session_id', {present(_p('$ai_session_id'), _p('$session_id'), _p('$ai_trace_id'), event_id)},
        'user_id', {user},
        'timestamp', {start},
        'feature_id', {feature},
        'model_id', {_p('$ai_model')},
        'model_version', {present(_p('$ai_model_version'), _p('$ai_model'))},
        'provider', {_p('$ai_provider')},
        'ttft_ms', {seconds_to_ms(_p('$ai_time_to_first_token'))},
        'total_latency_ms', {latency},
        'prompt_tokens', case when {_p('$ai_cache_reporting_exclusive')}::VARCHAR = 'true'
                              then {exclusive_prompt} else {prompt} end,
        'completion_tokens', {_p('$ai_output_tokens')},
        'cached_tokens', {cache_read},
        'cache_write_tokens', {cache_write},
        'reasoning_tokens', {_p('$ai_reasoning_tokens')},
        'estimated_cost_usd', {_p('$ai_total_cost_usd')},
        'is_error', coalesce({_p('$ai_is_error')}::VARCHAR = 'true'
                             or ({is_number(http_status)} and {http_status}::DOUBLE >= 400), false),
        'trace_id', {_p('$ai_trace_id')},
        'prompt_hash', {content_hash(_p('$ai_input'))},
        'response_hash', {content_hash(_p('$ai_output_choices'))}
      )::VARCHAR"""

    # Custom ai_interaction events: the properties are a contract record; the event fills in missing ids.
    is_feedback = f"coalesce({_p('record_type')}::VARCHAR = {json_string('feedback')}, false)"
    defaults = {
        "feedback_id": (f"case when {is_feedback} then coalesce({_p('feedback_id')}, e.uuid) "
                        f"else {_p('feedback_id')} end"),
        "event_id": f"case when {is_feedback} then {_p('event_id')} else coalesce({_p('event_id')}, e.uuid) end",
        "user_id": f"(case when {is_feedback} then {_p('user_id')} else coalesce({_p('user_id')}, e.distinct_id) end)",
        "timestamp": f"coalesce({_p('timestamp')}, event_ms)",
    }
    custom = "json_object(" + ", ".join(
        f"{quote(n)}, {defaults.get(n, _p(n))}" for n in sorted(_CUSTOM_NAMES)) + ")::VARCHAR"

    # Feedback: $ai_metric, $ai_feedback, survey answers tied to a trace --------------------------------
    metric = f"lower(trim(coalesce({text(_p('$ai_metric_name'))}, '')))"
    metric_kind = "(case " + " ".join(f"when {metric} = {quote(k)} then {quote(v)}"
                                      for k, v in sorted(_KINDS.items())) + " end)"
    rating_metric = " or ".join(f"contains({metric}, {quote(w)})" for w in _RATING_METRICS)
    feedback_kind = f"""(case
        when e.event ->> '$' = '$ai_metric' then
          case when {metric_kind} is not null then
                 case when {rating_of(_p('$ai_metric_value'))} is distinct from 'down' then {metric_kind} end
               when {rating_metric} then 'rating' end
        else 'rating' end)"""
    feedback_rating = f"""(case
        when e.event ->> '$' = '$ai_metric' then {rating_of(_p('$ai_metric_value'))}
        when e.event ->> '$' = '$ai_feedback' then
          {rating_of(f"coalesce({_p('$ai_feedback_rating')}, {_p('$ai_feedback_score')}, {_p('rating')})")}
        else {rating_of(_p('$survey_response'))} end)"""
    target = present(_p("$ai_span_id"), _p("$ai_generation_id"), _p("$ai_trace_id"))
    feedback = """json_object(
        'record_type', 'feedback',
        'schema_version', '1.1',
        'feedback_id', e.uuid,
        'target_event_id', target,
        'timestamp', event_ms,
        'kind', kind,
        'rating', case when kind = 'rating' then rating end
      )::VARCHAR"""

    event_schema = f"{{{_EVENT_FIELDS}, \"properties\": {props_schema}}}"
    # CASE guards, not AND: the optimizer may reorder a conjunction and parse text that is not JSON.
    is_event = "coalesce(case when json_valid(line) then json_type(line, '$.event') = 'VARCHAR' end, false)"
    usable_feedback = "target is not null and kind is not null and (kind <> 'rating' or rating is not null)"
    # One scan of the file: every line is one row from here to the end.
    return f"""
with events as (
  select line_no, line, case when {is_event} then from_json(line, '{event_schema}') end as e
  from {lines_relation}
),
mapped as (
  -- An event has a name; its properties are an object, parsed with it, or that object written as a JSON
  -- string, parsed on its own.
  select line_no, line, e, e.event ->> '$' as name,
    case when e is null then null
         when json_type(line, '$.properties') <> 'VARCHAR' then e.properties
         when json_valid(line ->> '$.properties') then from_json(line ->> '$.properties', '{props_schema}') end as p,
    {iso_to_epoch_ms('coalesce(e.timestamp, e.created_at)')} as event_ms
  from events
),
judged as (
  select *, {feedback_kind} as kind, {feedback_rating} as rating, {target} as target from mapped
),
records as (
  select line_no, e is not null as is_event,
    case when e is null then {not_the_format("coalesce(line, '')")}
         when name in ({generations}) then {generation}
         when name = {quote(CUSTOM_EVENT)} then {custom}
         when name in ({feedback_events}) and {usable_feedback} then {feedback}
    end as line
  from judged
)
select line_no, 1 as record_no, is_event and line is null as is_skipped, line from records
"""
