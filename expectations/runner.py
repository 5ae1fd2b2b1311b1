"""Runs the contract suite with Great Expectations 1.24 on DuckDB over lake Parquet, in SQL.

GX on DuckDB through SQLAlchemy needs one fix (found on GX 1.24, the pinned version): GX opens a
fresh connection per metric and closes it before fetching, and closing a DuckDB connection drops
the pending result, so every metric silently fails. GX keeps one persisted connection for a few
dialects; we add DuckDB to that list for the duration of a validation, then release the
connection and dispose the engine so no file handle or lock outlives the run. GX is pinned to
1.24.x for this; `tests/expectations/test_suite.py` fails loudly if the fix stops working.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expectations.suite import build_suite
from ingestion.contract import schema as c
from ingestion.settings import duckdb_memory_limit
from ingestion.sql import quote_list, quote_path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    examples: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass
class ContractReport:
    """What GX found in one set of rows."""

    rows: int
    outcomes: list[ExpectationOutcome]
    rows_validated: int = 0  # rows GX read: all of them, or the sample of a big load


    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


class _DuckDBDialect(str):
    """Stands in for a GXSqlDialect member (GX has none for DuckDB): compares as 'duckdb', has .value."""

    @property
    def value(self) -> str:
        return str(self)


@contextlib.contextmanager
def _duckdb_persisted_connection() -> Iterator[None]:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as sae

    original = sae._PERSISTED_CONNECTION_DIALECTS
    if "duckdb" in original:
        yield
        return
    sae._PERSISTED_CONNECTION_DIALECTS = (*original, _DuckDBDialect("duckdb"))
    try:
        yield
    finally:
        sae._PERSISTED_CONNECTION_DIALECTS = original


# GX reads every accepted row of a load up to this many; a bigger load is validated on a repeatable
# random sample of this size (see validate_parquet). A defect the loader let through on 1 row in 10,000
# is in such a sample with probability 1 - e^-10.
DEFAULT_FULL_ROWS = 100_000


# The process that validates while one is warm (see warm_gx_process); None: validate in this process.
_warm_worker: ProcessPoolExecutor | None = None


def _import_gx() -> None:
    import great_expectations  # noqa: F401  (the 3 s this process exists to pay early)
    import great_expectations.expectations  # noqa: F401


@contextlib.contextmanager
def warm_gx_process() -> Iterator[None]:
    """Import Great Expectations in a second process now; validate_parquet() calls inside run there.

    Importing GX costs ~3 s of CPU (it pulls in scipy, pandas, SQLAlchemy, altair), more than a small
    load's validation itself. `aiw run` knows at its start whether it will load anything; it opens this
    then, so the import runs on the other core while this process imports Dagster and dagster-dbt and
    the loader works. The validation is the same function with the same arguments in a fresh
    interpreter (spawned, not forked: no DuckDB or Dagster state is copied), so the verdict is the
    same; this process never imports GX. If the worker dies, validate_parquet validates here instead.
    """
    global _warm_worker
    worker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_import_gx)
    worker.submit(int)  # starts the process (and so the import) now rather than at the first validation
    _warm_worker = worker
    try:
        yield
    finally:
        _warm_worker = None
        # Not waiting: an idle worker exits at once; one still importing (the load failed first) is
        # joined when this interpreter exits.
        worker.shutdown(wait=False, cancel_futures=True)


def validate_parquet(parquet: str | list[str], now_ms: int, spill_dir: str | None = None,
                     full_rows: int = DEFAULT_FULL_ROWS) -> ContractReport:
    """Validate the accepted rows in the Parquet files against the contract suite (see _validate_parquet).

    Inside warm_gx_process() this runs in the process that has imported GX already.
    """
    if _warm_worker is not None:
        try:
            return _warm_worker.submit(_validate_parquet, parquet, now_ms, spill_dir, full_rows).result()
        except BrokenProcessPool:  # the worker died (killed, out of memory): same validation, here
            pass
    return _validate_parquet(parquet, now_ms, spill_dir, full_rows)


def _validate_parquet(parquet: str | list[str], now_ms: int, spill_dir: str | None,
                      full_rows: int) -> ContractReport:
    """Validate the accepted rows in the Parquet files (a glob or a list of paths) against the contract suite.

    Up to `full_rows` rows, GX reads every row. Above that, the loader has just applied the same rules to
    every row (ingestion/contract/staging_sql.py), so GX's job is the independent second implementation that
    catches a loader bug or a lake file written by something else; such a defect affects a class of rows,
    and a repeatable sample of about `full_rows` rows (chosen by a hash of event_id) finds it for less (GX runs one
    query per expectation, ~1.5 s per million rows). The one rule a sample cannot judge, event_id
    uniqueness, is counted over all rows in DuckDB and reported as its own outcome.
    """
    import duckdb

    paths = [parquet] if isinstance(parquet, str) else parquet
    # A rule over a sum (cached + cache_write <= prompt) is checked on a derived column of that sum.
    sums = "".join(f", {r.left_sql()} as {r.left_column}" for r in c.INTERACTION_RULES if r.also_left)
    source = f"read_parquet({quote_list(paths)}, union_by_name = true)"
    con = duckdb.connect(config={"memory_limit": duckdb_memory_limit(),
                                 **({"temp_directory": spill_dir} if spill_dir else {})})
    try:
        columns = {row[0] for row in con.execute(f"describe select * from {source}").fetchall()}
        sums += _map_measures(columns)
        star = _star(columns)
        rows = con.execute(f"select count(*) from {source}").fetchone()[0]
        if rows == 0:
            return ContractReport(rows=0, outcomes=[])
        if rows <= full_rows:
            return _validate_with_gx(f"select {star}{sums} from {source}", rows, rows, now_ms, spill_dir)
        duplicates = con.execute(f"select count(*) - count(distinct event_id) from {source}").fetchone()[0]
        repeated = [r[0] for r in con.execute(
            f"select event_id from {source} group by 1 having count(*) > 1 order by 1 limit 5").fetchall()
            ] if duplicates else []
        if spill_dir:
            Path(spill_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=spill_dir) as scratch:
            sample = str(Path(scratch) / "sample.parquet")
            # The sample is a function of the rows (a hash of event_id), not of file order or threads: the
            # same load always gives the same sample and the same verdict; ~full_rows rows of `rows`.
            per_million = -(-full_rows * 1_000_000 // rows)
            con.execute(f"copy (select * from {source} where hash(event_id) % 1000000 < {per_million}) "
                        f"to {quote_path(sample)} (format parquet)")
            validated = con.execute(f"select count(*) from read_parquet({quote_path(sample)})").fetchone()[0]
            sampled = f"read_parquet({quote_path(sample)})"
            report = _validate_with_gx(f"select {star}{sums} from {sampled}", rows, validated,
                                       now_ms, spill_dir)
    finally:
        con.close()
    report.outcomes.append(ExpectationOutcome(
        expectation="expect_column_values_to_be_unique (all rows, DuckDB)", column="event_id",
        success=duplicates == 0, unexpected_count=int(duplicates), examples=repeated))
    return report


def _star(present: set[str]) -> str:
    """`*` with each map column replaced by its text (GX reads the rows through SQLAlchemy, which has no MAP)."""
    maps = [f.name for f in c.INTERACTION_FIELDS if f.kind == "map" and f.name in present]
    return "*" + (f" replace ({', '.join(f'cast({m} as varchar) as {m}' for m in maps)})" if maps else "")


def _map_measures(present: set[str]) -> str:
    """Derived columns for the map fields' limits (`schema.map_measures`). Files written before a map field
    existed have no such column: a column missing from every file measures 0, as an absent map does."""
    out = ""
    for f in c.INTERACTION_FIELDS:
        if f.map_limits is None:
            continue
        for column, sql, _, _ in c.map_measures(f):
            out += f", {sql if f.name in present else '0'} as {column}"
    return out


def _validate_with_gx(query: str, rows: int, validated: int, now_ms: int, spill_dir: str | None) -> ContractReport:
    """Run the suite with GX over the rows of `query` (`rows` accepted rows, `validated` of them read)."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    suite = build_suite(now_ms)
    with _duckdb_persisted_connection():
        # GX's own DuckDB gets the same memory limit as the loader (DuckDB's default is 80% of RAM) and
        # spills under AIW_HOME/tmp like it.
        limits = {"memory_limit": duckdb_memory_limit()}
        if spill_dir:
            limits["temp_directory"] = spill_dir
        datasource = context.data_sources.add_sql(name="lake", connection_string="duckdb:///:memory:",
                                                  kwargs={"connect_args": {"config": limits}})
        try:
            asset = datasource.add_query_asset(name="accepted_interactions", query=query)
            batch = asset.add_batch_definition_whole_table("all").get_batch()
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE", "unexpected_index_column_names": ["event_id"],
                "partial_unexpected_count": 5})
        finally:
            engine = datasource.get_execution_engine()
            if getattr(engine, "_connection", None) is not None:
                engine._connection.close()
                engine._connection = None
            engine.engine.dispose()
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        error = None
        if r.exception_info and r.exception_info.get("raised_exception"):
            error = r.exception_info.get("exception_message")
        examples = [i.get("event_id") if isinstance(i, dict) else i for i in (res.get("unexpected_index_list") or [])]
        outcomes.append(ExpectationOutcome(
            expectation=cfg.type, column=cfg.kwargs.get("column") or
            f"{cfg.kwargs.get('column_A')} >= {cfg.kwargs.get('column_B')}",
            success=bool(r.success), unexpected_count=int(res.get("unexpected_count") or 0),
            examples=examples[:5], error=error))
    return ContractReport(rows=rows, outcomes=outcomes, rows_validated=validated)
