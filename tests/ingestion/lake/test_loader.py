"""The lake writer: quarantine with file, line and rule; exactly-once loads; duplicates; crash recovery."""

from __future__ import annotations

import json

import duckdb

from ingestion.contract import schema as c
from ingestion.lake import loader as lake
from ingestion.lake.landing import MAX_LINE_BYTES
from tests.conftest import NOW_MS, event, write_landing


def rows(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def test_each_broken_rule_is_quarantined_with_file_line_and_rule(layout):
    lines = [
        event(1),                                   # line 1: valid
        '{"event_id": "broken"',                    # line 2: malformed JSON
        event(3, session_id=None) | {"session_id": None},  # line 3: required
        event(4, prompt_tokens="many"),             # line 4: type
        event(5, schema_version="9.9"),             # line 5: version
        event(6, ttft_ms=5000.0),                   # line 6: ttft > latency
        event(7, cached_tokens=1000),               # line 7: cached > prompt
        event(8, timestamp=NOW_MS + 10 * 86_400_000),  # line 8: future
        event(9, implicit_quality_score=2),         # line 9: range
        "",                                         # line 10: blank, ignored
        event(1),                                   # line 11: exact retry of line 1
        event(1, total_latency_ms=1.0e4),           # line 12: conflicting duplicate
        "[1]",                                      # line 13: not an object
    ]
    write_landing(layout, "a.ndjson", lines)
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    (f,) = result.files
    assert (f.lines, f.blank_lines, f.accepted, f.quarantined, f.duplicates) == (12, 1, 1, 10, 1)
    assert f.reconciles
    got = rows(f"select line_number, rule, source_file from read_parquet('{layout.quarantine}/**/*.parquet') "
               "order by line_number")
    assert [(n, r) for n, r, _ in got] == [
        (2, c.RULE_MALFORMED_JSON), (3, c.rule_required("session_id")), (4, c.rule_type("prompt_tokens")),
        (5, c.RULE_UNSUPPORTED_VERSION), (6, "ttft_le_latency"), (7, "cached_le_prompt"),
        (8, c.RULE_TIMESTAMP_PLAUSIBLE), (9, c.rule_range("implicit_quality_score")),
        (12, c.RULE_DUPLICATE_CONFLICT), (13, c.RULE_NOT_AN_OBJECT)]
    assert {src for _, _, src in got} == {"native/2026-11-20/a.ndjson"}
    assert rows(f"select event_id from read_parquet('{layout.raw_interactions}/**/*.parquet')") == [("e1",)]


def test_rerun_loads_nothing_and_a_later_file_is_loaded_alone(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(5)])
    first = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert first.accepted == 5
    again = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert again.files == [] and again.load_id is None
    write_landing(layout, "b.ndjson", [event(i) for i in range(5, 8)])
    later = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS + 1000)
    assert [f.relative_path for f in later.files] == ["native/2026-11-20/b.ndjson"]
    assert rows(f"select count(*) from read_parquet('{layout.raw_interactions}/**/*.parquet')") == [(8,)]
    assert rows(f"select count(*) from read_parquet('{layout.manifest}/*.parquet')") == [(2,)]


def test_retry_in_a_later_load_is_a_duplicate_and_changed_content_a_conflict(layout):
    write_landing(layout, "a.ndjson", [event(1), event(2)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    write_landing(layout, "b.ndjson", [event(1), event(2, completion_tokens=41)], load_date="2026-11-21")
    second = lake.load_partition(layout, "2026-11-21", now_ms=NOW_MS + 1000)
    assert (second.accepted, second.duplicates, second.quarantined) == (0, 1, 1)
    assert second.rule_counts == {c.RULE_DUPLICATE_CONFLICT: 1}


def test_an_interrupted_load_leaves_nothing_behind_after_the_rerun(layout, monkeypatch):
    write_landing(layout, "a.ndjson", [event(i) for i in range(4)])

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("power cut before the manifest was written")

    monkeypatch.setattr(lake, "_commit_manifest", crash)
    try:
        lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    except KeyboardInterrupt:
        pass
    assert list(layout.raw_interactions.rglob("*.parquet")), "the crash left data files without a manifest"
    monkeypatch.undo()
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS + 1000)
    assert result.accepted == 4
    assert rows(f"select count(*), count(distinct event_id) from "
                f"read_parquet('{layout.raw_interactions}/**/*.parquet')") == [(4, 4)]


def test_pii_never_reaches_the_lake(layout):
    write_landing(layout, "a.ndjson", [
        event(1, user_id="jane.doe@example.com", session_id="call 415-555-0100"),
        '{"event_id": "x", "note": "ssn 123-45-6789 and bob@example.org"',  # malformed: kept as raw_line
    ])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    blob = b"".join(p.read_bytes() for p in layout.lake.rglob("*.parquet"))
    text = duckdb.sql(f"select string_agg(columns(*)::varchar, '|') from read_parquet('{layout.lake}/**/*.parquet', "
                      "union_by_name = true)").fetchall()
    for pii in ("jane.doe@example.com", "415-555-0100", "123-45-6789", "bob@example.org"):
        assert pii.encode() not in blob
        assert pii not in str(text)


def test_a_json_array_file_is_read_record_by_record(layout):
    path = layout.landing_dir("native") / "2026-11-20" / "batch.json"
    path.parent.mkdir(parents=True)
    import json

    path.write_text(json.dumps([event(1), event(2), {"event_id": "only"}]))
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (result.accepted, result.quarantined) == (2, 1)
    assert result.examples[0] == {"file": "native/2026-11-20/batch.json", "line": 3, "record": 1,
                                  "rule": c.rule_required("schema_version")}


def test_a_line_over_the_limit_is_quarantined_with_its_line_and_the_rest_loads(layout):
    write_landing(layout, "a.ndjson", [event(1)], load_date="2026-11-20")
    huge = layout.landing_dir("native") / "2026-11-20" / "b.ndjson"
    huge.write_text(json.dumps(event(2)) + "\n" + json.dumps(event(3, feature_id="x" * MAX_LINE_BYTES)) + "\n"
                    + json.dumps(event(4)) + "\n")
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (result.accepted, result.quarantined, result.rejected) == (3, 1, [])
    assert result.examples == [{"file": "native/2026-11-20/b.ndjson", "line": 2, "record": 1, "rule": "line_too_long"}]
    assert all(f.reconciles for f in result.files)


def test_lines_keep_their_numbers_and_content_whatever_bytes_they_hold(layout):
    """Native JSON-lines files are staged from a numbered copy (read on every core); the numbers are the file's
    own lines, and no byte of a line is taken for the reader's separators."""
    path = layout.landing_dir("native") / "2026-11-20" / "a.ndjson"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(event(1)),
        "",
        json.dumps(event(2, model_id="a\\x1fb")),  # the four characters \x1f in a string: a valid line
        json.dumps(event(3))[:-1] + "\x1f}",  # a raw separator byte: malformed, and not cut into a valid line
        json.dumps(event(4)) + "\x1fjunk",
        json.dumps(event(5)) + "\r",  # a CRLF line ending
        json.dumps(event(6)),
    ]
    path.write_bytes("\n".join(lines).encode() + b"\n")
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (result.accepted, result.quarantined) == (4, 2)
    assert [(ex["line"], ex["rule"]) for ex in result.examples] == [(4, c.RULE_MALFORMED_JSON),
                                                                   (5, c.RULE_MALFORMED_JSON)]
    accepted = rows(f"select line_number, event_id, model_id "
                    f"from read_parquet('{layout.raw_interactions}/**/*.parquet') order by line_number")
    assert accepted == [(1, "e1", "gpt-4o"), (3, "e2", "a\\x1fb"), (6, "e5", "gpt-4o"), (7, "e6", "gpt-4o")]
    assert all(f.reconciles for f in result.files) and result.files[0].blank_lines == 1


def test_a_separator_byte_in_a_line_that_spans_two_read_chunks_still_breaks_the_line(layout):
    """The numbered copy replaces a line's own separator bytes even when the line starts in one 4 MB read and
    ends in the next (the copy is written a chunk at a time)."""
    path = layout.landing_dir("native") / "2026-11-20" / "a.ndjson"
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = 1 << 22  # landing.copy_segment reads 4 MB at a time
    filler, size, i = [], 0, 0
    while size < chunk - 3000:
        line = json.dumps(event(i)).encode() + b"\n"
        filler.append(line)
        size += len(line)
        i += 1
    # Valid JSON, then the separator byte before the chunk boundary, then the rest of the line after it.
    broken = json.dumps(event(i)).encode() + b"\x1f" + b"x" * (chunk - size + 1000) + b"\n"
    path.write_bytes(b"".join(filler) + broken)
    result = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert (result.accepted, result.quarantined) == (len(filler), 1)
    assert result.examples == [{"file": "native/2026-11-20/a.ndjson", "line": len(filler) + 1, "record": 1,
                                "rule": c.RULE_MALFORMED_JSON}]
