"""The two references our pipeline is measured against, run on the same landing files.

- `bare_duckdb`: the speed limit. One DuckDB pass `read_json -> Parquet` with no validation, no
  quarantine, no marts: what reading the bytes costs on this machine.
- `pandas_pipeline`: what a competent analyst writes in a notebook for the same job: parse the files
  (pandas.read_json cannot skip a malformed line, so lines are parsed one by one and bad ones set
  aside), validate with Great Expectations on pandas, drop what fails, drop retries, then compute
  session cost and feature quality with groupby. It processes one landing file at a time and keeps
  only the columns the marts need, so memory stays bounded at 10M events.

Each runs in its own process (see `orchestration.bench.runner`) so its peak memory is its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

NEEDED = ["event_id", "session_id", "user_id", "timestamp", "feature_id", "ttft_ms", "total_latency_ms",
          "prompt_tokens", "completion_tokens", "estimated_cost_usd", "user_regenerated", "user_edited_output",
          "explicit_rating"]


def bare_duckdb(files: list[str], out_dir: str) -> dict[str, Any]:
    started = time.perf_counter()
    con = duckdb.connect(config={"memory_limit": "1GB", "temp_directory": str(Path(out_dir) / "spill")})
    file_list = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    rows = con.execute(f"""
        copy (select * from read_json({file_list}, format = 'newline_delimited', ignore_errors = true))
        to '{Path(out_dir) / "bare.parquet"}' (format parquet, compression zstd)
    """).fetchone()[0]
    return {"rows": int(rows), "seconds": time.perf_counter() - started}


def _validate_with_gx(frame: Any) -> Any:
    """Great Expectations on pandas, the way its docs show it: a boolean mask of rows that pass."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = context.data_sources.add_pandas("notebook").add_dataframe_asset("events") \
        .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name="notebook_contract")
    for column in ("schema_version", "event_id", "session_id", "timestamp", "feature_id", "model_id",
                   "model_version", "total_latency_ms"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="schema_version", value_set=["1.0", "1.1", "1.2"]))
    for column, low, high in (("ttft_ms", 0, None), ("total_latency_ms", 0, None), ("prompt_tokens", 0, None),
                              ("completion_tokens", 0, None), ("implicit_quality_score", 0, 1)):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    suite.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="total_latency_ms", column_B="ttft_ms", or_equal=True, ignore_row_if="either_value_is_missing"))
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    bad = set()
    for r in result.results:
        bad.update(r.result.get("unexpected_index_list") or [])
    return ~frame.index.isin(list(bad))


def pandas_pipeline(files: list[str], out_dir: str) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    kept, seen, lines = [], set(), 0
    for path in files:
        records = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                lines += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # malformed: set aside
                if isinstance(record, dict) and record.get("record_type") in (None, "interaction"):
                    records.append(record)
        frame = pd.DataFrame.from_records(records)
        for column in ("ttft_ms", "total_latency_ms", "prompt_tokens", "completion_tokens", "estimated_cost_usd",
                       "implicit_quality_score", "timestamp"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        frame = frame[_validate_with_gx(frame)]
        frame = frame[~frame["event_id"].isin(seen)].drop_duplicates("event_id")
        seen.update(frame["event_id"])
        kept.append(frame[NEEDED])
    events = pd.concat(kept, ignore_index=True)
    events["event_date"] = pd.to_datetime(events["timestamp"], unit="ms", utc=True).dt.date
    events["tokens"] = events["prompt_tokens"] + events["completion_tokens"]
    sessions = events.groupby("session_id").agg(
        user_id=("user_id", lambda s: s.mode().iat[0] if s.notna().any() else None),
        interactions=("event_id", "size"), total_tokens=("tokens", "sum"), cost_usd=("estimated_cost_usd", "sum"),
        first_ts=("timestamp", "min"), last_ts=("timestamp", "max"))
    sessions["over_budget"] = sessions["cost_usd"] > 0.5
    events["rated"] = events["explicit_rating"].notna()
    events["up"] = events["explicit_rating"].eq("up").where(events["rated"])
    quality = events.groupby(["feature_id", "event_date"]).agg(
        interactions=("event_id", "size"), regeneration_rate=("user_regenerated", "mean"),
        edit_rate=("user_edited_output", "mean"), rating_rate=("rated", "mean"), thumbs_up_rate=("up", "mean"),
        ttft_p50_ms=("ttft_ms", "median"), ttft_p95_ms=("ttft_ms", lambda s: s.quantile(0.95)),
        latency_p95_ms=("total_latency_ms", lambda s: s.quantile(0.95)), cost_usd=("estimated_cost_usd", "sum"))
    sessions.to_parquet(Path(out_dir) / "pandas_sessions.parquet")
    quality.to_parquet(Path(out_dir) / "pandas_quality.parquet")
    return {"rows": len(events), "lines": lines, "sessions": len(sessions), "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    # python -m orchestration.bench.references <bare|pandas> <out_dir> <file>...
    which, out, *paths = sys.argv[1:]
    result = (bare_duckdb if which == "bare" else pandas_pipeline)(paths, out)
    print(json.dumps(result))
