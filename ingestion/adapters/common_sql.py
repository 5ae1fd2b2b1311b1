"""SQL building blocks shared by the adapters' DuckDB mappings (`otlp_sql`, `posthog_sql`).

The adapters map foreign records in DuckDB, as JSON values: every source value stays DuckDB `JSON` (its
text) until it is written into the canonical line with `json_object`, so a value of the wrong type reaches
the contract unchanged and is quarantined with the rule it breaks, exactly as the Python reference
mappers (`common`, `otlp`, `posthog`) pass it through. Each helper here mirrors one helper there; a test
runs both engines on the same inputs and compares what the contract makes of them.

PII: the contract's SQL (`ingestion.contract.staging_sql`) scrubs every string field of every record on its way
to the lake and replaces ids that hold PII by keyed hashes, so these mappings do neither.
"""

from __future__ import annotations

from ingestion.sql import quote

NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def json_string(text: str) -> str:
    """A SQL literal of the JSON text of the string `text` (for comparing JSON values as text)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return quote(f'"{escaped}"')


def is_number(expr: str) -> str:
    """The JSON value is a number (JSON booleans are not)."""
    return f"(json_type({expr}) in {NUMBER_TYPES})"


def is_string(expr: str) -> str:
    return f"(json_type({expr}) = 'VARCHAR')"


def text(expr: str) -> str:
    """The string inside a JSON string value (NULL for NULL)."""
    return f"({expr} ->> '$')"


def present(*exprs: str) -> str:
    """The first JSON value that is neither null nor the empty string (common.present)."""
    return "coalesce(" + ", ".join(f"nullif({e}, '\"\"')" for e in exprs) + ")"


def seconds_to_ms(expr: str) -> str:
    """Seconds -> milliseconds for numbers; any other value unchanged, for the contract to judge."""
    return f"(case when {is_number(expr)} then ({expr}::DOUBLE * 1000)::JSON else {expr} end)"


def add_if_number(total: str, extra: str) -> str:
    """total + extra when both are numbers; otherwise total as it is (common.add_if_number)."""
    return (f"(case when {is_number(total)} and {is_number(extra)} then ({total}::DOUBLE + {extra}::DOUBLE)::JSON "
            f"else {total} end)")


def json_path(*keys: str) -> str:
    """A JSON path literal for nested object keys, each quoted."""
    return quote("$" + "".join('."' + key.replace('"', "") + '"' for key in keys))


def json_in(expr: str, *keys: str) -> str:
    """The JSON value at `keys` inside a JSON string value (common.json_in); NULL when not JSON, missing or null."""
    return (f"(case when {is_string(expr)} and json_valid({text(expr)}) "
            f"then nullif(json_extract({text(expr)}, {json_path(*keys)}), 'null') end)")


def json_document(expr: str, schema: str) -> str:
    """A JSON string value holding a JSON document, parsed once into a struct of `schema` (JSON leaves):
    NULL when it is not a string or not JSON; fields NULL where the document has no such key, a null, or
    is not an object there (common.json_in, read through struct fields)."""
    return f"(case when {is_string(expr)} then try(from_json({text(expr)}, {quote(schema)})) end)"


def json_decoded(expr: str) -> str:
    """A JSON string value holding JSON text as the value it encodes (common.json_decoded)."""
    return (f"(case when {is_string(expr)} and json_valid({text(expr)}) "
            f"then nullif(json({text(expr)}), 'null') else {expr} end)")


def epoch_seconds_to_ms(expr: str) -> str:
    """Epoch seconds -> whole epoch ms (common.epoch_seconds_to_ms); any other value unchanged."""
    return (f"(case when {is_number(expr)} and abs({expr}::DOUBLE) < 1e12 "
            f"then (floor({expr}::DOUBLE * 1e6 + 0.5)::BIGINT // 1000)::JSON else {expr} end)")


def seconds_between_ms(start: str, end: str) -> str:
    """(end - start) seconds -> ms to the microsecond, as DOUBLE, when both are numbers and it is finite
    (common.seconds_between_ms)."""
    micros = f"(({end}::DOUBLE - {start}::DOUBLE) * 1e6)"
    return (f"(case when {is_number(start)} and {is_number(end)} and isfinite({micros}) "
            f"then floor({micros} + 0.5) / 1000 end)")


def content_hash(expr: str) -> str:
    """md5 of message content (common.content_hash): of the string itself, or of the JSON text of other values."""
    return (f"(case when {expr} is null then null when {is_string(expr)} then to_json(md5({text(expr)})) "
            f"else to_json(md5({expr}::VARCHAR)) end)")


def iso_to_epoch_ms(expr: str) -> str:
    """An ISO-8601 time (naive means UTC: the loader's connection runs in UTC) or epoch ms -> epoch ms."""
    return (f"(case when json_type({expr}) in ('BIGINT', 'UBIGINT') then {expr} "
            f"when json_type({expr}) = 'DOUBLE' and abs({expr}::DOUBLE) < 1e18 "
            f"then trunc({expr}::DOUBLE)::BIGINT::JSON "
            f"when {is_string(expr)} then coalesce(epoch_ms(try_cast({text(expr)} as TIMESTAMPTZ))::JSON, {expr}) "
            f"else {expr} end)")


def not_the_format(line: str) -> str:
    """What a line that is not the adapter's format becomes (reader module docstring): text that is not JSON
    stays as it is (the contract quarantines it as malformed_json); JSON becomes a JSON string, which is
    not an object (not_an_object). The contract scrubs what it keeps of either."""
    return f"(case when json_valid({line}) then to_json({line})::VARCHAR else {line} end)"
