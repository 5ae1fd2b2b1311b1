"""Where alerts go. The JSON-lines file under AIW_HOME/alerts is always on; more sinks plug in here."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ingestion.layout import Layout

if TYPE_CHECKING:
    from orchestration.alerting.engine import Alert

log = logging.getLogger("aiw.alerts")


class Sink(Protocol):
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
            return "delivered"
        except OSError as exc:
            return f"failed: {exc}"


class LogSink:
    """Writes each alert to the Python log (Dagster captures it in the sensor's tick logs)."""

    name = "log"

    def deliver(self, alert: Alert) -> str:
        log.warning("ALERT %s: %s", alert.kind, alert.title)
        return "delivered"


def default_sinks(layout: Layout) -> list[Sink]:
    return [JsonLinesSink(layout.alerts / "alerts.jsonl"), LogSink()]
