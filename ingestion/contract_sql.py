"""The contract compiled to DuckDB SQL, so the loader validates millions of rows without Python loops.

`staged_select()` turns a relation of raw lines `(file_idx, line_no, line)` into one row per
line (blank lines get record_type 'blank') with every contract field typed (NULL when absent,
null or of the wrong JSON type)
and `rules`, the list of contract rules the line breaks, in the order `ingestion.contract`
checks them (the first one is the reason shown to people). It is generated from the tables in
`ingestion.contract`, so it cannot drift from the Python reference validator; a test runs both on
the same lines and compares.
"""

from __future__ import annotations

from ingestion import contract as c
from ingestion.pii import ID_FIELDS, scrub_id_sql, scrub_sql

# Fields whose value is one of a fixed set: no free text, nothing to scrub unless it is outside the set.
_ENUM_FIELDS = {"schema_version", "routing_strategy", "explicit_rating", "kind", "rating"}

# A line's text with JSON escapes decoded when it is valid JSON (json() writes UTF-8), else as it arrived.
_DECODED_LINE = "(case when json_valid(line) then json(line)::VARCHAR else line end)"

SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN"}


def all_fields() -> list[c.Field]:
    """Interaction fields then the feedback-only ones (schema_version and timestamp are shared)."""
    names = {f.name for f in c.INTERACTION_FIELDS}
    return list(c.INTERACTION_FIELDS) + [f for f in c.FEEDBACK_FIELDS if f.name not in names]


def quote(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _json_struct() -> str:
    keys = ["record_type"] + [f.name for f in all_fields()]
    return "{" + ", ".join(f'"{k}": "JSON"' for k in keys) + "}"


def _typed_struct() -> str:
    """The same fields with their SQL types: DuckDB converts each value as it parses the line."""
    return "{" + ", ".join(f'"{f.name}": "{SQL_TYPES[f.kind]}"' for f in all_fields()) + "}"


def _typed(field: c.Field) -> str:
    """Typed value of the field, NULL when absent, JSON null or of the wrong JSON type.

    `j.<field>` is the value's JSON text, `v.<field>` DuckDB's converted value. DuckDB converts
    leniently ("5" -> 5, 5.5 -> 6 for BIGINT, 5 -> "5" for VARCHAR), so the JSON type is checked on the
    text's first character, which costs no parse (json_type() would parse every value again).
    """
    text = f"j.{field.name}::VARCHAR"
    value = f"v.{field.name}"
    first = f"left({text}, 1)"
    if field.kind == "string":
        return f"(case when {first} = '\"' then {value} end)"
    if field.kind == "bool":
        return f"(case when {text} in ('true', 'false') then {value} end)"
    is_number = f"{first} in ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"
    if field.kind == "int":
        # 12.0 is an integer written loosely; 12.5 is a type error (DuckDB would round it to 13).
        integral = (f"(not regexp_matches({text}, '[.eE]') "
                    f"or try_cast({text} as DOUBLE) = floor(try_cast({text} as DOUBLE)))")
        return f"(case when {is_number} and {integral} then {value} end)"
    return f"(case when {is_number} and isfinite({value}) then {value} end)"


def _version_ge(version_sql: str, version: str) -> str:
    """SQL: the record's (already validated) schema version is >= `version`."""
    supported = [v for v in c.SUPPORTED_VERSIONS if c.version_key(v) >= c.version_key(version)]
    return f"({version_sql} in ({', '.join(quote(v) for v in supported)}))"


def _field_rules(field: c.Field) -> list[tuple[str, str]]:
    """(condition, rule) pairs for one field; the condition is true when the rule is broken."""
    present = f"(j.{field.name} is not null)"
    typed = f"t_{field.name}"
    rules: list[tuple[str, str]] = []
    if field.required:
        missing = f"(not {present})"
        if field.nullable_since:
            missing = f"({missing} and not {_version_ge('t_schema_version', field.nullable_since)})"
        rules.append((missing, c.rule_required(field.name)))
    rules.append((f"({present} and {typed} is null)", c.rule_type(field.name)))
    if field.non_empty:
        rules.append((f"({typed} = '')", c.rule_required(field.name)))
    if field.allowed is not None and field.name != "schema_version":
        rules.append((f"({typed} not in ({', '.join(quote(a) for a in field.allowed)}))",
                      c.rule_allowed(field.name)))
    if field.minimum is not None:
        op = "<=" if field.exclusive_minimum else "<"
        rules.append((f"({typed} {op} {field.minimum!r})", c.rule_range(field.name)))
    if field.maximum is not None:
        rules.append((f"({typed} > {field.maximum!r})", c.rule_range(field.name)))
    if field.since != "1.0":
        # A field newer than the record's version is not part of that record: ignore it.
        since = _version_ge("t_schema_version", field.since)
        rules = [(f"({since} and {cond})", rule) for cond, rule in rules]
    return rules


def _rules_list(fields: tuple[c.Field, ...], extra: list[tuple[str, str]], versions: tuple[str, ...]) -> str:
    version_ok = f"(t_schema_version in ({', '.join(quote(v) for v in versions)}))"
    checks: list[tuple[str, str]] = []
    for field in fields:
        if field.name != "schema_version":
            checks.extend(_field_rules(field))
    checks.extend(extra)
    items = ", ".join(f"case when {cond} then {quote(rule)} end" for cond, rule in checks)
    return (f"(case when j.schema_version is null then [{quote(c.rule_required('schema_version'))}] "
            f"when not coalesce({version_ok}, false) then [{quote(c.RULE_UNSUPPORTED_VERSION)}] "
            f"else list_filter([{items}], lambda r: r is not null) end)")


def _timestamp_rule(now_ms: int) -> tuple[str, str]:
    return (f"(t_timestamp < {c.MIN_TIMESTAMP_MS} or t_timestamp > {now_ms + c.MAX_FUTURE_SKEW_MS})",
            c.RULE_TIMESTAMP_PLAUSIBLE)


def staged_select(lines_relation: str, now_ms: int, passthrough: tuple[str, ...] = ()) -> str:
    """SELECT producing the staged rows for the lines in `lines_relation` (see module docstring).

    `passthrough` names extra columns of the relation carried unchanged into the output after `line_no`
    (the loader passes `record_no`, a record's ordinal inside a source line that holds several).
    """
    extra = "".join(f"{col}, " for col in passthrough)
    fields = all_fields()
    typed_cols = ",\n    ".join(f"{_typed(f)} as t_{f.name}" for f in fields)
    interaction_extra = [_timestamp_rule(now_ms)] + [
        (f"({r.present_sql('t_')} and {r.left_sql('t_')} > t_{r.right})", r.name) for r in c.INTERACTION_RULES]
    feedback_extra = [_timestamp_rule(now_ms),
                      ("(t_kind = 'rating' and t_rating is null and j.rating is null)", c.RULE_RATING_REQUIRED)]
    interaction_rules = _rules_list(c.INTERACTION_FIELDS, interaction_extra, c.SUPPORTED_VERSIONS)
    feedback_rules = _rules_list(c.FEEDBACK_FIELDS, feedback_extra, c.FEEDBACK_VERSIONS)
    out_cols = []
    # Every string field goes through the scrubber inside ONE list_transform (free text) or the other (ids),
    # instead of one copy of the scrubber's SQL per field: binding twenty copies of its lambdas cost DuckDB
    # about 70 ms per statement, and the loader runs one statement per landing file.
    free_inputs: list[str] = []
    id_inputs: list[str] = []

    def scrubbed(inputs: list[str], expr: str, name: str) -> str:
        inputs.append(expr)
        return f"{name}[{len(inputs)}]"

    for f in fields:
        col = f"t_{f.name}"
        if f.since != "1.0" and f in c.INTERACTION_FIELDS:
            col = f"(case when {_version_ge('t_schema_version', f.since)} then {col} end)"
        if f.default is not None:
            default = str(f.default).lower() if isinstance(f.default, bool) else repr(f.default)
            col = f"coalesce({col}, {default})"
        if f.name in ID_FIELDS:
            # A placeholder would merge ids: an id holding PII becomes a keyed hash of itself (ingestion.pii).
            col = scrubbed(id_inputs, col, "scrubbed_ids")
        elif f.kind == "string" and f.name not in _ENUM_FIELDS:
            col = scrubbed(free_inputs, col, "scrubbed_text")
        elif f.kind == "string" and f.allowed:
            # An allowed value holds no PII; anything else is quarantined, and kept there scrubbed.
            allowed = ", ".join(quote(a) for a in f.allowed)
            col = f"(case when {col} in ({allowed}) then {col} else {scrubbed(free_inputs, col, 'scrubbed_text')} end)"
        out_cols.append(f"{col} as {f.name}")
    out_list = ",\n  ".join(out_cols)
    # Kept only for rows that could not be parsed, scrubbed and cut short, so people can see what arrived.
    # Valid JSON (a bare string, an array) is rewritten first, which decodes its \\u escapes for the scrubber.
    raw_line = scrubbed(free_inputs, f"(case when record_type <> 'blank' and not is_object then {_DECODED_LINE} end)",
                        "scrubbed_text")
    scrub_lists = (f"list_transform([{', '.join(free_inputs)}], lambda field_value: {scrub_sql('field_value')}) "
                   f"as scrubbed_text,\n    "
                   f"list_transform([{', '.join(id_inputs)}], lambda field_value: {scrub_id_sql('field_value')}) "
                   f"as scrubbed_ids")
    return f"""
with parsed as (
  -- A json_valid guard, not try(): try() makes DuckDB evaluate row by row, three times slower here.
  select file_idx, line_no, {extra}line,
    case when json_valid(line) then from_json(line, '{_json_struct()}') end as j,
    case when json_valid(line) then from_json(line, '{_typed_struct()}') end as v
  from {lines_relation}
),
typed as (
  select file_idx, line_no, {extra}line, j, v,
    -- from_json accepts any JSON value; only a '{{' start makes it an object.
    j is not null and ltrim(line)[1] = '{{' as is_object,
    case when line is null or trim(line) = '' then 'blank'
         when j.record_type is null then 'interaction'
         when json_type(j.record_type) = 'VARCHAR' and j.record_type ->> '$' in ('interaction', 'feedback')
           then j.record_type ->> '$' end as record_type,
    {typed_cols}
  from parsed
),
checked as (
  select *,
    case when record_type = 'blank' then []::VARCHAR[]
         when j is null and not json_valid(line) then ['{c.RULE_MALFORMED_JSON}']
         when not is_object then ['{c.RULE_NOT_AN_OBJECT}']
         when record_type is null then ['{c.RULE_UNKNOWN_RECORD_TYPE}']
         when record_type = 'interaction' then {interaction_rules}
         else {feedback_rules}
    end as rules
  from typed
)
select file_idx, line_no, {extra}coalesce(record_type, 'unknown') as record_type, rules,
  {out_list},
  left({raw_line}, 1000) as raw_line
from (select *, {scrub_lists} from checked)
"""
