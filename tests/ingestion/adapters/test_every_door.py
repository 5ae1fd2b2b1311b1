"""Same numbers through every door: one scenario (tests/ingestion/adapters/doors.py) sent through the native SDK, the
HTTP collector (native records, and OTLP GenAI, OpenInference and Langfuse SDK spans on /v1/traces), and
PostHog, LiteLLM and Langfuse export files, then one `aiw run`: every door gives the same
`fct_ai_interactions` rows and the same per-session and per-user marts, except the fields listed in
`CANNOT_CARRY` (what that format has no place for).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import duckdb
import orjson
import pytest

from ingestion.layout import Layout
from ingestion.sdk import BatchEmitter, track_interaction
from ingestion.sdk.transports import LandingTransport
from orchestration.cli import main
from tests.ingestion.adapters import doors
from tests.ingestion.collector.conftest import Collector

DOORS = ("sdk", "collector", "otlp", "openinference", "langfuse-sdk", "posthog", "litellm", "langfuse")

# Differ by construction, in every door: ids are the door's own (door-prefixed, or derived from OTLP trace
# and span ids), content hashes hash each format's own rendering of the messages, and the load bookkeeping.
ALWAYS_APART = {"event_id", "trace_id", "prompt_hash", "response_hash", "source", "source_file", "line_number",
                "record_number", "load_id", "loaded_at", "load_date", "ingested_at"}

# What a format has no place for, per door: field -> why. `cost_gap_usd` (priced minus reported cost) goes
# with `reported_cost_usd`.
FOREIGN = {"reported_quality_score": "only the warehouse's SDK scores its calls (implicit_quality_score)",
           "schema_version": "the SDK writes 1.2; the adapters write 1.1 until they map tags (docs/adapters.md)"}
CANNOT_CARRY: dict[str, dict[str, str]] = {
    "otlp": {"reported_cost_usd": "GenAI spans carry no cost"},
    "openinference": {"reported_cost_usd": "OpenInference spans carry no cost",
                      "ttft_ms": "OpenInference records no first-token time"},
    "langfuse-sdk": {"provider": "the Langfuse SDK sends no provider",
                     "model_id": "Langfuse records one model name, the served (dated) one"},
    "langfuse": {"provider": "the export has no provider", "model_id": "one model name, the served one"},
    # LiteLLM logs a failed call with zero tokens and cost, and completionStartTime = endTime.
    "litellm": {"failed call: prompt_tokens, completion_tokens, reported_cost_usd, ttft_ms":
                "a failure is logged as 0 tokens, $0 and first token at the end"},
}
# In the marts the same shows as: LiteLLM's failed call counts as priced (at $0, from 0 tokens), not unpriced.
MARTS_CANNOT_CARRY = {"litellm": {"unpriced_interactions"}}
LITELLM_FAILURE_FIELDS = ("prompt_tokens", "completion_tokens", "reported_cost_usd", "ttft_ms", "cost_usd",
                          "cost_source", "cost_gap_usd", "cost_per_1k_tokens", "total_tokens", "unpriced_reason")


def _post(collector: Collector, path: str, body: bytes) -> None:
    status, reply = collector.request("POST", path, body, {"Content-Type": "application/json"})
    assert status == 200, (path, status, reply)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("doors")
    layout = Layout.from_env(root / "aiw").ensure()
    now = int(time.time() * 1000)
    scenario = doors.calls(now - now % 1000 - 3 * 3_600_000)
    today = time.strftime("%Y-%m-%d", time.gmtime())

    emitter = BatchEmitter(LandingTransport(layout), spill_dir=root / "spill", at_exit=False, handle_sigterm=False)
    for c in scenario:
        r = doors.native_record("sdk", c)
        track_interaction(feature_id=r["feature_id"], model_id=c.model, model_version=c.version,
                          session_id=r["session_id"], user_id=r["user_id"], event_id=r["event_id"],
                          timestamp_ms=c.start_ms, ttft_ms=c.ttft_ms, total_latency_ms=c.latency_ms,
                          prompt_tokens=c.prompt, completion_tokens=c.completion, cached_tokens=c.cached,
                          reasoning_tokens=c.reasoning, estimated_cost_usd=c.cost, provider="openai",
                          is_error=c.error, trace_id=r["trace_id"], emitter=emitter)
    assert emitter.close().sent == len(scenario)

    collector = Collector(home=layout.home, token=secrets.token_urlsafe(24)).start()
    try:
        _post(collector, "/v1/events", b"\n".join(orjson.dumps(doors.native_record("collector", c))
                                                  for c in scenario))
        _post(collector, "/v1/traces", doors.genai_traces("otlp", scenario))
        _post(collector, "/v1/traces", doors.openinference_traces("openinference", scenario))
        _post(collector, "/v1/traces", doors.langfuse_traces("langfuse-sdk", scenario))
    finally:
        assert collector.stop() == 0

    for source, name, rows in (("posthog", "export.jsonl", doors.posthog_events("posthog", scenario)),
                               ("litellm", "payloads.jsonl", doors.litellm_payloads("litellm", scenario)),
                               ("langfuse", "observations.jsonl", doors.langfuse_observations("langfuse", scenario))):
        path = layout.landing_dir(source) / today / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["--home", str(layout.home), "run"]) == 0
    return layout, scenario


def _rows(layout: Layout, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _door_of(value: str) -> str:
    return next(d for d in sorted(DOORS, key=len, reverse=True) if value.startswith(d + "-"))


def _comparable(row: dict[str, Any], door: str, failed: bool) -> dict[str, Any]:
    """The row without what differs by construction, with the door's name taken out of its ids, and the
    fields this door cannot carry left out. Floats are compared to the microsecond: formats that carry
    seconds as floats reproduce milliseconds to within float precision."""
    skip = set(ALWAYS_APART) | set(CANNOT_CARRY.get(door, {}))
    if door not in ("sdk", "collector"):
        skip |= set(FOREIGN)
    if "reported_cost_usd" in skip:
        skip.add("cost_gap_usd")
    if door == "litellm" and failed:
        skip |= set(LITELLM_FAILURE_FIELDS)
    out = {}
    for key, value in row.items():
        if key in skip:
            continue
        if isinstance(value, str) and value.startswith(door + "-"):
            value = value[len(door) + 1:]
        elif isinstance(value, float):
            value = round(value, 6)
        out[key] = value
    return out


def test_every_door_gives_the_same_interactions(warehouse):
    layout, scenario = warehouse
    rows = _rows(layout, "select * from marts.fct_ai_interactions order by event_ts, session_id")
    by_door: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_door.setdefault(_door_of(row["session_id"]), []).append(row)
    assert sorted(by_door) == sorted(DOORS) and all(len(v) == len(scenario) for v in by_door.values())
    reference = [_comparable(r, "sdk", c.error) for r, c in zip(by_door["sdk"], scenario, strict=True)]
    # The reference itself is the scenario: tokens, timings and the priced cost of what was called.
    assert [(r["prompt_tokens"], r["completion_tokens"], r["cached_tokens"], r["total_latency_ms"], r["ttft_ms"])
            for r in reference] == [(c.prompt, c.completion, c.cached or 0, float(c.latency_ms),
                                     None if c.ttft_ms is None else float(c.ttft_ms)) for c in scenario]
    assert all(r["cost_source"] == "price_table" for r in reference[:3])
    for door in DOORS[1:]:
        for got_row, want, call in zip(by_door[door], reference, scenario, strict=True):
            got = _comparable(got_row, door, call.error)
            want = {k: v for k, v in want.items() if k in got}
            diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
            assert diff == {}, (door, call.index, diff)


def test_every_door_gives_the_same_session_and_user_marts(warehouse):
    layout, _ = warehouse
    # The Langfuse doors lack the provider and OTLP/OpenInference the reported cost; the cost marts still
    # agree for every door, because the warehouse prices the tokens itself.
    sessions = _rows(layout, "select * from marts.mart_session_cost order by session_id")
    users = _rows(layout, "select * from marts.mart_user_cost_daily order by user_id, event_date")
    for table, key in ((sessions, "session_id"), (users, "user_id")):
        by_door: dict[str, list[dict[str, Any]]] = {}
        for row in table:
            door = _door_of(row[key])
            by_door.setdefault(door, []).append({k: v for k, v in _comparable(row, door, False).items()
                                                 if k not in MARTS_CANNOT_CARRY.get(door, ())})
        assert sorted(by_door) == sorted(DOORS) and len(by_door["sdk"]) == 2
        for door in DOORS[1:]:
            want = [{k: v for k, v in r.items() if k in got} for r, got in zip(by_door["sdk"], by_door[door],
                                                                               strict=True)]
            assert by_door[door] == want, (door, table is sessions)
