"""The main job, in-process: pending landing -> lake (contract-checked) -> dbt marts -> alerts.

`aiw run` and `aiw demo` call `run_pipeline()`. It drives the same Dagster assets the UI shows, so a
run from the command line appears as ordinary materializations when DAGSTER_HOME is set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingestion.lake import loader as lake
from ingestion.lake.loader import LoadCounts
from ingestion.lake.writer_lock import writer_lock
from ingestion.layout import Layout
from orchestration.alerts.engine import evaluate
from orchestration.alerts.model import Evaluation
from orchestration.defs.warehouse.inputs import why_build
from orchestration.names import LAKE_INTERACTIONS, PROBLEMS


@dataclass
class LoadOutcome:
    """One Dagster run of the lake asset over a range of load dates, and its contract check."""

    load_dates: str  # "2026-11-20" or "2026-11-18..2026-11-20"
    counts: LoadCounts
    check_passed: bool
    check_description: str


@dataclass
class PipelineSummary:
    loads: list[LoadOutcome] = field(default_factory=list)
    blocked_reason: str | None = None
    dbt_ok: bool = False
    dbt_skipped: bool = False  # the marts were up to date (orchestration/defs/warehouse/inputs.py)
    dbt_error: str | None = None
    dbt_warm_start: bool = False  # dbt ran in the process started at the beginning of the run (warm_dbt.py)
    alerts: Evaluation | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each: file, line, rule, what to do

    @property
    def counts(self) -> LoadCounts:
        return sum((load.counts for load in self.loads), LoadCounts())

    @property
    def ok(self) -> bool:
        return self.blocked_reason is None and self.dbt_ok


def run_pipeline(layout: Layout, say: Callable[[str], None] = print, *, wait: bool = True,
                 debug: bool = False) -> PipelineSummary:
    """Load every pending load date, build the marts unless a blocking check failed, evaluate alerts.

    The whole run holds the AIW_HOME writer lock (ingestion.lake.writer_lock): a second run started meanwhile
    waits for it, saying for whom (or, with wait=False, raises WriterBusy at once). The loader and the dbt
    asset take the same lock again inside this process, which only counts.
    """
    layout.ensure()
    with writer_lock(layout.home, "aiw run", wait=wait, say=say):
        return _run_pipeline(layout, say, debug)


class _Dagster:
    """Dagster, dagster-dbt and the assets, imported only by a run that loads or builds something.

    Importing them costs seconds (dagster-dbt alone ~2 s, the code location more); a run that finds nothing
    new and nothing changed evaluates the alerts without them.
    """

    def __init__(self, layout: Layout, debug: bool, dbt_executable: str | None = None) -> None:
        import dagster as dg

        from orchestration.defs.warehouse.project import dbt_resource
        from orchestration.resources import WarehouseSettings

        self.dg = dg
        # The CLI prints its own progress and one line per problem; Dagster's log (stack traces included)
        # only with --debug.
        level = "DEBUG" if debug else os.environ.get("AIW_DAGSTER_LOG_LEVEL", "CRITICAL")
        self.quiet = {"loggers": {"console": {"config": {"log_level": level}}}}
        self.instance = (dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME")
                         else dg.DagsterInstance.ephemeral())
        self.resources = {"settings": WarehouseSettings(home=str(layout.home)),
                          "dbt": dbt_resource(dbt_executable) if dbt_executable else dbt_resource()}


def _run_pipeline(layout: Layout, say: Callable[[str], None], debug: bool) -> PipelineSummary:
    summary = PipelineSummary()
    lake.wait_for_quiet(layout, say=say)
    for f in lake.reject_out_of_window(layout):
        summary.problems.append(f"{f.relative_path}: rejected: {f.reason}; {lake.what_to_do(f.reason)}")
    dates = lake.pending_load_dates(layout)
    say(f"{len(dates)} load date(s) with new landing files" + (f": {', '.join(dates)}" if dates else ""))
    if not dates:
        return _load_and_build(layout, say, debug, summary, dates, None)
    # A run that loads will validate with Great Expectations and then build the marts with dbt: both
    # are imported now, each in a process of its own on the other core, while this one imports Dagster
    # and loads (expectations/runner.py and defs/warehouse/warm_dbt.py say why and how).
    from orchestration.defs.warehouse.warm_dbt import warm_dbt

    with warm_dbt() as warm:
        _load_and_build(layout, say, debug, summary, dates, warm.executable)
        summary.dbt_warm_start = warm.served
    return summary


def _load_and_build(layout: Layout, say: Callable[[str], None], debug: bool, summary: PipelineSummary,
                    dates: list[str], dbt_executable: str | None) -> PipelineSummary:
    dagster: _Dagster | None = None
    started = time.perf_counter()
    if dates:
        from expectations.runner import warm_gx_process

        with warm_gx_process():
            dagster = _load(layout, dates, summary, debug, say, dbt_executable)
    summary.seconds["load"] = time.perf_counter() - started
    for problem in summary.problems:
        say(f"  problem: {problem}")

    failed = [load for load in summary.loads if not load.check_passed]
    if failed:
        summary.blocked_reason = "; ".join(p.check_description for p in failed)
        say(f"marts not built: the event contract check failed ({summary.blocked_reason})")
        return summary
    from orchestration.defs.lake.quarantine import DEFAULT_QUARANTINE_THRESHOLD, held_loads

    held = held_loads(layout, DEFAULT_QUARANTINE_THRESHOLD)  # aiw run uses the default WarehouseSettings
    if held:
        # An earlier run's load failed the check and nobody accepted it: its rows stay out of the marts.
        summary.blocked_reason = "; ".join(
            f"load {q.load_id} (load date {q.load_date}) quarantined {q.share:.2%} of its lines and still blocks "
            f"the marts; fix the sender, or accept it with `aiw accept-load {q.load_id} --reason ...`" for q in held)
        say(f"marts not built: {summary.blocked_reason}")
        return summary
    if not layout.raw_interactions.exists() or not any(layout.raw_interactions.rglob("*.parquet")):
        summary.blocked_reason = (f"nothing in the lake yet: put files under {layout.landing_dir('native')} "
                                  "(or landing/otlp, landing/posthog, landing/litellm, landing/langfuse)")
        say(summary.blocked_reason)
        return summary

    # Nothing new and nothing changed since the last complete, successful build: the marts already are
    # what a build would make (inputs.py lists what it compares), so dbt is skipped.
    reason = why_build(layout)
    if reason is None:
        say("marts up to date (nothing new in the lake, no dbt, seed, price or format change): dbt skipped")
        summary.dbt_ok, summary.dbt_skipped = True, True
    else:
        from orchestration.defs.warehouse.assets import warehouse_models_asset

        dagster = dagster or _Dagster(layout, debug, dbt_executable)
        say(f"building marts (dbt build; {reason})")
        started = time.perf_counter()
        result = dagster.dg.materialize([warehouse_models_asset()], instance=dagster.instance,
                                        resources=dagster.resources, run_config=dagster.quiet,
                                        raise_on_error=False)
        summary.seconds["dbt"] = time.perf_counter() - started
        summary.dbt_ok = result.success
        if not result.success:
            summary.dbt_error = _failure(result)
            say(f"dbt build failed: {summary.dbt_error}")
            return summary

    started = time.perf_counter()
    summary.alerts = evaluate(layout)
    summary.seconds["alerts"] = time.perf_counter() - started
    if summary.alerts.skipped_reason:
        say(f"alerts not evaluated: {summary.alerts.skipped_reason}")
    return summary


def _load(layout: Layout, dates: list[str], summary: PipelineSummary, debug: bool,
          say: Callable[[str], None], dbt_executable: str | None) -> _Dagster:
    """One Dagster run of the lake asset over the pending load dates; its outcome goes into summary."""
    from orchestration.defs.lake.assets import load_date_partitions, load_lake

    dagster = _Dagster(layout, debug, dbt_executable)
    dg, instance, resources, quiet = dagster.dg, dagster.instance, dagster.resources, dagster.quiet
    # One Dagster run over the range of pending load dates (the asset's backfill policy is a single
    # run): loading and validating together costs one process start and one contract validation.
    load_job = dg.Definitions(
        assets=[load_lake], resources=resources,
        jobs=[dg.define_asset_job("load_lake_job", selection=[load_lake], partitions_def=load_date_partitions)],
    ).resolve_job_def("load_lake_job")
    result = load_job.execute_in_process(
        instance=instance, run_config=quiet, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": dates[0], "dagster/asset_partition_range_end": dates[-1]})
    mats = [m.materialization for m in result.get_asset_materialization_events()
            if m.materialization.asset_key == dg.AssetKey(LAKE_INTERACTIONS)]
    checks = result.get_asset_check_evaluations()
    check = checks[0] if checks else None
    outcome = LoadOutcome(
        f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else dates[0],
        LoadCounts.from_metadata(mats[0].metadata) if mats else LoadCounts(),
        bool(check and check.passed),
        (check.description or "") if check else "asset failed: " + _failure(result))
    summary.loads.append(outcome)
    if mats:
        summary.problems.extend(mats[0].metadata[PROBLEMS].value)
    else:
        summary.problems.append(f"the lake load failed: {_failure(result)}"
                                + ("" if debug else " (aiw --debug run shows the full error)"))
    n = outcome.counts
    say(f"  loaded {n.files_loaded} file(s): {n.accepted} accepted, {n.quarantined} quarantined, "
        f"{n.duplicates_dropped} duplicates, {n.skipped} skipped; "
        f"contract {'passed' if outcome.check_passed else 'FAILED: ' + outcome.check_description}")
    return dagster


def _failure(result: Any) -> str:
    for event in result.all_events:
        if event.is_failure and event.step_failure_data is not None:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return "see the Dagster logs"
