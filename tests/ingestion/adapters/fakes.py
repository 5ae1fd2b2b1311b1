"""Local stand-ins for the services real clients talk to, all on 127.0.0.1: an OpenAI-compatible chat
completions server, a PostHog capture endpoint, an OTLP/HTTP protobuf trace endpoint; and an OTLP JSON
serializer for SDK spans."""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Usage the fake server reports, per requested model: (prompt tokens incl. cached, completion, cached).
USAGE = {"gpt-4o-mini": (120, 30, 64), "gpt-4o": (300, 80, 0)}
RESPONSE_MODEL = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
FAILING_MODEL = "gpt-fails"
DELAY_S = 0.04  # server think time, so span and $ai_latency timings are clearly above zero
CHUNK_DELAY_S = 0.01


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 without request logging; `body()` reads the request body, gunzipped when it came gzipped."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        pass

    def body(self) -> bytes:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        return gzip.decompress(raw) if self.headers.get("content-encoding") == "gzip" else raw


class LocalServer:
    """A fake served on 127.0.0.1 at a free port, on a daemon thread."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Served:
    """One completion the fake server produced (the ground truth the marts are checked against)."""

    request_model: str
    response_model: str | None
    stream: bool
    include_usage: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    status: int
    response_id: str
    seconds: float


@dataclass
class FakeOpenAI(LocalServer):
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1, streaming and not, with cached-token usage."""

    served: list[Served] = field(default_factory=list)

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                started = time.perf_counter()
                fake.handle(self, json.loads(self.body() or b"{}"), started)

        self.serve(Handler)
        return self

    @property
    def base_url(self) -> str:
        return f"{self.host}/v1"

    def handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any], started: float) -> None:
        model = body.get("model", "")
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        rid = f"chatcmpl-{len(self.served) + 1:04d}"
        time.sleep(DELAY_S)
        if model == FAILING_MODEL:
            payload = json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()
            h.send_response(500)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            self.served.append(Served(model, None, stream, include_usage, None, None, None, 500, rid,
                                      time.perf_counter() - started))
            return
        prompt, completion, cached = USAGE[model]
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                 "prompt_tokens_details": {"cached_tokens": cached},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        created = int(time.time())
        response_model = RESPONSE_MODEL[model]
        if not stream:
            payload = json.dumps({
                "id": rid, "object": "chat.completion", "created": created, "model": response_model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hello there, how can I help?"}}],
                "usage": usage}).encode()
            h.send_response(200)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        else:
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("transfer-encoding", "chunked")
            h.end_headers()

            def send(obj: Any) -> None:
                data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
                h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                h.wfile.flush()

            base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": response_model}
            for i, word in enumerate(["Hello", " there", "!"]):
                delta = {"role": "assistant", "content": word} if i == 0 else {"content": word}
                send(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                time.sleep(CHUNK_DELAY_S)
            send(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if include_usage:
                send(base | {"choices": [], "usage": usage})
            send(b"[DONE]")
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        self.served.append(Served(
            model, response_model, stream, include_usage, prompt if (include_usage or not stream) else None,
            completion if (include_usage or not stream) else None, cached if (include_usage or not stream) else None,
            200, rid, time.perf_counter() - started))


@dataclass
class FakePosthog(LocalServer):
    """A PostHog capture endpoint on 127.0.0.1: keeps the events of every (gzip) batch posted to /batch/."""

    events: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def start(self) -> FakePosthog:
        fake = self

        class Handler(QuietHandler):
            def _reply(self, payload: bytes = b'{"status": 1}') -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                fake.paths.append("GET " + self.path)
                self._reply(b"{}")

            def do_POST(self) -> None:  # noqa: N802
                raw = self.body()
                fake.paths.append("POST " + self.path)
                if self.path.startswith("/batch"):
                    fake.events.extend(json.loads(raw).get("batch", []))
                self._reply()

        self.serve(Handler)
        return self

    def export_rows(self) -> list[dict[str, Any]]:
        """The received events as PostHog batch-export JSON lines would hold them."""
        rows = []
        for e in self.events:
            rows.append({"uuid": e.get("uuid"), "event": e.get("event"), "distinct_id": e.get("distinct_id"),
                         "person_id": None, "properties": e.get("properties", {}),
                         "timestamp": e.get("timestamp"), "created_at": e.get("timestamp")})
        return rows


def otlp_request_json(request: Any) -> str:
    """An ExportTraceServiceRequest message as one OTLP JSON line like the Collector's file exporter writes:
    lowerCamelCase, hex ids, int64 as strings, enums as integers."""
    import base64

    from google.protobuf import json_format

    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:  # protobuf's JSON writes bytes as base64; OTLP JSON wants hex
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data, separators=(",", ":"))


def otlp_json_lines(spans: list[Any]) -> list[str]:
    """SDK spans as OTLP JSON lines: one TracesData per line (otlp_request_json)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return [otlp_request_json(encode_spans(spans))]


@dataclass
class FakeOtlpEndpoint(LocalServer):
    """An OTLP/HTTP trace endpoint on 127.0.0.1 for exporters that send protobuf (any path): keeps each
    export request as an OTLP JSON line (otlp_request_json), as a Collector with a file exporter would."""

    lines: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def start(self) -> FakeOtlpEndpoint:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                fake.paths.append(self.path)
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.body())
                fake.lines.append(otlp_request_json(request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.serve(Handler)
        return self
