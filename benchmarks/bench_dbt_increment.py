"""dbt's first build and an hourly increment on one AIW_HOME, node by node (docs/benchmarks.md, "dbt: data tests
and increments").

    # once: a history and an increment landed and loaded (the increment is the last landing day)
    .venv/bin/aiw --home /tmp/dbt1m generate --events 1000000 --days 7 --end-date 2026-11-20
    .venv/bin/aiw --home /tmp/dbt1m run
    .venv/bin/aiw --home /tmp/dbt1m generate --events 50000 --days 1 --seed 8 --end-date 2026-11-21
    .venv/bin/aiw --home /tmp/dbt1m run
    # then, as often as needed (it leaves the home as it found it, apart from the warehouse's contents)
    .venv/bin/python benchmarks/bench_dbt_increment.py --home /tmp/dbt1m

Three `dbt build`s, each the command `aiw run` runs (`dbt build --exclude-resource-type unit_test`, in a
process of its own, with partial parsing warm):
  1. first build: `--full-refresh` with the increment's lake partitions (load_date = --increment-date)
     moved aside, so it sees the history only;
  2. increment: the partitions put back, an incremental build on top of 1;
  3. increment alone: the same partitions in a lake of their own, on an empty warehouse.
Prints each build's wall time, its nodes' total and the --top most expensive nodes from dbt's
run_results.json; --json writes every node's time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"  # --project-dir measures another version of it (e.g. `git archive` of a commit)
DBT = str(Path(sys.executable).parent / "dbt")


def dbt(command: str, project: Path, home: Path, target: Path, *extra: str, lake: Path | None = None) -> float:
    """One dbt process; its wall time. A target directory per AIW_HOME keeps partial parsing warm."""
    args = [DBT, command, "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(target), "--log-path", str(target), *extra]
    env = {**os.environ, "AIW_HOME": str(home)}
    env.pop("AIW_LAKE_URI", None)
    if lake is not None:
        env["AIW_LAKE_URI"] = str(lake)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dbt failed ({' '.join(args[1:])}):\n{done.stdout[-4000:]}")
    return wall


def dbt_build(project: Path, home: Path, target: Path, *, full_refresh: bool = False,
              lake: Path | None = None) -> dict:
    """`dbt build` as `aiw run` runs it (defs/warehouse/assets.py), after an untimed parse in the same target."""
    dbt("parse", project, home, target, lake=lake)
    wall = dbt("build", project, home, target, "--exclude-resource-type", "unit_test",
               *(["--full-refresh"] if full_refresh else []), lake=lake)
    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = {r["unique_id"]: round(r["execution_time"], 3) for r in results}
    return {"wall_seconds": round(wall, 2), "node_seconds": round(sum(nodes.values()), 2), "nodes": nodes}


def short(unique_id: str) -> str:
    kind, _project, name = unique_id.split(".", 2)
    return f"{kind} {name}"


def summary(label: str, build: dict, top: int) -> str:
    nodes = build["nodes"]
    tests = sum(t for k, t in nodes.items() if k.startswith("test."))
    models = sum(t for k, t in nodes.items() if k.startswith("model."))
    lines = [f"## {label}: {build['wall_seconds']:.2f} s wall, nodes {build['node_seconds']:.2f} s "
             f"(models {models:.2f} s, {sum(k.startswith('test.') for k in nodes)} data tests {tests:.2f} s)",
             "| node | seconds |", "|---|---|"]
    for unique_id, seconds in sorted(nodes.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {short(unique_id)} | {seconds:.3f} |")
    return "\n".join(lines)


def increment_partitions(lake: Path, increment_date: str) -> list[Path]:
    return sorted(p for p in (lake / "raw").glob(f"*/load_date={increment_date}") if p.is_dir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path, help="an AIW_HOME with history and an increment loaded")
    parser.add_argument("--increment-date", default="2026-11-21",
                        help="the increment's load_date partition (default: the day the usage above lands)")
    parser.add_argument("--top", type=int, default=15, help="nodes to list per build")
    parser.add_argument("--json", type=Path, help="write every node's time here")
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT,
                        help="the dbt project to build (default: this checkout's dbt_project/)")
    args = parser.parse_args()
    project = args.project_dir.resolve()
    home = args.home.resolve()
    lake = Path(os.environ.get("AIW_LAKE_URI", home / "lake"))
    partitions = increment_partitions(lake, args.increment_date)
    if not partitions:
        raise SystemExit(f"no lake partition load_date={args.increment_date} under {lake / 'raw'}: land and load "
                         "an increment first (see this script's docstring)")
    work = home / "tmp" / "bench_dbt_increment"
    shutil.rmtree(work, ignore_errors=True)
    hidden = work / "hidden"
    results: dict[str, dict] = {}

    # 1. First build on the history alone.
    moved = []
    try:
        for p in partitions:
            aside = hidden / p.parent.name / p.name
            aside.parent.mkdir(parents=True, exist_ok=True)
            p.rename(aside)
            moved.append((aside, p))
        results["first_build"] = dbt_build(project, home, work / "target", full_refresh=True, lake=lake)
    finally:
        for aside, p in moved:
            aside.rename(p)

    # 2. The increment on that history.
    results["increment"] = dbt_build(project, home, work / "target", lake=lake)

    # 3. The same increment alone: its partitions and the price resolution in a lake of their own.
    alone_home = work / "alone"
    alone_lake = alone_home / "lake"
    for p in partitions:
        shutil.copytree(p, alone_lake / "raw" / p.parent.name / p.name)
    shutil.copytree(lake / "prices", alone_lake / "prices")
    results["increment_alone"] = dbt_build(project, alone_home, work / "target_alone", lake=alone_lake)

    for label, build in results.items():
        print(summary(label.replace("_", " "), build, args.top), end="\n\n")
    inc, alone = results["increment"]["wall_seconds"], results["increment_alone"]["wall_seconds"]
    print(f"increment on the history / alone: {inc:.2f} s / {alone:.2f} s = {inc / alone:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    shutil.rmtree(alone_home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
