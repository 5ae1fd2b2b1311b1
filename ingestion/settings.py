"""Settings from the environment that more than one part reads, each read when it is used (never at import),
so a test or a long-lived process that changes the environment is seen by the next call."""

from __future__ import annotations

import os

MEMORY_LIMIT_ENV = "AIW_DUCKDB_MEMORY_LIMIT"
# Also the default of dbt_project/profiles.yml: the loader, the GX runner and dbt are bounded alike.
DEFAULT_MEMORY_LIMIT = "1GB"


def duckdb_memory_limit() -> str:
    """DuckDB's memory_limit for this project's connections: $AIW_DUCKDB_MEMORY_LIMIT, else 1GB."""
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT
