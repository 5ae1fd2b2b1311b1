"""The collector's HTTP API: FastAPI routes that check auth, size and shape, then group-commit to landing.

Routes:
- `POST /v1/events`   native records (interactions and feedback): a JSON array or NDJSON, optionally gzip;
- `POST /v1/feedback` feedback records only (record_type defaults to "feedback");
- `POST /v1/traces`   OTLP/HTTP JSON trace exports, stored as-is (one request per line) for the OTLP adapter;
- `GET  /healthz`     liveness, without auth (for load balancers and orchestrators).

A 2xx means the records are fsynced in a landing file. Anything else means nothing needs to be assumed
stored: retry the request (the pipeline drops exact duplicates by event_id).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingestion.collector.commit import GroupCommitter
from ingestion.collector.offload import BodyProcessor
from ingestion.collector.payload import PayloadError
from ingestion.collector.settings import CollectorSettings
from ingestion.collector.storage import LandingWriter, recover_leftovers
from ingestion.layout import Layout

log = logging.getLogger("aiw.collector")

# Sources the collector writes (README, "How data flows"): native records and raw OTLP exports.
WRITTEN_SOURCES = ("native", "otlp")


def _committers(settings: CollectorSettings) -> dict[str, GroupCommitter]:
    layout = Layout.from_env(settings.home)
    out = {}
    for source in WRITTEN_SOURCES:
        writer = LandingWriter(layout.landing_dir(source), rotate_bytes=settings.rotate_bytes,
                               rotate_seconds=settings.rotate_seconds)
        out[source] = GroupCommitter(writer, source)
    return out


def create_app(settings: CollectorSettings) -> FastAPI:
    """The collector ASGI app for these settings. Startup recovers leftover temporary files first."""
    layout = Layout.from_env(settings.home)
    committers = _committers(settings)
    expected = settings.token.encode() if settings.token else None
    bodies = BodyProcessor(max_body_bytes=settings.max_body_bytes, max_gzip_members=settings.max_gzip_members,
                           max_records=settings.max_records, inline_parse_bytes=settings.inline_parse_bytes,
                           parse_workers=settings.parse_workers)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for source in WRITTEN_SOURCES:
            for r in recover_leftovers(layout.landing_dir(source)):
                log.warning("recovered %s -> %s (%d bytes kept, %d bytes of a cut-off line dropped)",
                            r.temp_path, r.final_path, r.bytes_kept, r.bytes_cut)
        await bodies.start()
        ticker = asyncio.create_task(_rotate_periodically(committers, settings.rotate_seconds))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            for committer in committers.values():
                await committer.close()
            bodies.close()

    async def authorize(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        # compare_digest: the time taken does not reveal how much of a guessed token was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                                     "with the token the collector was started with (AIW_COLLECTOR_TOKEN)",
                                headers={"WWW-Authenticate": 'Bearer realm="aiw-collector"'})

    app = FastAPI(title="AI Analytics Warehouse collector", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.committers = committers

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        # One error shape for every refusal: {"error": "..."}.
        response = _json({"error": str(exc.detail)}, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(PayloadError)
    async def payload_error(_request: Request, exc: PayloadError) -> Response:
        return _json({"error": exc.message}, exc.status)

    async def read_records(route: str, request: Request) -> tuple[bytes, int]:
        """The landing lines and count of a request's body, decoded and parsed off the event loop."""
        return await bodies.process(route, await read_body(request), request.headers.get("content-encoding"),
                                    request.headers.get("content-type"))

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadError(413, f"body of {declared} bytes is larger than the limit of {limit} bytes: "
                                    "send smaller batches")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadError(413, f"body is larger than the limit of {limit} bytes: send smaller batches")
            chunks.append(chunk)
        return b"".join(chunks)

    async def store(source: str, data: bytes, records: int) -> None:
        try:
            await committers[source].append(data, records)
        except OSError as exc:
            raise PayloadError(503, f"could not store the batch durably ({exc.strerror or exc}); "
                                    "nothing of it is acknowledged, retry later") from None

    @app.post("/v1/events", dependencies=[Depends(authorize)])
    async def post_events(request: Request) -> Response:
        data, count = await read_records("events", request)
        await store("native", data, count)
        return _json({"accepted": count})

    @app.post("/v1/feedback", dependencies=[Depends(authorize)])
    async def post_feedback(request: Request) -> Response:
        data, count = await read_records("feedback", request)
        await store("native", data, count)
        return _json({"accepted": count})

    @app.post("/v1/traces", dependencies=[Depends(authorize)])
    async def post_traces(request: Request) -> Response:
        data, requests = await read_records("traces", request)
        await store("otlp", data, requests)
        # An empty ExportTraceServiceResponse: everything accepted (no partialSuccess).
        return _json({})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok",
                "records_received": {name: c.records for name, c in committers.items()},
                "flushes": {name: c.flushes for name, c in committers.items()}}

    return app


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _rotate_periodically(committers: dict[str, GroupCommitter], rotate_seconds: float) -> None:
    """Finalize files that reached their age even when no request arrives to notice it."""
    interval = max(0.05, min(1.0, rotate_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        for committer in committers.values():
            try:
                await committer.rotate_if_due()
            except OSError:
                log.exception("rotating %s failed; retrying on the next tick", committer.name)
