"""The alerting types every other alerts module shares: an alert, a delivery status, an evaluation's result.

This module imports nothing from the rest of the package, so rules, sinks, the log and the engine can all
depend on it without a cycle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Alert:
    """One finding worth telling a person about. `key` identifies it forever (dedupe)."""

    key: str
    kind: str
    title: str
    details: dict[str, Any]
    fired_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Outcome(StrEnum):
    """Where one alert stands with one sink."""

    DELIVERED = "delivered"
    FAILED = "failed"  # retried on a later evaluation
    PENDING = "pending"  # claimed by an evaluation that is sending it now, outside the alert-log lock
    ABANDONED = "abandoned"  # still failing after the retry window: never tried again


@dataclass(frozen=True)
class DeliveryStatus:
    """The status of one alert at one sink: an outcome and, unless delivered, the one-line reason.

    The alert log stores it as text (`text()`: "delivered", "failed: <reason>", "pending: <reason>",
    "abandoned after N evaluation(s): <reason>"), the format `aiw sql`'s alert_log view shows;
    `parse()` reads that text back.
    """

    outcome: Outcome
    reason: str = ""

    @classmethod
    def delivered(cls) -> DeliveryStatus:
        return DELIVERED

    @classmethod
    def failed(cls, reason: str) -> DeliveryStatus:
        return cls(Outcome.FAILED, reason)

    @classmethod
    def pending(cls, reason: str) -> DeliveryStatus:
        return cls(Outcome.PENDING, reason)

    @classmethod
    def abandoned(cls, reason: str) -> DeliveryStatus:
        """`reason` reads after the word: "after 3 evaluation(s): HTTP 500 ..."."""
        return cls(Outcome.ABANDONED, reason)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    def text(self) -> str:
        """The status as the alert log writes it."""
        if self.outcome is Outcome.DELIVERED:
            return Outcome.DELIVERED.value
        if self.outcome is Outcome.ABANDONED:
            return f"{self.outcome.value} {self.reason}"
        return f"{self.outcome.value}: {self.reason}"

    __str__ = text

    @classmethod
    def parse(cls, text: str) -> DeliveryStatus:
        """A status read back from the alert log's text."""
        if text == Outcome.DELIVERED.value:
            return DELIVERED
        for outcome in (Outcome.FAILED, Outcome.PENDING):
            if text.startswith(outcome.value):
                return cls(outcome, text[len(outcome.value):].removeprefix(": "))
        # "abandoned ...", or a status this version does not know: final either way, never retried.
        return cls(Outcome.ABANDONED, text.removeprefix(f"{Outcome.ABANDONED.value} "))


DELIVERED = DeliveryStatus(Outcome.DELIVERED)

# Per alert key, per sink name: a status.
Deliveries = dict[str, dict[str, DeliveryStatus]]


@dataclass
class Evaluation:
    """What one evaluation did: alerts fired now, earlier alerts re-delivered, and each sink's status."""

    fired: list[Alert] = field(default_factory=list)
    already_fired: int = 0
    skipped_reason: str | None = None
    deliveries: Deliveries = field(default_factory=dict)  # alerts fired now: key -> sink -> status
    retried: Deliveries = field(default_factory=dict)  # earlier alerts re-sent: key -> sink -> status

    def failed(self) -> dict[str, list[str]]:
        """Sink name -> alert keys it failed to take in this evaluation (they are retried next time)."""
        out: dict[str, list[str]] = {}
        for key, statuses in [*self.deliveries.items(), *self.retried.items()]:
            for sink, status in statuses.items():
                if status.outcome is Outcome.FAILED:
                    out.setdefault(sink, []).append(key)
        return out
