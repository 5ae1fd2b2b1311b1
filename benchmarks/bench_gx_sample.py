"""The contract check's Great Expectations step on a big load: every row vs the sample it now reads.

    .venv/bin/aiw --home /tmp/gx1m generate --events 1000000 --days 1 && .venv/bin/aiw --home /tmp/gx1m run
    .venv/bin/python benchmarks/bench_gx_sample.py --home /tmp/gx1m

Prints the median of --runs validations of the accepted rows in the lake, with GX reading every row and
with the default sample (expectations/runner.py), after one untimed warm-up that pays GX's import.
"""

from __future__ import annotations

import argparse
import statistics
import time

from expectations.runner import DEFAULT_FULL_ROWS, validate_parquet
from ingestion.layout import Layout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="an AIW_HOME whose lake holds a big load")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    layout = Layout.from_env(args.home)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    now_ms = int(time.time() * 1000)
    validate_parquet(glob, now_ms, full_rows=DEFAULT_FULL_ROWS)  # warm-up: GX's import, file cache
    for label, full_rows in (("every row", 10**12), (f"sample of {DEFAULT_FULL_ROWS:,}", DEFAULT_FULL_ROWS)):
        times, report = [], None
        for _ in range(args.runs):
            started = time.perf_counter()
            report = validate_parquet(glob, now_ms, full_rows=full_rows, spill_dir=str(layout.tmp / "gx"))
            times.append(time.perf_counter() - started)
        assert report is not None
        print(f"GX on {report.rows:,} accepted rows, {label:<18} median {statistics.median(times):6.2f} s "
              f"({', '.join(f'{t:.2f}' for t in times)}); {report.rows_validated:,} rows read by GX, "
              f"{len(report.failed)} expectation(s) failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
