"""Produce landing files with real gateway and tracing libraries against local fakes (run as a subprocess).

`python -m tests.ingestion.adapters.produce_gateways litellm|tracers <AIW_HOME> <truth.json>` makes the same
five chat completions as tests/ingestion/adapters/produce.py (tests/ingestion/adapters/scenario.py) through
- `litellm`: the `litellm` SDK, whose custom logger writes each call's standard logging payload (what
  LiteLLM's S3, GCS and custom loggers receive) as JSON lines to landing/litellm/<today>/payloads.jsonl;
- `tracers`: the `openai` client instrumented by `openinference-instrumentation-openai` (spans exported by
  the OpenTelemetry SDK, written as OTLP JSON to landing/otlp/<today>/openinference.jsonl), then
  Langfuse's OpenAI integration (`langfuse.openai`), whose SDK exports OTLP/HTTP protobuf to a local
  endpoint that writes what it receives as OTLP JSON to landing/otlp/<today>/langfuse.jsonl,
and writes what the fake OpenAI server served (the ground truth) to truth.json, one list per producer.
Each mode is a subprocess of its own: litellm brings its own httpx clients, while openai 3.x needs httpx2
aliased as httpx before the instrumentations import it (as in tests/ingestion/adapters/produce.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

# LiteLLM fetches its model price map from the internet at import unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.ingestion.adapters.fakes import FakeOpenAI  # noqa: E402
from tests.ingestion.adapters.scenario import calls  # noqa: E402

LITELLM_USER = "bob@example.com"
LITELLM_FEATURE = "support_chat_gw"
OPENINFERENCE_FEATURE = "support_chat_oi"
LANGFUSE_FEATURE = "support_chat_lf"


class _Completions:
    """`client.chat.completions.create(...)` of the OpenAI client, made through litellm.completion."""

    def __init__(self, base_url: str, extra: dict[str, Any]) -> None:
        self.base_url, self.extra = base_url, extra

    def create(self, *, model: str, **kwargs: Any) -> Any:
        import litellm

        return litellm.completion(model=f"openai/{model}", api_base=self.base_url, api_key="sk-test",
                                  num_retries=0, **kwargs, **self.extra)


class LitellmClient:
    def __init__(self, base_url: str, extra: dict[str, Any]) -> None:
        self.chat = type("Chat", (), {"completions": _Completions(base_url, extra)})()


def produce_litellm(fake: FakeOpenAI, landing: Path) -> None:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    landing.mkdir(parents=True, exist_ok=True)
    path = landing / "payloads.jsonl"

    class PayloadFile(CustomLogger):
        """Appends every call's standard logging payload as one JSON line, success or failure."""

        def _write(self, kwargs: dict[str, Any]) -> None:
            with path.open("a") as fh:
                fh.write(json.dumps(kwargs["standard_logging_object"], default=str) + "\n")

        def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            self._write(kwargs)

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            self._write(kwargs)

    litellm.callbacks = [PayloadFile()]
    client = LitellmClient(fake.base_url, {
        "user": LITELLM_USER, "metadata": {"tags": ["team:support"],
                                           "spend_logs_metadata": {"feature_id": LITELLM_FEATURE}},
        "litellm_session_id": "sess-gw-1"})
    calls(client, {})
    # Success callbacks run on a worker thread after the call returns: wait for all five lines.
    _wait_for_lines(path, 5)


def _wait_for_lines(path: Path, count: int, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{path}: fewer than {count} lines after {timeout_s} s")


def produce_openinference(fake: FakeOpenAI, landing: Path) -> None:
    import openai
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.ingestion.adapters.fakes import otlp_json_lines

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    # OpenInference's context attributes: every span made inside carries them.
    with using_attributes(session_id="sess-oi-1", user_id="bob@example.com",
                          metadata={"feature_id": OPENINFERENCE_FEATURE}, tags=["team:support"]):
        calls(client, {})
    OpenAIInstrumentor().uninstrument()
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "openinference.jsonl").write_text("\n".join(otlp_json_lines(list(exporter.get_finished_spans())))
                                                 + "\n")


def produce_langfuse(fake: FakeOpenAI, landing: Path) -> None:
    from tests.ingestion.adapters.fakes import FakeOtlpEndpoint

    endpoint = FakeOtlpEndpoint().start()
    os.environ.update(LANGFUSE_PUBLIC_KEY="pk-lf-test", LANGFUSE_SECRET_KEY="sk-lf-test",
                      LANGFUSE_HOST=endpoint.host, LANGFUSE_TRACING_ENVIRONMENT="staging")
    from langfuse import get_client, propagate_attributes
    from langfuse.openai import OpenAI

    langfuse = get_client()
    client = OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    # A request-handler observation around the calls (a Langfuse span, not a generation: skipped).
    with langfuse.start_as_current_observation(as_type="span", name="handle_request"), \
            propagate_attributes(user_id="bob@example.com", session_id="sess-lf-1", tags=["team:support"],
                                 metadata={"feature_id": LANGFUSE_FEATURE}):
        calls(client, {})
    langfuse.flush()
    langfuse.shutdown()
    endpoint.stop()
    assert endpoint.paths and all(p == "/api/public/otel/v1/traces" for p in endpoint.paths), endpoint.paths
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "langfuse.jsonl").write_text("\n".join(endpoint.lines) + "\n")


def main(mode: str, home: Path, truth: Path) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    fake = FakeOpenAI().start()
    served: dict[str, list[dict[str, Any]]] = {}
    try:
        if mode == "litellm":
            produce_litellm(fake, home / "landing" / "litellm" / today)
            served["litellm"] = [asdict(s) for s in fake.served]
        elif mode == "tracers":
            produce_openinference(fake, home / "landing" / "otlp" / today)
            served["openinference"] = [asdict(s) for s in fake.served]
            produce_langfuse(fake, home / "landing" / "otlp" / today)
            served["langfuse"] = [asdict(s) for s in fake.served[len(served["openinference"]):]]
        else:
            raise SystemExit(f"unknown mode {mode!r}: litellm or tracers")
    finally:
        fake.stop()
    truth.write_text(json.dumps(served))


if __name__ == "__main__":
    if sys.argv[1] == "tracers":
        import httpx2

        httpx2.alias_httpx()  # openai 3.x is built on httpx2; the instrumentations import httpx
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
