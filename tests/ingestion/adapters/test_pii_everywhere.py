"""PII defence in depth: plant every PII format the scrubber knows (tests/builders/pii_cases.py) in every
string field of every source (native files, the HTTP collector, OTLP, PostHog), run the whole pipeline with a persistent
Dagster instance, write the report, then search everything that was written for them: the lake and its
quarantine and manifests, every table of the warehouse, the alerts, the report, the Dagster event log and
the collector's own output.

The same home carries 2,000 valid events whose ids are 16-19 digit numbers, half of them Luhn-valid with a
card-like prefix: they must load as they are, every event and session distinct, none quarantined."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import NOW_MS, event, write_landing
from tests.ingestion.adapters.test_otlp_mapping import attr
from tests.ingestion.collector.conftest import Collector

DAY = "2026-11-20"
PLANTED = [
    "jane.roe@example.org", "carol@exämple.com", "carol%40example.com", "ｃａｒｏｌ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "dave＠example.net", "+14155550101", "+447911123456", "+44 20 7946 0958", "+1 (212) 555-0199", "555-867-5309",
    "415.555.0101", "020 7946 0958", "07700 900982", "078-05-1120", "078051120", "4111111111111111",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "5555.5555.5555.4444", "6011000990139424", "3782 822463 10005",
]
# Forms a leak could take besides the planted text itself: parts, digits without separators, and (below)
# every form as JSON writes it with ASCII escapes.
FRAGMENTS = ["jane.roe", "exämple", "carol%40", "ｃａｒｏｌ", "dave＠", "4155550101", "7911123456", "7946 0958",
             "79460958", "2125550199", "867-5309", "07700900982", "5500000000000004", "0000-0004", "5555555555554444",
             "378282246310005", "5555.4444"]
NEEDLES = sorted({n for form in PLANTED + FRAGMENTS for n in (form, json.dumps(form)[1:-1])})
PII = " / ".join(PLANTED)

NUMERIC_EVENTS = 2000
NUMERIC_SESSIONS = 500


def pii(tag: str) -> str:
    return f"{tag}: {PII}"


def found_in(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def as_text(rows: list[tuple]) -> str:
    """Every value as text (not repr, which would escape backslashes and hide a JSON-escaped leak)."""
    return "\n".join(str(value) for row in rows for value in row)


def luhn_completed(prefix: str) -> str:
    """`prefix` plus the check digit that makes it pass Luhn (written here, not taken from ingestion.contract.pii)."""
    digits = [int(ch) for ch in prefix + "0"]
    total = sum(d if i % 2 == 0 else (2 * d if 2 * d < 10 else 2 * d - 9) for i, d in enumerate(reversed(digits)))
    return prefix + str((10 - total % 10) % 10)


def numeric_ids(rng: random.Random, n: int) -> list[str]:
    """n distinct 16-19 digit ids: every other one Luhn-valid and starting like a Visa/Mastercard number."""
    ids: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        length = rng.randint(16, 19)
        if len(out) % 2 == 0:
            candidate = luhn_completed(rng.choice("45") + "".join(rng.choice("0123456789") for _ in range(length - 2)))
        else:
            candidate = rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(length - 1))
        if candidate not in ids:
            ids.add(candidate)
            out.append(candidate)
    return out


def numeric_id_events() -> list[dict]:
    rng = random.Random(15)
    event_ids, sessions = numeric_ids(rng, NUMERIC_EVENTS), numeric_ids(rng, NUMERIC_SESSIONS)
    users = numeric_ids(rng, 50)
    return [event(20_000 + i, event_id=event_ids[i], session_id=sessions[i % NUMERIC_SESSIONS],
                  user_id=users[i % 50], trace_id=sessions[i % NUMERIC_SESSIONS], estimated_cost_usd=0.001)
            for i in range(NUMERIC_EVENTS)]


NATIVE_STRINGS = ["event_id", "session_id", "user_id", "feature_id", "model_id", "model_version", "provider",
                  "prompt_hash", "response_hash", "trace_id"]


def native_records(base: int) -> list[object]:
    accepted = event(base, estimated_cost_usd=2.0, **{f: pii(f) for f in NATIVE_STRINGS},
                     prompt=pii("prompt"), completion=pii("completion"), notes=pii("extra field"))
    feedback = {"record_type": "feedback", "schema_version": "1.1", "feedback_id": pii("fb"),
                "target_event_id": pii("event_id"), "timestamp": NOW_MS - 1000, "kind": "rating", "rating": "up"}
    enums = [event(base + 1 + i, **{f: pii(f)}) for i, f in
             enumerate(["schema_version", "routing_strategy", "explicit_rating"])]
    bad_feedback = feedback | {"feedback_id": pii("fb-2"), "kind": pii("kind"), "rating": pii("rating")}
    return [accepted, feedback, *enums, bad_feedback]


def native_lines() -> list[object]:
    return [*native_records(9000), '{"broken": "' + PII, '{"broken, JSON-escaped": ' + json.dumps(PII)[:-1],
            json.dumps(pii("a bare string")),
            *[event(i) for i in range(400)], *numeric_id_events()]


def otlp_traces(trace: str) -> dict:
    attrs = {k: pii(k) for k in ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name",
                                 "gen_ai.conversation.id", "gen_ai.response.id", "user.id", "error.type",
                                 "gen_ai.input.messages", "gen_ai.output.messages", "server.address")}
    attrs |= {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}
    start = (NOW_MS - 60_000) * 1_000_000
    span = {"traceId": pii(trace), "spanId": pii("span"), "name": pii("name"), "kind": 3,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 500_000_000),
            "attributes": [attr(k, v) for k, v in attrs.items()], "status": {"code": 2, "message": pii("status")},
            "events": [{"name": "gen_ai.content.prompt", "attributes": [attr("gen_ai.prompt", pii("event"))]}]}
    tool = span | {"spanId": "ffffffffffffffff", "attributes": [attr("gen_ai.operation.name", "execute_tool"),
                                                                 attr("gen_ai.tool.name", pii("tool"))]}
    # The same call as OpenInference and the Langfuse SDK write it: every string they carry planted.
    openinference = {k: pii(k) for k in ("llm.model_name", "llm.system", "session.id", "user.id", "input.value",
                                         "output.value", "llm.input_messages.0.message.content")}
    openinference |= {"openinference.span.kind": "LLM", "llm.token_count.prompt": 10,
                      "llm.invocation_parameters": json.dumps({"model": pii("requested")}),
                      "metadata": json.dumps({"feature_id": pii("oi feature")})}
    langfuse = {k: pii(k) for k in ("langfuse.observation.model.name", "session.id", "user.id",
                                    "langfuse.observation.input", "langfuse.observation.output",
                                    "langfuse.observation.status_message")}
    langfuse |= {"langfuse.observation.type": "generation", "langfuse.observation.level": "ERROR",
                 "langfuse.trace.metadata.feature_id": json.dumps(pii("lf feature")),
                 "langfuse.observation.usage_details": json.dumps({"input": 10, "output": 5, "note": pii("u")})}
    families = [span | {"spanId": f"{n:a>16}", "attributes": [attr(k, v) for k, v in a.items()]}
                for n, a in ((1, openinference), (2, langfuse))]
    resource = {"attributes": [attr("service.name", pii("service")), attr("aiw.feature_id", pii("feature"))]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": pii("scope")},
                                                                     "spans": [span, tool, *families]}]}]}


def otlp_lines() -> list[str]:
    return [json.dumps(otlp_traces("trace")), "not json " + PII, json.dumps({"resourceSpanz": pii("typo")})]


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


def litellm_lines() -> list[str]:
    start = (NOW_MS - 60_000) / 1000
    payload = {k: pii(k) for k in ("id", "litellm_call_id", "trace_id", "session_id", "custom_llm_provider", "model",
                                   "end_user", "error_str", "api_base")}
    payload |= {"call_type": "completion", "status": "failure", "startTime": start, "endTime": start + 0.5,
                "completionStartTime": start + 0.5, "prompt_tokens": 0, "completion_tokens": 0,
                "messages": [{"role": "user", "content": pii("message")}], "response": pii("response"),
                "model_parameters": {"user": pii("param user")},
                "model_map_information": {"model_map_key": pii("map key")},
                "metadata": {"spend_logs_metadata": {"feature_id": pii("ll feature")},
                             "user_api_key_alias": pii("alias"), "user_api_key_team_alias": pii("team")},
                "request_tags": [pii("tag")], "error_information": {"traceback": pii("traceback")}}
    skipped = payload | {"call_type": "image_generation", "litellm_call_id": pii("image")}
    return [json.dumps(payload), json.dumps(skipped), "{not json " + PII, json.dumps({"call_type": pii("x")})[:-1]]


def langfuse_lines() -> list[str]:
    observation = {k: pii(k) for k in ("id", "trace_id", "user_id", "session_id", "provided_model_name", "name",
                                       "status_message", "trace_name", "environment", "input", "output")}
    observation |= {"type": "GENERATION", "level": "ERROR", "start_time": "2026-11-21 11:00:00.000000",
                    "end_time": "2026-11-21 11:00:00.500000", "usage_details": {"input": 10, "output": 5},
                    "metadata": {"feature_id": json.dumps(pii("lf export feature")), "other": pii("meta")},
                    "tags": [pii("tag")]}
    span = observation | {"type": "SPAN", "id": pii("span obs")}
    return [json.dumps(observation), json.dumps(span), "not json " + PII, json.dumps([pii("array")])]


def write(layout: Layout, source: str, name: str, lines: list[str]) -> None:
    path = layout.landing_dir(source) / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def post_through_the_collector(layout: Layout) -> str:
    """The native records and an OTLP document through a real collector process; returns what it printed."""
    collector = Collector(home=layout.home, token="c" * 32).start()
    try:
        records = native_records(9500)
        # Valid events alongside, so that this load date's quarantine share stays under the contract's limit.
        valid = [event(30_000 + i, event_id=f"collected-{i}") for i in range(300)]
        interactions = [r for r in records if r.get("record_type") != "feedback"] + valid
        feedback = [r for r in records if r.get("record_type") == "feedback"]
        assert collector.request("POST", "/v1/events", orjson.dumps(interactions))[0] == 200
        assert collector.request("POST", "/v1/feedback", orjson.dumps(feedback))[0] == 200
        status, _ = collector.request("POST", "/v1/traces", orjson.dumps(otlp_traces("collected trace")),
                                      headers={"Content-Type": "application/json"})
        assert status == 200
        # A request it refuses: the error it answers and logs must not carry the PII either.
        assert collector.request("POST", "/v1/events", ("[" + PII).encode())[0] == 400
    finally:
        assert collector.stop() == 0
    assert collector.proc is not None and collector.proc.stdout is not None
    return collector.proc.stdout.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Layout, str]:
    layout = Layout.from_env(tmp_path_factory.mktemp("pii") / "aiw").ensure()
    write_landing(layout, "events.ndjson", native_lines(), load_date=DAY)
    write(layout, "otlp", "spans.jsonl", otlp_lines())
    write(layout, "posthog", "export.jsonl", posthog_lines())
    write(layout, "litellm", "payloads.jsonl", litellm_lines())
    write(layout, "langfuse", "observations.jsonl", langfuse_lines())
    collector_output = post_through_the_collector(layout)
    with pytest.MonkeyPatch.context() as mp:
        # A persistent Dagster instance under AIW_HOME, so its event log is on disk to be searched.
        mp.setenv("DAGSTER_HOME", str(layout.home / "dagster_home"))
        (layout.home / "dagster_home").mkdir()
        assert main(["--home", str(layout.home), "run"]) == 0
        assert main(["--home", str(layout.home), "report"]) == 0
    return layout, collector_output


def test_the_planted_records_went_everywhere(home):
    """The search below means something only if PII-bearing rows reached every output."""
    layout, _ = home
    lake = duckdb.sql(f"select source, count(*) from read_parquet('{layout.quarantine}/**/*.parquet') group by 1")
    assert {s for s, _ in lake.fetchall()} == {"native", "otlp", "posthog", "litellm", "langfuse"}
    collected_day = dt.datetime.now(dt.UTC).date().isoformat()
    files = {str(p.relative_to(layout.landing)) for p in layout.landing.rglob("*") if p.is_file()}
    assert any(f.startswith(f"native/{collected_day}/") for f in files), files
    assert any(f.startswith(f"otlp/{collected_day}/") for f in files), files
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        sources = {s for (s,) in con.execute("select distinct source from marts.fct_ai_interactions").fetchall()}
        pseudonymised = con.execute("select count(distinct event_id) from marts.fct_ai_interactions "
                                    "where event_id like 'pii\\_%' escape '\\'").fetchone()[0]
    finally:
        con.close()
    assert sources == {"native", "otlp", "posthog", "litellm", "langfuse"}
    assert pseudonymised >= 3  # the planted native, collected and PostHog events, each under its own hash
    assert any(p.stat().st_size for p in layout.alerts.rglob("*") if p.is_file()), "an over-budget alert fired"
    assert list((layout.home / "dagster_home").rglob("*.db")), "the Dagster event log is on disk"
    assert (layout.home / "reports" / "report.html").stat().st_size > 0


def test_no_pii_in_the_lake(home):
    layout, _ = home
    leaks = {}
    for path in layout.lake.rglob("*.parquet"):
        text = as_text(duckdb.sql(f"select * from read_parquet('{path}')").fetchall())
        if found_in(text):
            leaks[str(path)] = found_in(text)
    assert leaks == {}


def test_no_pii_in_the_warehouse(home):
    layout, _ = home
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    leaks = {}
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        assert len(tables) >= 4
        for schema, table in tables:
            text = as_text(con.execute(f'select * from "{schema}"."{table}"').fetchall())
            if found_in(text):
                leaks[f"{schema}.{table}"] = found_in(text)
    finally:
        con.close()
    assert leaks == {}


def test_no_pii_in_manifests_alerts_the_report_the_dagster_event_log_or_any_other_file(home):
    layout, _ = home
    leaks = {}
    searched = 0
    for path in Path(layout.home).rglob("*"):
        if path.is_file() and layout.landing not in path.parents:  # landing files are the producers' own input
            searched += 1
            text = path.read_bytes().decode("utf-8", "replace")
            if found_in(text):
                leaks[str(path.relative_to(layout.home))] = found_in(text)
    assert searched > 10
    assert leaks == {}


def test_no_pii_in_what_the_collector_printed(home):
    _, output = home
    assert found_in(output) == []


def test_numeric_ids_stay_ids(home):
    """16-19 digit ids, half of them Luhn-valid: none taken for a card, every event and session distinct."""
    layout, _ = home
    expected = numeric_id_events()
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        con.execute("create temp table expected (event_id varchar, session_id varchar, user_id varchar)")
        con.executemany("insert into expected values (?, ?, ?)",
                        [(e["event_id"], e["session_id"], e["user_id"]) for e in expected])
        found = con.execute("""
            select count(*), count(distinct f.event_id), count(distinct f.session_id), count(distinct f.user_id)
            from marts.fct_ai_interactions f
            join expected x on f.event_id = x.event_id and f.session_id = x.session_id and f.user_id = x.user_id
        """).fetchone()
    finally:
        con.close()
    assert found == (NUMERIC_EVENTS, NUMERIC_EVENTS, NUMERIC_SESSIONS, 50)
    con = duckdb.connect()
    try:
        quarantined = con.execute(f"select count(*) from read_parquet('{layout.quarantine}/**/*.parquet') "
                                  f"where regexp_full_match(event_id, '[0-9]{{16,19}}')").fetchone()[0]
    finally:
        con.close()
    assert quarantined == 0
