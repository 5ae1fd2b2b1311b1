"""Markdown tables for asset materializations: what a person wants to see at a glance in the Dagster UI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dagster as dg
import duckdb

from ingestion.lake.loader import LoadResult
from orchestration.warehouse import findings


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style Markdown table (cells escaped for pipes)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) if rows else "| " + " | ".join(headers) + " |\n|" + "---|" * len(headers) + "\n| (none) |"


def load_summary_md(result: LoadResult) -> str:
    """Per landing file: lines, accepted, quarantined (and share), duplicates."""
    rows = [(f.relative_path, f.lines, f.accepted + f.feedback_accepted, f.quarantined,
             f"{f.quarantined / f.lines:.2%}" if f.lines else "-", f.duplicates) for f in result.files]
    if len(rows) > 1:
        q, n = result.quarantined, result.lines
        rows.append(("**total**", n, result.accepted, q, f"{q / n:.2%}" if n else "-", result.duplicates))
    return md_table(["file", "lines", "accepted", "quarantined", "quarantine share", "duplicates"], rows)


Table = tuple[list[str], list[tuple[Any, ...]]]  # headers, rows


def _sql_table(sql: str) -> Callable[[duckdb.DuckDBPyConnection], Table]:
    def read(con: duckdb.DuckDBPyConnection) -> Table:
        rel = con.execute(sql)
        return [d[0] for d in rel.description], rel.fetchall()

    return read


def _round_half_away(value: float | None) -> float | None:
    """round(value) as DuckDB rounds a double (half away from zero), which Python's round() does not (half to
    even): the tables showed DuckDB's round before they read the findings, and show the same numbers now."""
    return None if value is None else float(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _slo_breaches(con: duckdb.DuckDBPyConnection) -> Table:
    return (["feature_id", "model_id", "breached_hours", "worst_ttft_p95_ms", "slo_ttft_ms", "first_hour",
             "last_hour"],
            [(b.feature_id, b.model_id, b.breached_hours, _round_half_away(b.worst_p95_ms), b.slo_ttft_ms,
              b.first_hour, b.last_hour) for b in findings.slo_breaches(con)[:20]])


def _drift_findings(con: duckdb.DuckDBPyConnection) -> Table:
    return (["model_id", "model_version", "first_day", "days", "latest_reason"],
            [(d.model_id, d.model_version, d.first_day, d.days, d.latest_reason)
             for d in findings.model_drift(con)[:20]])


# Per mart: (metadata label, reader of a small table) shown on each materialization. The findings come from
# orchestration/warehouse/findings.py, like the alerts, `aiw demo` and the report show them.
MART_TABLES: dict[str, list[tuple[str, Callable[[duckdb.DuckDBPyConnection], Table]]]] = {
    "mart_session_cost": [("top_sessions_by_cost", _sql_table("""
        select session_id, user_id, interactions, round(cost_usd, 4) as cost_usd, budget_usd, over_budget
        from marts.mart_session_cost order by cost_usd desc, session_id limit 10"""))],
    "mart_latency_slo": [("slo_breaches", _slo_breaches)],
    "mart_model_drift": [("drift_findings", _drift_findings)],
    "mart_user_cost_daily": [("top_users_by_cost", _sql_table("""
        select user_id, round(sum(cost_usd), 4) as cost_usd, max(round(cost_usd_7d, 4)) as max_cost_7d
        from marts.mart_user_cost_daily group by all order by cost_usd desc limit 10"""))],
    "mart_duplicate_generations": [("most_wasteful_duplicates", _sql_table("""
        select response_hash, occurrences, wasted_tokens, round(wasted_cost_usd, 4) as wasted_cost_usd
        from marts.mart_duplicate_generations order by wasted_cost_usd desc limit 10"""))],
}


def mart_metadata(con: duckdb.DuckDBPyConnection, model: str) -> dict[str, Any]:
    """Row count of one marts model plus its Markdown tables; {} when the table is not there."""
    try:
        (rows,), = con.execute(f'select count(*) from marts."{model}"').fetchall()
    except duckdb.CatalogException:
        return {}
    out: dict[str, Any] = {"dagster/row_count": rows}
    for label, read in MART_TABLES.get(model, []):
        headers, table = read(con)
        out[label] = dg.MetadataValue.md(md_table(headers, table))
    return out
