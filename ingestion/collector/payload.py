"""Request bodies -> landing lines: decompression with a size cap and the shape checks the collector does.

Pure functions, no I/O. The collector only checks shape (a JSON array of objects, or NDJSON with one
object per line); the full event contract is enforced later by the loader, which quarantines what breaks it.
Every function returns the bytes to append to a landing file: one compact JSON object per line, each line
ending in a newline, so a file is always a whole number of records.
"""

from __future__ import annotations

import zlib

import orjson

from ingestion.collector.settings import DEFAULT_MAX_GZIP_MEMBERS, DEFAULT_MAX_RECORDS

# Show at most this much of an offending value in an error message.
_SNIPPET = 60


class PayloadError(Exception):
    """A body the collector refuses, with the HTTP status to answer and a message saying what was wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[type[PayloadError], tuple[int, str]]:
        # Raised in worker processes too (offload.py): pickle both arguments, not only the message.
        return PayloadError, (self.status, self.message)


# Compressed input is fed to each gzip member's decompressor in slices of this size: a decompressor copies
# whatever input follows its member's end, so feeding a whole body per member would copy it once per member.
_FEED = 64 * 1024


def decode_body(body: bytes, content_encoding: str | None, limit: int,
                max_members: int = DEFAULT_MAX_GZIP_MEMBERS) -> bytes:
    """The body with any gzip content-encoding undone, refusing more than `limit` bytes once inflated, or more
    than `max_members` gzip members (each costs a decompressor; one client sent 100,000 empty ones)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise PayloadError(415, f"unsupported Content-Encoding {encoding!r}: send identity or gzip")
    out: list[bytes] = []
    size = 0
    view = memoryview(body)
    pos, members = 0, 0
    # A gzip stream may hold several members back to back; inflate them all, never past the limit
    # (a small compressed body can expand a thousandfold).
    while pos < len(body):
        if body[pos] == 0:  # some writers pad members with zeros
            pos += 1
            continue
        members += 1
        if members > max_members:
            raise PayloadError(413, f"body has more than {max_members} gzip members: compress the batch as one "
                                    "gzip stream (the collector's --max-gzip-members)")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not inflater.eof and pos < len(body):
            piece = view[pos:pos + _FEED]
            try:
                chunk = inflater.decompress(piece, limit + 1 - size)
            except zlib.error as exc:
                raise PayloadError(400, f"body is not valid gzip: {exc}") from None
            size += len(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise PayloadError(413, f"body is larger than {limit} bytes once decompressed")
            out.append(chunk)
            pos += len(piece) - len(inflater.unused_data)
        if not inflater.eof:
            raise PayloadError(400, "body is truncated gzip (the compressed stream ends early)")
    return b"".join(out)


def _snippet(raw: bytes) -> str:
    text = raw[:_SNIPPET].decode("utf-8", errors="replace")
    return text + ("..." if len(raw) > _SNIPPET else "")


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _too_many(what: str, limit: int) -> PayloadError:
    return PayloadError(413, f"more than {limit} {what} in one request: send smaller batches "
                             "(the collector's --max-records)")


def parse_records(body: bytes, *, feedback: bool = False, max_records: int = DEFAULT_MAX_RECORDS) -> tuple[bytes, int]:
    """Landing lines and their count for a body of native records: a JSON array of objects, or NDJSON.

    With `feedback`, every record must be a feedback record; a missing record_type is set to "feedback".
    More than `max_records` records is a 413.
    """
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(400, f"body starts with '[' but is not valid JSON: {exc}") from None
        if not isinstance(items, list):  # pragma: no cover - '[' always parses to a list
            raise PayloadError(400, "body must be a JSON array of objects or NDJSON")
        if len(items) > max_records:
            raise _too_many("records", max_records)
        lines = []
        for pos, item in enumerate(items):
            if not isinstance(item, dict):
                raise PayloadError(400, f"array element {pos} is {_kind(item)}, expected a JSON object (a record)")
            if feedback:
                _as_feedback(item, f"array element {pos}")
            lines.append(orjson.dumps(item))
        return (b"\n".join(lines) + b"\n" if lines else b""), len(lines)

    if stripped.startswith(b"{") and b"\n" in stripped.strip():
        # One pretty-printed object is a record too, not NDJSON with broken lines.
        try:
            single = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            single = None
        if isinstance(single, dict):
            if feedback:
                _as_feedback(single, "the body")
            return orjson.dumps(single) + b"\n", 1

    out: list[bytes] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if len(out) == max_records:
            raise _too_many("records", max_records)
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(400, f"line {number} is not valid JSON ({exc}): {_snippet(line)}") from None
        if not isinstance(item, dict):
            raise PayloadError(400, f"line {number} is {_kind(item)}, expected one JSON object per line (NDJSON) "
                                    "or a JSON array of objects")
        if feedback:
            _as_feedback(item, f"line {number}")
            line = orjson.dumps(item)
        out.append(line)  # already compact enough: a valid JSON object with no newline inside
    return (b"\n".join(out) + b"\n" if out else b""), len(out)


def _as_feedback(item: dict[str, object], where: str) -> None:
    rtype = item.setdefault("record_type", "feedback")
    if rtype != "feedback":
        raise PayloadError(400, f"{where} has record_type {rtype!r}; /v1/feedback takes feedback records only "
                                "(send interactions to /v1/events)")


def parse_otlp_traces(body: bytes, content_type: str | None,
                      max_spans: int = DEFAULT_MAX_RECORDS) -> tuple[bytes, int]:
    """One landing line (the export request, compact) and its span count, for an OTLP/HTTP JSON trace export.
    More than `max_spans` spans is a 413."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        raise PayloadError(415, "only OTLP/HTTP JSON is accepted: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json "
                                "(or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)")
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise PayloadError(400, f"body is {_kind(request)}, expected an OTLP ExportTraceServiceRequest object "
                                '{"resourceSpans": [...]}')
    resource_spans = request.get("resourceSpans", request.get("resource_spans", []))
    if not isinstance(resource_spans, list):
        raise PayloadError(400, f"resourceSpans is {_kind(resource_spans)}, expected an array")
    spans = 0
    for i, rs in enumerate(resource_spans):
        if not isinstance(rs, dict):
            raise PayloadError(400, f"resourceSpans[{i}] is {_kind(rs)}, expected an object")
        for j, ss in enumerate(rs.get("scopeSpans", rs.get("scope_spans", [])) or []):
            if not isinstance(ss, dict) or not isinstance(ss.get("spans", []), list):
                raise PayloadError(400, f"resourceSpans[{i}].scopeSpans[{j}] must be an object with a spans array")
            spans += len(ss.get("spans", []))
            if spans > max_spans:
                raise _too_many("spans", max_spans)
    if not resource_spans:
        return b"", 0
    return orjson.dumps(request) + b"\n", spans


# What each route accepts, for `parse_body`.
ROUTES = ("events", "feedback", "traces")


def parse_body(route: str, body: bytes, content_type: str | None, max_records: int) -> tuple[bytes, int]:
    """Landing lines and their count (records; OTLP: 1 per export request) for a decoded body of `route`.

    A top-level function of plain arguments so a worker process can run it (see `offload.py`).
    """
    if route == "traces":
        data, _spans = parse_otlp_traces(body, content_type, max_records)
        return data, 1 if data else 0
    return parse_records(body, feedback=route == "feedback", max_records=max_records)
