"""A hostile corpus of landing lines for the contract's two SQL paths
(tests/ingestion/contract/test_staging_sql_fast_path.py).

Every kind of line the loader can meet: valid interactions and feedback of each schema version, one line per
rule broken alone (with the values just inside and just outside each bound), each field with each wrong JSON
type, numbers spelled every way JSON allows, strings with escapes, PII in every string field, duplicate and
escaped keys, nested values, whitespace, blank lines, broken JSON and JSON that is not an object.
"""

from __future__ import annotations

import json
from typing import Any

from ingestion.contract import schema as c
from tests.builders.pii_cases import PII_CASES

NOW_MS = 1_790_000_000_000  # 2026-09-21


def interaction(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": "1.2", "event_id": "e1", "session_id": "s1", "user_id": "u1", "timestamp": NOW_MS - 1000,
        "feature_id": "chat", "model_id": "gpt-4o", "model_version": "2024-08-06", "routing_strategy": "primary",
        "ttft_ms": 300.0, "total_latency_ms": 1200.0, "stream_chunks_received": 10, "prompt_tokens": 100,
        "completion_tokens": 50, "cached_tokens": 20, "estimated_cost_usd": 0.001, "user_regenerated": False,
        "user_edited_output": False, "explicit_rating": None, "implicit_quality_score": 1.0, "provider": "openai",
        "prompt_hash": "0a1b2c", "response_hash": "3d4e5f", "trace_id": "t1", "cache_write_tokens": 10,
        "reasoning_tokens": 5, "is_error": False, "sample_rate": 0.5,
        "tags": {"tenant": "acme", "env": "prod"}, "prompt_version": "v1",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def feedback(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"record_type": "feedback", "schema_version": "1.1", "feedback_id": "f1",
                              "target_event_id": "e1", "timestamp": NOW_MS - 500, "kind": "rating", "rating": "up"}
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


# A value of every JSON type but the field's own, and the spellings of its own type that are easy to get wrong.
_WRONG_TYPES: dict[str, list[Any]] = {
    "string": [5, 5.5, True, None, [], {}, ["a"], {"a": "b"}],
    "int": ["5", 5.5, True, False, [], {}, 12.0, -0.0, 1e2, 2 ** 63, -(2 ** 63), 2 ** 64, "12"],
    "number": ["5", True, [], {}, 0, -0.0, 1e-300, 1e300, 2 ** 70],
    "bool": ["true", 1, 0, 1.0, [], {}, None],
    "map": ["x", 5, True, None, [], ["a"], [["a", "b"]], {"a": 5}, {"a": None}, {"a": True}, {"a": 1.5},
            {"a": {"b": "c"}}, {"a": ["b"]}, {"a": "x", "b": 5}],
}


def _map_edges(limits: c.MapLimits) -> list[dict[str, str]]:
    """Maps just inside and just outside each limit, and keys the pattern must refuse or accept."""
    long_key = "k" * 64
    return [
        {}, {f"k{i}": "v" for i in range(limits.max_keys)}, {f"k{i}": "v" for i in range(limits.max_keys + 1)},
        {long_key: "v"}, {long_key + "k": "v"}, {"": "v"}, {"Tenant": "v"}, {"team name": "v"}, {"a/b": "v"},
        {"a:b": "v"}, {"é": "v"}, {"a\n": "v"}, {"tenant.id-2_x": "v"}, {"0": ""},
        {"a": "x" * limits.max_value_chars}, {"a": "x" * (limits.max_value_chars + 1)},
        {"a": "é" * limits.max_value_chars}, {"a": "👍" * (limits.max_value_chars + 1)},
        {"a": "e\u0301" * (limits.max_value_chars // 2)},  # combining marks: characters, not graphemes
        {"a": "x" * 300, "B": "v", **{f"k{i}": "v" for i in range(limits.max_keys)}},  # every limit at once
        {"b": "2", "a": "1"}, {"a": "1", "b": "2"},  # the same tags in another order
    ]
# Fields whose limits also bound another field (ttft_ms <= total_latency_ms, cache reads and writes <=
# prompt_tokens): left out when a test breaks one limit, so that it breaks that one alone.
_PARTNERS = {"ttft_ms": ("total_latency_ms",), "total_latency_ms": ("ttft_ms",),
             "prompt_tokens": ("cached_tokens", "cache_write_tokens"),
             "cached_tokens": ("prompt_tokens",), "cache_write_tokens": ("prompt_tokens",)}


def _one_rule_each() -> list[dict[str, Any]]:
    """Records that break one rule alone, or sit just inside a bound, for both kinds and both 1.x versions."""
    out: list[dict[str, Any]] = []
    for make, fields in ((interaction, c.INTERACTION_FIELDS), (feedback, c.FEEDBACK_FIELDS)):
        base = make()
        for field in fields:
            alone = {p: ... for p in _PARTNERS.get(field.name, ())}
            for version in c.SUPPORTED_VERSIONS:
                if field.name != "schema_version":
                    out.append(make(**{"schema_version": version, field.name: ...}))  # absent
                    out.append(make(**{"schema_version": version, field.name: None}))
            wrong = [*_WRONG_TYPES[field.kind], json.dumps(base.get(field.name))]  # a valid value, as a string
            out.extend(make(**{field.name: value}) for value in wrong)
            out.extend(make(**{field.name: value, **alone}) for value in wrong)
            if field.kind == "string":
                out.extend(make(**{field.name: value}) for value in ("", " ", "x", "élan", "a\"b", "a\\nb",
                                                                     "tab\there", "\u0000", "x" * 2000))
            for bound in (field.minimum, field.maximum):
                if bound is not None:
                    for delta in (-1e-9, 0, 1e-9, -1, 1):
                        out += [make(**{field.name: bound + delta}), make(**{field.name: bound + delta, **alone})]
            if field.map_limits is not None:
                for value in _map_edges(field.map_limits):
                    out += [make(**{field.name: value}), make(**{field.name: value, "schema_version": "1.1"})]
            for allowed in field.allowed or ():
                out.extend((make(**{field.name: allowed}), make(**{field.name: allowed.upper()})))
    out += [interaction(schema_version="1.0", **{f.name: ... for f in c.INTERACTION_FIELDS if f.since != "1.0"}),
            interaction(schema_version="1.0"),  # 1.1 fields in a 1.0 record are not part of it
            interaction(schema_version="1.1"), interaction(schema_version="1.1", tags="x", prompt_version=5),
            interaction(schema_version="1.0", ttft_ms=None), interaction(ttft_ms=None, prompt_tokens=None),
            interaction(schema_version="2.0"), interaction(schema_version=1.1), interaction(record_type="interaction"),
            interaction(record_type="span"), interaction(record_type=None), interaction(record_type=5),
            interaction(ttft_ms=1200.0), interaction(ttft_ms=1200.5), interaction(cached_tokens=90),
            interaction(cached_tokens=91), interaction(cached_tokens=..., cache_write_tokens=101),
            interaction(timestamp=c.MIN_TIMESTAMP_MS - 1), interaction(timestamp=c.MIN_TIMESTAMP_MS),
            interaction(timestamp=NOW_MS + c.MAX_FUTURE_SKEW_MS),
            interaction(timestamp=NOW_MS + c.MAX_FUTURE_SKEW_MS + 1),
            feedback(kind="rating", rating=...), feedback(kind="edited", rating=...), feedback(schema_version="1.0"),
            feedback(kind="liked"), interaction(rating="up", kind="john@example.com"), feedback(model_id=7)]
    return out


def _with_pii() -> list[dict[str, Any]]:
    """Every PII case in every string field (and in a field of the other kind, which is scrubbed too)."""
    out = []
    strings = [f.name for f in c.INTERACTION_FIELDS if f.kind == "string" and f.name != "schema_version"]
    for i, (text, _, _) in enumerate(PII_CASES):
        out.append(interaction(**{strings[i % len(strings)]: text}))
        out.append(interaction(event_id=f"e-{text}"))
        out.append(feedback(target_event_id=text))
        out.append(interaction(kind=text))
        out.append(interaction(tags={"customer": text, "env": "prod"}))  # tag values are free text
    # A key holding PII within the key pattern (a phone number) becomes its keyed hash, like an id.
    out += [interaction(tags={"415-555-0101": "v"}), interaction(tags={"078-05-1120": "v", "a": "jane@example.com"}),
            interaction(tags={"4111.1111.1111.1111": "v"})]
    return out


def corpus_lines(pii: bool = True, spellings: int = 3) -> list[str]:
    """The corpus as landing lines, each record in several spellings, then the lines no record gives.

    `pii=False` leaves out the records made to carry PII (a third of the corpus), and `spellings=1` writes
    each record once (compact), for tests about rules that run the corpus many times."""
    records = _one_rule_each() + (_with_pii() if pii else [])
    lines: list[str] = []
    for record in records:
        compact = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        lines += [compact, json.dumps(record), json.dumps(record, ensure_ascii=True)][:spellings]
    valid = json.dumps(interaction())
    lines += [
        "", "   ", "\t", "null", "true", "5", '"a string"', "[1, 2, 3]", "[]", "{}", "{", valid[:-1], valid + "x",
        valid.replace('"prompt_tokens"', '"prompt\\u005ftokens"'),  # an escaped key is the same key
        valid.replace('"user_id": "u1"', '"user_id": "u\\u0031"'),  # an escaped value is the same value
        valid.replace('"user_id": "u1"', '"user_id": "u1", "user_id": 5'),  # duplicate keys
        valid.replace('"user_id": "u1"', '"user_id": 5, "user_id": "u1"'),
        valid.replace('"prompt_tokens": 100', '"prompt_tokens": 100, "prompt_tokens": "100"'),
        valid.replace('"user_id": "u1"', '"user_id": "u1", "extra": {"user_id": 5, "a": [1, {"b": null}]}'),
        valid.replace('"tenant": "acme"', '"tenant": "acme", "tenant": "umbrella"'),  # a tag key repeated
        valid.replace('"tenant": "acme"', '"ten\\u0061nt": "\\u0061cme"'),  # escaped tag key and value
        valid.replace('"tenant": "acme"', '"tenant": "jane\\u0040example.com"'),
        valid.replace('"prompt_version": "v1"', '"prompt_version": "v1", "tags": {"a": "b"}'),  # tags twice
        valid.replace('"tags": {', '"tags": { '),
        valid.replace('"tags": {"tenant": "acme", "env": "prod"}', '"tags":{}'),
        valid.replace('"user_id": "u1"', '"user_id"  :   "u1"'), "  " + valid + "  ", valid.replace(", ", ",\t"),
        valid.replace('"prompt_tokens": 100', '"prompt_tokens": 1E2'),
        valid.replace('"prompt_tokens": 100', '"prompt_tokens": 100.000'),
        valid.replace('"prompt_tokens": 100', '"prompt_tokens": -0'),
        valid.replace('"ttft_ms": 300.0', '"ttft_ms": 3e2'), valid.replace('"ttft_ms": 300.0', '"ttft_ms": 1e999'),
        valid.replace('"ttft_ms": 300.0', '"ttft_ms": NaN'), valid.replace('"ttft_ms": 300.0', '"ttft_ms": Infinity'),
        valid.replace('"user_id": "u1"', '"user_id": "jane\\u0040example.com"'),
        valid.replace('"user_id": "u1"', '"user_id": "line\\nbreak +1 415 555 0101"'),
        valid.replace('"model_id": "gpt-4o"', '"model_id": "gpt\\/4o"'),
        '{"schema_version": "1.1", "event_id": "e9", "email": "jane@example.com"}',
        "jane@example.com is not json", '["jane@example.com"]', '"call +1 415 555 0101"',
    ]
    return lines
