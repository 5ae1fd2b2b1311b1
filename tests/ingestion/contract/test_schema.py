"""The contract: the Python reference validator, and its SQL compilation agreeing with it line by line."""

from __future__ import annotations

import json

import duckdb
import pytest

from ingestion.contract import schema as c
from ingestion.contract.pii import luhn_valid, scrub, set_key
from ingestion.contract.staging_sql import staged_select
from tests.conftest import TEST_PII_KEY
from tests.paths import REPO

NOW_MS = 1_790_000_000_000  # 2026-09-21


def good(**overrides):
    event = {
        "schema_version": "1.0", "event_id": "e1", "session_id": "s1", "user_id": "u1", "timestamp": NOW_MS - 1000,
        "feature_id": "chat", "model_id": "gpt-4o", "model_version": "2024-08-06", "routing_strategy": "primary",
        "ttft_ms": 300.0, "total_latency_ms": 1200.0, "stream_chunks_received": 10, "prompt_tokens": 100,
        "completion_tokens": 50, "cached_tokens": 20, "estimated_cost_usd": 0.001, "user_regenerated": False,
        "user_edited_output": False, "explicit_rating": None, "implicit_quality_score": 1.0,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


CASES = [
    (good(), []),
    (good(schema_version="1.1", provider="openai", sample_rate=0.5), []),
    (good(schema_version="2.0"), [c.RULE_UNSUPPORTED_VERSION]),
    (good(schema_version=...), [c.rule_required("schema_version")]),
    (good(event_id=...), [c.rule_required("event_id")]),
    (good(event_id=""), [c.rule_required("event_id")]),
    (good(timestamp="yesterday"), [c.rule_type("timestamp")]),
    (good(timestamp=1_000), [c.RULE_TIMESTAMP_PLAUSIBLE]),
    (good(timestamp=NOW_MS + 2 * c.MAX_FUTURE_SKEW_MS), [c.RULE_TIMESTAMP_PLAUSIBLE]),
    (good(prompt_tokens=12.5), [c.rule_type("prompt_tokens")]),
    (good(prompt_tokens=120.0), []),  # an integer written as a float is still an integer
    (good(completion_tokens=-1), [c.rule_range("completion_tokens")]),
    (good(implicit_quality_score=1.01), [c.rule_range("implicit_quality_score")]),
    (good(routing_strategy="round_robin"), [c.rule_allowed("routing_strategy")]),
    (good(explicit_rating="meh"), [c.rule_allowed("explicit_rating")]),
    (good(ttft_ms=5000.0), ["ttft_le_latency"]),
    (good(cached_tokens=101), ["cached_le_prompt"]),
    # Cache reads and cache writes are both inside prompt_tokens.
    (good(schema_version="1.1", cached_tokens=60, cache_write_tokens=40), []),
    (good(schema_version="1.1", cached_tokens=60, cache_write_tokens=41), ["cached_le_prompt"]),
    (good(schema_version="1.1", cached_tokens=..., cache_write_tokens=101), ["cached_le_prompt"]),
    (good(user_regenerated="yes"), [c.rule_type("user_regenerated")]),
    # 1.0 requires measured values; 1.1 allows null when the source cannot measure them.
    (good(ttft_ms=None), [c.rule_required("ttft_ms")]),
    (good(schema_version="1.1", ttft_ms=None, prompt_tokens=None, completion_tokens=None,
          estimated_cost_usd=None, implicit_quality_score=None), []),
    (good(schema_version="1.1", sample_rate=0), [c.rule_range("sample_rate")]),
    # A 1.1-only field in a 1.0 record is not part of it: ignored, not judged.
    (good(sample_rate=0), []),
    (good(record_type="span"), [c.RULE_UNKNOWN_RECORD_TYPE]),
    ({"record_type": "feedback", "schema_version": "1.1", "feedback_id": "f1", "target_event_id": "e1",
      "timestamp": NOW_MS, "kind": "rating", "rating": "up"}, []),
    ({"record_type": "feedback", "schema_version": "1.1", "feedback_id": "f1", "target_event_id": "e1",
      "timestamp": NOW_MS, "kind": "rating"}, [c.RULE_RATING_REQUIRED]),
    ({"record_type": "feedback", "schema_version": "1.0", "feedback_id": "f1", "target_event_id": "e1",
      "timestamp": NOW_MS, "kind": "edited"}, [c.RULE_UNSUPPORTED_VERSION]),
    ({"record_type": "feedback", "schema_version": "1.1", "feedback_id": "f1", "timestamp": NOW_MS,
      "kind": "liked"}, [c.rule_required("target_event_id"), c.rule_allowed("kind")]),
    ([1, 2], [c.RULE_NOT_AN_OBJECT]),
    # 1.2: tags and prompt_version.
    (good(schema_version="1.2", tags={"tenant": "acme", "team.name": "search-2"}, prompt_version="v7"), []),
    (good(schema_version="1.2", tags={}), []),
    (good(schema_version="1.2", tags={f"k{i}": "v" for i in range(32)}), []),
    (good(schema_version="1.2", tags={f"k{i}": "v" for i in range(33)}), [c.rule_max_keys("tags")]),
    (good(schema_version="1.2", tags={"Tenant": "acme"}), [c.rule_key_format("tags")]),
    (good(schema_version="1.2", tags={"k" * 65: "v"}), [c.rule_key_format("tags")]),
    (good(schema_version="1.2", tags={"": "v"}), [c.rule_key_format("tags")]),
    (good(schema_version="1.2", tags={"a": "x" * 256}), []),
    (good(schema_version="1.2", tags={"a": "x" * 257}), [c.rule_value_length("tags")]),
    (good(schema_version="1.2", tags={"a": 5}), [c.rule_type("tags")]),
    (good(schema_version="1.2", tags=["a"]), [c.rule_type("tags")]),
    (good(schema_version="1.2", prompt_version=3), [c.rule_type("prompt_version")]),
    (good(schema_version="1.2", tags={"A": "x" * 300, **{f"k{i}": "v" for i in range(32)}}),
     [c.rule_max_keys("tags"), c.rule_key_format("tags"), c.rule_value_length("tags")]),
    # 1.2 fields in a 1.1 record are not part of it: ignored, not judged.
    (good(schema_version="1.1", tags="not an object", prompt_version=3), []),
    ({"record_type": "feedback", "schema_version": "1.2", "feedback_id": "f1", "target_event_id": "e1",
      "timestamp": NOW_MS, "kind": "edited"}, []),
]


@pytest.mark.parametrize(("record", "expected"), CASES)
def test_python_validator(record, expected):
    assert c.validate_record(record, NOW_MS) == expected


def _sql_rules(lines: list[str]) -> list[list[str]]:
    con = duckdb.connect()
    set_key(con, TEST_PII_KEY)
    con.execute("create table lines (file_idx integer, line_no bigint, line varchar)")
    con.executemany("insert into lines values (0, ?, ?)", list(enumerate(lines, start=1)))
    rows = con.execute(f"select line_no, rules from ({staged_select('lines', NOW_MS)}) order by line_no").fetchall()
    return [r[1] for r in rows]


def test_sql_compilation_agrees_with_python_on_every_case():
    lines = [json.dumps(record) for record, _ in CASES]
    assert _sql_rules(lines) == [c.validate_record(record, NOW_MS) for record, _ in CASES]


def test_sql_flags_malformed_json_and_keeps_blank_lines_out_of_rules():
    assert _sql_rules(['{"event_id": "x"', "   ", "null", '"a string"']) == [
        [c.RULE_MALFORMED_JSON], [], [c.RULE_NOT_AN_OBJECT], [c.RULE_NOT_AN_OBJECT]]


def test_scrubber_removes_pii_and_keeps_ids():
    text = "mail bob.smith@example.co.uk call +1 415-555-0100 ssn 123-45-6789 card 4111 1111 1111 1111 id 1234567890123"
    out = scrub(text)
    for pii in ("bob.smith@example.co.uk", "415-555-0100", "123-45-6789", "4111 1111 1111 1111"):
        assert pii not in out
    assert "1234567890123" in out  # fails Luhn: an id, not a card
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_contract_doc_is_generated_from_the_contract():

    doc = (REPO / "docs" / "contract.md").read_text()
    assert c.contract_markdown() in doc, (
        "docs/contract.md is stale: regenerate it with `python -m ingestion.contract.schema`")
