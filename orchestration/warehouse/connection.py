"""The one way this project opens warehouse.duckdb for reading (dbt is its only writer)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb


class WarehouseMissing(FileNotFoundError):
    """No warehouse file yet: nothing has been built in this AIW_HOME."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no warehouse at {path}: run `aiw run` (or `aiw demo`) first")


class WarehouseBusy(RuntimeError):
    """A writer (a dbt build) holds the file and did not let go in time."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the warehouse {path} is locked by a writer (a dbt build?); try again shortly")


def open_readonly(path: Path, *, wait_seconds: float = 0.0,
                  config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse file at `path`.

    DuckDB lets no reader in while a writer holds the file: wait up to `wait_seconds` for it, then raise
    WarehouseBusy. A missing file raises WarehouseMissing. `config` is passed to DuckDB (settings that must
    be given at connect time, such as turning off extension autoloading).
    """
    if not path.exists():
        raise WarehouseMissing(path)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=True, config=config or {})
        except duckdb.IOException:
            if time.monotonic() >= deadline:
                raise WarehouseBusy(path) from None
            time.sleep(0.5)


def try_open_readonly(path: Path) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection, or None while the file is missing or a writer holds it (a sensor tick or a
    run's summary simply tries again later)."""
    try:
        return open_readonly(path)
    except (WarehouseMissing, WarehouseBusy):
        return None
