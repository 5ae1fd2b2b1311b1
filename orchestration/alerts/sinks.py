"""Where alerts go: the JSON-lines file, the Dagster/Python log, a generic webhook, a Slack incoming webhook.

Every sink returns a DeliveryStatus instead of raising, so one sink that is down never stops the others;
the engine records each status in the alert log and retries failed ones on a later evaluation.
Which sinks are on is decided in `orchestration/alerts/config.py`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

from orchestration.alerts.http import DEFAULT_POLICY, RetryPolicy, post_json, validate_url
from orchestration.alerts.model import DELIVERED, Alert, DeliveryStatus

log = logging.getLogger("aiw.alerts")


class Sink(Protocol):
    """A destination for alerts."""

    name: str

    def deliver(self, alert: Alert) -> DeliveryStatus:
        """Deliver one alert; return delivered or failed with the reason (never raise)."""


class JsonLinesSink:
    """Appends each alert as one JSON line to AIW_HOME/alerts/alerts.jsonl (fsynced)."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def deliver(self, alert: Alert) -> DeliveryStatus:
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(alert.to_json()) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            return DELIVERED
        except OSError as exc:
            return DeliveryStatus.failed(str(exc))


class LogSink:
    """Writes each alert to a logger: the Dagster context log inside a sensor tick, else Python logging."""

    name = "log"

    def __init__(self, logger: Any = None) -> None:
        self.logger = logger or log

    def deliver(self, alert: Alert) -> DeliveryStatus:
        # One log line per alert, whatever the ids contain (a newline in an id must not forge a second line).
        self.logger.warning(f"ALERT {alert.kind}: {_one_line(alert.title)}")
        return DELIVERED


class WebhookSink:
    """POSTs `{"source": ..., "alert": {...}}` as JSON to a URL (any service that takes a generic webhook).

    The payload is data: every id and number as a JSON value, exactly as in the marts (the receiver escapes
    for wherever it displays them); no markup is rendered here.
    """

    def __init__(self, name: str, url: str | None, headers: dict[str, str] | None = None,
                 policy: RetryPolicy = DEFAULT_POLICY, missing: str = "") -> None:
        self.name = name
        problem = validate_url(url) if url else None
        # A URL that cannot work is reported on every delivery as one line, never as the URL (a secret).
        self.url = None if problem else url
        self.missing = missing or (f"the configured URL {problem}" if problem else "")
        self.headers = headers or {}
        self.policy = policy

    def payload(self, alert: Alert) -> dict[str, Any]:
        return {"source": "ai-analytics-warehouse", "alert": alert.to_json()}

    def deliver(self, alert: Alert, deadline: float | None = None) -> DeliveryStatus:
        if not self.url:
            return DeliveryStatus.failed(self.missing or "no URL configured")
        try:
            payload = self.payload(alert)
        except Exception as exc:  # a sink never raises into the evaluation
            return DeliveryStatus.failed(f"could not build the message ({type(exc).__name__})")
        return post_json(self.url, payload, self.headers, self.policy, deadline=deadline)


class SlackSink(WebhookSink):
    """Posts a Slack incoming-webhook message: a header, the numbers as fields, and what to do."""

    def payload(self, alert: Alert) -> dict[str, Any]:
        return slack_payload(alert)


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text)


# Slack parses <...> as links, mentions (<!channel>, <@U123>, <#C123>, <!subteam^S1>) and dates; bare
# @here/@channel/@everyone can notify too. https://api.slack.com/reference/surfaces/formatting#escaping
_SLACK_REFERENCE = re.compile(r"<[!@#][^>]*>")
_BROADCAST = re.compile(r"@(?=(here|channel|everyone)\b)", re.IGNORECASE)


def slack_text(value: Any) -> str:
    """A user-controlled string as inert Slack text: mentions removed, `& < >` escaped, one line.

    Escaping `<` alone disarms links and mentions; the explicit mention references are also removed so the
    message does not show an attacker's `<!channel>` at all; a broadcast word keeps its text but loses its
    power (a word joiner after the @).
    """
    text = _one_line(_field_value(value))
    text = _SLACK_REFERENCE.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@\u2060", text)


def _slack_code(value: Any) -> str:
    """Text for inside a `code span`: escaped, without backticks (which would end the span)."""
    return slack_text(value).replace("`", "'")


def _field_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The Slack Block Kit message for one alert (pure; `text` is the notification fallback).

    Every string that can carry user-controlled data (title, detail values, key) goes through
    `slack_text`: Slack renders it as the characters it is, never as a link or a mention.
    """
    details = dict(alert.details)
    action = slack_text(details.pop("action", "") or "See the marts named in the alert.")
    title = slack_text(alert.title)
    fields = [{"type": "mrkdwn", "text": f"*{slack_text(k)}*\n{slack_text(v)}"} for k, v in details.items()][:10]
    blocks: list[dict[str, Any]] = [
        # Slack limits: header text 150 chars, at most 10 fields per section. plain_text is not parsed
        # for links, but is escaped all the same (clients differ; the fallback `text` is parsed).
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": False}},
        {"type": "section", "fields": fields} if fields else
        {"type": "section", "text": {"type": "mrkdwn", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {action}"}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"`{_slack_code(alert.key)}` · {slack_text(alert.kind)} · "
                                       f"fired {slack_text(alert.fired_at or 'now')}"}]},
    ]
    return {"text": f"[{slack_text(alert.kind)}] {title}", "blocks": blocks}
