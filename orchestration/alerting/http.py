"""POSTing JSON to a webhook with bounded retries and backoff (standard library only, no network at import)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one evaluation tries a sink before leaving the alert for the next tick."""

    attempts: int = 3            # tries per alert per evaluation
    backoff_seconds: float = 0.5  # wait before the 2nd try; doubles each time
    timeout_seconds: float = 5.0  # per request; a sensor tick must stay well under Dagster's 60 s
    max_retry_after_seconds: float = 10.0  # cap on a server's Retry-After (Slack sends it with 429)
    give_up_after_hours: float = 24.0  # after this, a still-failing delivery is recorded as abandoned


DEFAULT_POLICY = RetryPolicy()

# Statuses that say the server will not do better on a retry within this tick.
_PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}


def post_json(url: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None,
              policy: RetryPolicy = DEFAULT_POLICY, sleep: Callable[[float], None] = time.sleep) -> str:
    """POST `payload` as JSON; return 'delivered' or 'failed: <why> after N attempt(s)'. Never raises."""
    body = json.dumps(payload, default=str).encode()
    wait = policy.backoff_seconds
    reason = "not attempted"
    for attempt in range(1, policy.attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        retry_after: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout_seconds) as response:
                response.read()
                return "delivered"
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code in _PERMANENT:
                return f"failed: {reason} (not retried this tick) after {attempt} attempt(s)"
            header = exc.headers.get("Retry-After") if exc.headers else None
            if header and header.strip().isdigit():
                retry_after = min(float(header), policy.max_retry_after_seconds)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < policy.attempts:
            sleep(retry_after if retry_after is not None else wait)
            wait *= 2
    return f"failed: {reason} after {policy.attempts} attempt(s)"
