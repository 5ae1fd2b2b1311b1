"""What `aiw run` costs when little or nothing is new: the fixed costs an hourly run pays every time.

Prints, as medians of --runs runs (each a fresh process, as a scheduler would start it):
  - import of orchestration.definitions (the Dagster code location) and of the aiw CLI,
  - `aiw run` on an empty increment (nothing landed since the last run),
  - `aiw run` on an increment of --increment new events (default 10k) on top of a small history.

    .venv/bin/python benchmarks/bench_fixed_costs.py               # this checkout
    .venv/bin/python benchmarks/bench_fixed_costs.py --repo DIR    # another checkout (e.g. an older commit),
                                                                   # run with this interpreter

The landing quiet period is set to 0 (files are written before the run starts, as an hourly producer's
would be long before the next run). Timings are wall clock on whatever else the machine is doing: run it
on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], repo: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]), help="checkout to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", type=int, default=10_000, help="events loaded before the timed runs")
    parser.add_argument("--increment", type=int, default=10_000, help="new events per timed increment")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    python = sys.executable
    aiw = [python, "-m", "orchestration.cli"]

    with tempfile.TemporaryDirectory(prefix="aiw-fixed-costs-") as scratch:
        home = Path(scratch) / "aiw"
        env = {**os.environ, "PYTHONPATH": str(repo), "AIW_HOME": str(home), "AIW_LANDING_QUIET_SECONDS": "0",
               "GX_ANALYTICS_ENABLED": "false"}
        env.pop("DAGSTER_HOME", None)
        where = subprocess.run([python, "-c", "import orchestration; print(orchestration.__file__)"], cwd=repo,
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        print(f"measuring {where}")

        # The manifest may be missing in a fresh checkout: the first import parses it, untimed.
        _timed([python, "-c", "import orchestration.definitions"], repo, env)
        imports_defs = [_timed([python, "-c", "import orchestration.definitions"], repo, env)
                        for _ in range(args.runs)]
        imports_cli = [_timed([*aiw, "--help"], repo, env) for _ in range(args.runs)]

        _timed([*aiw, "generate", "--events", str(args.history), "--days", "1", "--seed", "1"], repo, env)
        _timed([*aiw, "run"], repo, env)  # the history: first build, untimed
        _timed([*aiw, "run"], repo, env)  # settle anything a first run leaves for the second
        empty = [_timed([*aiw, "run"], repo, env) for _ in range(args.runs)]
        increments = []
        for run in range(args.runs):
            _timed([*aiw, "generate", "--events", str(args.increment), "--days", "1", "--seed", str(100 + run)],
                   repo, env)
            increments.append(_timed([*aiw, "run"], repo, env))

    def show(label: str, values: list[float]) -> None:
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:<44} median {statistics.median(values):6.2f} s   ({runs})")

    show("python -c 'import orchestration.definitions'", imports_defs)
    show("aiw --help (CLI start)", imports_cli)
    show("aiw run, empty increment", empty)
    show(f"aiw run, {args.increment:,} new events", increments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
