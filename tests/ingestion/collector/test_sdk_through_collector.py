"""The SDK's HTTP transport against the real collector, then `aiw run`: SDK calls come out in the marts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.sdk import BatchEmitter, HttpTransport, record_feedback, track_interaction
from orchestration.cli import main

from .conftest import Collector


def test_sdk_events_sent_over_http_reach_the_marts(tmp_path: Path) -> None:
    token = "t" * 32
    collector = Collector(home=tmp_path / "aiw", token=token).start()
    emitter = BatchEmitter(HttpTransport(f"http://127.0.0.1:{collector.port}", token),
                           spill_dir=tmp_path / "spill", batch_size=25, at_exit=False)
    events = [track_interaction(
        feature_id="support_bot", model_id="gpt-4o-mini", session_id=f"s{i % 4}", user_id=f"u{i % 3}",
        prompt=f"question {i}", response=f"answer {i}", prompt_tokens=200 + i, cached_tokens=50,
        completion_tokens=30 + i, ttft_ms=150.0 + i, total_latency_ms=600.0 + i, routing_strategy="primary",
        provider="openai", tags={"tenant": f"t{i % 2}", "env": "prod"}, prompt_version=f"v{i % 3}",
        emitter=emitter) for i in range(60)]
    record_feedback(events[0]["event_id"], "rating", rating="down", emitter=emitter)
    stats = emitter.close()
    assert (stats.sent, stats.dropped, stats.spilled) == (61, 0, 0)
    assert collector.stop() == 0

    assert main(["--home", str(tmp_path / "aiw"), "run"]) == 0
    con = duckdb.connect(str(tmp_path / "aiw" / "warehouse.duckdb"), read_only=True)
    n, prompt, completion, sessions = con.execute(
        "select count(*), sum(prompt_tokens), sum(completion_tokens), count(distinct session_id) "
        "from marts.fct_ai_interactions where feature_id = 'support_bot'").fetchone()
    rating = con.execute(f"select explicit_rating from marts.fct_ai_interactions "
                         f"where event_id = '{events[0]['event_id']}'").fetchone()[0]
    cost = con.execute("select sum(cost_usd) from marts.mart_session_cost").fetchone()[0]
    tagged = con.execute("select tags['tenant'], tags['env'], prompt_version, count(*) from marts.fct_ai_interactions "
                         "group by all order by all").fetchall()
    con.close()
    assert (n, prompt, completion, sessions) == (60, sum(200 + i for i in range(60)),
                                                 sum(30 + i for i in range(60)), 4)
    # gpt-4o-mini list price: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
    expected = sum((150 + i) * 0.15 + 50 * 0.075 + (30 + i) * 0.60 for i in range(60)) / 1e6
    assert cost == pytest.approx(expected, abs=1e-9)
    assert rating == "down"  # the feedback record was merged into the interaction it targets
    # Tags and prompt versions travel SDK -> collector -> lake -> marts unchanged.
    expected_tags: dict[tuple, int] = {}
    for i in range(60):
        key = (f"t{i % 2}", "prod", f"v{i % 3}")
        expected_tags[key] = expected_tags.get(key, 0) + 1
    assert tagged == sorted((*k, n) for k, n in expected_tags.items())
