"""The contract compiled to DuckDB SQL, so the loader validates millions of rows without Python loops.

`staged_select()` turns a relation of raw lines `(file_idx, line_no, line)` into one row per
line (blank lines get record_type 'blank') with every contract field typed (NULL when absent,
null or of the wrong JSON type)
and `rules`, the list of contract rules the line breaks, in the order `ingestion.contract.schema`
checks them (the first one is the reason shown to people). It is generated from the tables in
`ingestion.contract.schema`, so it cannot drift from the Python reference validator; a test runs both on
the same lines and compares. The loader runs it with a fast path for the lines that break nothing
(`staged_select(fast=True)`); `tests/ingestion/contract/test_staging_sql_fast_path.py` holds it to the reference SQL.
"""

from __future__ import annotations

from ingestion.contract import schema as c
from ingestion.contract.pii import ID_FIELDS, PREFILTER, scrub_id_sql, scrub_sql
from ingestion.sql import quote

# Fields whose value is one of a fixed set: no free text, nothing to scrub unless it is outside the set.
_ENUM_FIELDS = {"schema_version", "routing_strategy", "explicit_rating", "kind", "rating"}

# A line's text with JSON escapes decoded when it is valid JSON (json() writes UTF-8), else as it arrived.
_DECODED_LINE = "(case when json_valid(line) then json(line)::VARCHAR else line end)"

SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN",
             "map": "MAP(VARCHAR, VARCHAR)"}


def _all_values_strings(json_values_types: str) -> str:
    """SQL: every entry of a list of JSON type names is a string (true for an empty object)."""
    return f"coalesce(list_bool_and(list_transform({json_values_types}, lambda t: t = 'VARCHAR')), true)"


def all_fields() -> list[c.Field]:
    """Interaction fields then the feedback-only ones (schema_version and timestamp are shared)."""
    names = {f.name for f in c.INTERACTION_FIELDS}
    return list(c.INTERACTION_FIELDS) + [f for f in c.FEEDBACK_FIELDS if f.name not in names]


def _json_struct() -> str:
    keys = ["record_type"] + [f.name for f in all_fields()]
    return "{" + ", ".join(f'"{k}": "JSON"' for k in keys) + "}"


def _typed_struct(with_record_type: bool = False) -> str:
    """The same fields with their SQL types: DuckDB converts each value as it parses the line."""
    record_type = ['"record_type": "VARCHAR"'] if with_record_type else []
    return "{" + ", ".join([f'"{f.name}": "{SQL_TYPES[f.kind]}"' for f in all_fields()] + record_type) + "}"


def _typed(field: c.Field) -> str:
    """Typed value of the field, NULL when absent, JSON null or of the wrong JSON type (the reference).

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
    if field.kind == "map":
        # DuckDB converts any value to VARCHAR (5 -> '5', {..} -> its JSON text) and gives NULL for an object
        # that repeats a key: only an object of strings is the field's type. Nested CASE: the values' types are
        # read only for the lines that have an object there.
        values_types = f"json_type(j.{field.name}, {quote('$.*')})"
        return f"(case when {first} = '{{' then (case when {_all_values_strings(values_types)} then {value} end) end)"
    is_number = f"{first} in ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"
    if field.kind == "int":
        # 12.0 is an integer written loosely; 12.5 is a type error (DuckDB would round it to 13).
        integral = (f"(not regexp_matches({text}, '[.eE]') "
                    f"or try_cast({text} as DOUBLE) = floor(try_cast({text} as DOUBLE)))")
        return f"(case when {is_number} and {integral} then {value} end)"
    return f"(case when {is_number} and isfinite({value}) then {value} end)"


# JSON types (as json_type() names them) that hold a value of each contract kind.
_JSON_TYPES = {"string": ("VARCHAR",), "int": ("UBIGINT", "BIGINT"), "number": ("UBIGINT", "BIGINT", "DOUBLE"),
               "bool": ("BOOLEAN",)}


def _typed_fast(field: c.Field, position: int) -> str:
    """The field's typed value when its JSON type is the contract's, else NULL: the fast path's `_typed`.

    `jt[position]` is the value's JSON type, from one json_type() over the line for every field, and
    `v.<field>` DuckDB's converted value. An integer written with a fraction (12.0) is a DOUBLE there: NULL,
    so the line takes the reference path, which accepts it.
    """
    value = f"v.{field.name}"
    if field.kind == "map":
        # As in `_typed`; the values' JSON types cost one more parse, only for the lines that carry the object.
        values_types = f"json_type(line, {quote(f'$.{field.name}.*')})"
        return (f"(case when jt[{position}] = 'OBJECT' then (case when {_all_values_strings(values_types)} "
                f"then {value} end) end)")
    types = ", ".join(quote(t) for t in _JSON_TYPES[field.kind])
    finite = f" and isfinite({value})" if field.kind == "number" else ""
    return f"(case when jt[{position}] in ({types}){finite} then {value} end)"


def _version_ge(version_sql: str, version: str) -> str:
    """SQL: the record's (already validated) schema version is >= `version`."""
    supported = [v for v in c.SUPPORTED_VERSIONS if c.version_key(v) >= c.version_key(version)]
    return f"({version_sql} in ({', '.join(quote(v) for v in supported)}))"


def _field_rules(field: c.Field, prefix: str = "t_") -> list[tuple[str, str]]:
    """(condition, rule) pairs for one field; the condition is true when the rule is broken.

    `prefix` names the typed columns the conditions read (`t_` for the staged values, `f_` for the fast
    path's)."""
    typed = f"{prefix}{field.name}"
    # On the fast path every present field has a value of its type (`_fast_condition`), so present = not null.
    present = f"(j.{field.name} is not null)" if prefix == "t_" else f"({typed} is not null)"
    rules: list[tuple[str, str]] = []
    if field.required:
        missing = f"(not {present})"
        if field.nullable_since:
            missing = f"({missing} and not {_version_ge(prefix + 'schema_version', field.nullable_since)})"
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
    if field.map_limits is not None:
        limits = field.map_limits
        rules.append((f"(cardinality({typed}) > {limits.max_keys})", c.rule_max_keys(field.name)))
        # An empty map has no key to break the pattern: list_bool_and([]) is NULL, which breaks no rule.
        rules.append((f"(not list_bool_and(list_transform(map_keys({typed}), "
                      f"lambda k: regexp_full_match(k, {quote(limits.key_pattern)}))))", c.rule_key_format(field.name)))
        longest = f"list_max(list_transform(map_values({typed}), lambda x: length(x)))"
        rules.append((f"({longest} > {limits.max_value_chars})", c.rule_value_length(field.name)))
    if field.since != "1.0":
        # A field newer than the record's version is not part of that record: ignore it.
        since = _version_ge(prefix + "schema_version", field.since)
        rules = [(f"({since} and {cond})", rule) for cond, rule in rules]
    return rules


def _checks(record_type: str, now_ms: int, prefix: str = "t_") -> list[tuple[str, str]]:
    """Every (condition, rule) of a record kind after its schema version, in the order they are reported."""
    fields = c.INTERACTION_FIELDS if record_type == "interaction" else c.FEEDBACK_FIELDS
    checks: list[tuple[str, str]] = []
    for field in fields:
        if field.name != "schema_version":
            checks.extend(_field_rules(field, prefix))
    checks.append(_timestamp_rule(now_ms, prefix))
    if record_type == "interaction":
        checks.extend((f"({r.present_sql(prefix)} and {r.left_sql(prefix)} > {prefix}{r.right})", r.name)
                      for r in c.INTERACTION_RULES)
    else:
        rating_absent = "j.rating is null" if prefix == "t_" else "true"
        checks.append((f"({prefix}kind = 'rating' and {prefix}rating is null and {rating_absent})",
                       c.RULE_RATING_REQUIRED))
    return checks


def fast_checks(record_type: str, now_ms: int) -> list[tuple[str, str]]:
    """The checks of `_checks` the fast path evaluates on its `f_` columns: all but the type rules."""
    type_rules = {c.rule_type(f.name) for f in all_fields()}
    version_ok = f"(f_schema_version in ({', '.join(quote(v) for v in _versions(record_type))}))"
    return [(f"(not coalesce({version_ok}, false))", c.RULE_UNSUPPORTED_VERSION),
            *((cond, rule) for cond, rule in _checks(record_type, now_ms, "f_") if rule not in type_rules)]


def _versions(record_type: str) -> tuple[str, ...]:
    return c.SUPPORTED_VERSIONS if record_type == "interaction" else c.FEEDBACK_VERSIONS


def _rules_list(record_type: str, now_ms: int) -> str:
    """The list of rules a record of this kind breaks (the reference diagnosis, one CASE per rule)."""
    version_ok = f"(t_schema_version in ({', '.join(quote(v) for v in _versions(record_type))}))"
    items = ", ".join(f"case when {cond} then {quote(rule)} end" for cond, rule in _checks(record_type, now_ms))
    return (f"(case when j.schema_version is null then [{quote(c.rule_required('schema_version'))}] "
            f"when not coalesce({version_ok}, false) then [{quote(c.RULE_UNSUPPORTED_VERSION)}] "
            f"else list_filter([{items}], lambda r: r is not null) end)")


def _breaks_nothing(record_type: str, now_ms: int) -> str:
    """SQL boolean over the fast path's `f_` columns: a record of this kind breaks no rule.

    The same conditions as `_rules_list`, OR-ed instead of listed: DuckDB evaluates them as plain vector
    comparisons, and skips the rows already known to break one. The type rules are left out: the fast path
    checks the type of every field of either kind first (`_fast_condition`).
    """
    broken = " or ".join(cond for cond, _ in fast_checks(record_type, now_ms))
    return f"(not coalesce({broken}, false))"


def _timestamp_rule(now_ms: int, prefix: str = "t_") -> tuple[str, str]:
    ts = f"{prefix}timestamp"
    return (f"({ts} < {c.MIN_TIMESTAMP_MS} or {ts} > {now_ms + c.MAX_FUTURE_SKEW_MS})", c.RULE_TIMESTAMP_PLAUSIBLE)


def _prefiltered_texts(fields: list[c.Field]) -> list[str]:
    """The fast path's texts the PII pre-filter searches: every string field, and each map's keys and values."""
    return ([f"f_{f.name}" for f in fields if f.kind == "string"]
            + [f"array_to_string(list_concat(map_keys(f_{f.name}), map_values(f_{f.name})), chr(31))"
               for f in fields if f.kind == "map"])


def _fast_condition(now_ms: int) -> str:
    """SQL boolean: the line takes the fast path (see `staged_select`).

    True only when the reference would find nothing to report or change: a JSON object of a known kind
    whose every field has its contract type (as `_typed_fast` reads it), breaking no rule, and with no
    string that could hold PII. The PII pre-filter runs once, on all string fields joined by a separator
    that no pattern matches across (each pattern's match in one field is a match in the joined text: the
    separator is a non-word character, as the start and end of a field are), so a line with nothing to
    scrub costs one search instead of one per field.
    """
    fields = all_fields()
    typed_ok = " and ".join(f"(coalesce(jt[{i}], 'NULL') = 'NULL' or f_{f.name} is not null)"
                            for i, f in enumerate(fields, start=1))
    strings = ", ".join(_prefiltered_texts(fields))
    pii_free = f"not regexp_matches(concat_ws(chr(31), {strings}), {quote(PREFILTER)})"
    kinds = (f"(case when record_type = 'interaction' then {_breaks_nothing('interaction', now_ms)} "
             f"when record_type = 'feedback' then {_breaks_nothing('feedback', now_ms)} else false end)")
    return f"coalesce(is_object and {typed_ok} and {kinds} and {pii_free}, false)"


def staged_select(lines_relation: str, now_ms: int, passthrough: tuple[str, ...] = (), *, fast: bool = True) -> str:
    """SELECT producing the staged rows for the lines in `lines_relation` (see module docstring).

    `passthrough` names extra columns of the relation carried unchanged into the output after `line_no`
    (the loader passes `record_no`, a record's ordinal inside a source line that holds several).

    With `fast` (the loader's path), most lines cost a typed parse, the JSON types of their fields and a few
    vector comparisons: every field typed and its type checked (`_typed_fast`), every rule OR-ed into one
    boolean (`_fast_condition`). Only the lines that fail it, those with a broken rule, an unusual spelling
    or something the PII pre-filter catches, take the reference path: the fields' JSON texts (a second
    parse), the list of broken rules and the scrubber. Every expression of the reference
    sits behind a CASE on that boolean, and DuckDB evaluates a CASE branch only for the rows that take
    it. `fast=False` is the reference alone; tests/ingestion/contract/test_staging_sql_fast_path.py checks
    that both give the same rows on a hostile corpus.
    """
    extra = "".join(f"{col}, " for col in passthrough)
    fields = all_fields()
    takes_fast = _fast_condition(now_ms) if fast else "false"
    fast_cols = ",\n    ".join(f"{_typed_fast(f, i)} as f_{f.name}" for i, f in enumerate(fields, start=1))
    # The JSON type of every field, then of record_type, in one json_type() call: one more parse of the line,
    # which costs less than reading each field's JSON text and typing it from there.
    type_paths = ", ".join(quote(f"$.{name}") for name in [f.name for f in fields] + ["record_type"])
    record_type_at = len(fields) + 1
    typed_cols = ",\n    ".join(f"(case when fast then f_{f.name} else {_typed(f)} end) as t_{f.name}"
                               for f in fields)
    interaction_rules = _rules_list("interaction", now_ms)
    feedback_rules = _rules_list("feedback", now_ms)
    out_cols = []
    # Every string field goes through the scrubber inside ONE list_transform (free text) or the other (ids),
    # instead of one copy of the scrubber's SQL per field: binding twenty copies of its lambdas cost DuckDB
    # about 70 ms per statement, and the loader runs one statement per landing file.
    free_inputs: list[str] = []
    id_inputs: list[str] = []

    def scrubbed(inputs: list[str], expr: str, name: str) -> str:
        inputs.append(expr)
        return f"{name}[{len(inputs)}]"

    map_fields: list[tuple[c.Field, str]] = []
    for f in fields:
        col = f"t_{f.name}"
        if f.since != "1.0" and f in c.INTERACTION_FIELDS:
            col = f"(case when {_version_ge('t_schema_version', f.since)} then {col} end)"
        if f.kind == "map":
            map_fields.append((f, col))
            out_cols.append(None)  # placed below, once the scalar inputs of the scrub lists are known
            continue
        if f.default is not None:
            default = str(f.default).lower() if isinstance(f.default, bool) else repr(f.default)
            col = f"coalesce({col}, {default})"
        if f.name in ID_FIELDS:
            # A placeholder would merge ids: an id holding PII becomes a keyed hash of itself (ingestion.contract.pii).
            col = scrubbed(id_inputs, col, "scrubbed_ids")
        elif f.kind == "string" and f.name not in _ENUM_FIELDS:
            col = scrubbed(free_inputs, col, "scrubbed_text")
        elif f.kind == "string" and f.allowed:
            # An allowed value holds no PII; anything else is quarantined, and kept there scrubbed.
            allowed = ", ".join(quote(a) for a in f.allowed)
            col = f"(case when {col} in ({allowed}) then {col} else {scrubbed(free_inputs, col, 'scrubbed_text')} end)"
        out_cols.append(f"{col} as {f.name}")
    # Kept only for rows that could not be parsed, scrubbed and cut short, so people can see what arrived.
    # Valid JSON (a bare string, an array) is rewritten first, which decodes its \\u escapes for the scrubber.
    raw_line = scrubbed(free_inputs, f"(case when record_type <> 'blank' and not is_object then {_DECODED_LINE} end)",
                        "scrubbed_text")
    # A map's keys ride at the end of the id list (a key holding PII becomes its keyed hash, which still
    # matches the key pattern) and its values at the end of the free-text list, so the scrubbers are bound
    # once whatever the map holds. Entries are sorted by key: the same tags written in another order are
    # the same record (the content hash reads them in this order).
    assert len(map_fields) <= 1, "the scrub lists carry one map field's entries at their end"
    free_list, id_list = f"[{', '.join(free_inputs)}]", f"[{', '.join(id_inputs)}]"
    for f, col in map_fields:
        free_list = f"list_concat({free_list}, coalesce(map_values({col}), []))"
        id_list = f"list_concat({id_list}, coalesce(map_keys({col}), []))"
        entries = (f"list_zip(scrubbed_ids[{len(id_inputs) + 1}:], scrubbed_text[{len(free_inputs) + 1}:])")
        out_cols[[i for i, x in enumerate(out_cols) if x is None][0]] = (
            f"(case when {col} is not null then map_from_entries(list_sort({entries})) end) as {f.name}")
    out_list = ",\n  ".join(out_cols)
    # A fast line has nothing to scrub (its strings passed the pre-filter, it is an object): its values as
    # they are.
    scrub_lists = (f"(case when fast then {free_list} else list_transform({free_list}, "
                   f"lambda field_value: {scrub_sql('field_value')}) end) as scrubbed_text,\n    "
                   f"(case when fast then {id_list} else list_transform({id_list}, "
                   f"lambda field_value: {scrub_id_sql('field_value')}) end) as scrubbed_ids")
    return f"""
with parsed as (
  -- A json_valid guard, not try(): try() makes DuckDB evaluate row by row, three times slower here.
  select file_idx, line_no, {extra}line, is_json,
    case when is_json then from_json(line, '{_typed_struct(with_record_type=True)}') end as v,
    case when is_json then json_type(line, [{type_paths}]) end as jt
  from (select *, json_valid(line) as is_json from {lines_relation}) as l
),
quick as (
  select *,
    -- from_json accepts any JSON value; only a '{{' start makes it an object (ltrim copies the line: only
    -- for the rare line that starts with white space).
    is_json and (starts_with(line, '{{') or ltrim(line)[1] = '{{') as is_object,
    case when line is null or trim(line) = '' then 'blank'
         when coalesce(jt[{record_type_at}], 'NULL') = 'NULL' then 'interaction'
         when jt[{record_type_at}] = 'VARCHAR' and v.record_type in ('interaction', 'feedback')
           then v.record_type end as record_type,
    {fast_cols}
  from parsed
),
routed as (
  select *, {takes_fast} as fast from quick
),
typed as (
  select *,
    {typed_cols}
  from (select *, case when is_json and not fast then from_json(line, '{_json_struct()}') end as j from routed)
),
checked as (
  select *,
    case when fast or record_type = 'blank' then []::VARCHAR[]
         when not is_json then ['{c.RULE_MALFORMED_JSON}']
         when not is_object then ['{c.RULE_NOT_AN_OBJECT}']
         when record_type is null then ['{c.RULE_UNKNOWN_RECORD_TYPE}']
         when record_type = 'interaction' then {interaction_rules}
         else {feedback_rules}
    end as rules
  from typed
)
select file_idx, line_no, {extra}coalesce(record_type, 'unknown') as record_type, rules,
  {out_list},
  left({raw_line}, 1000) as raw_line,
  fast as took_fast_path
from (select *, {scrub_lists} from checked)
"""
