"""The loader's SQL adapters and the Python reference mappers agree, record by record.

Hundreds of OTLP spans (GenAI, OpenInference and Langfuse families), PostHog events, LiteLLM payloads and
Langfuse observations, each a realistic record with a few random changes (a missing field, a value of
another type, an empty id, PII, a hostile document shape), plus lines that are not the format at all, go
through both engines; what the contract makes of them must be identical: record type, the rules broken,
every typed and scrubbed field, skipped records and their positions.
"""

from __future__ import annotations

import base64
import copy
import random
from typing import Any

import duckdb
import orjson
import pytest

from ingestion.adapters import posthog as ph
from ingestion.adapters import posthog_sql
from tests.ingestion.adapters.engines import staged
from tests.ingestion.adapters.test_langfuse_mapping import observation as langfuse_observation
from tests.ingestion.adapters.test_litellm_mapping import START_S
from tests.ingestion.adapters.test_litellm_mapping import payload as litellm_payload
from tests.ingestion.adapters.test_otlp_mapping import CHAT, START_NS, attr, span, traces
from tests.ingestion.adapters.test_posthog_mapping import CAPTURED, feedback_event, generation
from tests.ingestion.adapters.test_span_families import LANGFUSE_GENERATION, OPENINFERENCE_LLM

NOT_THE_FORMAT = ["", "   ", "not json", "[1, 2]", '"a string"', "42", "null", '{"a": 1}', "{broken",
                  '{"resourceSpans": null}', '{"resourceSpans": "x"}', '{"event": 5}', '{"event": null}']

# Values of every JSON type (and AnyValue shape) a field could be given instead of the right one.
ODD_VALUES = ["", "x", "12", "12.5", "-3", "007", "0.25", "NaN", "bob@example.com", "call 555-123-4567",
              "4111 1111 1111 1111", "2026-11-21T11:00:00", "2026-11-21 10:00:00+02:00", 0, 7, -1, 12.0, 0.5,
              1e15, True, False, None, [1, "a"], {"k": "v"}, "ünïcødé"]
ODD_ANY_VALUES = [{}, {"intValue": "12.5"}, {"intValue": 5}, {"intValue": "99999999999999999999"},
                  {"doubleValue": "0.5"}, {"doubleValue": "NaN"}, {"doubleValue": "x"}, {"doubleValue": 3},
                  {"boolValue": True}, {"bytesValue": "AAEC"}, {"stringValue": None, "intValue": "4"},
                  {"arrayValue": {"values": [{"stringValue": "a"}]}}, {"kvlistValue": {"values": []}},
                  {"stringValue": 5}, "not an AnyValue"]
IDS = ["4BF92F3577B34DA6A3CE929D0E0E4736", base64.b64encode(bytes(range(16))).decode(),
       base64.b64encode(bytes(range(8))).decode(), "", "abc", 123, None, "4111111111111111",
       "zz" * 8, "AAAA"]
NANOS = [str(START_NS), START_NS, float(START_NS), "garbage", None, "-5", "1.5e18", True, 1e300]


def _odd_attribute(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        return rng.choice(ODD_ANY_VALUES)
    return attr("x", rng.choice(ODD_VALUES))["value"]


# Values for the attributes that carry JSON text (OpenInference metadata and invocation parameters,
# Langfuse usage, cost, metadata and completion start): good, broken and of other shapes.
JSON_TEXTS = ['{"model": "m-1", "feature_id": "f-json"}', '{"model": null}', '{"model": 5}', "[1, 2]", "{bad",
              '"2026-11-21T11:00:00.250Z"', '"garbage"', "1795777200250", "null", '"x"', "",
              '{"input": 10, "output": 5, "cache_read_input_tokens": 3}', '{"input": "10", "output": null}',
              '{"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": "4"}}', '{"total": "0.5"}',
              '{"total": 0.25, "input": 0.1}', '{"input_cached_tokens": 2, "output_reasoning_tokens": 1}']
# A Langfuse generation with Langfuse's own (exclusive) usage types and a cost, as its API takes them.
LANGFUSE_PRICED = LANGFUSE_GENERATION | {
    "langfuse.observation.usage_details": '{"input": 100, "output": 40, "input_cached_tokens": 900, "total": 1040}',
    "langfuse.observation.cost_details": '{"input": 0.001, "output": 0.002, "total": 0.003}'}
JSON_ATTRIBUTES = ["metadata", "llm.invocation_parameters", "langfuse.observation.usage_details",
                   "langfuse.observation.cost_details", "langfuse.observation.completion_start_time",
                   "langfuse.trace.metadata.feature_id"]


def otlp_span(rng: random.Random, i: int) -> dict[str, Any]:
    attrs = dict(rng.choice([CHAT, CHAT, OPENINFERENCE_LLM, LANGFUSE_GENERATION, LANGFUSE_PRICED]))
    if rng.random() < 0.4:
        attrs[rng.choice(JSON_ATTRIBUTES)] = rng.choice(JSON_TEXTS)
    if rng.random() < 0.1:
        attrs[rng.choice(["openinference.span.kind", "langfuse.observation.type", "langfuse.observation.level"])] = \
            rng.choice(["LLM", "CHAIN", "generation", "span", "ERROR", 3])
    extra = {"user.id": "user-1", "aiw.feature_id": "search", "error.type": "timeout",
             "gen_ai.system": "openai", "gen_ai.usage.prompt_tokens": 5, "gen_ai.operation.name": "embeddings"}
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.25 and attrs:
            attrs.pop(rng.choice(sorted(attrs)))
        elif roll < 0.45:
            key, value = rng.choice(sorted(extra.items()))
            attrs[key] = value
        elif roll < 0.55:
            attrs["gen_ai.operation.name"] = rng.choice(["execute_tool", "chat", "", "invoke_agent"])
    s = span(attrs, span_id=f"{i:016x}")
    for _ in range(rng.randint(0, 2)):
        roll = rng.random()
        if roll < 0.3 and isinstance(s["attributes"], list):
            key, value = rng.choice(sorted(attrs) or sorted(CHAT)), _odd_attribute(rng)
            s["attributes"].append({"key": key, "value": value})
        elif roll < 0.45:
            s[rng.choice(["traceId", "spanId"])] = rng.choice(IDS)
        elif roll < 0.6:
            s[rng.choice(["startTimeUnixNano", "endTimeUnixNano"])] = rng.choice(NANOS)
        elif roll < 0.75:
            s["status"] = rng.choice([{"code": 2}, {"code": "STATUS_CODE_ERROR"}, {"code": 1}, {"code": 2.0},
                                      {"code": "2"}, "weird", None, {}])
        elif roll < 0.85 and isinstance(s["attributes"], list):
            s["attributes"].append({"key": "gen_ai.conversation.id", "value": rng.choice(
                [{"stringValue": ""}, {"stringValue": "conv for jane@example.com"}, {}])})
        else:
            s["attributes"] = rng.choice([None, "x", [], [1, {"key": 5}]])
    return s


def otlp_lines(rng: random.Random, count: int) -> list[str]:
    lines: list[Any] = []
    n = 0
    for _ in range(count):
        spans = []
        for _ in range(rng.randint(1, 4)):
            n += 1
            spans.append(otlp_span(rng, n))
        resource = rng.choice([{"service.name": "svc"}, {"aiw.feature_id": "res-feature", "user.id": "u@x.io"},
                               {"gen_ai.conversation.id": "res-conv"}, {}])
        doc = traces(*spans, resource=resource)
        roll = rng.random()
        if roll < 0.08:
            doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append(rng.choice([5, "span", None, {}]))
        elif roll < 0.12:
            doc["resourceSpans"].insert(0, rng.choice([1, {"scopeSpans": "x"}, {"resource": [], "scopeSpans": []}]))
        elif roll < 0.16:
            rs = doc["resourceSpans"][0]
            doc = {"resource_spans": [{"resource": rs["resource"], "scope_spans": rs["scopeSpans"]}]}
        elif roll < 0.2:
            doc["resourceSpans"].append(copy.deepcopy(doc["resourceSpans"][0]))
        lines.append(doc)
    lines += NOT_THE_FORMAT
    rng.shuffle(lines)
    return [x if isinstance(x, str) else orjson.dumps(x).decode() for x in lines]


def posthog_event(rng: random.Random, i: int) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.5:
        event = generation()
    elif kind < 0.6:
        props = {"event_id": f"e-{i}", "session_id": "s", "timestamp": 1_795_000_000_000, "feature_id": "chat",
                 "model_id": "m", "model_version": "v", "ttft_ms": 10, "total_latency_ms": 20, "prompt_tokens": 1,
                 "completion_tokens": 1, "estimated_cost_usd": 0.1, "implicit_quality_score": 0.5,
                 "schema_version": rng.choice(["1.0", "1.1", "9"]), "prompt": "secret"}
        if rng.random() < 0.3:
            props = {"record_type": "feedback", "schema_version": "1.1", "target_event_id": "e-1",
                     "kind": rng.choice(["rating", "edited"]), "rating": rng.choice(["up", None])}
        event = {"uuid": f"u-{i}", "event": "ai_interaction", "distinct_id": "d", "properties": props,
                 "timestamp": CAPTURED.isoformat()}
    elif kind < 0.85:
        name = rng.choice(["$ai_metric", "$ai_feedback", "survey sent"])
        props = {rng.choice(["$ai_trace_id", "$ai_span_id", "$ai_generation_id"]): rng.choice(["t-1", "", None])}
        value = rng.choice([True, False, "👍", " Thumbs_Down ", 1, -1, 0, 2, 3, 4, 5, "4", "x", None, "nan",
                            "inf", 4.5, [1], {"a": 1}])
        if name == "$ai_metric":
            props |= {"$ai_metric_name": rng.choice(["rating", "regenerated", "Edit", "toxicity", "user_feedback",
                                                     "", None, 5, True]), "$ai_metric_value": value}
        elif name == "$ai_feedback":
            props[rng.choice(["$ai_feedback_rating", "$ai_feedback_score", "rating"])] = value
        else:
            props["$survey_response"] = value
        event = feedback_event(name, **props)
    else:
        event = {"uuid": f"pv-{i}", "event": rng.choice(["$pageview", "$ai_trace", "$ai_span"]), "properties": {}}
    event["uuid"] = event.get("uuid") or f"u-{i}"
    props = event["properties"]
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.35 and props:
            props[rng.choice(sorted(props))] = rng.choice(ODD_VALUES)
        elif roll < 0.5 and props:
            props.pop(rng.choice(sorted(props)))
        elif roll < 0.6:
            event[rng.choice(["timestamp", "created_at"])] = rng.choice(
                [None, 1_795_000_000_000, 1.7950000001e12, "2026-11-21T10:00:00", "2026-11-21T10:00:00.123456Z",
                 "garbage", True, 1e300])
        elif roll < 0.7:
            event["distinct_id"] = rng.choice([None, "", "mary@example.com", 5, "user-9"])
        elif roll < 0.8:
            props.update({rng.choice(["$ai_cache_reporting_exclusive", "$process_person_profile", "$ai_is_error"]):
                          rng.choice([True, False, "true", 1, None])})
        elif roll < 0.85:
            props["$ai_http_status"] = rng.choice([200, 429, "500", 503.0, None])
        elif roll < 0.9:
            props[rng.choice(["$ai_input", "$ai_output_choices"])] = rng.choice(
                ["plain text", None, {"b": 1, "a": [1, 2.5, "é"]}, ["x"], 3])
        else:
            props[rng.choice(["$ai_span_id", "$ai_session_id", "$ai_model_version", "$session_id"])] = rng.choice(
                ["", None, "id-1", 7])
    if rng.random() < 0.1:
        event["properties"] = orjson.dumps(props).decode()  # properties sent as a JSON string
    elif rng.random() < 0.03:
        event["properties"] = rng.choice(["not json", "[1]", 5, None])
    return event


def posthog_lines(rng: random.Random, count: int) -> list[str]:
    return shuffled_lines(rng, [posthog_event(rng, i) for i in range(count)], NOT_THE_FORMAT)


# Where a LiteLLM payload's values sit, as key paths: each may get an odd value or go missing.
LITELLM_PATHS = [("litellm_call_id",), ("id",), ("session_id",), ("trace_id",), ("end_user",), ("startTime",),
                 ("endTime",), ("completionStartTime",), ("model",), ("custom_llm_provider",), ("prompt_tokens",),
                 ("completion_tokens",), ("response_cost",), ("cache_hit",), ("status",), ("messages",),
                 ("response",), ("response", "model"), ("response", "choices"), ("model_map_information",),
                 ("model_map_information", "model_map_key"), ("model_parameters", "user"), ("metadata",),
                 ("metadata", "usage_object"), ("metadata", "usage_object", "prompt_tokens_details"),
                 ("metadata", "usage_object", "prompt_tokens_details", "cached_tokens"),
                 ("metadata", "requester_metadata", "feature_id"), ("metadata", "user_api_key_end_user_id")]


def litellm_line(rng: random.Random, i: int) -> dict[str, Any]:
    p = litellm_payload(litellm_call_id=f"call-{i}")
    if rng.random() < 0.3:
        p["metadata"]["usage_object"] = {"prompt_tokens": 120, "cache_read_input_tokens": 60,
                                         "cache_creation_input_tokens": rng.choice([10, None, "5"])}
    if rng.random() < 0.2:
        p["metadata"]["spend_logs_metadata"] = {"feature_id": rng.choice(["spend-feature", None, ""])}
    for _ in range(rng.randint(0, 3)):
        path = rng.choice(LITELLM_PATHS)
        parent = p
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        roll = rng.random()
        if roll < 0.2:
            parent.pop(path[-1], None)
        elif roll < 0.3 and path[-1] in ("startTime", "endTime", "completionStartTime"):
            parent[path[-1]] = rng.choice([START_S, START_S + 1e9, 1e300, -1.5, 0, int(START_S), 1e14])
        else:
            parent[path[-1]] = rng.choice(ODD_VALUES + [{"model": "m", "choices": None}, {"output": ["o"]}, []])
    roll = rng.random()
    if roll < 0.1:
        p["call_type"] = rng.choice(["image_generation", "moderation", "aresponses", "", "pass_through_endpoint"])
    elif roll < 0.15:
        p["cache_hit"] = rng.choice([True, "true", 1])
    elif roll < 0.2:
        p["status"] = rng.choice(["failure", "FAILURE", None])
    return p


def shuffled_lines(rng: random.Random, objects: list[Any], not_the_format: list[str]) -> list[str]:
    """The objects and the lines that are not the format, in random order, as JSON lines."""
    lines = objects + not_the_format
    rng.shuffle(lines)
    return [x if isinstance(x, str) else orjson.dumps(x).decode() for x in lines]


def litellm_lines(rng: random.Random, count: int) -> list[str]:
    return shuffled_lines(rng, [litellm_line(rng, i) for i in range(count)], NOT_THE_FORMAT + ['{"call_type": 5}'])


TIMES = ["2026-11-21 11:00:00.073470", "2026-11-21 11:00:01", "2026-11-21T11:00:00.5Z", "2026-11-21 13:00:00+02:00",
         "2026-11-21", "garbage", "", 1_795_777_200_000, None, True, ["2026-11-21 11:00:00"]]
LANGFUSE_KEYS = ["id", "trace_id", "type", "start_time", "end_time", "completion_start_time", "provided_model_name",
                 "user_id", "session_id", "level", "total_cost", "input", "output", "metadata", "usage_details",
                 "cost_details"]


def langfuse_line(rng: random.Random, i: int) -> dict[str, Any]:
    o = langfuse_observation(id=f"obs-{i}")
    if rng.random() < 0.3:
        o["usage_details"] = rng.choice([
            {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 64}},
            {"input": 100, "output": 40, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 20},
            {"input": "100", "output_reasoning_tokens": 3}, {"completion_tokens": None, "input": 1}, "{}", []])
    if rng.random() < 0.2:
        o["metadata"] = rng.choice(['{"feature_id": "f-text"}', {"feature_id": "plain"}, {"feature_id": "null"},
                                    {"feature_id": 5}, {"other": 1}, "not json", None, [1]])
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(LANGFUSE_KEYS)
        roll = rng.random()
        if roll < 0.2:
            o.pop(key, None)
        elif roll < 0.45 and key.endswith("_time"):
            o[key] = rng.choice(TIMES)
        else:
            o[key] = rng.choice(ODD_VALUES)
    if rng.random() < 0.1:
        o["type"] = rng.choice(["SPAN", "EVENT", "generation", "EMBEDDING", "TOOL", ""])
    return o


def langfuse_lines(rng: random.Random, count: int) -> list[str]:
    return shuffled_lines(rng, [langfuse_line(rng, i) for i in range(count)], NOT_THE_FORMAT + ['{"type": 5}'])


def _differences(source: str, lines: list[str]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    sql, python = staged(source, lines, "sql"), staged(source, lines, "python")
    assert [(r["line_no"], r["record_no"]) for r in sql] == [(r["line_no"], r["record_no"]) for r in python]
    return [(lines[a["line_no"] - 1][:300], {k: v for k, v in a.items() if b[k] != v},
             {k: v for k, v in b.items() if a[k] != v})
            for a, b in zip(sql, python, strict=True) if a != b]


# source -> (its hostile corpus, seed, records); the same corpora feed the coverage check below.
CORPORA = {"otlp": (otlp_lines, 11, 250), "posthog": (posthog_lines, 12, 600), "litellm": (litellm_lines, 13, 600),
           "langfuse": (langfuse_lines, 14, 600)}


def corpus(source: str) -> list[str]:
    make, seed, count = CORPORA[source]
    return make(random.Random(seed), count)


@pytest.mark.parametrize("source", sorted(CORPORA))
def test_engines_agree_on_every_record(source):
    assert _differences(source, corpus(source)) == []


def test_the_generated_cases_cover_what_they_should():
    # Guard against a generator that drifts into only easy cases: both outcomes and every line kind occur.
    otlp, posthog, litellm, langfuse = (staged(s, corpus(s), "sql") for s in ("otlp", "posthog", "litellm", "langfuse"))
    for rows in (otlp, posthog, litellm, langfuse):
        kinds = {("skipped" if r["is_skipped"] else r["record_type"], bool(r["rules"])) for r in rows}
        assert {("skipped", False), ("interaction", False), ("interaction", True), ("blank", False)} <= kinds
        first_rules = {r["rules"][0].split(":")[0] for r in rows if r["rules"]}
        assert {"malformed_json", "not_an_object", "type", "required"} <= first_rules
    assert {r["record_type"] for r in posthog if not r["rules"]} >= {"interaction", "feedback"}
    for rows in (otlp, litellm, langfuse):
        assert sum(1 for r in rows if not r["is_skipped"] and not r["rules"]) > 100


def test_rating_values_in_both_engines():
    values = (True, False, "👍", "Thumbs_Down", 1, -1, 0, 2, 3, 4, "4", " 5 ", "x", "nan", 4.5, [1], None)
    expected = ["up", "down", "up", "down", "up", "down", "down", "down", None, "up", "up", "up", None, None,
                "up", None, None]
    assert [ph.rating_of(v) for v in values] == expected
    con = duckdb.connect()
    sql = [con.execute(f"select {posthog_sql.rating_of('v')} from (select ?::JSON as v)",
                       [orjson.dumps(v).decode()]).fetchone()[0] for v in values]
    assert sql == expected
