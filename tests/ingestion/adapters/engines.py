"""Run an adapter on source lines with either engine and return what the contract makes of each record.

The loader maps adapted sources' lines in DuckDB SQL (`otlp_sql`, `posthog_sql`, ...); the Python mappers
(`otlp`, `posthog`, ...) are the reference. Both engines here feed the same contract SQL (`staged_select`), so
tests can assert on the same typed, scrubbed, validated rows whichever engine produced them, and a test can
compare the two engines row by row.
"""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ingestion.adapters import reader
from ingestion.contract import pii
from ingestion.contract.staging_sql import staged_select
from tests.conftest import NOW_MS, TEST_PII_KEY

ENGINES = ("sql", "python")


def _python_mapped(source: str, lines: list[str], options: Any) -> list[tuple[int, int, bool, str | None]]:
    """The reference engine: parse each line in Python, map it, pass on what is not the format."""
    out: list[tuple[int, int, bool, str | None]] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            out.append((line_no, 1, False, line))
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append((line_no, 1, False, line))  # malformed_json
            continue
        records = reader.adapter_for(source).line_records(value, options)
        if records is None:
            out.append((line_no, 1, False, orjson.dumps(line).decode()))  # not_an_object
            continue
        for record_no, record in enumerate(records, start=1):
            out.append((line_no, record_no, record is None,
                        None if record is None else orjson.dumps(record).decode()))
    return out


def staged(source: str, lines: list[str], engine: str, options: Any = None) -> list[dict[str, Any]]:
    """The contract's staged rows (dicts, in line and record order) for `lines` mapped by `engine`."""
    options = options if options is not None else reader.options_for(source)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    pii.set_key(con, TEST_PII_KEY)
    if engine == "sql":
        con.register("source_lines", pa.table({"line_no": pa.array(range(1, len(lines) + 1), pa.int64()),
                                               "line": pa.array(lines, pa.string())}))
        mapped = f"({reader.mapped_select(source, '(select line_no, line from source_lines)', options)})"
    elif engine == "python":
        rows = _python_mapped(source, lines, options)
        line_nos, record_nos, skipped, mapped_lines = zip(*rows, strict=True) if rows else ((), (), (), ())
        con.register("mapped_lines", pa.table({
            "line_no": pa.array(line_nos, pa.int64()), "record_no": pa.array(record_nos, pa.int64()),
            "is_skipped": pa.array(skipped, pa.bool_()), "line": pa.array(mapped_lines, pa.string())}))
        mapped = "mapped_lines"
    else:
        raise ValueError(engine)
    relation = f"(select 0 as file_idx, line_no, record_no, is_skipped, line from {mapped})"
    select = staged_select(relation, NOW_MS, ("record_no", "is_skipped"))
    # Which path a line took depends on how it is spelled, which differs between engines: not a result.
    cursor = con.execute(f"select * exclude (file_idx, took_fast_path) from ({select}) order by line_no, record_no")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def records(source: str, objects: list[Any], engine: str, options: Any = None) -> list[dict[str, Any] | None]:
    """Staged records for source objects written one per line: None for each skipped record."""
    lines = [o if isinstance(o, str) else orjson.dumps(o).decode() for o in objects]
    return [None if row["is_skipped"] else row for row in staged(source, lines, engine, options)]
