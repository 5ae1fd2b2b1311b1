"""The event contract as a blocking asset check on each load-date partition of the lake."""


import datetime as dt

import dagster as dg
import duckdb

from expectations.runner import validate_parquet
from ingestion.lake import LoadResult
from ingestion.landing import discover
from ingestion.layout import SOURCES, Layout
from orchestration.resources import WarehouseSettings

CONTRACT_CHECK = dg.AssetCheckSpec(
    "event_contract",
    asset="lake_interactions",
    blocking=True,
    description="Great Expectations contract suite over the partition's accepted rows (must all pass), "
                "and the partition's quarantined share of lines at or under the threshold.",
)


def partition_quarantine(layout: Layout, load_date: str) -> tuple[int, int, list[tuple[str, int]], list[str]]:
    """(lines, quarantined, per-rule counts, examples 'file:line rule') for every load of a load date."""
    manifest = layout.manifest / "*.parquet"
    con = duckdb.connect()
    try:
        lines, quarantined = con.execute(
            f"select coalesce(sum(lines), 0), coalesce(sum(quarantined), 0) from read_parquet('{manifest}') "
            "where load_date = ?::date", [load_date]).fetchone()
        qdir = layout.quarantine / f"load_date={load_date}"
        rules, examples = [], []
        if quarantined and qdir.exists():
            q = f"read_parquet('{qdir}/*.parquet')"
            rules = con.execute(f"select rule, count(*) from {q} group by 1 order by 2 desc, 1").fetchall()
            examples = [f"{f}:{n} {r}" for f, n, r in con.execute(
                f"select source_file, line_number, rule from {q} order by source_file, line_number limit 10")
                .fetchall()]
    finally:
        con.close()
    return int(lines), int(quarantined), rules, examples


def contract_check_result(layout: Layout, load_date: str, load: LoadResult, threshold: float,
                          now_ms: int) -> dg.AssetCheckResult:
    """Validate the partition's accepted rows with GX and judge its quarantine share."""
    partition_dir = layout.raw_interactions / f"load_date={load_date}"
    report = validate_parquet(str(partition_dir / "*.parquet"), now_ms) if partition_dir.exists() else None
    lines, quarantined, rules, examples = partition_quarantine(layout, load_date)
    share = quarantined / lines if lines else 0.0
    gx_ok = report is None or report.success
    passed = gx_ok and share <= threshold
    failures = [] if report is None else [
        f"{o.expectation}({o.column}): {o.unexpected_count} rows, e.g. {o.examples[:3]}"
        + (f" [error: {o.error}]" if o.error else "") for o in report.failed]
    reasons = []
    if share > threshold:
        reasons.append(f"quarantined share {share:.2%} is above the {threshold:.0%} threshold")
    if not gx_ok:
        reasons.append(f"{len(failures)} contract expectation(s) failed on accepted rows")
    table = "\n".join(["| rule | rows |", "|---|---|", *[f"| `{r}` | {n} |" for r, n in rules]]) if rules else "none"
    return dg.AssetCheckResult(
        check_name=CONTRACT_CHECK.name,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(reasons) if reasons else "contract holds",
        metadata={
            "lines": lines,
            "quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(round(share, 6)),
            "threshold": threshold,
            "accepted_rows_validated": 0 if report is None else report.rows,
            "expectations_evaluated": 0 if report is None else len(report.outcomes),
            "expectations_failed": dg.MetadataValue.json(failures),
            "quarantine_by_rule": dg.MetadataValue.md(table),
            "quarantine_examples": dg.MetadataValue.json(examples),
            "loaded_now": load.lines,
        },
    )


def newest_landing(layout: Layout) -> tuple[dt.datetime | None, str | None]:
    """When the newest landing file (any source) was last written, and its path under landing/."""
    newest: tuple[float, str] | None = None
    for f in discover(layout, SOURCES):
        mtime = f.path.stat().st_mtime
        if newest is None or mtime > newest[0]:
            newest = (mtime, f.relative_path)
    if newest is None:
        return None, None
    return dt.datetime.fromtimestamp(newest[0], tz=dt.UTC), newest[1]


def freshness_result(layout: Layout, max_hours: float, now: dt.datetime) -> dg.AssetCheckResult:
    """Pass when some landing file was written within the last `max_hours`."""
    at, path = newest_landing(layout)
    age_hours = None if at is None else (now - at).total_seconds() / 3600
    passed = age_hours is not None and age_hours <= max_hours
    if at is None:
        why = f"nothing has ever landed under {layout.landing}"
    else:
        why = (f"newest landing file is {age_hours:.1f} h old ({path})" + ("" if passed else
               f", over the {max_hours:g} h limit: check the producers, the collector and the exports"))
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.ERROR, description=why,
        metadata={"newest_file": path or "(none)", "newest_file_written_at": at.isoformat() if at else "(never)",
                  "age_hours": round(age_hours, 2) if age_hours is not None else -1.0, "max_age_hours": max_hours})


@dg.asset_check(asset="lake_interactions", name="landing_freshness",
                description="Fails when no landing file has been written for longer than the limit "
                            "(WarehouseSettings.freshness_max_hours, else $AIW_FRESHNESS_MAX_HOURS, else 26 h).")
def landing_freshness(settings: WarehouseSettings) -> dg.AssetCheckResult:
    return freshness_result(settings.layout(), settings.max_landing_age_hours(), dt.datetime.now(dt.UTC))
