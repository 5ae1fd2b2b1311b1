"""Connection guards for the collector's HTTP server: timeouts, a header size limit and a connection limit.

uvicorn 0.54 with httptools bounds none of these by itself: its only timer is the keep-alive timeout, armed after
a response, so a connection that never sends a request, or sends its header one byte at a time, stays open
forever; llhttp has no header size limit, so an endless header grows memory without bound; and
`limit_concurrency` answers a plain-text 503 only once a request header is complete. `GuardedHttpToolsProtocol`
adds, per connection:

- idle timeout: no request byte within `idle_timeout` seconds of connecting (or of the previous answer, via
  uvicorn's keep-alive timer) -> closed without an answer;
- header timeout: the request line and headers not complete `header_timeout` seconds after their first byte
  -> 408 and closed (a slowloris connection that drips bytes never gets more time);
- body timeout: the body not complete `body_timeout` seconds after the header -> 408 and closed; the handler
  sees a disconnect, so nothing of the request is stored or acknowledged;
- header size: more than `max_header_bytes` before the header ends -> 431 and closed, after reading at most one
  socket read past the limit;
- connection limit: a request on a connection while more than `max_connections` are open -> 503 (JSON, with
  `Retry-After`) and closed, except `GET /healthz`; connections beyond `drop_above` (just under the process's
  file descriptor limit) are answered 503 at once and closed without being read, so the process never runs
  out of descriptors.

The subclass relies on uvicorn's HttpToolsProtocol internals (parser callbacks, `self.connections`), which is
why uvicorn is pinned exactly in pyproject.toml;
tests/ingestion/collector/test_collector_hostile.py exercises each guard.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("aiw.collector")

# Descriptors kept free for everything but client connections: the listening socket, landing files and their
# directories, executor pipes, worker processes, logs.
RESERVED_FDS = 64
# How long a connection answered 503 at connect time is kept to swallow the request it already sent (closing
# on unread data resets the connection, and the client would never read the 503), unless descriptors are
# nearly gone, when it is closed at once.
_DROP_LINGER_S = 0.25
# At most one warning per this many seconds for each kind of refusal, so a flood does not become a log flood.
_WARN_EVERY_S = 10.0


@dataclass(frozen=True)
class ConnectionGuard:
    """The limits one collector process applies to each connection (see the module docstring)."""

    idle_timeout: float
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_connections: int
    drop_above: int
    open_file_limit: int


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (capped at 1M) and return the soft limit now in force.

    Every connection is a descriptor; many distributions start services with a soft limit of 1024 while the
    hard limit allows far more, and raising the soft limit up to the hard one needs no privilege.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:  # e.g. a container that forbids it: keep the soft limit
        log.warning("could not raise the open-file limit from %d to %d (%s)", soft, wanted, exc)
        return soft
    return wanted


def guard_for(*, idle_timeout: float, header_timeout: float, body_timeout: float, max_header_bytes: int,
              max_connections: int, open_file_limit: int) -> ConnectionGuard:
    """The guard for these settings, with the connection limit kept below the open-file limit."""
    drop_above = max(8, open_file_limit - RESERVED_FDS)
    # A quarter of the descriptor budget stays for connections that are only told 503.
    usable = max(4, drop_above * 3 // 4)
    if max_connections > usable:
        log.warning("--max-connections %d is more than the open-file limit %d allows; using %d (raise "
                    "`ulimit -n` / LimitNOFILE= for more)", max_connections, open_file_limit, usable)
        max_connections = usable
    return ConnectionGuard(idle_timeout=idle_timeout, header_timeout=header_timeout, body_timeout=body_timeout,
                           max_header_bytes=max_header_bytes, max_connections=max_connections,
                           drop_above=max(drop_above, max_connections + 1), open_file_limit=open_file_limit)


def _raw_response(status: int, reason: str, message: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": message})
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n").encode() + extra + b"\r\n" + body


class _RateLimitedWarning:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -_WARN_EVERY_S) < _WARN_EVERY_S:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        suppressed = self._suppressed.pop(kind, 0)
        self._last[kind] = now
        log.warning(message + (f" (and {suppressed} more since the last such warning)" if suppressed else ""),
                    *args)


warn = _RateLimitedWarning()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the collector's timeouts and limits. `guard` is set by `protocol_for`."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._in_header = False  # between the first byte of a request and the end of its header
        self._header_bytes = 0
        self._dropping = False  # answered 503 at connect time: read nothing more, close soon
        self._real_app = self.app

    # Connection lifetime

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.drop_above:
            # Close to the descriptor limit: do not parse this one. Answer, send FIN, discard what the client
            # already sent (closing with unread data would reset the connection and lose the answer), and close
            # after _DROP_LINGER_S; when descriptors are nearly gone, close at once.
            warn("drop", "%d connections open, more than the descriptor budget of %d: answering 503 at once",
                 len(self.connections), self.guard.drop_above)
            self._dropping = True
            transport.write(_raw_response(503, "Service Unavailable",
                                          _over_limit_message(self.guard.max_connections), b"retry-after: 1\r\n"))
            if len(self.connections) > self.guard.open_file_limit - RESERVED_FDS // 2:
                transport.close()
            else:
                if transport.can_write_eof():
                    transport.write_eof()
                self._arm(_DROP_LINGER_S, self._close)
            return
        self._arm(self.guard.idle_timeout, self._close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._dropping:
            return
        super().data_received(data)
        if self._in_header and not self.transport.is_closing():
            # An incomplete header stays buffered in the parser: count it as it arrives, so an endless header
            # costs at most the limit plus one socket read.
            self._header_bytes += len(data)
            if self._header_bytes > self.guard.max_header_bytes:
                warn("header", "refused a request header larger than %d bytes (431)", self.guard.max_header_bytes)
                self._refuse(431, "Request Header Fields Too Large", _header_too_large(self.guard.max_header_bytes))

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_header = True
        self._header_bytes = 0
        self._arm(self.guard.header_timeout, self._header_expired)

    def on_headers_complete(self) -> None:
        self._in_header = False
        # A header that arrived whole in one read was never counted in data_received: measure what was parsed.
        size = len(self.url) + 12 + sum(len(name) + len(value) + 4 for name, value in self.headers)
        # `self.connections` includes this one. Health checks are still answered: they cost next to nothing, and
        # an orchestrator that sees its liveness probe fail would restart the collector, which helps no one.
        over = len(self.connections) > self.guard.max_connections and not self._is_health_check()
        if size > self.guard.max_header_bytes:
            warn("header", "refused a request header larger than %d bytes (431)", self.guard.max_header_bytes)
            self.app = _refusal_app(431, _header_too_large(self.guard.max_header_bytes))
        elif over:
            warn("limit", "%d connections open, more than --max-connections %d: answering 503",
                 len(self.connections), self.guard.max_connections)
            self.app = _refusal_app(503, _over_limit_message(self.guard.max_connections))
        else:
            self.app = self._real_app
        super().on_headers_complete()
        self._arm(self.guard.body_timeout, self._body_expired)

    def _is_health_check(self) -> bool:
        return self.parser.get_method() == b"GET" and self.url.split(b"?", 1)[0] == b"/healthz"

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the whole request is in; the answer is the handler's business now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its keep-alive timer unless a pipelined request started; data cancels that timer even
        # when it is only blank lines, so the idle timer is ours, and only a request's first byte replaces it.
        if self.timeout_keep_alive_task is not None:
            self._arm(self.guard.idle_timeout, self._close)

    # Timers

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _header_expired(self) -> None:
        self._timer = None
        warn("header-timeout", "closed a connection whose request header was not complete after %g s (408)",
             self.guard.header_timeout)
        self._refuse(408, "Request Timeout", f"request header not complete within {self.guard.header_timeout:g} s "
                                             "(the collector's --header-timeout)")

    def _body_expired(self) -> None:
        self._timer = None
        warn("body-timeout", "closed a connection whose request body was not complete after %g s (408)",
             self.guard.body_timeout)
        self._refuse(408, "Request Timeout", f"request body not complete within {self.guard.body_timeout:g} s "
                                             "(the collector's --body-timeout); nothing of it was stored")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer `status` unless an answer has started, and close. A running handler sees a disconnect."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(_raw_response(status, reason, message))
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()


def _header_too_large(limit: int) -> str:
    return (f"request header larger than {limit} bytes: send fewer or shorter headers "
            "(the collector's --max-header-bytes)")


def _over_limit_message(limit: int) -> str:
    return (f"the collector has more than {limit} connections open (its --max-connections): "
            "nothing was stored, retry shortly")


def _refusal_app(status: int, message: str) -> Any:
    """An ASGI app that answers `status` with {"error": message} and closes the connection."""
    body = orjson.dumps({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    if status == 503:
        headers.append((b"retry-after", b"1"))

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return refuse


def protocol_for(guard: ConnectionGuard) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to `guard`, to pass as uvicorn's `http=`."""
    return type("CollectorHttpProtocol", (GuardedHttpToolsProtocol,), {"guard": guard})
