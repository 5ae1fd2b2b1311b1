"""Landing files as producers really write them: growing, rewritten, unreadable, oddly named, oddly dated.

Each test plants one case on a temporary AIW_HOME, loads it with the real loader and checks, row by row,
that what reached the lake plus what was quarantined or rejected adds up to what was landed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os

import pytest

from ingestion.contract import schema as c
from ingestion.lake import landing
from ingestion.lake import loader as lake
from tests.conftest import NOW_MS, event, write_landing
from tests.reliability.conftest import lake_rows, manifest_rows

DATE = "2026-11-20"


def _lines(events: list[dict]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


# ---- case 2: growing files -------------------------------------------------------------------------------

def test_an_appending_exporter_loses_nothing_and_doubles_nothing(layout):
    path = write_landing(layout, "exporter.ndjson", [event(i) for i in range(500)])
    first = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    assert first.accepted == 500
    with path.open("a") as fh:
        fh.write(_lines([event(i) for i in range(500, 1000)]))
    second = lake.load_partition(layout, DATE, now_ms=NOW_MS + 1000)
    assert (second.accepted, second.duplicates, second.quarantined) == (500, 0, 0)
    assert lake_rows(layout, layout.raw_interactions, "count(*), count(distinct event_id)") == (1000, 1000)
    # The tail keeps the file's own line numbers.
    assert lake_rows(layout, layout.raw_interactions,
                     "min(line_number) filter (where event_id = 'e500'), max(line_number)") == (501, 1000)
    third = lake.load_partition(layout, DATE, now_ms=NOW_MS + 2000)
    assert third.files == [] and third.rejected == []
    rows = manifest_rows(layout)
    assert [(r["start_offset"], r["size_bytes"]) for r in rows] == [(0, rows[1]["start_offset"]),
                                                                     (rows[1]["start_offset"], path.stat().st_size)]


def test_a_line_still_being_written_waits_for_its_newline(layout):
    path = write_landing(layout, "exporter.ndjson", [event(i) for i in range(3)])
    half = json.dumps(event(3))
    with path.open("a") as fh:
        fh.write(half[:20])
    first = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    assert (first.accepted, first.quarantined) == (3, 0)
    with path.open("a") as fh:
        fh.write(half[20:] + "\n" + json.dumps(event(4)) + "\n")
    second = lake.load_partition(layout, DATE, now_ms=NOW_MS + 1000)
    assert (second.accepted, second.quarantined, second.duplicates) == (2, 0, 0)
    assert lake_rows(layout, layout.raw_interactions, "count(distinct event_id), max(line_number)") == (5, 5)


def test_a_file_rewritten_with_other_content_of_the_same_size_is_rejected_by_hash(layout):
    path = write_landing(layout, "a.ndjson", [event(i) for i in range(1, 4)])
    lake.load_partition(layout, DATE, now_ms=NOW_MS)
    before = path.stat()
    write_landing(layout, "a.ndjson", [event(i) for i in range(5, 8)])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns - 5_000_000_000))
    assert path.stat().st_size == before.st_size
    result = lake.load_partition(layout, DATE, now_ms=NOW_MS + 1000)
    (rejected,) = result.rejected
    assert rejected.relative_path == "native/2026-11-20/a.ndjson"
    assert "changed" in rejected.reason and landing.fingerprint(path)[1][:12] in rejected.reason
    assert any(r["status"] == "rejected" and "changed" in r["reason"] for r in manifest_rows(layout))
    assert lake_rows(layout, layout.raw_interactions) == (3,)
    # Reported once, then known: a rejected file is not retried until it changes again.
    assert lake.load_partition(layout, DATE, now_ms=NOW_MS + 2000).rejected == []


def test_a_file_written_just_now_is_left_until_it_is_quiet(layout, monkeypatch):
    monkeypatch.setenv("AIW_LANDING_QUIET_SECONDS", "3600")
    path = write_landing(layout, "a.ndjson", [event(i) for i in range(3)])
    early = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    assert early.files == [] and early.settling == ["native/2026-11-20/a.ndjson"]
    an_hour_ago = dt.datetime.now(dt.UTC).timestamp() - 3700
    os.utime(path, (an_hour_ago, an_hour_ago))
    assert lake.load_partition(layout, DATE, now_ms=NOW_MS).accepted == 3


# ---- case 3: unreadable files and lines ------------------------------------------------------------------

def test_bad_files_are_rejected_bad_lines_quarantined_and_the_rest_loads(layout, monkeypatch):
    monkeypatch.setattr(landing, "MAX_LINE_BYTES", 64 * 1024)
    d = layout.landing_dir("native") / DATE
    write_landing(layout, "good.ndjson", [event(i) for i in range(3)])
    (d / "corrupt.ndjson.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(200))
    whole = gzip.compress(_lines([event(i) for i in range(100, 200)]).encode())
    (d / "truncated.ndjson.gz").write_bytes(whole[: len(whole) // 2])
    (d / "utf8.ndjson").write_bytes(_lines([event(10)]).encode() + b'{"event_id": "\xff\xfe"}\n'
                                    + _lines([event(11)]).encode())
    (d / "long.ndjson").write_text(_lines([event(20), event(21, feature_id="x" * 100_000), event(22)]))
    result = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    by_file = {f.relative_path.rsplit("/", 1)[1]: f for f in result.files}
    assert sorted(by_file) == ["good.ndjson", "long.ndjson", "utf8.ndjson"]
    assert all(f.reconciles for f in result.files)
    assert (by_file["utf8.ndjson"].accepted, by_file["utf8.ndjson"].quarantined) == (2, 1)
    assert (by_file["long.ndjson"].accepted, by_file["long.ndjson"].quarantined) == (2, 1)
    assert sorted(f.relative_path.rsplit("/", 1)[1] for f in result.rejected) == ["corrupt.ndjson.gz",
                                                                                  "truncated.ndjson.gz"]
    assert all("gzip" in f.reason.lower() or "compressed" in f.reason.lower() for f in result.rejected)
    assert {(r["relative_path"].rsplit("/", 1)[1], r["status"]) for r in manifest_rows(layout)} == {
        ("good.ndjson", "loaded"), ("utf8.ndjson", "loaded"), ("long.ndjson", "loaded"),
        ("corrupt.ndjson.gz", "rejected"), ("truncated.ndjson.gz", "rejected")}
    assert lake_rows(layout, layout.raw_interactions) == (7,)
    q = lake_rows(layout, layout.quarantine, "list(source_file || ':' || line_number || ' ' || rule "
                                             "order by source_file)")[0]
    assert q == ["native/2026-11-20/long.ndjson:2 line_too_long", "native/2026-11-20/utf8.ndjson:2 invalid_utf8"]
    problems = result.problems()
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert any("truncated.ndjson.gz" in p and "rejected" in p for p in problems)
    # The rejected files are not retried in a loop; replaced by a good file they load.
    assert lake.load_partition(layout, DATE, now_ms=NOW_MS + 1000).rejected == []
    (d / "corrupt.ndjson.gz").write_bytes(gzip.compress(_lines([event(300)]).encode()))
    assert lake.load_partition(layout, DATE, now_ms=NOW_MS + 2000).accepted == 1


# ---- case 6: paths are data ------------------------------------------------------------------------------

@pytest.mark.parametrize("odd, neighbour", [("star*.ndjson", "stars.ndjson"), ("q?.ndjson", "qa.ndjson"),
                                            ("b[1].ndjson", "b1.ndjson"), ("c{x,y}.ndjson", "cx.ndjson")])
def test_a_file_name_with_glob_characters_reads_only_itself(layout, odd, neighbour):
    write_landing(layout, odd, [event(i) for i in range(5)])
    write_landing(layout, neighbour, [event(i) for i in range(10, 15)])
    result = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    assert [(f.relative_path.rsplit("/", 1)[1], f.lines, f.accepted, f.duplicates) for f in result.files] == \
        sorted([(odd, 5, 5, 0), (neighbour, 5, 5, 0)])
    assert lake_rows(layout, layout.raw_interactions, "count(*), count(distinct event_id)") == (10, 10)


# ---- case 4: first accepted wins against all history -----------------------------------------------------

def test_a_changed_resend_on_another_day_is_a_conflict_not_a_second_copy(layout):
    nov1 = int(dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC).timestamp() * 1000)
    nov3 = int(dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC).timestamp() * 1000)
    write_landing(layout, "a.ndjson", [event(1, timestamp=nov1), event(2, timestamp=nov1)], load_date="2026-11-01")
    lake.load_partition(layout, "2026-11-01", now_ms=NOW_MS)
    # The re-send's new batch touches only 2026-11-03: the lookup must still find e1, accepted on 2026-11-01.
    write_landing(layout, "b.ndjson", [event(1, timestamp=nov3, completion_tokens=99),
                                       event(3, timestamp=nov3)], load_date="2026-11-03")
    later = lake.load_partition(layout, "2026-11-03", now_ms=NOW_MS + 1000)
    assert (later.accepted, later.duplicates, later.quarantined) == (1, 0, 1)
    assert later.rule_counts == {c.RULE_DUPLICATE_CONFLICT: 1}
    assert lake_rows(layout, layout.raw_interactions,
                     "count(*), count(distinct event_id), max(completion_tokens) filter (where event_id = 'e1')"
                     ) == (3, 3, 40)


# ---- a path date outside the plausible window ------------------------------------------------------------

def test_a_path_date_outside_the_window_is_a_rejected_file_not_a_stop(layout):
    write_landing(layout, "good.ndjson", [event(1)])
    write_landing(layout, "old.ndjson", [event(2)], load_date="2019-05-01")
    write_landing(layout, "future.ndjson", [event(3)], load_date="2999-01-01")
    assert lake.pending_load_dates(layout, now_ms=NOW_MS) == [DATE]
    rejected = lake.reject_out_of_window(layout, now_ms=NOW_MS)
    assert sorted(f.relative_path for f in rejected) == ["native/2019-05-01/old.ndjson",
                                                         "native/2999-01-01/future.ndjson"]
    assert all("outside" in f.reason and "2024-01-01" in f.reason for f in rejected)
    assert lake.reject_out_of_window(layout, now_ms=NOW_MS) == []  # recorded once
    assert {r["relative_path"] for r in manifest_rows(layout) if r["status"] == "rejected"} == {
        "native/2019-05-01/old.ndjson", "native/2999-01-01/future.ndjson"}
    assert lake.load_partition(layout, DATE, now_ms=NOW_MS).accepted == 1


def test_the_collector_file_exporter_appending_batches_loses_no_span(layout):
    """The OpenTelemetry Collector's file exporter appends one TracesData line per batch to one file."""
    from tests.ingestion.adapters.test_otlp_mapping import CHAT, span, traces

    batches = [json.dumps(traces(*[span(CHAT, span_id=f"{b * 100 + i:016x}") for i in range(100)])) + "\n"
               for b in range(10)]
    path = layout.landing_dir("otlp") / DATE / "otel-export.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(batches[:4]) + batches[4][:1000])  # the exporter is mid-way through batch 5
    first = lake.load_partition(layout, DATE, now_ms=NOW_MS)
    with path.open("a") as fh:
        fh.write(batches[4][1000:] + "".join(batches[5:]))
    second = lake.load_partition(layout, DATE, now_ms=NOW_MS + 1000)
    assert (first.accepted, first.quarantined, second.accepted, second.quarantined, second.duplicates) == \
        (400, 0, 600, 0, 0)
    assert lake_rows(layout, layout.raw_interactions, "count(*), count(distinct event_id), max(line_number)") == \
        (1000, 1000, 10)


def test_the_sensor_launches_a_grown_file_again_and_records_out_of_window_files(layout):
    import dagster as dg

    from orchestration.defs.lake.sensors import new_landing_files
    from orchestration.resources import WarehouseSettings

    def requests() -> list:
        context = dg.build_sensor_context(resources={"settings": WarehouseSettings(home=str(layout.home))})
        return new_landing_files(context).run_requests or []

    path = write_landing(layout, "exporter.ndjson", [event(i) for i in range(3)])
    lake.load_partition(layout, DATE, now_ms=NOW_MS)
    assert requests() == []
    with path.open("a") as fh:
        fh.write(_lines([event(3)]))
    (grown,) = requests()
    assert grown.partition_key == DATE
    write_landing(layout, "old.ndjson", [event(9)], load_date="2019-05-01")
    keys = [r.run_key for r in requests()]
    assert any(k.startswith("reject:") for k in keys)
    lake.reject_out_of_window(layout)
    assert not any(r.run_key.startswith("reject:") for r in requests())
