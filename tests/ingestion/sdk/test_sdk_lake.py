"""End to end: SDK events land as files and load into the Parquet lake with nothing quarantined."""

from __future__ import annotations

import duckdb

from ingestion.lake.loader import load_partition, pending_load_dates
from ingestion.layout import Layout
from ingestion.sdk import BatchEmitter, LandingTransport, record_feedback, track_interaction
from ingestion.sdk.spill import SpillDir


def test_sdk_events_load_clean_and_respilled_duplicates_are_dropped(tmp_path):
    layout = Layout(tmp_path / "home")
    spill = tmp_path / "spill"
    em = BatchEmitter(LandingTransport(layout), spill_dir=spill, batch_size=20, at_exit=False)
    events = []
    for i in range(50):
        events.append(track_interaction(
            feature_id="chat" if i % 2 else "search", model_id="gpt-4o-mini", session_id=f"s_{i % 7}",
            user_id=f"u_{i % 5}", prompt=f"question {i} from a@b.co", response=f"answer {i}", prompt_tokens=100 + i,
            cached_tokens=i, completion_tokens=20 + i, ttft_ms=100.0 + i, total_latency_ms=400.0 + i,
            routing_strategy="primary", provider="openai", user_regenerated=i % 10 == 0, emitter=em))
    feedback = [record_feedback(events[i]["event_id"], "rating", rating="up", emitter=em) for i in range(5)]
    assert em.close().sent == 55

    # A batch delivered but still in the journal (crash between the write and forgetting it) is sent again
    # by the next emitter: the same records twice.
    SpillDir(spill).journal(events[:10]).keep()
    assert BatchEmitter(LandingTransport(layout), spill_dir=spill, at_exit=False).close().sent == 10

    results = [load_partition(layout, d) for d in pending_load_dates(layout)]
    assert sum(r.quarantined for r in results) == 0, [r.examples for r in results]
    assert sum(r.total("accepted") for r in results) == 50
    assert sum(r.total("feedback_accepted") for r in results) == 5
    assert sum(r.duplicates for r in results) == 10
    con = duckdb.connect()
    got = con.execute(f"select count(*), sum(prompt_tokens), sum(completion_tokens), count(distinct event_id), "
                      f"round(sum(estimated_cost_usd), 9) from read_parquet('{layout.raw_interactions}/**/*.parquet')"
                      ).fetchone()
    expected_cost = sum((100 + i - i) * 0.15 + i * 0.075 + (20 + i) * 0.60 for i in range(50)) / 1e6
    assert got[:4] == (50, sum(100 + i for i in range(50)), sum(20 + i for i in range(50)), 50)
    assert abs(got[4] - expected_cost) < 1e-9
    assert len(feedback) == 5
