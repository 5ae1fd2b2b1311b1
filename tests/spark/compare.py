"""Compare two engines' exports of the same marts (Parquet directories, one per model) row by row."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import duckdb

# Build bookkeeping, not data: when the row was (re)built. Everything else must agree.
RUN_METADATA = frozenset({"updated_at", "source_updated_at"})
REL_TOL = 1e-9
ABS_TOL = 1e-9


def read_export(directory: Path) -> tuple[list[str], list[dict]]:
    """Columns (sorted) and rows of one exported model, with the run-metadata columns dropped."""
    con = duckdb.connect()
    try:
        rel = con.sql(f"select * from read_parquet('{directory.as_posix()}/*.parquet')")
        columns = sorted(c for c in rel.columns if c not in RUN_METADATA)
        rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()
    return columns, [{c: r[c] for c in columns} for r in rows]


def _is_float(v: object) -> bool:
    return isinstance(v, float | Decimal)


def _sort_key(row: dict, exact: list[str]) -> tuple:
    # None first, then by type name so mixed types never compare.
    return tuple((row[c] is not None, type(row[c]).__name__, row[c] if row[c] is not None else 0) for c in exact)


def _equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if _is_float(a) or _is_float(b):
        a, b = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def compare_model(left: Path, right: Path) -> list[str]:
    """Differences between two exports of one model: column sets, row counts, then rows.

    Rows are paired by sorting on every column that is not floating point (keys, counts, labels,
    dates, flags), so a row that differs in any of them shows up as a difference, and floating-point
    columns are compared within REL_TOL / ABS_TOL.
    """
    left_cols, left_rows = read_export(left)
    right_cols, right_rows = read_export(right)
    if left_cols != right_cols:
        return [f"columns differ: only left {sorted(set(left_cols) - set(right_cols))}, "
                f"only right {sorted(set(right_cols) - set(left_cols))}"]
    if len(left_rows) != len(right_rows):
        return [f"row counts differ: {len(left_rows)} vs {len(right_rows)}"]
    sample = left_rows + right_rows
    exact = [c for c in left_cols if not any(_is_float(r[c]) for r in sample)]
    left_rows.sort(key=lambda r: _sort_key(r, exact))
    right_rows.sort(key=lambda r: _sort_key(r, exact))
    problems = []
    for a, b in zip(left_rows, right_rows, strict=True):
        bad = [c for c in left_cols if not _equal(a[c], b[c])]
        if bad:
            problems.append("; ".join(f"{c}: {a[c]!r} vs {b[c]!r}" for c in bad)
                            + f" (row {', '.join(f'{c}={a[c]!r}' for c in exact[:3])})")
    return problems


def compare_exports(left: Path, right: Path) -> dict[str, list[str]]:
    """Every model exported on either side -> its differences (an empty list when equal)."""
    names = sorted({p.name for p in left.iterdir() if p.is_dir()} | {p.name for p in right.iterdir() if p.is_dir()})
    result = {}
    for name in names:
        if not (left / name).is_dir() or not (right / name).is_dir():
            result[name] = [f"exported on one side only ({'left' if (left / name).is_dir() else 'right'})"]
        else:
            result[name] = compare_model(left / name, right / name)
    return result
