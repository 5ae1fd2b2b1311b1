"""Markdown tables for asset materializations: what a person wants to see at a glance in the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import duckdb

from ingestion.lake import LoadResult


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


# Per mart: (metadata label, SQL returning a small table) shown on each materialization.
MART_TABLES: dict[str, list[tuple[str, str]]] = {
    "mart_session_cost": [("top_sessions_by_cost", """
        select session_id, user_id, interactions, round(cost_usd, 4) as cost_usd, budget_usd, over_budget
        from marts.mart_session_cost order by cost_usd desc, session_id limit 10""")],
    "mart_latency_slo": [("slo_breaches", """
        select feature_id, model_id, count(*) as breached_hours, round(max(ttft_p95_ms)) as worst_ttft_p95_ms,
               max(slo_ttft_ms) as slo_ttft_ms, min(hour_ts) as first_hour, max(hour_ts) as last_hour
        from marts.mart_latency_slo where slo_breached group by all order by breached_hours desc limit 20""")],
    "mart_model_drift": [("drift_findings", """
        select model_id, model_version, min(event_date) as first_day, count(*) as days,
               arg_max(drift_reason, event_date) as latest_reason
        from marts.mart_model_drift where drift_detected group by all order by first_day limit 20""")],
    "mart_user_cost_daily": [("top_users_by_cost", """
        select user_id, round(sum(cost_usd), 4) as cost_usd, max(round(cost_usd_7d, 4)) as max_cost_7d
        from marts.mart_user_cost_daily group by all order by cost_usd desc limit 10""")],
    "mart_duplicate_generations": [("most_wasteful_duplicates", """
        select response_hash, occurrences, wasted_tokens, round(wasted_cost_usd, 4) as wasted_cost_usd
        from marts.mart_duplicate_generations order by wasted_cost_usd desc limit 10""")],
}


def mart_metadata(con: duckdb.DuckDBPyConnection, model: str) -> dict[str, Any]:
    """Row count of one marts model plus its Markdown tables; {} when the table is not there."""
    try:
        (rows,), = con.execute(f'select count(*) from marts."{model}"').fetchall()
    except duckdb.CatalogException:
        return {}
    out: dict[str, Any] = {"dagster/row_count": rows}
    for label, sql in MART_TABLES.get(model, []):
        rel = con.execute(sql)
        headers = [d[0] for d in rel.description]
        out[label] = dg.MetadataValue.md(md_table(headers, rel.fetchall()))
    return out
