"""Settings are read when used: a change of the environment is seen by the next call, not frozen at import."""

from __future__ import annotations

from ingestion.settings import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV, duckdb_memory_limit


def test_the_memory_limit_is_read_at_each_call(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert duckdb_memory_limit() == DEFAULT_MEMORY_LIMIT == "1GB"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "512MB")
    assert duckdb_memory_limit() == "512MB"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, " ")
    assert duckdb_memory_limit() == "1GB"
