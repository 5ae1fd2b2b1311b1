"""Where alerts go: the JSON-lines file, the Dagster/Python log, a generic webhook, a Slack incoming webhook.

Every sink returns a status string instead of raising, so one sink that is down never stops the others;
the engine records each status in the alert log and retries failed ones on a later evaluation.
Which sinks are on is decided in `orchestration/alerting/config.py`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestration.alerting.http import DEFAULT_POLICY, RetryPolicy, post_json

if TYPE_CHECKING:
    from orchestration.alerting.engine import Alert

log = logging.getLogger("aiw.alerts")

DELIVERED = "delivered"


class Sink(Protocol):
    """A destination for alerts."""

    name: str

    def deliver(self, alert: Alert) -> str:
        """Deliver one alert; return 'delivered' or 'failed: <reason>' (never raise)."""


class JsonLinesSink:
    """Appends each alert as one JSON line to AIW_HOME/alerts/alerts.jsonl (fsynced)."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def deliver(self, alert: Alert) -> str:
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(alert.to_json()) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            return DELIVERED
        except OSError as exc:
            return f"failed: {exc}"


class LogSink:
    """Writes each alert to a logger: the Dagster context log inside a sensor tick, else Python logging."""

    name = "log"

    def __init__(self, logger: Any = None) -> None:
        self.logger = logger or log

    def deliver(self, alert: Alert) -> str:
        self.logger.warning(f"ALERT {alert.kind}: {alert.title}")
        return DELIVERED


class WebhookSink:
    """POSTs `{"alert": {...}}` as JSON to a URL (any service that takes a generic webhook)."""

    def __init__(self, name: str, url: str | None, headers: dict[str, str] | None = None,
                 policy: RetryPolicy = DEFAULT_POLICY, missing: str = "") -> None:
        self.name = name
        self.url = url
        self.headers = headers or {}
        self.policy = policy
        self.missing = missing  # why the URL is absent (an unset env var), reported as the failure

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"source": "ai-analytics-warehouse", "alert": alert.to_json()}

    def deliver(self, alert: Alert) -> str:
        if not self.url:
            return f"failed: {self.missing or 'no URL configured'}"
        return post_json(self.url, self.payload(alert), self.headers, self.policy)


class SlackSink(WebhookSink):
    """Posts a Slack incoming-webhook message: a header, the numbers as fields, and what to do."""

    def payload(self, alert: Alert) -> dict[str, Any]:
        return slack_payload(alert)


def _field_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The Slack Block Kit message for one alert (pure; `text` is the notification fallback)."""
    details = dict(alert.details)
    action = str(details.pop("action", "")) or "See the marts named in the alert."
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{_field_value(v)}"} for k, v in details.items()][:10]
    blocks: list[dict[str, Any]] = [
        # Slack limits: header text 150 chars, at most 10 fields per section.
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150], "emoji": False}},
        {"type": "section", "fields": fields} if fields else
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {action}"}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"`{alert.key}` · {alert.kind} · fired {alert.fired_at or 'now'}"}]},
    ]
    return {"text": f"[{alert.kind}] {alert.title}", "blocks": blocks}
