"""Where things live under AIW_HOME (README, "How data flows"). Other tools and tests rely on these paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("native", "otlp", "posthog", "litellm", "langfuse")


@dataclass(frozen=True)
class Layout:
    """The AIW_HOME directory tree."""

    home: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Layout:
        """AIW_HOME from the argument, else the environment, else ./.aiw."""
        return cls(Path(home or os.environ.get("AIW_HOME") or ".aiw").resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    def landing_dir(self, source: str) -> Path:
        return self.landing / source

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def raw_interactions(self) -> Path:
        return self.lake / "raw" / "interactions"

    @property
    def raw_feedback(self) -> Path:
        return self.lake / "raw" / "feedback"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    @property
    def event_index(self) -> Path:
        """event_id -> content hash of every accepted interaction, by event date (for duplicate checks)."""
        return self.lake / "index" / "interactions"

    @property
    def manifest(self) -> Path:
        return self.lake / "manifest"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def warehouse_format_stamp(self) -> Path:
        """Which warehouse format built warehouse.duckdb (orchestration/defs/warehouse/upgrade.py)."""
        return self.home / "warehouse.format"

    @property
    def alerts(self) -> Path:
        return self.home / "alerts"

    @property
    def tmp(self) -> Path:
        """DuckDB spill space and other scratch files."""
        return self.home / "tmp"

    def ensure(self) -> Layout:
        for d in (*(self.landing_dir(s) for s in SOURCES), self.raw_interactions, self.raw_feedback,
                  self.quarantine, self.event_index, self.manifest, self.alerts, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def glob(self, directory: Path) -> str:
        """A read_parquet glob over a hive-partitioned lake directory."""
        return str(directory / "**" / "*.parquet")
