"""POSTing JSON to a webhook with bounded retries, an overall deadline, and no redirects (standard library only).

Why not urllib: its timeout bounds each socket operation, so a receiver answering one byte every few
seconds holds a delivery for minutes; and it follows redirects, sending the alert (as a bodiless GET) and
the secret headers to wherever the 302 points. Here a watchdog closes the socket at the deadline, and a
3xx is a failed delivery.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.alerts.model import DELIVERED, DeliveryStatus


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one evaluation tries a sink before leaving the alert for the next tick."""

    attempts: int = 3            # tries per alert per evaluation
    backoff_seconds: float = 0.5  # wait before the 2nd try; doubles each time
    timeout_seconds: float = 5.0  # per socket operation (connect, each read)
    delivery_deadline_seconds: float = 10.0  # all attempts of one delivery, waits included, however slow the peer
    evaluation_budget_seconds: float = 40.0  # all deliveries of one evaluation (a sensor tick has 60 s)
    max_retry_after_seconds: float = 10.0  # cap on a server's Retry-After (Slack sends it with 429)
    give_up_after_hours: float = 24.0  # after this, a still-failing delivery is recorded as abandoned


DEFAULT_POLICY = RetryPolicy()

# Statuses that say the server will not do better on a retry within this tick.
_PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}
_MAX_ANSWER_BYTES = 64 * 1024  # an answer is read (so the connection ends cleanly) but never kept


def validate_url(url: str) -> str | None:
    """Why `url` cannot be a webhook (one line, without the URL: it is a secret), or None when it can."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return "is not a valid http(s) URL (it does not parse)"
    if parts.scheme not in ("http", "https"):
        return f"is not a valid http(s) URL (scheme {parts.scheme or 'missing'!r}; expected https://...)"
    if not parts.hostname:
        return "is not a valid http(s) URL (no host)"
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "is not a valid http(s) URL (bad port)"
    return None


def mask_url(url: str) -> str:
    """`https://hooks.slack.com/…`: the scheme and host, never the path or query (where the secret is)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "<url>"
    except ValueError:
        return "<url>"


def mask(text: str, secrets: list[str]) -> str:
    """`text` with every secret (URL, header value, or a long part of one) replaced by `***`."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class _Deadline:
    """Shuts a connection's socket down when the deadline passes, unblocking any read or write on it."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn = conn
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _post_once(url: str, body: bytes, headers: Mapping[str, str], timeout: float,
               remaining: float) -> tuple[int, str, str | None]:
    """(status, reason, Retry-After) of one POST, raising OSError/HTTPException on a transport failure."""
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=min(timeout, remaining))
    watchdog = _Deadline(conn, remaining)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        response.read(_MAX_ANSWER_BYTES)
        if watchdog.fired:  # the cut can look like a short but complete answer: it is not one
            raise TimeoutError("the receiver did not answer completely before the delivery deadline")
        return response.status, response.reason, response.getheader("Retry-After")
    except (OSError, http.client.HTTPException):
        if watchdog.fired:
            raise TimeoutError("the receiver did not answer completely before the delivery deadline") from None
        raise
    finally:
        watchdog.cancel()
        conn.close()


def post_json(url: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None,
              policy: RetryPolicy = DEFAULT_POLICY, sleep: Callable[[float], None] = time.sleep,
              deadline: float | None = None) -> DeliveryStatus:
    """POST `payload` as JSON; return delivered, or failed with "<why> after N attempt(s)". Never raises.

    All attempts together end by `deadline` (a `time.monotonic()` value; default: now plus the policy's
    delivery deadline). A redirect is a failure, never followed. No message contains the URL or a header value.
    """
    headers = dict(headers or {})
    secrets = [url, *headers.values()]
    start = time.monotonic()
    end = start + policy.delivery_deadline_seconds
    end = end if deadline is None else min(end, deadline)
    problem = validate_url(url)
    if problem:
        return DeliveryStatus.failed(f"the sink URL {problem}")
    try:
        body = json.dumps(payload, default=str).encode()
    except (TypeError, ValueError) as exc:
        return DeliveryStatus.failed(f"payload is not JSON ({exc})")
    wait = policy.backoff_seconds
    reason = "not attempted"
    attempt = 0
    for attempt in range(1, policy.attempts + 1):  # noqa: B007 (reported below)
        remaining = end - time.monotonic()
        if remaining <= 0:
            reason = f"{reason}; delivery deadline of {policy.delivery_deadline_seconds:g} s reached"
            attempt -= 1
            break
        retry_after: float | None = None
        try:
            status, why, retry_header = _post_once(url, body, headers, policy.timeout_seconds, remaining)
        except TimeoutError as exc:
            reason = (f"TimeoutError: {exc}" if time.monotonic() < end else
                      f"no complete answer within the delivery deadline of {policy.delivery_deadline_seconds:g} s")
            if time.monotonic() >= end:
                break
        except (OSError, http.client.HTTPException) as exc:
            reason = mask(f"{type(exc).__name__}: {exc}", secrets)
        else:
            if 200 <= status < 300:
                return DELIVERED
            if 300 <= status < 400:
                # Following it would hand the alert and the secret headers to another address.
                return DeliveryStatus.failed(f"HTTP {status} redirect refused (point the sink at the final URL) "
                                             f"after {attempt} attempt(s)")
            reason = mask(f"HTTP {status} {why}", secrets)
            if status in _PERMANENT:
                return DeliveryStatus.failed(f"{reason} (not retried this tick) after {attempt} attempt(s)")
            if retry_header and retry_header.strip().isdigit():
                retry_after = min(float(retry_header), policy.max_retry_after_seconds)
        if attempt < policy.attempts:
            pause = retry_after if retry_after is not None else wait
            if time.monotonic() + pause >= end:
                reason = f"{reason}; delivery deadline of {policy.delivery_deadline_seconds:g} s reached"
                break
            sleep(pause)
            wait *= 2
    return DeliveryStatus.failed(f"{reason} after {attempt} attempt(s)")
