"""SQL literals for DuckDB statements built as text: the one place that quotes a string, a path or a list.

Values that can be bound (`con.execute(sql, [value])`) should be; these are for the places DuckDB does not
take a parameter (a table function's file argument in a view, `copy ... to`, a literal inside generated SQL).
Importing this module imports nothing else, so the loader, the orchestration and the checks can all use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike


def quote(text: str) -> str:
    """`text` as a SQL string literal: in single quotes, each quote inside doubled."""
    return "'" + text.replace("'", "''") + "'"


def quote_path(path: str | PathLike[str]) -> str:
    """A file or glob path as a SQL string literal (a `Path` is written as `str(path)`).

    Quoting only: DuckDB still expands `*`, `?`, `[...]` and `{a,b}` inside it, which globs rely on.
    """
    return quote(str(path))


def quote_list(values: Iterable[str | PathLike[str]]) -> str:
    """A DuckDB list literal of strings or paths: `['a', 'b']`."""
    return "[" + ", ".join(quote(str(v)) for v in values) + "]"
