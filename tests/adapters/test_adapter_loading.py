"""Adapted sources through the loader: counts reconcile with skipped records, quarantine names file, line
and record, gzip and whole-document files, and the files the collector writes."""

from __future__ import annotations

import gzip
import json
import random
import re

import duckdb
import orjson

from ingestion import lake, pii
from ingestion.adapters import reader
from ingestion.adapters.reader import adapt_file
from ingestion.collector.payload import parse_otlp_traces
from tests.adapters.test_otlp_mapping import CHAT, TRACE, span, traces
from tests.adapters.test_posthog_mapping import generation
from tests.conftest import NOW_MS, event, write_landing

DAY = "2026-11-20"


def rows(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def test_otlp_lines_reconcile_and_quarantine_names_file_line_and_record(layout):
    tool = span({"gen_ai.operation.name": "execute_tool"}, span_id="1" * 16)
    bad = span(CHAT | {"gen_ai.usage.cache_read.input_tokens": 5000}, span_id="2" * 16)  # cached > prompt
    lines = [
        traces(span(CHAT, span_id="a" * 16), tool, bad),        # line 1: record 1 ok, 2 skipped, 3 quarantined
        "",                                                     # line 2: blank
        "not json at all",                                      # line 3: malformed
        {"hello": "world"},                                     # line 4: JSON, not TracesData
        traces(span(CHAT, span_id="a" * 16)),                   # line 5: exact retry of line 1 record 1
    ]
    path = layout.landing_dir("otlp") / DAY / "spans.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    result = lake.load_partition(layout, DAY, now_ms=NOW_MS)
    (f,) = result.files
    assert (f.lines, f.blank_lines, f.accepted, f.quarantined, f.duplicates, f.skipped) == (6, 1, 1, 3, 1, 1)
    assert f.reconciles
    got = rows(f"select source_file, line_number, record_number, rule from read_parquet("
               f"'{layout.quarantine}/**/*.parquet') order by line_number, record_number")
    assert got == [("otlp/2026-11-20/spans.jsonl", 1, 3, "cached_le_prompt"),
                   ("otlp/2026-11-20/spans.jsonl", 3, 1, "malformed_json"),
                   ("otlp/2026-11-20/spans.jsonl", 4, 1, "not_an_object")]
    assert rows(f"select event_id, source, line_number, record_number, schema_version from read_parquet("
                f"'{layout.raw_interactions}/**/*.parquet')") == [(TRACE + "a" * 16, "otlp", 1, 1, "1.1")]
    manifest = rows(f"select lines, skipped from read_parquet('{layout.manifest}/*.parquet')")
    assert manifest == [(6, 1)]


def test_posthog_export_counts_skipped_events_and_reads_gzip(layout):
    events = [generation(), {"uuid": "pv", "event": "$pageview", "properties": {}, "timestamp": "2026-11-21T10:00:00Z"},
              generation() | {"uuid": "other"}, [1, 2]]
    path = layout.landing_dir("posthog") / DAY / "export.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(e) for e in events) + b"\n"))
    (f,) = lake.load_partition(layout, DAY, now_ms=NOW_MS).files
    assert (f.lines, f.accepted, f.quarantined, f.duplicates, f.skipped) == (4, 2, 1, 0, 1) and f.reconciles


def test_a_saved_otlp_http_request_body_and_a_posthog_json_array(layout):
    body = json.dumps(traces(span(CHAT, span_id="b" * 16), span(CHAT, span_id="c" * 16)), indent=2)
    (layout.landing_dir("otlp") / DAY).mkdir(parents=True)
    (layout.landing_dir("otlp") / DAY / "request.json").write_text(body)
    (layout.landing_dir("posthog") / DAY).mkdir(parents=True)
    (layout.landing_dir("posthog") / DAY / "export.json").write_text(json.dumps([generation()]))
    result = lake.load_partition(layout, DAY, now_ms=NOW_MS)
    assert [(f.source, f.accepted) for f in result.files] == [("otlp", 2), ("posthog", 1)]


def test_reads_what_the_collector_writes_for_v1_traces(layout):
    # The collector stores each /v1/traces body with parse_otlp_traces, one request per line.
    data = b"".join(parse_otlp_traces(orjson.dumps(traces(span(CHAT, span_id=f"{i:016x}"))), "application/json")[0]
                    for i in range(3))
    path = layout.landing_dir("otlp") / DAY / "collector-20261120T000000Z-abcd-000001.ndjson"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert lake.pending_load_dates(layout) == [DAY]  # every source is loaded by default
    (f,) = lake.load_partition(layout, DAY, now_ms=NOW_MS).files
    assert (f.lines, f.accepted) == (3, 3)


def test_reader_batches_keep_line_and_record_numbers(tmp_path, monkeypatch):
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(traces(*(span(CHAT, span_id=f"{i}{j:015x}") for j in range(3))))
                              for i in range(4)) + "\n")
    monkeypatch.setattr(reader, "CHUNK_BYTES", 1)  # one line per chunk
    adapted = adapt_file(path, "otlp", batch_records=5)
    batches = list(adapted)
    assert [b.num_rows for b in batches] == [6, 6]  # a batch closes after the chunk that fills it
    pairs = [(r["line_no"], r["record_no"]) for b in batches for r in b.to_pylist()]
    assert pairs == [(i, j) for i in range(1, 5) for j in range(1, 4)]
    assert (adapted.counts.records, adapted.counts.skipped, adapted.counts.source_lines) == (12, 0, 4)


def test_big_files_are_mapped_by_worker_processes_with_the_same_result(tmp_path, monkeypatch):
    path = tmp_path / "x.jsonl"
    tool = span({"gen_ai.operation.name": "execute_tool"}, span_id="f" * 16)
    path.write_text("\n".join([*(json.dumps(traces(span(CHAT, span_id=f"{i:016x}"), tool)) for i in range(50)),
                               "", "not json"]) + "\n")
    monkeypatch.setattr(reader, "CHUNK_BYTES", 2000)
    serial = adapt_file(path, "otlp")
    serial_rows = [r for b in serial for r in b.to_pylist()]
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv("AIW_ADAPTER_WORKERS", "2")
    parallel = adapt_file(path, "otlp")
    assert [r for b in parallel for r in b.to_pylist()] == serial_rows
    assert parallel.counts == serial.counts
    assert (serial.counts.records, serial.counts.skipped, serial.counts.blank_lines) == (101, 50, 1)
    assert serial_rows[-1]["line_no"] == 52 and len(serial_rows) == 51


def test_the_scrubbers_fast_path_never_changes_a_result():
    # pii.scrub skips strings that cannot hold PII; check that skip against the full patterns.
    rng = random.Random(7)
    alphabet = "0123456789 -.()+@abcxyz_"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(20000)]
    samples += ["(555) 123-4567", "+1 555.123.4567", "123-45-6789", "4111111111111111", "4111-1111-1111-1111",
                "a@b.io", "gpt-4o-mini-2024-07-18", "4bf92f3577b34da6a3ce929d0e0e4736"]

    def full(text: str) -> str:
        text = re.sub(pii.EMAIL, "[email]", text)
        text = re.sub(pii.SSN, "[ssn]", text)
        text = re.sub(pii.CARD_CANDIDATE, pii._card_sub, text)
        return re.sub(pii.PHONE, "[phone]", text)

    assert [s for s in samples if pii.scrub(s) != full(s)] == []


def test_records_keep_their_schema_version_and_the_1_0_to_1_1_upgrade_path(layout):
    lines = [
        event(1, schema_version="1.0"),                              # 1: a 1.0 record as written
        event(2, schema_version="1.0", provider="openai", is_error=True),  # 2: 1.1 fields on 1.0: ignored
        event(3, schema_version="1.0", ttft_ms=None),                # 3: null TTFT is not allowed in 1.0
        event(4, schema_version="1.1", ttft_ms=None, prompt_tokens=None, estimated_cost_usd=None,
              implicit_quality_score=None),                          # 4: ... but it is in 1.1
        event(5, schema_version="2.0"),                              # 5: unknown version
    ]
    write_landing(layout, "v.ndjson", lines, load_date=DAY)
    custom = {"uuid": "c", "event": "ai_interaction", "properties": event(6, schema_version="1.0"),
              "timestamp": "2026-11-21T11:00:00Z"}
    path = layout.landing_dir("posthog") / DAY / "custom.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(custom) + "\n")
    lake.load_partition(layout, DAY, now_ms=NOW_MS)
    got = rows(f"select event_id, schema_version, provider, is_error, ttft_ms from read_parquet("
               f"'{layout.raw_interactions}/**/*.parquet') order by event_id")
    assert got == [("e1", "1.0", None, False, 201.0), ("e2", "1.0", None, False, 202.0),
                   ("e4", "1.1", None, False, None), ("e6", "1.0", None, False, 206.0)]
    assert rows(f"select line_number, rule from read_parquet('{layout.quarantine}/**/*.parquet') "
                "order by line_number") == [(3, "required:ttft_ms"), (5, "unsupported_schema_version")]
