"""Contract 1.2 in the lake: tags and prompt_version load, and 1.0/1.1 records load exactly as before."""

from __future__ import annotations

import duckdb

from ingestion.contract import schema as c
from ingestion.lake import loader as lake
from tests.conftest import NOW_MS, event, write_landing

# The interaction columns of contract 1.1, in the order the loader hashed them before 1.2 existed.
COLUMNS_1_1 = ["schema_version", "event_id", "session_id", "user_id", "timestamp", "feature_id", "model_id",
               "model_version", "routing_strategy", "ttft_ms", "total_latency_ms", "stream_chunks_received",
               "prompt_tokens", "completion_tokens", "cached_tokens", "estimated_cost_usd", "user_regenerated",
               "user_edited_output", "explicit_rating", "implicit_quality_score", "provider", "prompt_hash",
               "response_hash", "trace_id", "cache_write_tokens", "reasoning_tokens", "is_error", "sample_rate"]


def _raw(layout, sql: str) -> list[tuple]:
    return duckdb.sql(sql.replace("RAW", f"read_parquet('{layout.raw_interactions}/**/*.parquet', "
                                         "hive_partitioning = true, union_by_name = true)")).fetchall()


def test_1_0_and_1_1_records_hash_as_before_1_2_so_a_resent_line_is_still_a_duplicate(layout):
    old = [event(1, schema_version="1.0"), event(2, provider="openai", sample_rate=0.5),
           event(3, tags={"tenant": "ignored"}, prompt_version="ignored")]  # 1.2 fields in a 1.1 record
    write_landing(layout, "a.ndjson", old)
    first = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (first.total("accepted"), first.quarantined) == (3, 0)
    hashed_as_1_1 = ", ".join(f"coalesce(cast({col} as varchar), '\\N')" for col in COLUMNS_1_1)
    rows = _raw(layout, f"select event_id, content_hash = md5(concat_ws(chr(31), {hashed_as_1_1})), tags, "
                        "prompt_version from RAW order by event_id")
    assert rows == [("e1", True, None, None), ("e2", True, None, None), ("e3", True, None, None)]

    write_landing(layout, "again.ndjson", old)  # the same lines landed again after the upgrade
    again = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (again.total("accepted"), again.duplicates, again.quarantined) == (0, 3, 0)


def test_tags_load_sorted_and_scrubbed_and_key_order_does_not_make_a_conflict(layout):
    tagged = event(10, schema_version="1.2", tags={"tenant": "acme", "customer": "jane@example.com"},
                   prompt_version="summarise-v3")
    write_landing(layout, "a.ndjson", [tagged, event(11, schema_version="1.2", tags={"Team": "x"}),
                                       event(12, schema_version="1.2", tags={f"k{i}": "v" for i in range(33)})])
    first = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (first.total("accepted"), first.quarantined) == (1, 2)
    assert dict(first.rule_counts) == {c.rule_key_format("tags"): 1, c.rule_max_keys("tags"): 1}
    assert _raw(layout, "select event_id, map_keys(tags), tags['customer'], tags['tenant'], prompt_version "
                        "from RAW") == [("e10", ["customer", "tenant"], "[email]", "acme", "summarise-v3")]

    reordered = dict(tagged, tags={"customer": "jane@example.com", "tenant": "acme"})
    changed = dict(tagged, tags={"tenant": "umbrella", "customer": "jane@example.com"})
    write_landing(layout, "b.ndjson", [reordered])
    write_landing(layout, "c.ndjson", [changed])
    second = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (second.duplicates, second.quarantined) == (1, 1)
    assert dict(second.rule_counts) == {c.RULE_DUPLICATE_CONFLICT: 1}
