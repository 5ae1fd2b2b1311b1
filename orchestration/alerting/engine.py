"""Alert evaluation: read the marts read-only, fire each alert once, deliver it, log it.

Used by the Dagster sensors and by `aiw run`; both go through `evaluate()`, so an alert fired by
one is never fired again by the other. "Once" is kept in the alert log under AIW_HOME/alerts,
which survives restarts (a sensor cursor alone would not survive a wiped Dagster instance).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingestion.layout import Layout
from orchestration.alerting.config import load_sinks
from orchestration.alerting.http import RetryPolicy
from orchestration.alerting.sinks import DELIVERED, Sink, WebhookSink


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


@dataclass
class Evaluation:
    """What one evaluation did: alerts fired now, earlier alerts re-delivered, and each sink's status."""

    fired: list[Alert] = field(default_factory=list)
    already_fired: int = 0
    skipped_reason: str | None = None
    deliveries: dict[str, dict[str, str]] = field(default_factory=dict)  # alert key -> sink -> status
    retried: dict[str, dict[str, str]] = field(default_factory=dict)  # earlier alerts re-sent: key -> sink -> status

    def failed(self) -> dict[str, list[str]]:
        """Sink name -> alert keys it failed to take in this evaluation (they are retried next time)."""
        out: dict[str, list[str]] = {}
        for key, statuses in [*self.deliveries.items(), *self.retried.items()]:
            for sink, status in statuses.items():
                if status.startswith("failed"):
                    out.setdefault(sink, []).append(key)
        return out


# A rule reads the marts and returns every alert that holds now (fired before or not).
Rule = Callable[[duckdb.DuckDBPyConnection], list[Alert]]


def sessions_over_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    rows = con.execute("""
        select session_id, user_id, cost_usd, budget_usd, interactions, first_event_ts, last_event_ts
        from marts.mart_session_cost where over_budget order by cost_usd desc
    """).fetchall()
    return [Alert(
        key=f"session_over_budget:{sid}", kind="session_over_budget",
        title=f"Session {sid} cost ${cost:.2f}, over its ${budget:.2f} budget",
        details={"session_id": sid, "user_id": uid, "cost_usd": round(cost, 6), "budget_usd": budget,
                 "interactions": n, "first_event_ts": str(first), "last_event_ts": str(last),
                 "action": "Look at this session's calls in fct_ai_interactions; consider a per-session cap."})
        for sid, uid, cost, budget, n, first, last in rows]


def users_over_rolling_budget(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per user and breach episode: the first day the rolling cost went over budget."""
    alerts = []
    for window in ("7d", "30d"):
        rows = con.execute(f"""
            with flagged as (
                select *, lag(over_budget_{window}) over (partition by user_id order by event_date) as was_over
                from marts.mart_user_cost_daily
            )
            select user_id, event_date, cost_usd_{window}, budget_{window}_usd
            from flagged where over_budget_{window} and not coalesce(was_over, false)
            order by event_date, user_id
        """).fetchall()
        alerts += [Alert(
            key=f"user_over_budget_{window}:{uid}:{day}", kind=f"user_over_budget_{window}",
            title=f"User {uid} spent ${cost:.2f} in the {window} to {day}, over the ${budget:.2f} budget",
            details={"user_id": uid, "event_date": str(day), "window": window, "cost_usd": round(cost, 6),
                     "budget_usd": budget,
                     "action": "Check this user's sessions in mart_session_cost; consider a per-user cap."})
            for uid, day, cost, budget in rows]
    return alerts


def latency_slo_breaches(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per feature x model and run of consecutive breached hours (its first hour)."""
    rows = con.execute("""
        with flagged as (
            select *,
                   lag(hour_ts) over (partition by feature_id, model_id order by hour_ts) as previous_breach
            from marts.mart_latency_slo where slo_breached
        )
        select feature_id, model_id, hour_ts, ttft_p95_ms, slo_ttft_ms, ttft_samples
        from flagged
        where previous_breach is null or previous_breach <> hour_ts - interval 1 hour
        order by hour_ts, feature_id, model_id
    """).fetchall()
    return [Alert(
        key=f"latency_slo:{feature}:{model}:{hour:%Y-%m-%dT%H}", kind="latency_slo_breach",
        title=f"{feature} on {model}: p95 TTFT {p95:.0f} ms over the {slo:.0f} ms SLO from {hour:%Y-%m-%d %H}:00 UTC",
        details={"feature_id": feature, "model_id": model, "hour_ts": hour.isoformat(), "ttft_p95_ms": round(p95, 1),
                 "slo_ttft_ms": slo, "samples": n,
                 "action": "Compare model versions in mart_model_drift and routes in mart_routing for this feature."})
        for feature, model, hour, p95, slo, n in rows]


def model_drift(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """One alert per drifting model version, on the first day it drifted."""
    rows = con.execute("""
        select model_id, model_version, event_date, drift_reason, interactions
        from marts.mart_model_drift where drift_detected
        qualify row_number() over (partition by model_id, model_version order by event_date) = 1
        order by event_date, model_id, model_version
    """).fetchall()
    return [Alert(
        key=f"model_drift:{model}@{version}", kind="model_drift",
        title=f"{model} {version} got worse on {day}: {reason}",
        details={"model_id": model, "model_version": version, "event_date": str(day), "reason": reason,
                 "interactions": n,
                 "action": "Roll the version back or pin the previous one; see mart_model_drift for the daily tests."})
        for model, version, day, reason, n in rows]


RULES: dict[str, Rule] = {
    "session_over_budget": sessions_over_budget,
    "user_over_budget": users_over_rolling_budget,
    "latency_slo_breach": latency_slo_breaches,
    "model_drift": model_drift,
}


def open_warehouse_read_only(layout: Layout) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection, or None while the file is missing or a writer holds it."""
    if not layout.warehouse.exists():
        return None
    try:
        return duckdb.connect(str(layout.warehouse), read_only=True)
    except duckdb.IOException:
        return None  # dbt is writing; the next tick will see the result


# A delivery an evaluation has claimed and is sending now, outside the alert-log lock. Another evaluation
# leaves it alone until the claim is older than `_claim_seconds(policy)` (its owner died mid-delivery).
PENDING = "pending"


def _claim_seconds(policy: RetryPolicy) -> float:
    return policy.evaluation_budget_seconds + policy.delivery_deadline_seconds + 60


@dataclass
class LoggedAlert:
    """What the alert log knows about one alert key: the alert as fired and the latest status per sink."""

    alert: Alert
    deliveries: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    last_attempt: dict[str, str] = field(default_factory=dict)
    claimed_at: dict[str, str] = field(default_factory=dict)

    def pending(self, now: dt.datetime | None = None, claim_seconds: float = 0.0) -> list[str]:
        """Sinks that have neither delivered the alert nor been given up on: failed ones, and claims older
        than `claim_seconds` (an evaluation that died while sending). Without `now`, every claim counts."""
        out = []
        for sink, status in self.deliveries.items():
            if status.startswith("failed"):
                out.append(sink)
            elif status.startswith(PENDING):
                claimed = self.claimed_at.get(sink)
                if now is None or not claimed or (
                        now - dt.datetime.fromisoformat(claimed)).total_seconds() >= claim_seconds:
                    out.append(sink)
        return out


class AlertLog:
    """Append-only JSON lines: one `fired` line per alert, then lines with later delivery statuses.

    Folding the lines in order gives, per alert key, the latest status of every sink; a sink whose
    latest status is `failed: ...` is retried on the next evaluation, and only that sink. A `pending`
    status is a claim written (under the lock) before a delivery that then runs without the lock.
    """

    def __init__(self, layout: Layout) -> None:
        self.path = layout.alerts / "alert_log.jsonl"
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
                for sink, status in record.get("deliveries", {}).items():
                    entry.deliveries[sink] = status
                    at = record.get("attempted_at") or record["fired_at"]
                    if status.startswith(PENDING):
                        entry.claimed_at[sink] = at
                        continue
                    entry.attempts[sink] = entry.attempts.get(sink, 0) + 1
                    entry.last_attempt[sink] = at
        return logged

    def fired_keys(self) -> set[str]:
        return set(self.state())

    def append(self, alert: Alert, deliveries: dict[str, str], event: str = "fired", at: str = "") -> None:
        record = {**alert.to_json(), "event": event, "attempted_at": at or alert.fired_at, "deliveries": deliveries}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class _Breaker:
    """Stops calling a sink for the rest of one evaluation once it failed (after its own retries), and stops
    calling any sink once the evaluation's time budget is spent (those deliveries wait for the next tick).

    Without this, a webhook that is down would cost every alert of the tick its full retry budget.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.down: dict[str, str] = {}
        self.policy = policy
        self.budget_end = time.monotonic() + policy.evaluation_budget_seconds

    def deliver(self, sink: Sink, alert: Alert) -> str:
        if sink.name in self.down:
            return f"failed: not tried, {sink.name} failed earlier in this evaluation ({self.down[sink.name]})"
        if time.monotonic() >= self.budget_end:
            return (f"failed: not tried, this evaluation's time budget of "
                    f"{self.policy.evaluation_budget_seconds:g} s was used up (next tick)")
        try:
            if isinstance(sink, WebhookSink):
                status = sink.deliver(alert, deadline=self.budget_end)
            else:
                status = sink.deliver(alert)
        except Exception as exc:  # a sink that raises must not stop the others, nor the evaluation
            status = f"failed: {sink.name} raised {type(exc).__name__}"
        if status != DELIVERED:
            self.down[sink.name] = status.removeprefix("failed: ")
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

    `sinks` and `policy` default to the configured ones (orchestration/alerting/config.py); `logger`
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
    claim = f"{PENDING}: being delivered since {stamp}"
    by_name = {s.name: s for s in sinks}
    breaker = _Breaker(policy)
    log = AlertLog(layout)
    retries: list[tuple[LoggedAlert, list[str]]] = []
    new_alerts: list[Alert] = []

    with log.locked():  # (1) decide and claim
        logged = log.state()
        for entry in logged.values():
            due, abandoned = [], {}
            for name in entry.pending(moment, _claim_seconds(policy)):
                if name not in by_name or not _retry_due(entry, name, moment):
                    continue  # not configured any more (its record stays as it was), or not due yet
                if _give_up(entry, moment, policy):
                    abandoned[name] = (f"abandoned after {entry.attempts.get(name, 0)} evaluation(s): "
                                       f"{entry.deliveries[name].removeprefix('failed: ')}")
                else:
                    due.append(name)
            if abandoned:
                log.append(entry.alert, abandoned, event="retry", at=stamp)
                result.retried.setdefault(entry.alert.key, {}).update(abandoned)
            if due:
                log.append(entry.alert, dict.fromkeys(due, claim), event="retry", at=stamp)
                retries.append((entry, due))

        con = open_warehouse_read_only(layout)
        if con is None:
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


def alert_log_path(layout: Layout) -> Path:
    return AlertLog(layout).path
