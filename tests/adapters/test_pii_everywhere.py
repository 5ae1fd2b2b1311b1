"""PII defence in depth: plant e-mails, phone numbers, SSNs and Luhn-valid card numbers in every string field
of every landing format, run the whole pipeline, then search everything it wrote under AIW_HOME for them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.layout import Layout
from orchestration.cli import main
from tests.adapters.test_otlp_mapping import attr
from tests.conftest import NOW_MS, event, write_landing

DAY = "2026-11-20"
PLANTED = ["jane.roe@example.org", "555-867-5309", "(212) 555-0199", "078-05-1120", "4111111111111111",
           "4111 1111 1111 1111", "5500-0000-0000-0004", "6011000990139424"]
# Forms a leak could take besides the planted text itself.
NEEDLES = [*PLANTED, "jane.roe", "867-5309", "555-0199", "5500000000000004", "0000-0004"]
PII = " / ".join(PLANTED)


def pii(tag: str) -> str:
    return f"{tag}: {PII}"


def native_lines() -> list[object]:
    strings = ["event_id", "session_id", "user_id", "feature_id", "model_id", "model_version", "provider",
               "prompt_hash", "response_hash", "trace_id"]
    accepted = event(9000, estimated_cost_usd=2.0, **{f: pii(f) for f in strings},
                     prompt=pii("prompt"), completion=pii("completion"), notes=pii("extra field"))
    feedback = {"record_type": "feedback", "schema_version": "1.1", "feedback_id": pii("fb"),
                "target_event_id": pii("event_id"), "timestamp": NOW_MS - 1000, "kind": "rating", "rating": "up"}
    enums = [event(9001 + i, **{f: pii(f)}) for i, f in
             enumerate(["schema_version", "routing_strategy", "explicit_rating"])]
    bad_feedback = feedback | {"feedback_id": "fb-2", "kind": pii("kind"), "rating": pii("rating")}
    return [accepted, feedback, *enums, bad_feedback, '{"broken": "' + PII, json.dumps(pii("a bare string")),
            *[event(i) for i in range(400)]]


def otlp_lines() -> list[str]:
    attrs = {k: pii(k) for k in ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name",
                                 "gen_ai.conversation.id", "gen_ai.response.id", "user.id", "error.type",
                                 "gen_ai.input.messages", "gen_ai.output.messages", "server.address")}
    attrs |= {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}
    start = (NOW_MS - 60_000) * 1_000_000
    span = {"traceId": pii("trace"), "spanId": pii("span"), "name": pii("name"), "kind": 3,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 500_000_000),
            "attributes": [attr(k, v) for k, v in attrs.items()], "status": {"code": 2, "message": pii("status")},
            "events": [{"name": "gen_ai.content.prompt", "attributes": [attr("gen_ai.prompt", pii("event"))]}]}
    tool = span | {"spanId": "ffffffffffffffff", "attributes": [attr("gen_ai.operation.name", "execute_tool"),
                                                                 attr("gen_ai.tool.name", pii("tool"))]}
    resource = {"attributes": [attr("service.name", pii("service")), attr("aiw.feature_id", pii("feature"))]}
    traces = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": pii("scope")},
                                                                      "spans": [span, tool]}]}]}
    return [json.dumps(traces), "not json " + PII, json.dumps({"resourceSpanz": pii("typo")})]


def posthog_lines() -> list[str]:
    props = {k: pii(k) for k in ("$ai_model", "$ai_provider", "$ai_trace_id", "$ai_session_id", "$ai_span_id",
                                 "feature_id", "$ai_error", "$ai_base_url", "$ai_model_version")}
    props |= {"$ai_input": [{"role": "user", "content": pii("input")}], "$ai_output_choices": pii("output"),
              "$ai_input_tokens": 10, "$ai_output_tokens": 5, "$ai_latency": 0.5, "$ai_total_cost_usd": 2.0}
    ts = "2026-11-21T11:00:00Z"
    generation = {"uuid": pii("uuid"), "event": "$ai_generation", "distinct_id": pii("distinct"),
                  "person_id": pii("person"), "properties": props, "timestamp": ts, "created_at": ts}
    custom = event(9100, **{f: pii(f) for f in ("event_id", "session_id", "user_id", "feature_id", "model_id")},
                   prompt=pii("prompt"))
    rows = [
        generation,
        {"uuid": "c-1", "event": "ai_interaction", "distinct_id": pii("d"), "properties": custom, "timestamp": ts},
        {"uuid": pii("m"), "event": "$ai_metric", "distinct_id": pii("d"), "timestamp": ts,
         "properties": {"$ai_trace_id": pii("t"), "$ai_metric_name": "rating", "$ai_metric_value": "up"}},
        {"uuid": "s-1", "event": "survey sent", "distinct_id": pii("d"), "timestamp": ts,
         "properties": {"$ai_trace_id": pii("t"), "$survey_response": pii("free text answer")}},
        {"uuid": "p-1", "event": pii("custom event"), "distinct_id": pii("d"), "properties": {"x": pii("x")}},
    ]
    return [json.dumps(r) for r in rows] + ["{not json " + PII, orjson.dumps([pii("array")]).decode()]


def write(layout: Layout, source: str, name: str, lines: list[str]) -> None:
    path = layout.landing_dir(source) / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def found_in(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Layout:
    layout = Layout.from_env(tmp_path_factory.mktemp("pii") / "aiw").ensure()
    write_landing(layout, "events.ndjson", native_lines(), load_date=DAY)
    write(layout, "otlp", "spans.jsonl", otlp_lines())
    write(layout, "posthog", "export.jsonl", posthog_lines())
    assert main(["--home", str(layout.home), "run"]) == 0
    return layout


def test_the_planted_records_went_everywhere(home):
    """The search below means something only if PII-bearing rows reached every output."""
    lake = duckdb.sql(f"select source, count(*) from read_parquet('{home.quarantine}/**/*.parquet') group by 1")
    assert {s for s, _ in lake.fetchall()} == {"native", "otlp", "posthog"}
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        sources = {s for (s,) in con.execute("select distinct source from marts.fct_ai_interactions").fetchall()}
    finally:
        con.close()
    assert sources == {"native", "otlp", "posthog"}
    assert any(p.stat().st_size for p in home.alerts.rglob("*") if p.is_file()), "an over-budget alert fired"


def test_no_pii_in_the_lake(home):
    leaks = {}
    for path in home.lake.rglob("*.parquet"):
        text = repr(duckdb.sql(f"select * from read_parquet('{path}')").fetchall())
        if found_in(text):
            leaks[str(path)] = found_in(text)
    assert leaks == {}


def test_no_pii_in_the_warehouse(home):
    con = duckdb.connect(str(home.warehouse), read_only=True)
    leaks = {}
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        assert len(tables) >= 4
        for schema, table in tables:
            text = repr(con.execute(f'select * from "{schema}"."{table}"').fetchall())
            if found_in(text):
                leaks[f"{schema}.{table}"] = found_in(text)
    finally:
        con.close()
    assert leaks == {}


def test_no_pii_in_alerts_or_any_other_file(home):
    leaks = {}
    for path in Path(home.home).rglob("*"):
        if path.is_file() and home.landing not in path.parents:  # landing files are the producers' own input
            text = path.read_bytes().decode("utf-8", "replace")
            if found_in(text):
                leaks[str(path)] = found_in(text)
    assert leaks == {}
