"""Shared fixtures: a temporary AIW_HOME and helpers to write landing files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest

from ingestion.layout import Layout

# The harness itself, before any test module is imported: these hold for the whole test process (GX reads
# its analytics flag at import). Tests change the environment only through monkeypatch, which restores it.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_HOME", "")  # never pick up a developer's instance in tests
os.environ.pop("DAGSTER_HOME", None)
# Never deliver test alerts to a developer's real webhooks or pick up their alert/freshness settings.
for _var in ("AIW_ALERTS_CONFIG", "AIW_ALERT_WEBHOOK_URL", "AIW_SLACK_WEBHOOK_URL", "AIW_FRESHNESS_MAX_HOURS"):
    os.environ.pop(_var, None)
# Tests write a landing file and load it at once: no quiet period (a test that needs one sets it).
os.environ["AIW_LANDING_QUIET_SECONDS"] = "0"

# A fixed "today" for generated data, so tests do not depend on the calendar.
END_DATE = dt.date(2026, 11, 20)
NOW_MS = int(dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC).timestamp() * 1000)
# The PII key of connections that run the contract's SQL outside the loader (ingestion.contract.pii.set_key).
TEST_PII_KEY = "5e" * 32


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.from_env(tmp_path / "aiw").ensure()


def write_landing(layout: Layout, name: str, lines: list[object], load_date: str = "2026-11-20") -> Path:
    """Write a native landing file; dicts become JSON lines, strings are written as they are."""
    path = layout.landing_dir("native") / load_date / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def run_on_calls(home: Path, calls: list[dict]) -> Layout:
    """A warehouse built by `aiw run` from one landing file of these calls (load date END_DATE); its alerts fired."""
    from orchestration.cli import main  # here, not at the top: importing the CLI loads dbt and Dagster

    layout = Layout.from_env(home).ensure()
    write_landing(layout, "calls.ndjson", calls, load_date=END_DATE.isoformat())
    assert main(["--home", str(layout.home), "run"]) == 0
    return layout


def event(i: int, **overrides: object) -> dict:
    base = {
        "schema_version": "1.1", "event_id": f"e{i}", "session_id": f"s{i // 3}", "user_id": f"u{i % 4}",
        "timestamp": NOW_MS - 3_600_000 + i, "feature_id": "chat", "model_id": "gpt-4o",
        "model_version": "2024-08-06", "routing_strategy": "primary", "ttft_ms": 200.0 + i,
        "total_latency_ms": 900.0 + i, "prompt_tokens": 100 + i, "completion_tokens": 40, "cached_tokens": 0,
        "estimated_cost_usd": 0.01 * (i + 1), "user_regenerated": False, "user_edited_output": False,
        "implicit_quality_score": 1.0,
    }
    base.update(overrides)
    return base


def warehouse_rows(layout: Layout, sql: str) -> list[tuple]:
    """Rows of a query against the warehouse, opened read-only and closed again."""
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
