"""Throughput of the source adapters: records per second, side by side with the Python reference.

Writes `--records` synthetic records per format to a temporary AIW_HOME, shaped like what the real clients
send (tests/ingestion/adapters/produce.py): OTLP lines of `--spans-per-line` chat spans with content attributes (which
the adapter must hash and drop) plus one non-model span per line; PostHog `$ai_generation` events with
`$ai_input` / `$ai_output_choices` and ~20 other properties, plus one `$pageview` in ten; LiteLLM standard
logging payloads with every key litellm 1.110 writes (about 14 kB each, as the real ones: 9 kB of it the
price-map entry, then the metadata's null keys, messages and response), plus one image generation in ten. Then measures,
`--repeat` times each (the median is printed; these machines are noisy):
- adapter: landing file -> canonical JSON lines, as the loader runs it (DuckDB SQL, every core);
- reference: the same with the Python reference mappers (one core: parse, map, scrub, serialize);
- load: `lake.load_partition` on the file (adapter + contract SQL with the PII scrubber + Parquet lake +
  manifest), once.
Records counts every span/event read, skipped ones included.

    python benchmarks/bench_adapters.py                    # 500k records per format, with content
    python benchmarks/bench_adapters.py --no-content       # OTel's default; PostHog's privacy mode
    python benchmarks/bench_adapters.py --records 100000 --json
    python benchmarks/bench_adapters.py --formats litellm  # some formats only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.adapters.reader import adapted_relation, adapter_for, options_for  # noqa: E402
from ingestion.lake import loader as lake  # noqa: E402
from ingestion.layout import Layout  # noqa: E402

NOW_MS = 1_795_700_000_000  # 2026-11-24
MODELS = [("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai"), ("gpt-4o", "gpt-4o-2024-08-06", "openai"),
          ("claude-sonnet-4", "claude-sonnet-4-20250514", "anthropic")]


def _attr(key: str, value: object) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


PROMPT_TEXT = "Summarise this ticket for me please " * 4
ANSWER_TEXT = "Here is the summary you asked for. " * 6


def genai_attributes(rng: random.Random, model: str, version: str, provider: str, content: bool) -> dict:
    """A chat span as opentelemetry-instrumentation-openai-v2 writes it."""
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
             "gen_ai.request.model": model, "gen_ai.response.model": version,
             "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):x}", "server.address": "api.x.test",
             "gen_ai.usage.input_tokens": rng.randint(50, 4000), "server.port": 443,
             "gen_ai.usage.output_tokens": rng.randint(10, 800),
             "gen_ai.conversation.id": f"conv-{rng.getrandbits(32):x}"}
    if content:  # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only; off by default
        attrs |= {"gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                      {"type": "text", "content": PROMPT_TEXT}]}]),
                  "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                      {"type": "text", "content": ANSWER_TEXT}]}])}
    return attrs


def openinference_attributes(rng: random.Random, model: str, version: str, provider: str, content: bool) -> dict:
    """An LLM span as openinference-instrumentation-openai writes it (content on by default there: the
    request and response JSON, and each message flattened into attributes again)."""
    prompt, completion = rng.randint(50, 4000), rng.randint(10, 800)
    attrs = {"llm.system": provider, "session.id": f"conv-{rng.getrandbits(32):x}", "user.id": "user-1",
             "metadata": '{"feature_id": "support_chat"}', "llm.invocation_parameters": json.dumps({"model": model}),
             "llm.model_name": version, "llm.token_count.total": prompt + completion,
             "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
             "llm.token_count.prompt_details.cache_read": rng.randint(0, 40),
             "llm.token_count.completion_details.reasoning": 0, "llm.finish_reason": "stop",
             "openinference.span.kind": "LLM"}
    if content:
        attrs |= {"input.value": json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT_TEXT}]}),
                  "input.mime_type": "application/json",
                  "output.value": json.dumps({"id": "chatcmpl-1", "choices": [{"message": {"content": ANSWER_TEXT}}]}),
                  "output.mime_type": "application/json", "llm.input_messages.0.message.role": "user",
                  "llm.input_messages.0.message.content": PROMPT_TEXT,
                  "llm.output_messages.0.message.role": "assistant",
                  "llm.output_messages.0.message.content": ANSWER_TEXT}
    return attrs


def langfuse_span_attributes(rng: random.Random, model: str, version: str, provider: str, content: bool) -> dict:
    """A generation as the Langfuse SDK's OpenAI integration exports it (usage as a JSON document)."""
    prompt, completion = rng.randint(50, 4000), rng.randint(10, 800)
    usage = {"completion_tokens": completion, "prompt_tokens": prompt, "total_tokens": prompt + completion,
             "completion_tokens_details": {"reasoning_tokens": 0},
             "prompt_tokens_details": {"cached_tokens": rng.randint(0, 40)}}
    attrs = {"user.id": "user-1", "session.id": f"conv-{rng.getrandbits(32):x}",
             "langfuse.trace.metadata.feature_id": '"support_chat"', "langfuse.environment": "production",
             "langfuse.observation.model.parameters": '{"temperature": 1, "max_tokens": "Infinity", "top_p": 1}',
             "langfuse.observation.type": "generation", "langfuse.observation.model.name": version,
             "langfuse.observation.usage_details": json.dumps(usage)}
    if content:
        attrs |= {"langfuse.observation.input": json.dumps([{"role": "user", "content": PROMPT_TEXT}]),
                  "langfuse.observation.output": json.dumps({"role": "assistant", "content": ANSWER_TEXT})}
    return attrs


def otlp_file(path: Path, records: int, per_line: int, rng: random.Random, content: bool = True,
              chat_attributes=genai_attributes) -> int:
    """Write OTLP JSON lines; returns the number of spans written (chat spans + one skipped span per line)."""
    written = 0
    with path.open("wb") as fh:
        while written < records:
            spans = []
            trace = f"{rng.getrandbits(128):032x}"
            for _ in range(per_line - 1):
                model, version, provider = rng.choice(MODELS)
                start = (NOW_MS - rng.randint(0, 86_400_000)) * 1_000_000
                attrs = chat_attributes(rng, model, version, provider, content)
                spans.append({"traceId": trace, "spanId": f"{rng.getrandbits(64):016x}", "name": f"chat {model}",
                              "kind": 3, "startTimeUnixNano": str(start),
                              "endTimeUnixNano": str(start + rng.randint(200, 9000) * 1_000_000),
                              "attributes": [_attr(k, v) for k, v in attrs.items()], "status": {}})
            spans.append({"traceId": trace, "spanId": f"{rng.getrandbits(64):016x}", "name": "handle_request",
                          "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "2",
                          "attributes": [_attr("http.route", "/chat")], "status": {}})
            doc = {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "support-bot")]},
                                      "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                                                      "spans": spans}]}]}
            fh.write(orjson.dumps(doc) + b"\n")
            written += len(spans)
    return written


def langfuse_file(path: Path, records: int, rng: random.Random, content: bool = True) -> int:
    """Write a Langfuse observations_v2 export: generations, and one span observation in ten."""
    with path.open("wb") as fh:
        for i in range(records):
            model, version, _provider = rng.choice(MODELS)
            start = NOW_MS - rng.randint(0, 86_400_000)
            latency = rng.randint(200, 9000)

            def at(ms: int) -> str:
                return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}000"
            prompt, completion, cached = rng.randint(50, 4000), rng.randint(10, 800), rng.randint(0, 40)
            row = {"id": f"{rng.getrandbits(64):016x}", "trace_id": f"{rng.getrandbits(128):032x}",
                   "project_id": "proj-1", "environment": "production", "parent_observation_id": None,
                   "start_time": at(start), "end_time": at(start + latency), "type": "SPAN" if i % 10 == 9
                   else "GENERATION", "name": "OpenAI-generation", "level": "DEFAULT", "status_message": None,
                   "version": None, "user_id": f"user-{i % 5000}", "session_id": f"conv-{rng.getrandbits(32):x}",
                   "trace_name": "handle_request", "completion_start_time": at(start + latency // 3),
                   "input": json.dumps([{"role": "user", "content": PROMPT_TEXT}]) if content else None,
                   "output": json.dumps({"role": "assistant", "content": ANSWER_TEXT}) if content else None,
                   "metadata": {"feature_id": '"support_chat"'}, "provided_model_name": version,
                   "internal_model_id": "m-1", "model_parameters": '{"temperature": 1}',
                   "usage_details": {"input": prompt - cached, "input_cached_tokens": cached, "output": completion,
                                     "total": prompt + completion},
                   "cost_details": {"input": 0.001, "output": 0.002, "total": 0.003}, "total_cost": 0.003,
                   "latency": latency / 1000, "time_to_first_token": latency / 3000, "tags": ["team:support"]}
            fh.write(orjson.dumps(row) + b"\n")
    return records


def posthog_file(path: Path, records: int, rng: random.Random, content: bool = True) -> int:
    """Write PostHog export lines: $ai_generation events and one $pageview in ten."""
    with path.open("wb") as fh:
        for i in range(records):
            ts = f"2026-11-2{rng.randint(0, 3)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.123456+00:00"
            if i % 10 == 9:
                row = {"uuid": f"pv-{i}", "event": "$pageview", "distinct_id": f"user-{i % 5000}", "timestamp": ts,
                       "properties": {"$current_url": "https://app.x.test/inbox", "$browser": "Firefox"}}
            else:
                model, _version, provider = rng.choice(MODELS)
                props = {"$ai_provider": provider, "$ai_model": model, "$ai_model_parameters": {"temperature": 0.2},
                         "$ai_http_status": 200, "$ai_input_tokens": rng.randint(50, 4000),
                         "$ai_output_tokens": rng.randint(10, 800), "$ai_latency": rng.uniform(0.2, 9.0),
                         "$ai_trace_id": f"{rng.getrandbits(128):032x}", "$ai_base_url": "https://api.x.test/v1",
                         "$ai_cache_read_input_tokens": rng.randint(0, 40), "$ai_lib": "posthog-ai",
                         "$ai_lib_version": "7.91.1", "feature_id": "support_chat", "$ai_tokens_source": "sdk",
                         "$ai_input": [{"role": "user", "content": "Summarise this ticket for me please " * 4}],
                         "$ai_output_choices": [{"role": "assistant",
                                                 "content": "Here is the summary you asked for. " * 6}],
                         "$python_runtime": "CPython", "$python_version": "3.11.7", "$os": "Linux",
                         "$lib": "posthog-python", "$lib_version": "7.91.1", "$is_server": True}
                if not content:  # privacy mode: the wrapper sends no message content
                    props["$ai_input"] = props["$ai_output_choices"] = None
                row = {"uuid": f"0190e0a5-{i:012d}", "event": "$ai_generation", "distinct_id": f"user-{i % 5000}",
                       "person_id": None, "properties": props, "timestamp": ts, "created_at": ts}
            fh.write(orjson.dumps(row) + b"\n")
    return records


# The keys of a real payload's metadata and price-map entry (tests/adapters/produce_gateways.py captures
# them): mostly null, but each is parsed and carried, so a benchmark without them would flatter the adapter.
_METADATA_NULLS = ("user_api_key_hash", "user_api_key_alias", "user_api_key_spend", "user_api_key_max_budget",
                   "user_api_key_budget_reset_at", "user_api_key_user_spend", "user_api_key_user_max_budget",
                   "user_api_key_team_spend", "user_api_key_team_max_budget", "user_api_key_team_id",
                   "user_api_key_org_id", "user_api_key_org_alias", "user_api_key_project_id",
                   "user_api_key_project_alias", "user_api_key_user_id", "user_api_key_team_alias",
                   "user_api_key_user_email", "user_api_key_end_user_id", "user_api_key_request_route",
                   "requester_ip_address", "user_agent", "prompt_management_metadata", "mcp_tool_call_metadata",
                   "vector_store_request_metadata", "routing_decision", "requester_custom_headers",
                   "cold_storage_object_key", "user_api_key_auth_metadata", "team_alias", "team_id",
                   "kubernetes_pod_routing", "used_client_oauth_token")
_PRICE_KEYS = tuple(f"{kind}_token_cost{tier}" for kind in (
    "input", "output", "cache_read_input", "cache_creation_input", "input_audio", "output_audio", "input_image",
    "output_image", "cache_read_input_audio", "cache_read_input_image", "input_video", "output_reasoning")
    for tier in ("", "_flex", "_priority", "_batches", "_above_128k_tokens", "_above_200k_tokens",
                 "_above_272k_tokens", "_above_200k_tokens_priority", "_above_272k_tokens_priority",
                 "_above_272k_tokens_flex", "_ultrafast", "_balanced", "_above_272k_tokens_ultrafast"))


def litellm_file(path: Path, records: int, rng: random.Random, content: bool = True) -> int:
    """Write LiteLLM standard logging payloads, one per line: completions and one image generation in ten."""
    with path.open("wb") as fh:
        for i in range(records):
            model, version, provider = rng.choice(MODELS)
            start = (NOW_MS - rng.randint(0, 86_400_000)) / 1000 + rng.random()
            latency = rng.uniform(0.2, 9.0)
            prompt, completion, cached = rng.randint(50, 4000), rng.randint(10, 800), rng.randint(0, 40)
            usage = {"completion_tokens": completion, "prompt_tokens": prompt, "total_tokens": prompt + completion,
                     "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": None},
                     "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": None}}
            metadata = dict.fromkeys(_METADATA_NULLS) | {
                "applied_guardrails": [], "usage_object": usage, "spend_logs_metadata": {"feature_id": "support_chat"}}
            messages = [{"role": "user", "content": "Summarise this ticket for me please " * 4}] if content else None
            choices = [{"finish_reason": "stop", "index": 0, "message": {
                "content": "Here is the summary you asked for. " * 6 if content else None, "role": "assistant"}}]
            payload = {
                "id": f"chatcmpl-{rng.getrandbits(64):x}", "litellm_call_id": f"{rng.getrandbits(128):032x}",
                "trace_id": f"{rng.getrandbits(128):032x}", "session_id": "",
                "call_type": "image_generation" if i % 10 == 9 else "completion", "cache_hit": None, "stream": None,
                "status": "success", "status_fields": {"llm_api_status": "success", "guardrail_status": "not_run"},
                "custom_llm_provider": provider, "saved_cache_cost": 0.0, "startTime": start,
                "endTime": start + latency, "completionStartTime": start + latency, "response_time": latency,
                "model": model, "metadata": metadata, "cache_key": None, "cost_finalized": False,
                "response_cost": rng.random() / 100,
                "cost_breakdown": {"total_cost": 0.001, "input_cost": 0.0005, "output_cost": 0.0005},
                "total_tokens": prompt + completion, "prompt_tokens": prompt, "completion_tokens": completion,
                "request_tags": ["team:support"], "end_user": f"user-{i % 5000}", "api_base": "https://api.x.test/v1",
                "model_group": "", "model_id": "", "requester_ip_address": None, "user_agent": None,
                "messages": messages,
                "response": {"id": "chatcmpl-1", "created": int(start), "model": version, "object": "chat.completion",
                             "choices": choices, "usage": usage},
                "model_parameters": {"user": f"user-{i % 5000}", "temperature": 0.2},
                "hidden_params": {"model_id": None, "cache_key": None, "api_base": "https://api.x.test/v1",
                                  "response_cost": 0.001, "litellm_overhead_time_ms": 1.5,
                                  "litellm_model_name": f"{provider}/{model}"},
                "model_map_information": {"model_map_key": version, "model_map_value": dict.fromkeys(_PRICE_KEYS) | {
                    "key": version, "max_tokens": 16384, "litellm_provider": provider, "mode": "chat"}},
                "error_str": None, "error_information": {"error_code": "", "error_class": "", "llm_provider": "",
                                                         "traceback": "", "error_message": ""},
                "guardrail_information": None,
                "standard_built_in_tools_params": {"web_search_options": None, "file_search": None}}
            fh.write(orjson.dumps(payload) + b"\n")
    return records


# format -> (landing source, writer). The OpenInference and Langfuse SDK spans go through the OTLP adapter.
FORMATS = {
    "otlp": ("otlp", lambda path, args, rng: otlp_file(path, args.records, args.spans_per_line, rng,
                                                       content=not args.no_content)),
    "posthog": ("posthog", lambda path, args, rng: posthog_file(path, args.records, rng, content=not args.no_content)),
    "litellm": ("litellm", lambda path, args, rng: litellm_file(path, args.records, rng, content=not args.no_content)),
    "openinference": ("otlp", lambda path, args, rng: otlp_file(path, args.records, args.spans_per_line, rng,
                                                                content=not args.no_content,
                                                                chat_attributes=openinference_attributes)),
    "langfuse-sdk": ("otlp", lambda path, args, rng: otlp_file(path, args.records, args.spans_per_line, rng,
                                                               content=not args.no_content,
                                                               chat_attributes=langfuse_span_attributes)),
    "langfuse": ("langfuse", lambda path, args, rng: langfuse_file(path, args.records, rng,
                                                                   content=not args.no_content)),
}


MEMORY_LIMIT = {"value": "1GB"}  # --memory-limit


def measure_sql(path: Path, source: str) -> tuple[int, float]:
    """(records, wall seconds) for mapping one file with the loader's SQL, every canonical line materialised."""
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT["value"]})
    con.execute("set TimeZone = 'UTC'")
    started = time.perf_counter()
    (records, _chars) = con.execute(
        f"select count(*), sum(length(line)) from {adapted_relation(con, path, source, 'document')}").fetchone()
    seconds = time.perf_counter() - started
    con.close()
    return records, seconds


def measure_reference(path: Path, source: str) -> tuple[int, float]:
    """(records, wall seconds) for mapping one file with the Python reference mappers on one core."""
    options = options_for(source)
    line_records = adapter_for(source).line_records
    started = time.perf_counter()
    records = 0
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            value = orjson.loads(raw)
            for record in line_records(value, options) or [None]:
                records += 1
                if record is not None:
                    orjson.dumps(record)
    return records, time.perf_counter() - started


def _median_rate(measure, path: Path, source: str, repeat: int) -> tuple[int, float, list[float]]:
    runs = [measure(path, source) for _ in range(repeat)]
    records = runs[0][0]
    rates = [n / seconds for n, seconds in runs]
    return records, statistics.median(rates), rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000, help="records per format (default 500000)")
    parser.add_argument("--spans-per-line", type=int, default=10, help="spans per OTLP line (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each adapter measurement (default 3)")
    parser.add_argument("--no-reference", action="store_true", help="skip the Python reference mappers")
    parser.add_argument("--no-load", action="store_true", help="measure the adapters alone, not the loader")
    parser.add_argument("--no-content", action="store_true",
                        help="records without message content (OTel's default; PostHog's privacy mode)")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated formats to measure (default {','.join(FORMATS)})")
    parser.add_argument("--memory-limit", default="1GB",
                        help="DuckDB memory_limit of the adapter runs and (as AIW_DUCKDB_MEMORY_LIMIT) the loads")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    MEMORY_LIMIT["value"] = args.memory_limit
    os.environ["AIW_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    rng = random.Random(42)
    figures: dict[str, object] = {"records_per_format": args.records, "cpus": os.cpu_count(),
                                  "content": not args.no_content,
                                  "load_average": os.getloadavg()[0], "memory_limit": args.memory_limit}
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout.from_env(Path(tmp) / "aiw").ensure()
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            parser.error(f"unknown formats {unknown}; known are {sorted(FORMATS)}")
        files = {}
        for name in formats:
            source, write = FORMATS[name]
            # One load date per format, so that each load below reads that format's file alone.
            day = f"2026-11-{20 - len(files):02d}"
            files[name] = (source, day, layout.landing_dir(source) / day / f"{name}.jsonl")
            files[name][2].parent.mkdir(parents=True, exist_ok=True)
            write(files[name][2], args, rng)
        for name, (source, _day, path) in files.items():
            size = f"({path.stat().st_size / 1e6:.0f} MB)"
            records, rate, rates = _median_rate(measure_sql, path, source, args.repeat)
            figures[f"{name}_adapter_records_per_s"] = round(rate)
            print(f"{name:13s} adapter    {records:>9,} records {size} median {rate:>9,.0f} records/s "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")
            if not args.no_reference:
                _n, reference, _rates = _median_rate(measure_reference, path, source, args.repeat)
                figures[f"{name}_reference_records_per_s"] = round(reference)
                print(f"{name:13s} reference  {records:>9,} records {size} median {reference:>9,.0f} records/s "
                      f"(Python, one core) -> adapter/reference {rate / reference:.1f}x")
        if not args.no_load:
            for name, (source, day, _path) in files.items():
                started = time.perf_counter()
                result = lake.load_partition(layout, day, now_ms=NOW_MS, sources=(source,))
                seconds = time.perf_counter() - started
                (f,) = result.files
                assert f.reconciles, f
                rate = f.lines / seconds
                figures[f"{name}_load_records_per_s"] = round(rate)
                print(f"{name:13s} load       {f.lines:>9,} records ({f.accepted:,} accepted, {f.skipped:,} skipped) "
                      f"in {seconds:6.2f} s = {rate:>9,.0f} records/s")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
