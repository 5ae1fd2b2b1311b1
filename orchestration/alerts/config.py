"""Which alert sinks are on: one TOML file (documented in docs/alerts.md) or, without it, environment variables.

Secrets (webhook URLs, auth headers) are never written in the file: it names the environment variable
that holds each one. A sink whose variable is unset stays configured and records a failed delivery ('... not set'),
so its alerts are delivered once the variable is set (within the retry window).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion.layout import Layout
from orchestration.alerts.http import RetryPolicy, validate_url
from orchestration.alerts.sinks import JsonLinesSink, LogSink, Sink, SlackSink, WebhookSink

CONFIG_ENV = "AIW_ALERTS_CONFIG"
WEBHOOK_URL_ENV = "AIW_ALERT_WEBHOOK_URL"
SLACK_URL_ENV = "AIW_SLACK_WEBHOOK_URL"


@dataclass
class SinkConfig:
    """The sinks to deliver to and how hard to retry them."""

    sinks: list[Sink] = field(default_factory=list)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    source: str = "defaults"


def config_path(layout: Layout, env: Mapping[str, str] = os.environ) -> Path | None:
    """$AIW_ALERTS_CONFIG, else AIW_HOME/alerts/sinks.toml when it exists, else None (env-only setup)."""
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
        if not path.exists():
            raise FileNotFoundError(f"{CONFIG_ENV}={path} does not exist; unset it or create the file "
                                    "(see docs/alert_sinks.example.toml)")
        return path
    default = layout.alerts / "sinks.toml"
    return default if default.exists() else None


def _policy(raw: Mapping[str, Any]) -> RetryPolicy:
    known = set(RetryPolicy.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown [retry] keys {sorted(unknown)}; known: {sorted(known)}")
    return RetryPolicy(**raw)


def _secret(env: Mapping[str, str], var: str | None, sink: str) -> tuple[str | None, str]:
    if not var:
        raise ValueError(f"alert sink {sink!r} needs url_env = \"<ENV VAR holding the URL>\" (never the URL itself)")
    value = (env.get(var) or "").strip() or None
    if value is None:
        return None, f"{var} is not set"
    problem = validate_url(value)
    if problem:
        # Checked once here, reported on every delivery as this one line (never the URL: it is the secret).
        return None, f"{var} {problem}"
    return value, ""


def _from_file(layout: Layout, path: Path, logger: Any, env: Mapping[str, str]) -> SinkConfig:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    policy = _policy(raw.get("retry", {}))
    sinks: list[Sink] = []
    for i, entry in enumerate(raw.get("sink", [])):
        kind = entry.get("type")
        name = entry.get("name", kind)
        if "url" in entry:
            raise ValueError(f"{path}: sink {name!r} has a literal url; put it in an env var and use url_env")
        if kind == "jsonl":
            sinks.append(JsonLinesSink(Path(entry.get("path", layout.alerts / "alerts.jsonl"))))
        elif kind == "log":
            sinks.append(LogSink(logger))
        elif kind in ("webhook", "slack"):
            url, missing = _secret(env, entry.get("url_env"), name)
            headers = {h: env[v] for h, v in entry.get("headers_env", {}).items() if env.get(v)}
            cls = SlackSink if kind == "slack" else WebhookSink
            sinks.append(cls(name, url, headers, policy, missing))
        else:
            raise ValueError(f"{path}: sink #{i + 1} has type {kind!r}; use jsonl, log, webhook or slack")
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: sink names must be unique (the alert log keys deliveries by name): {names}")
    if "jsonl" not in names:
        # The JSON-lines file is the alert record other tools read: always on.
        sinks.insert(0, JsonLinesSink(layout.alerts / "alerts.jsonl"))
    return SinkConfig(sinks, policy, str(path))


def load_sinks(layout: Layout, logger: Any = None, env: Mapping[str, str] = os.environ) -> SinkConfig:
    """The configured sinks: from the TOML file if there is one, else JSON lines + log + env-var webhooks."""
    path = config_path(layout, env)
    if path is not None:
        return _from_file(layout, path, logger, env)
    policy = RetryPolicy()
    sinks: list[Sink] = [JsonLinesSink(layout.alerts / "alerts.jsonl"), LogSink(logger)]
    if env.get(WEBHOOK_URL_ENV):
        url, missing = _secret(env, WEBHOOK_URL_ENV, "webhook")
        sinks.append(WebhookSink("webhook", url, policy=policy, missing=missing))
    if env.get(SLACK_URL_ENV):
        url, missing = _secret(env, SLACK_URL_ENV, "slack")
        sinks.append(SlackSink("slack", url, policy=policy, missing=missing))
    return SinkConfig(sinks, policy, "environment")
