"""Alert evaluation: run the rules on the marts (read-only), fire each alert once, deliver it, log it.

Used by the Dagster sensors and by `aiw run`; both go through `evaluate()`, so an alert fired by one is
never fired again by the other ("once" is kept in the alert log, orchestration/alerts/log.py). Deliveries
that fail are retried on later evaluations with a backoff, until the policy's retry window ends.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import duckdb

from ingestion.layout import Layout
from orchestration.alerts.config import load_sinks
from orchestration.alerts.http import RetryPolicy
from orchestration.alerts.log import AlertLog, LoggedAlert
from orchestration.alerts.model import Alert, DeliveryStatus, Evaluation, Outcome
from orchestration.alerts.rules import RULES, Rule
from orchestration.alerts.sinks import Sink, WebhookSink
from orchestration.warehouse.connection import try_open_readonly


def _claim_seconds(policy: RetryPolicy) -> float:
    """How long a pending claim (a delivery another evaluation is sending now, outside the alert-log lock)
    keeps the others away; a claim older than this lost its owner mid-delivery and is due again."""
    return policy.evaluation_budget_seconds + policy.delivery_deadline_seconds + 60


class _Breaker:
    """Stops calling a sink for the rest of one evaluation once it failed (after its own retries), and stops
    calling any sink once the evaluation's time budget is spent (those deliveries wait for the next tick).

    Without this, a webhook that is down would cost every alert of the tick its full retry budget.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.down: dict[str, str] = {}
        self.policy = policy
        self.budget_end = time.monotonic() + policy.evaluation_budget_seconds

    def deliver(self, sink: Sink, alert: Alert) -> DeliveryStatus:
        if sink.name in self.down:
            return DeliveryStatus.failed(
                f"not tried, {sink.name} failed earlier in this evaluation ({self.down[sink.name]})")
        if time.monotonic() >= self.budget_end:
            return DeliveryStatus.failed(f"not tried, this evaluation's time budget of "
                                         f"{self.policy.evaluation_budget_seconds:g} s was used up (next tick)")
        try:
            if isinstance(sink, WebhookSink):
                status = sink.deliver(alert, deadline=self.budget_end)
            else:
                status = sink.deliver(alert)
        except Exception as exc:  # a sink that raises must not stop the others, nor the evaluation
            status = DeliveryStatus.failed(f"{sink.name} raised {type(exc).__name__}")
        if not status.ok:
            self.down[sink.name] = status.reason
        return status


def _retry_due(entry: LoggedAlert, sink: str, now: dt.datetime) -> bool:
    """Back off across evaluations too: 1, 2, 4 ... minutes after the last attempt, at most an hour.

    Every alert sensor ticks each minute; without this a dead webhook would be called, and logged,
    several times a minute for a whole day.
    """
    last = entry.last_attempt.get(sink)
    if not last:
        return True
    wait = min(60 * 2 ** (entry.attempts.get(sink, 1) - 1), 3600)
    return (now - dt.datetime.fromisoformat(last)).total_seconds() >= wait


def _give_up(entry: LoggedAlert, now: dt.datetime, policy: RetryPolicy) -> bool:
    fired = dt.datetime.fromisoformat(entry.alert.fired_at) if entry.alert.fired_at else now
    return (now - fired).total_seconds() > policy.give_up_after_hours * 3600


def evaluate(layout: Layout, rules: dict[str, Rule] | None = None, sinks: list[Sink] | None = None,
             now: dt.datetime | None = None, logger: Any = None, policy: RetryPolicy | None = None) -> Evaluation:
    """Retry deliveries that failed before, then fire every alert that holds and has not fired before.

    Never raises for a sink or its configuration (a broken config skips the evaluation with the reason).
    In three steps, so that a slow receiver never holds the alert-log lock: (1) under the lock, decide
    what to send and write it down as `pending`; (2) deliver, without the lock, within the policy's
    deadlines; (3) under the lock, write each outcome.

    `sinks` and `policy` default to the configured ones (orchestration/alerts/config.py); `logger`
    is where the log sink writes (a Dagster context log inside a sensor).
    """
    result = Evaluation()
    if sinks is None:
        try:
            config = load_sinks(layout, logger)
        except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            result.skipped_reason = f"alert sinks not loaded: {exc}"
            return result
        sinks, policy = config.sinks, policy or config.policy
    policy = policy or RetryPolicy()
    moment = now or dt.datetime.now(dt.UTC)
    stamp = moment.isoformat(timespec="seconds")
    claim = DeliveryStatus.pending(f"being delivered since {stamp}")
    by_name = {s.name: s for s in sinks}
    breaker = _Breaker(policy)
    log = AlertLog(layout)
    retries: list[tuple[LoggedAlert, list[str]]] = []
    new_alerts: list[Alert] = []

    with log.locked():  # (1) decide and claim
        logged = log.state()
        for entry in logged.values():
            due: list[str] = []
            abandoned: dict[str, DeliveryStatus] = {}
            for name in entry.pending(moment, _claim_seconds(policy)):
                if name not in by_name or not _retry_due(entry, name, moment):
                    continue  # not configured any more (its record stays as it was), or not due yet
                if _give_up(entry, moment, policy):
                    last = entry.deliveries[name]
                    last_reason = last.reason if last.outcome is Outcome.FAILED else last.text()
                    abandoned[name] = DeliveryStatus.abandoned(
                        f"after {entry.attempts.get(name, 0)} evaluation(s): {last_reason}")
                else:
                    due.append(name)
            if abandoned:
                log.append(entry.alert, abandoned, event="retry", at=stamp)
                result.retried.setdefault(entry.alert.key, {}).update(abandoned)
            if due:
                log.append(entry.alert, dict.fromkeys(due, claim), event="retry", at=stamp)
                retries.append((entry, due))

        con = try_open_readonly(layout.warehouse)
        if con is None:  # dbt is writing (or nothing is built yet): the next tick will see the result
            result.skipped_reason = "warehouse missing or being written; will retry"
        else:
            try:
                current = [a for rule in (rules or RULES).values() for a in rule(con)]
            except duckdb.CatalogException as exc:
                result.skipped_reason = f"marts not built yet ({exc})"
                current = []
            finally:
                con.close()
            for alert in current:
                if alert.key in logged:
                    result.already_fired += 1
                    continue
                alert = Alert(alert.key, alert.kind, alert.title, alert.details, fired_at=stamp)
                log.append(alert, {sink.name: claim for sink in sinks})
                logged[alert.key] = LoggedAlert(alert)
                new_alerts.append(alert)

    # (2) deliver, without the lock
    retried = [(entry, {name: breaker.deliver(by_name[name], entry.alert) for name in due})
               for entry, due in retries]
    delivered = [(alert, {sink.name: breaker.deliver(sink, alert) for sink in sinks}) for alert in new_alerts]

    with log.locked():  # (3) record the outcomes
        for entry, statuses in retried:
            log.append(entry.alert, statuses, event="retry", at=stamp)
            result.retried.setdefault(entry.alert.key, {}).update(statuses)
        for alert, statuses in delivered:
            log.append(alert, statuses, event="delivered", at=stamp)
            result.fired.append(alert)
            result.deliveries[alert.key] = statuses
    return result
