"""Landing files of foreign formats -> SQL relations of canonical JSON lines for the loader.

For a landing file of an adapted source (OTLP, PostHog, LiteLLM, Langfuse), `adapted_relation()` returns a
DuckDB relation `(line_no, record_no, is_skipped, line)`: `line` is one canonical record as JSON, `line_no`
the source line it came from (its position for a JSON-array file) and `record_no` its ordinal inside that
line (the span's position in an OTLP line; always 1 for the others). Records that are not model calls or
AI events come as rows with `is_skipped` and no line, so the loader counts them. The mapping runs in DuckDB
(`otlp_sql`, `posthog_sql`, `litellm_sql`, `langfuse_sql`), compiled from the Python reference mappers
(`otlp`, `posthog`, `litellm`, `langfuse`); `ADAPTERS` pairs them per source.

Source lines that are not the format at all are still passed on, so the contract quarantines them with
their file and line instead of losing them: text that is not JSON as it is (`malformed_json`), JSON that
is not the format's object (a TracesData object, a PostHog event, ...) as a JSON string (`not_an_object`).
Blank lines pass as they are and the contract counts them as blank.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ingestion.adapters import (
    langfuse,
    langfuse_sql,
    litellm,
    litellm_sql,
    otlp,
    otlp_sql,
    posthog,
    posthog_sql,
)
from ingestion.lake.landing import lines_sql

Options = Any  # the options class of the source's adapter (otlp.OtlpOptions, ...)


@dataclass(frozen=True)
class Adapter:
    """One source format: its options (read from the environment), the loader's SQL and the reference.

    `line_records(value, options)` maps one parsed source line to its records (None for each skipped
    one), or returns None when the line is not the format."""

    options_from_env: Callable[[], Options]
    mapped_select: Callable[[str, Options], str]
    line_records: Callable[[Any, Options], list[dict[str, Any] | None] | None]


ADAPTERS = {
    "otlp": Adapter(otlp.OtlpOptions.from_env, otlp_sql.mapped_select, otlp.line_records),
    "posthog": Adapter(posthog.PosthogOptions.from_env, posthog_sql.mapped_select, posthog.line_records),
    "litellm": Adapter(litellm.LitellmOptions.from_env, litellm_sql.mapped_select, litellm.line_records),
    "langfuse": Adapter(langfuse.LangfuseOptions.from_env, langfuse_sql.mapped_select, langfuse.line_records),
}
ADAPTED_SOURCES = tuple(ADAPTERS)


def adapter_for(source: str) -> Adapter:
    if source not in ADAPTERS:
        raise ValueError(f"no adapter for landing source {source!r}; adapted sources are {ADAPTED_SOURCES}")
    return ADAPTERS[source]


def options_for(source: str) -> Options:
    """The adapter options of a landing source, read from the environment (see docs/adapters.md)."""
    return adapter_for(source).options_from_env()


def mapped_select(source: str, lines_relation: str, options: Options | None = None) -> str:
    """The adapter's SELECT (line_no, record_no, is_skipped, line) over source lines (line_no, line)."""
    adapter = adapter_for(source)
    return adapter.mapped_select(lines_relation, options if options is not None else adapter.options_from_env())


def _document_lines(path: Path) -> list[bytes] | None:
    """A `.json` file holding one document: a single object (an OTLP/HTTP request body saved as is) or an
    array of them, as one line per object; None when the file is not one JSON document (JSON lines)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, list):
        return [orjson.dumps(item) for item in doc]
    if isinstance(doc, dict):
        return [orjson.dumps(doc)]
    return None


def lines_relation(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> str:
    """A relation (line_no, line) of a landing file's source lines, registered on `con` as `name` when it
    had to be read in Python (a `.json` document); the caller unregisters it when done."""
    base = path.name[:-3] if path.name.endswith(".gz") else path.name
    document = _document_lines(path) if base.endswith(".json") else None
    if document is not None:
        table = pa.Table.from_arrays(
            [pa.array(range(1, len(document) + 1), pa.int64()), pa.array(document, pa.binary()).cast(pa.string())],
            names=["line_no", "line"])
        con.register(name, table)
        return f"(select line_no, line from {name})"
    return lines_sql(path)


def adapted_relation(con: duckdb.DuckDBPyConnection, path: Path, source: str, name: str,
                     options: Options | None = None) -> str:
    """The relation (line_no, record_no, is_skipped, line) of an adapted landing file (module docstring)."""
    return f"({mapped_select(source, lines_relation(con, path, name), options)})"
