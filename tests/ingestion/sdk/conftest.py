"""Shared fixtures: real HTTP servers on 127.0.0.1 standing in for OpenAI and for the collector."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ingestion.sdk import tracking
from ingestion.sdk.emitter import BatchEmitter


class FakeOpenAI(ThreadingHTTPServer):
    """An OpenAI-compatible /v1/chat/completions with known answers, usage and a delay before the first chunk."""

    daemon_threads = True
    WORDS = ["Paris", " is", " the", " capital", " of", " France", "."]
    PROMPT_TOKENS = 57
    CACHED_TOKENS = 32
    RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OpenAIHandler)
        self.first_chunk_delay = 0.3
        self.requests: list[dict[str, Any]] = []
        self.chunks_sent: list[int] = []  # per streamed request: data lines sent (excluding [DONE])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def usage(self) -> dict[str, Any]:
        return {"prompt_tokens": self.PROMPT_TOKENS, "completion_tokens": len(self.WORDS),
                "total_tokens": self.PROMPT_TOKENS + len(self.WORDS),
                "prompt_tokens_details": {"cached_tokens": self.CACHED_TOKENS}}


class _OpenAIHandler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if body["model"] == "fail-500":
            data = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        base = {"id": "chatcmpl-1", "created": 1_700_000_000, "model": FakeOpenAI.RESPONSE_MODEL}
        if not body.get("stream"):
            data = json.dumps({**base, "object": "chat.completion", "usage": self.server.usage(), "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(FakeOpenAI.WORDS)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        self.wfile.flush()
        time.sleep(self.server.first_chunk_delay)
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        events += [{**chunk, "choices": [{"index": 0, "delta": {"content": w}}]} for w in FakeOpenAI.WORDS]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": self.server.usage()})
        for event in events:
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.server.chunks_sent.append(len(events))


class FakeCollector(ThreadingHTTPServer):
    """The collector's documented API: POST /v1/events, gzip JSON array or NDJSON, bearer token, 2xx = durable."""

    daemon_threads = True
    TOKEN = "test-token"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CollectorHandler)
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []  # records in acknowledged requests
        self.received: list[dict[str, Any]] = []  # records in every request that reached us
        self.requests = 0
        self.fail_next: list[int] = []  # statuses to answer the next requests with
        self.hang = threading.Event()  # set: read the body, never answer (until released)
        self.release = threading.Event()
        self.redirect_to: str | None = None  # set: answer every POST with a 302 to this URL
        self.max_body_bytes: int | None = None  # set: 413 for a larger (decompressed) body, like the collector
        self.body_sizes: list[int] = []  # decompressed size of every request body
        self.gets: list[dict[str, str]] = []  # headers of every GET (a client following a redirect)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/events"


class _CollectorHandler(BaseHTTPRequestHandler):
    server: FakeCollector

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.gets.append(dict(self.headers))
        self._answer(200, {"ok": True})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/v1/events":  # what a framework does for "/v1/events/": redirect to the canonical path
            self.send_response(307)
            self.send_header("Location", "/v1/events")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Authorization") != f"Bearer {FakeCollector.TOKEN}":
            self._answer(401, {"error": "missing or wrong bearer token"})
            return
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        with self.server.lock:
            self.server.body_sizes.append(len(raw))
        if self.server.max_body_bytes is not None and len(raw) > self.server.max_body_bytes:
            self._answer(413, {"error": f"body is larger than {self.server.max_body_bytes} bytes"})
            return
        text = raw.decode()
        records = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
        with self.server.lock:
            self.server.requests += 1
            self.server.received.extend(records)
            status = self.server.fail_next.pop(0) if self.server.fail_next else 200
        if self.server.hang.is_set():
            self.server.release.wait(30)
            return
        if status >= 300:
            self._answer(status, {"error": "try later"})
            return
        with self.server.lock:
            self.server.accepted.extend(records)
        self._answer(200, {"accepted": len(records)})


def _serve(server: ThreadingHTTPServer) -> Iterator[Any]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if isinstance(server, FakeCollector):
            server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    yield from _serve(FakeOpenAI())


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    yield from _serve(FakeCollector())


@pytest.fixture(autouse=True)
def _isolated_sdk(tmp_path, monkeypatch) -> Iterator[None]:
    """Every test gets its own AIW_HOME and no leftover default emitter."""
    monkeypatch.setenv("AIW_HOME", str(tmp_path / "aiw"))
    monkeypatch.delenv("AIW_COLLECTOR_URL", raising=False)
    monkeypatch.delenv("AIW_SDK_SPILL_DIR", raising=False)
    tracking.configure(None)
    yield
    tracking.configure(None)


class MemoryTransport:
    """Keeps every acknowledged batch; optionally fails the first N sends or waits on a gate."""

    def __init__(self, fail_first: int = 0, error: Exception | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.error = error
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()

    def send(self, records: list[dict[str, Any]]) -> None:
        from ingestion.sdk import TransportError

        with self.lock:
            self.attempts += 1
            attempt = self.attempts
        if self.gate is not None:
            self.gate.wait(30)
        if attempt <= self.fail_first:
            raise self.error or TransportError(f"planned failure {attempt}")
        with self.lock:
            self.batches.append(list(records))

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for b in self.batches for r in b]


@pytest.fixture
def memory_transport() -> type[MemoryTransport]:
    return MemoryTransport


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Poll `predicate` until true (bounded wait for background threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@pytest.fixture
def sink(tmp_path):
    """An emitter that delivers to memory: (emitter, transport)."""
    transport = MemoryTransport()
    em = BatchEmitter(transport, spill_dir=tmp_path / "spill", at_exit=False)
    yield em, transport
    em.close()
