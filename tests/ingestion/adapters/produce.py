"""Produce landing files with the real client libraries against local fakes (run as a subprocess).

`python -m tests.ingestion.adapters.produce <AIW_HOME> <truth.json>` makes chat completions through
- `openai` instrumented by `opentelemetry-instrumentation-openai-v2`, spans exported by the SDK and written as
  OTLP JSON lines to landing/otlp/<today>/spans.jsonl, and
- `posthog`'s OpenAI wrapper, whose events a local capture endpoint receives and writes as a batch-export file
  to landing/posthog/<today>/export.jsonl,
and writes what the fake OpenAI server served (the ground truth) to truth.json. A subprocess because the
instrumentation patches `openai` process-wide and `httpx2.alias_httpx()` must run before anything imports httpx.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import httpx2

httpx2.alias_httpx()  # openai 3.x is built on httpx2; the instrumentation imports httpx

# Message content in span attributes, so the test proves the adapter drops it (and its planted PII).
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"

from tests.ingestion.adapters.fakes import FakeOpenAI, FakePosthog, otlp_json_lines  # noqa: E402
from tests.ingestion.adapters.scenario import calls  # noqa: E402


def produce_otlp(fake: FakeOpenAI, landing: Path) -> None:
    import openai
    from opentelemetry import trace
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot",
                                                        "aiw.feature_id": "support_chat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    tracer = provider.get_tracer("app")
    # A request handler span around the calls: not a model call, so the adapter skips (and counts) it,
    # and the calls share its trace, which becomes their session.
    with tracer.start_as_current_span("handle_request", attributes={"enduser.id": "bob@example.com"}):
        calls(client, {})
    OpenAIInstrumentor().uninstrument()
    spans = list(exporter.get_finished_spans())
    trace.get_tracer_provider()  # keep the global provider untouched
    landing.mkdir(parents=True, exist_ok=True)
    # Two export batches, as a BatchSpanProcessor would send them: two TracesData lines.
    lines = otlp_json_lines(spans[:3]) + otlp_json_lines(spans[3:])
    (landing / "spans.jsonl").write_text("\n".join(lines) + "\n")


def produce_posthog(fake: FakeOpenAI, landing: Path) -> None:
    import posthog
    from posthog.ai.openai import OpenAI

    capture = FakePosthog().start()
    ph = posthog.Posthog("phc_test", host=capture.host, sync_mode=True, disable_geoip=True,
                         enable_exception_autocapture=False)
    client = OpenAI(base_url=fake.base_url, api_key="sk-test", posthog_client=ph, max_retries=0)
    calls(client, {"posthog_distinct_id": "bob@example.com", "posthog_trace_id": "trace-ph-1",
                   "posthog_properties": {"feature_id": "support_chat_ph", "$ai_session_id": "sess-ph-1"}})
    ph.capture(distinct_id="bob@example.com", event="$ai_metric",
               properties={"$ai_trace_id": "trace-ph-1", "$ai_metric_name": "rating", "$ai_metric_value": "up"})
    ph.capture(distinct_id="bob@example.com", event="$pageview", properties={"$current_url": "https://x.test/"})
    ph.flush()
    ph.shutdown()
    capture.stop()
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "export.jsonl").write_text("\n".join(json.dumps(r) for r in capture.export_rows()) + "\n")


def main(home: Path, truth: Path) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    fake = FakeOpenAI().start()
    try:
        produce_otlp(fake, home / "landing" / "otlp" / today)
        otlp_served = len(fake.served)
        produce_posthog(fake, home / "landing" / "posthog" / today)
    finally:
        fake.stop()
    served = [asdict(s) for s in fake.served]
    truth.write_text(json.dumps({"otlp": served[:otlp_served], "posthog": served[otlp_served:]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
