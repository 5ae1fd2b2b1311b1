"""The alert log: which alerts have fired (so each fires once, across restarts) and where each was delivered.

It lives under AIW_HOME/alerts and survives restarts (a sensor cursor alone would not survive a wiped
Dagster instance). `aiw sql` shows it as the `alert_log` view; the report counts alerts by kind from it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.layout import Layout
from orchestration.alerts.model import Alert, DeliveryStatus, Outcome


@dataclass
class LoggedAlert:
    """What the alert log knows about one alert key: the alert as fired and the latest status per sink."""

    alert: Alert
    deliveries: dict[str, DeliveryStatus] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    last_attempt: dict[str, str] = field(default_factory=dict)
    claimed_at: dict[str, str] = field(default_factory=dict)

    def pending(self, now: dt.datetime | None = None, claim_seconds: float = 0.0) -> list[str]:
        """Sinks that have neither delivered the alert nor been given up on: failed ones, and claims older
        than `claim_seconds` (an evaluation that died while sending). Without `now`, every claim counts."""
        out = []
        for sink, status in self.deliveries.items():
            if status.outcome is Outcome.FAILED:
                out.append(sink)
            elif status.outcome is Outcome.PENDING:
                claimed = self.claimed_at.get(sink)
                if now is None or not claimed or (
                        now - dt.datetime.fromisoformat(claimed)).total_seconds() >= claim_seconds:
                    out.append(sink)
        return out


class AlertLog:
    """Append-only JSON lines: one `fired` line per alert, then lines with later delivery statuses.

    Folding the lines in order gives, per alert key, the latest status of every sink; a sink whose
    latest status is failed is retried on the next evaluation, and only that sink. A pending status
    is a claim written (under the lock) before a delivery that then runs without the lock.
    """

    def __init__(self, layout: Layout) -> None:
        self.path = alert_log_path(layout)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a sensor tick and `aiw run` may evaluate at once
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def state(self) -> dict[str, LoggedAlert]:
        """Every alert key logged so far, with its latest per-sink delivery status."""
        logged: dict[str, LoggedAlert] = {}
        if not self.path.exists():
            return logged
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = record["key"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line (a crash mid-append): the alerts before it are intact
                if key not in logged:
                    alert = Alert(key, record["kind"], record["title"], record["details"], record["fired_at"])
                    logged[key] = LoggedAlert(alert)
                entry = logged[key]
                for sink, text in record.get("deliveries", {}).items():
                    status = DeliveryStatus.parse(text)
                    entry.deliveries[sink] = status
                    at = record.get("attempted_at") or record["fired_at"]
                    if status.outcome is Outcome.PENDING:
                        entry.claimed_at[sink] = at
                        continue
                    entry.attempts[sink] = entry.attempts.get(sink, 0) + 1
                    entry.last_attempt[sink] = at
        return logged

    def fired_keys(self) -> set[str]:
        return set(self.state())

    def append(self, alert: Alert, deliveries: Mapping[str, DeliveryStatus], event: str = "fired",
               at: str = "") -> None:
        record = {**alert.to_json(), "event": event, "attempted_at": at or alert.fired_at,
                  "deliveries": {sink: status.text() for sink, status in deliveries.items()}}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def alert_log_path(layout: Layout) -> Path:
    """AIW_HOME/alerts/alert_log.jsonl (`aiw sql` reads it as the alert_log view)."""
    return layout.alerts / "alert_log.jsonl"
