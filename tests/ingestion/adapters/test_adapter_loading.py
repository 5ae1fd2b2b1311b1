"""Adapted sources through the loader: counts reconcile with skipped records, quarantine names file, line
and record, gzip and whole-document files, and the files the collector writes."""

from __future__ import annotations

import gzip
import json

import duckdb
import orjson

from ingestion.adapters import reader
from ingestion.collector.payload import parse_otlp_traces
from ingestion.lake import loader as lake
from tests.conftest import NOW_MS, event, write_landing
from tests.ingestion.adapters.test_langfuse_mapping import observation as langfuse_observation
from tests.ingestion.adapters.test_litellm_mapping import payload as litellm_payload
from tests.ingestion.adapters.test_otlp_mapping import CHAT, TRACE, span, traces
from tests.ingestion.adapters.test_posthog_mapping import generation

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


def test_long_lines_load_a_whole_otlp_batch_and_a_big_native_record(layout):
    # DuckDB's CSV reader stops at 2 MB lines by default; an OTLP batch with content is easily longer.
    content = "y" * 2000
    batch = traces(*(span(CHAT | {"gen_ai.input.messages": content}, span_id=f"{i:016x}") for i in range(2000)))
    path = layout.landing_dir("otlp") / DAY / "batch.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(batch) + "\n")
    assert path.stat().st_size > 4 << 20
    write_landing(layout, "big.ndjson", [event(1, feature_id="f" * 3_000_000)], load_date=DAY)
    result = lake.load_partition(layout, DAY, now_ms=NOW_MS)
    assert [(f.source, f.lines, f.accepted) for f in result.files] == [("native", 1, 1), ("otlp", 2000, 2000)]


def test_record_numbers_follow_spans_across_resources_and_scopes_in_both_spellings(tmp_path):
    def resource(service: str, *scopes: list[dict]) -> dict:
        return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "s"}, "spans": spans} for spans in scopes]}

    ids = iter(f"{i:016x}" for i in range(1, 100))
    camel = {"resourceSpans": [resource("svc-a", [span(CHAT, span_id=next(ids)) for _ in range(2)],
                                        [span(CHAT, span_id=next(ids))]),
                               resource("svc-b", [span(CHAT, span_id=next(ids)) for _ in range(3)])]}
    snake = {"resource_spans": [{"resource": r["resource"], "scope_spans": r["scopeSpans"]}
                                for r in traces(span(CHAT, span_id=next(ids)), span(CHAT, span_id=next(ids)),
                                                resource={"service.name": "svc-c"})["resourceSpans"]]}
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (camel, {"resourceSpans": []}, snake)) + "\n")
    con = duckdb.connect()
    got = con.execute(f"select line_no, record_no, is_skipped, line::JSON ->> '$.feature_id', "
                      f"line::JSON ->> '$.event_id' from {reader.adapted_relation(con, path, 'otlp', 'doc')} "
                      "order by line_no, record_no").fetchall()
    assert [(line, record, feature) for line, record, _skipped, feature, _id in got] == [
        (1, 1, "svc-a"), (1, 2, "svc-a"), (1, 3, "svc-a"), (1, 4, "svc-b"), (1, 5, "svc-b"), (1, 6, "svc-b"),
        (3, 1, "svc-c"), (3, 2, "svc-c")]
    assert [event_id for *_rest, event_id in got] == [TRACE + f"{i:016x}" for i in range(1, 9)]
    assert not any(skipped for _l, _r, skipped, _f, _i in got)


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


def test_litellm_payloads_one_per_json_file_and_as_json_lines(layout):
    # LiteLLM's S3/GCS loggers write one payload per object (.json); a custom logger appends JSON lines.
    day = layout.landing_dir("litellm") / DAY
    day.mkdir(parents=True)
    (day / "call-1.json").write_text(json.dumps(litellm_payload(litellm_call_id="c1"), indent=2))
    lines = [litellm_payload(litellm_call_id="c2"), litellm_payload(litellm_call_id="c3", call_type="moderation"),
             litellm_payload(litellm_call_id="c4", prompt_tokens=-1), "{broken"]
    (day / "payloads.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    files = lake.load_partition(layout, DAY, now_ms=NOW_MS).files
    got = sorted((f.lines, f.accepted, f.quarantined, f.skipped, f.reconciles) for f in files)
    assert got == [(1, 1, 0, 0, True), (4, 1, 2, 1, True)]
    assert rows(f"select line_number, rule from read_parquet('{layout.quarantine}/**/*.parquet') "
                "order by line_number") == [(3, "range:prompt_tokens"), (4, "malformed_json")]


def test_a_langfuse_observations_export_loads_and_counts_skipped_observations(layout):
    lines = [langfuse_observation(id="g1"), langfuse_observation(id="s1", type="SPAN"),
             langfuse_observation(id="g2", usage_details={"input": -5}), {"no": "type"}]
    path = layout.landing_dir("langfuse") / DAY / "observations_v2.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(x) for x in lines) + b"\n"))
    (f,) = lake.load_partition(layout, DAY, now_ms=NOW_MS).files
    assert (f.source, f.lines, f.accepted, f.quarantined, f.skipped, f.reconciles) == ("langfuse", 4, 1, 2, 1, True)
    assert rows(f"select line_number, rule from read_parquet('{layout.quarantine}/**/*.parquet') "
                "order by line_number") == [(3, "range:prompt_tokens"), (4, "not_an_object")]
