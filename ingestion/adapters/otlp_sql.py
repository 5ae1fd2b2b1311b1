"""OTLP JSON traces -> canonical 1.1 interaction lines, in DuckDB SQL: the loader's path.

`ingestion.adapters.otlp` is the reference: the same mapping written plainly in Python, one span at a
time. This module compiles it to one SELECT that DuckDB runs vectorised on every core (parsing a line's
`TracesData` once, into a typed struct that keeps only what the mapping reads). A test runs both on the
same spans, good and hostile, and compares what the contract makes of each record.
"""

from __future__ import annotations

from ingestion.adapters.common_sql import (
    content_hash,
    is_string,
    iso_to_epoch_ms,
    json_decoded,
    json_document,
    json_string,
    not_the_format,
    present,
    seconds_to_ms,
    text,
)
from ingestion.adapters.langfuse_sql import USAGE_SCHEMA, struct_path, usage_tokens
from ingestion.adapters.otlp import (
    INPUT_CONTENT,
    INVOCATION_PARAMETERS,
    LANGFUSE_COMPLETION_START,
    LANGFUSE_COST,
    LANGFUSE_LEVEL,
    LANGFUSE_MODEL_CALL_TYPES,
    LANGFUSE_PREFIX,
    LANGFUSE_USAGE,
    MODEL_CALL_OPERATIONS,
    OPENINFERENCE_METADATA,
    OPENINFERENCE_MODEL_CALL_KINDS,
    OUTPUT_CONTENT,
    PROVIDER,
    REQUEST_MODEL,
    RESOURCE_ATTRIBUTES,
    RESPONSE_MODEL,
    SESSION_ATTRIBUTES,
    STATUS_ERROR,
    TOKEN_ATTRIBUTES,
    UNKNOWN_FEATURE,
    USER_ATTRIBUTES,
    OtlpOptions,
)
from ingestion.sql import quote

# An AnyValue with each variant as JSON text; the attribute lists parse straight into these structs.
_ANY_VALUE = ('{"stringValue": "JSON", "intValue": "JSON", "doubleValue": "JSON", "boolValue": "JSON", '
              '"arrayValue": "JSON", "kvlistValue": "JSON", "bytesValue": "JSON"}')
_ATTRIBUTES = f'[{{"key": "VARCHAR", "value": {_ANY_VALUE}}}]'
_SPAN = ('{"traceId": "JSON", "spanId": "JSON", "startTimeUnixNano": "JSON", "endTimeUnixNano": "JSON", '
         f'"attributes": {_ATTRIBUTES}, "status": {{"code": "JSON"}}}}')

# otlp.any_value's integer rule: an int64 written as a decimal string of at most 18 digits (fits BIGINT).
_INT_TEXT = "-?(0|[1-9][0-9]{0,17})"
_NANOS_TEXT = "-?[0-9]{1,20}"


def any_value(v: str) -> str:
    """The JSON value of an AnyValue struct `v` (otlp.any_value): the first variant present, an int64
    string as a number, a double string as a number; lists, maps and bytes as they are."""
    int_value, double_value = f"{v}.intValue", f"{v}.doubleValue"
    as_int = (f"(case when {is_string(int_value)} and regexp_full_match({text(int_value)}, '{_INT_TEXT}') "
              f"then {text(int_value)}::JSON else {int_value} end)")
    as_double = (f"(case when {is_string(double_value)} and isfinite(try_cast({text(double_value)} as DOUBLE)) "
                 f"then try_cast({text(double_value)} as DOUBLE)::JSON else {double_value} end)")
    return (f"coalesce({v}.stringValue, {as_int}, {as_double}, {v}.boolValue, {v}.arrayValue, "
            f"{v}.kvlistValue, {v}.bytesValue)")


def _attribute(attributes: str, keys_reversed: str, name: str) -> str:
    """The value of the last attribute called `name` in a list of {key, value} (later keys win, as in a dict).

    Found with list_position on the list's keys, reversed: a native search, where a lambda per name was
    the most expensive part of the mapping."""
    return any_value(f"{attributes}[len({attributes}) + 1 - list_position({keys_reversed}, {quote(name)})].value")


def hex_id(expr: str) -> str:
    """A trace or span id as lower-case hex (otlp.hex_id): hex as written, base64 of 8 or 16 bytes decoded."""
    value = text(expr)
    base64 = r"([A-Za-z0-9+/]{11}=|[A-Za-z0-9+/]{22}==)"
    return (f"(case when {is_string(expr)} and length({value}) in (16, 32) then to_json(lower({value})) "
            f"when {is_string(expr)} and regexp_full_match({value}, '{base64}') "
            f"then to_json(lower(hex(from_base64({value})))) else {expr} end)")


def _nanos(expr: str) -> str:
    """Nanoseconds as HUGEINT (otlp._nanos): an integer or a decimal string; NULL otherwise."""
    return (f"(case when {is_string(expr)} and regexp_full_match({text(expr)}, '{_NANOS_TEXT}') "
            f"then {text(expr)}::HUGEINT when json_type({expr}) in ('BIGINT', 'UBIGINT') then {expr}::HUGEINT "
            f"when json_type({expr}) = 'DOUBLE' and abs({expr}::DOUBLE) < 1e20 "
            f"then trunc({expr}::DOUBLE)::HUGEINT end)")


def mapped_select(lines_relation: str, options: OtlpOptions) -> str:
    """SELECT (line_no, record_no, is_skipped, line) over a relation of source lines (line_no, line).

    One row per span of a TracesData line, in order (`record_no`), holding a canonical record as JSON
    text, or `is_skipped` when the span is not a model call. Every other line passes as one row, turned
    into what the contract quarantines with the rule it breaks (`common_sql.not_the_format`).
    """
    wanted = sorted(options.wanted)
    def attr_col(name: str) -> str:
        lookup = _attribute("attrs", "attr_keys", name)
        family = name.split(".", 1)[0]
        if family in _FAMILIES:
            # Looked up only in spans that have an attribute of the family: a span carries one family, and
            # each lookup is a scan of the key list.
            lookup = f"case when {_has_family(family)} then {lookup} end"
        return f"{lookup} as {_col(name)}"
    attr_cols = ",\n      ".join(attr_col(name) for name in wanted)
    resource_names = sorted(set(options.feature_attributes) | RESOURCE_ATTRIBUTES)
    resource_cols = ",\n      ".join(f"{_attribute('resource', 'resource_keys', name)} as {_col(name, 'r_')}"
                                      for name in resource_names)

    def a(name: str) -> str:
        return _col(name)

    def r(name: str) -> str:
        return _col(name, "r_")

    def first_of(names: tuple[str, ...]) -> str:
        return "coalesce(" + ", ".join(a(n) for n in names) + ")"

    def feature_candidate(name: str) -> str:
        # otlp.feature_of, for one configured name.
        value = f"coalesce({a(name)}, {r(name)})"
        if name.startswith(LANGFUSE_PREFIX):
            value = json_decoded(value)
        if name.startswith(OPENINFERENCE_METADATA + "."):
            key = name[len(OPENINFERENCE_METADATA) + 1:]
            value = f'coalesce({value}, d_metadata."{key}", d_resource_metadata."{key}")'
        return value

    # The keys that feature names `metadata.<key>` read in OpenInference's metadata document.
    metadata_keys = sorted({n[len(OPENINFERENCE_METADATA) + 1:] for n in options.feature_attributes
                            if n.startswith(OPENINFERENCE_METADATA + ".")}) or ["feature_id"]
    metadata_schema = "{" + ", ".join(f'"{k}": "JSON"' for k in metadata_keys) + "}"
    feature = ("coalesce(" + ", ".join(feature_candidate(n) for n in options.feature_attributes)
               + f", {json_string(UNKNOWN_FEATURE)}::JSON)")
    user = "coalesce(" + ", ".join([a(n) for n in USER_ATTRIBUTES] + [r(n) for n in USER_ATTRIBUTES]) + ")"
    request_model = f"coalesce({first_of(REQUEST_MODEL)}, d_invocation.model)"
    response_model = first_of(RESPONSE_MODEL)
    langfuse_usage = usage_tokens(struct_path("d_usage"))
    tokens = ",\n        ".join(f"'{field}', coalesce({first_of(names)}, {langfuse_usage[field]})"
                                for field, names in TOKEN_ATTRIBUTES.items())
    completion_start_ms = "d_completion_start_ms"
    langfuse_ttft = (f"(case when json_type({completion_start_ms}) in ('BIGINT', 'UBIGINT') "
                     f"then ({completion_start_ms}::HUGEINT * 1000000 - start_ns) / 1e6 end)")
    ttft = a("gen_ai.response.time_to_first_chunk")
    status_error = f"('{STATUS_ERROR}', '{STATUS_ERROR}.0', {json_string('STATUS_CODE_ERROR')})"
    record = f"""json_object(
        'schema_version', '1.1',
        'event_id', case when regexp_full_match({text('trace_id')}, '[0-9a-f]{{32}}')
                          and regexp_full_match({text('span_id')}, '[0-9a-f]{{16}}')
                         then to_json({text('trace_id')} || {text('span_id')}) else span_id end,
        'session_id', {present(*(a(n) for n in SESSION_ATTRIBUTES), *(r(n) for n in SESSION_ATTRIBUTES), 'trace_id')},
        'user_id', {user},
        'timestamp', start_ns // 1000000,
        'feature_id', {feature},
        'model_id', coalesce({request_model}, {response_model}),
        'model_version', coalesce({response_model}, {request_model}),
        'provider', {first_of(PROVIDER)},
        'ttft_ms', coalesce({seconds_to_ms(ttft)}, {langfuse_ttft}::JSON),
        'total_latency_ms', (end_ns - start_ns) / 1e6,
        {tokens},
        'is_error', coalesce(status_code::VARCHAR in {status_error}, false) or {a('error.type')} is not null
                    or coalesce({a(LANGFUSE_LEVEL)}::VARCHAR = {json_string('ERROR')}, false),
        'trace_id', trace_id,
        'prompt_hash', {content_hash(first_of(INPUT_CONTENT))},
        'response_hash', {content_hash(first_of(OUTPUT_CONTENT))},
        'estimated_cost_usd', d_cost.total
      )::VARCHAR"""

    def kind_is(name: str, allowed: frozenset[str]) -> str:
        values = ", ".join(quote(v) for v in sorted(allowed))
        return f"coalesce({is_string(a(name))} and {text(a(name))} in ({values}), false)"
    is_model_call = (f"(case when {a('gen_ai.operation.name')} is not null "
                     f"then {kind_is('gen_ai.operation.name', MODEL_CALL_OPERATIONS)} "
                     f"when {a('openinference.span.kind')} is not null "
                     f"then {kind_is('openinference.span.kind', OPENINFERENCE_MODEL_CALL_KINDS)} "
                     f"when {a('langfuse.observation.type')} is not null "
                     f"then {kind_is('langfuse.observation.type', LANGFUSE_MODEL_CALL_TYPES)} "
                     f"else {a('gen_ai.request.model')} is not null or {a('gen_ai.response.model')} is not null end)")
    return f"""
with spans as (
  {_spans(lines_relation)}
),
keyed as (
  -- The keys alone, to look attributes up by position without copying any value (content can be large).
  select line_no, coalesce(record_no, 1) as record_no, other_line, span, span.attributes as attrs, resource,
    list_reverse(list_transform(span.attributes, lambda a: a.key)) as attr_keys,
    list_transform(span.attributes, lambda a: split_part(a.key, '.', 1)) as attr_families,
    list_reverse(list_transform(resource, lambda a: a.key)) as resource_keys
  from spans
),
valued as (
  select line_no, record_no, other_line, attr_families,
      {hex_id('span.traceId')} as trace_id,
      {hex_id('span.spanId')} as span_id,
      {_nanos('span.startTimeUnixNano')} as start_ns,
      {_nanos('span.endTimeUnixNano')} as end_ns,
      span.status.code as status_code,
      {attr_cols},
      {resource_cols}
  from keyed
),
documents as (
  -- Attributes that hold a JSON document, each parsed once.
  select *,
    {json_document(a(LANGFUSE_USAGE), USAGE_SCHEMA)} as d_usage,
    {json_document(a(LANGFUSE_COST), '{"total": "JSON"}')} as d_cost,
    {json_document(a(INVOCATION_PARAMETERS), '{"model": "JSON"}')} as d_invocation,
    {json_document(a(OPENINFERENCE_METADATA), metadata_schema)} as d_metadata,
    {json_document(r(OPENINFERENCE_METADATA), metadata_schema)} as d_resource_metadata,
    {iso_to_epoch_ms(json_decoded(a(LANGFUSE_COMPLETION_START)))} as d_completion_start_ms
  from valued
),
judged as (
  select *, other_line is null and {is_model_call} as is_model_call from documents
)
select line_no, record_no, other_line is null and not is_model_call as is_skipped,
       case when other_line is not null then {not_the_format('other_line')}
            when is_model_call then {record} end as line
from judged
"""


# The two spellings of the lists: OTLP JSON's lowerCamelCase, and the protobuf field names some exporters
# keep. A line is read in the first spelling whose top-level list it has (otlp.spelling_of).
_SPELLINGS = (("resourceSpans", "scopeSpans"), ("resource_spans", "scope_spans"))
_SCHEMA = "{" + ", ".join(
    f'"{doc_key}": [{{"resource": {{"attributes": {_ATTRIBUTES}}}, "{_SPELLINGS[0][1]}": [{{"spans": [{_SPAN}]}}], '
    f'"{_SPELLINGS[1][1]}": [{{"spans": [{_SPAN}]}}]}}]' for doc_key, _scope in _SPELLINGS) + "}"


def _spans(lines_relation: str) -> str:
    """(line_no, record_no, other_line, resource, span): a row per span of every TracesData line, and one
    row with `other_line` (the line itself, no span) for every line that is not TracesData.

    One scan of the file: lines that are not TracesData ride along as a single placeholder element at
    each level. The lists are unnested level by level (building one list of all spans copies every
    span); record_no, a span's position in its line, is its position in its scope plus the spans of
    every scope before it, worked out on span counts so that span rows are never sorted.
    """
    (camel_doc, camel_scope), (snake_doc, snake_scope) = _SPELLINGS
    scopes = f"(case when is_camel then rs.{camel_scope} else rs.{snake_scope} end)"
    offsets = "lambda k: coalesce(list_sum(counts[1:k]), 0)"
    placeholder = "(case when other_line is not null then [NULL] else {} end)"
    return f"""
    select line_no, other_line, resource, unnest({placeholder.format('ss.spans')}) as span,
           ss_offset + unnest({placeholder.format('range(1, len(ss.spans) + 1)')}) as record_no
    from (
      select line_no, other_line, resource, unnest({placeholder.format('scopes')}) as ss,
             rs_offset + unnest({placeholder.format(f'list_transform(range(len(counts)), {offsets})')}) as ss_offset
      from (
        select line_no, other_line, rs_offset, rs.resource.attributes as resource, {scopes} as scopes,
               list_transform({scopes}, lambda ss: coalesce(len(ss.spans), 0)) as counts
        from (
          select line_no, other_line, is_camel, unnest({placeholder.format('rss')}) as rs,
                 unnest({placeholder.format(f'list_transform(range(len(counts)), {offsets})')}) as rs_offset
          from (
            select line_no, other_line, is_camel, rss,
                   list_transform(rss, lambda rs: coalesce(list_sum(list_transform(
                     case when is_camel then rs.{camel_scope} else rs.{snake_scope} end,
                     lambda ss: coalesce(len(ss.spans), 0))), 0)) as counts
            from (
              select line_no, doc.{camel_doc} is not null as is_camel,
                     coalesce(doc.{camel_doc}, doc.{snake_doc}) as rss,
                     -- An empty line can come as NULL: '' keeps it a line (the contract counts it blank).
                     case when coalesce(doc.{camel_doc}, doc.{snake_doc}) is null then coalesce(line, '') end
                       as other_line
              from (select line_no, line, case when json_valid(line) then from_json(line, '{_SCHEMA}') end as doc
                    from {lines_relation})
            )
          )
        )
      )
    )"""


# Attribute families (the name's first segment) whose lookups are skipped in spans without one of them.
_FAMILIES = ("gen_ai", "llm", "langfuse")


def _has_family(family: str) -> str:
    return f"list_has(attr_families, {quote(family)})"


def _col(name: str, prefix: str = "a_") -> str:
    """A column name for an attribute (dots and other characters are not allowed unquoted)."""
    return '"' + prefix + name.replace('"', "") + '"'
