"""End to end: events POSTed to the collector come out in the marts after `aiw run`, counts as acknowledged;
and the load benchmark, at a tiny size, reconciles landing with acknowledgements."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.lake.loader import pending_load_dates
from ingestion.layout import Layout
from ingestion.synthetic import Options, generate
from orchestration.cli import main
from tests.builders import truth

from .conftest import REPO, Collector


def test_collected_events_load_into_the_lake_with_acknowledged_counts(tmp_path: Path) -> None:
    # Valid interactions from the synthetic generator (written to a scratch home; only the records are used).
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    gen = generate(Layout.from_env(tmp_path / "scratch"),
                   Options(events=600, days=2, seed=11, end_date=yesterday, bad_share=0.0, duplicate_share=0.0,
                           conflict_share=0.0), keep_records=True)
    records = gen.valid_records
    assert len(records) > 500
    home = tmp_path / "aiw"
    c = Collector(home=home, token="p" * 32).start()
    acknowledged = 0
    for start in range(0, len(records), 50):
        batch = records[start:start + 50]
        body = orjson.dumps(batch) if start % 100 else b"\n".join(orjson.dumps(r) for r in batch)  # both shapes
        status, reply = c.request("POST", "/v1/events", body)
        assert status == 200
        acknowledged += int(reply["accepted"])
    target = records[0]["event_id"]
    feedback = [{"schema_version": "1.1", "feedback_id": "fb-1", "target_event_id": target, "kind": "rating",
                 "rating": "up", "timestamp": records[0]["timestamp"] + 60_000}]
    status, reply = c.request("POST", "/v1/feedback", orjson.dumps(feedback))
    assert (status, reply) == (200, {"accepted": 1})
    # A retry of an acknowledged batch (the client never saw the answer): the lake counts it once.
    status, _ = c.request("POST", "/v1/events", orjson.dumps(records[:50]))
    assert status == 200
    assert c.stop() == 0

    layout = Layout.from_env(home)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert pending_load_dates(layout) == [today]
    assert main(["--home", str(home), "run"]) == 0  # landing -> lake -> marts -> alerts
    assert pending_load_dates(layout) == []
    assert acknowledged == len(records)
    (lines, accepted, feedback_accepted, duplicates, quarantined), = duckdb.sql(
        f"select sum(lines), sum(accepted), sum(feedback_accepted), sum(duplicates), sum(quarantined) "
        f"from read_parquet('{layout.manifest}/*.parquet')").fetchall()
    assert (lines, accepted, feedback_accepted, duplicates, quarantined) == (len(records) + 51, len(records), 1, 50, 0)
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    n, cost = con.execute("select count(*), sum(cost_usd) from marts.fct_ai_interactions").fetchone()
    sessions = con.execute("select count(*) from marts.mart_session_cost").fetchone()[0]
    con.close()
    assert n == len(records)
    assert cost == pytest.approx(sum(truth.cost(r) for r in records), rel=1e-9)  # re-priced from tokens
    assert sessions == len({r["session_id"] for r in records})


def test_benchmark_at_a_tiny_size_reconciles(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "benchmarks/bench_collector.py", "--events", "20000", "--connections", "8",
                           "--max-seconds", "30", "--json", "--home", str(tmp_path / "bench")],
                          cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["events_acknowledged"] == 20000
    assert figures["events_found_in_landing"] == 20000
    assert figures["acknowledged_missing"] == 0 and figures["temp_files_left"] == 0
    assert figures["events_per_second"] > 0 and 0 < figures["ack_latency_p50_ms"] <= figures["ack_latency_p99_ms"]
    # Count the landed lines here too, independently of the benchmark's own count.
    lines = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "bench" / "landing" / "native").rglob("*.ndjson"))
    assert lines == 20000
