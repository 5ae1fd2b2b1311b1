"""Runs the benchmark: generate once, then time ours, bare DuckDB and pandas on the same files.

Every measured step runs in a fresh process (so peak memory is that step's own, read from the
kernel's rusage) one after the other (so they do not compete for the 2 cores). Throughput is
landed lines per second; ratios compare wall times of the same work on the same files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion import synthetic
from ingestion.layout import Layout


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    detail: dict[str, Any] = field(default_factory=dict)


def _run_child(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a Python module in a child process; wall time, its peak RSS (incl. its children), its JSON."""
    started = time.perf_counter()
    # Output goes to files, not pipes: a child that logs more than a pipe holds (64 KB of alert lines
    # at 10M events) would block forever while we wait for it.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out_file, stderr=err_file,
                                env={**os.environ, **(env or {})})
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read().decode(), err_file.read().decode()
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{err[-3000:]}")
    detail = json.loads(out.strip().splitlines()[-1])
    return Measured(seconds, usage.ru_maxrss / 1024, detail)


def _landing_files(layout: Layout) -> list[str]:
    return sorted(str(p) for p in layout.landing_dir("native").rglob("*.ndjson"))


def _count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def run(events: int, days: int, workdir: Path, *, seed: int = 7, increment: int = 50_000,
        skip_pandas: bool = False, keep_data: bool = False, say=print) -> dict[str, Any]:  # noqa: ANN001
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "aiw"
    end = dt.date(2026, 11, 20)
    increment_day = (end + dt.timedelta(days=1)).isoformat()
    reuse = keep_data and any((home / "landing" / "native").rglob("*.ndjson"))
    if reuse:
        # Same files as the last run: drop everything the pipeline wrote and the last increment.
        for sub in ("lake", "alerts", "tmp", "reports", f"landing/native/{increment_day}"):
            shutil.rmtree(home / sub, ignore_errors=True)
        for stale in home.glob("warehouse.duckdb*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    else:
        shutil.rmtree(home, ignore_errors=True)
    layout = Layout.from_env(home).ensure()
    files_per_day = max(1, events // days // 500_000)  # files of ~500k lines, like hourly-ish batches
    if reuse:
        files = _landing_files(layout)
        lines = sum(_count_lines(f) for f in files)
        say(f"reusing {lines:,} landing lines in {len(files)} files under {layout.landing_dir('native')}")
    else:
        say(f"generating {events:,} events over {days} days (not timed) ...")
        started = time.perf_counter()
        gen = synthetic.generate(layout, synthetic.Options(events=events, days=days, seed=seed, end_date=end,
                                                           files_per_day=files_per_day))
        files, lines = _landing_files(layout), gen.lines
        say(f"  {lines:,} lines, {len(files)} files in {time.perf_counter() - started:.0f}s")
    size_mb = sum(os.path.getsize(f) for f in files) / 1e6

    results: dict[str, Any] = {"events": events, "lines": lines, "files": len(files), "megabytes": size_mb,
                               "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    env = {"AIW_DUCKDB_MEMORY_LIMIT": os.environ.get("AIW_DUCKDB_MEMORY_LIMIT", "1GB")}

    say("bare DuckDB read_json -> Parquet ...")
    bare = _run_child(["orchestration.bench.references", "bare", str(workdir), *files])
    say("our pipeline: landing -> contract -> lake -> all marts -> alerts ...")
    ours = _run_child(["orchestration.bench.stage", str(home)], env)
    if not ours.detail["ok"]:
        raise RuntimeError(f"pipeline failed: {ours.detail}")
    results["bare_duckdb"] = {"seconds": bare.seconds, "peak_rss_mb": bare.peak_rss_mb, "detail": bare.detail}
    results["ours"] = {"seconds": ours.seconds, "peak_rss_mb": ours.peak_rss_mb, "detail": ours.detail}
    if not skip_pandas:
        say("pandas + Great Expectations notebook ...")
        pandas = _run_child(["orchestration.bench.references", "pandas", str(workdir), *files])
        results["pandas"] = {"seconds": pandas.seconds, "peak_rss_mb": pandas.peak_rss_mb, "detail": pandas.detail}

    if increment:
        say(f"incremental: {increment:,} more events landing as a new hour, on the full history ...")
        inc_opts = synthetic.Options(events=increment, days=1, seed=seed + 1,
                                     end_date=dt.date.fromisoformat(increment_day), whale_sessions_per_day=0)
        synthetic.generate(layout, inc_opts)
        on_history = _run_child(["orchestration.bench.stage", str(home)], env)
        empty_home = workdir / "aiw_increment_only"
        shutil.rmtree(empty_home, ignore_errors=True)
        synthetic.generate(Layout.from_env(empty_home).ensure(), inc_opts)
        say("incremental: the same events on an empty warehouse ...")
        alone = _run_child(["orchestration.bench.stage", str(empty_home)], env)
        results["increment"] = {"events": increment, "on_history": on_history.detail, "alone": alone.detail,
                                "on_history_seconds": on_history.seconds, "alone_seconds": alone.seconds}
    results["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def report(r: dict[str, Any]) -> str:
    """The results as a Markdown table with the ratios the performance bars are set on (docs/benchmarks.md)."""
    lines = r["lines"]
    ours, bare = r["ours"], r["bare_duckdb"]
    stages = ours["detail"]["seconds"]
    rss = ours["detail"]["peak_rss_mb"]

    def row(name: str, seconds: float, peak: float | str) -> str:
        peak_text = f"{peak:,.0f}" if isinstance(peak, float) else peak
        return f"| {name} | {seconds:.1f} | {lines / seconds:,.0f} | {peak_text} |"

    out = [f"{r['events']:,} events ({lines:,} lines, {r['files']} files, {r['megabytes']:,.0f} MB NDJSON), "
           f"{r['machine']['cpus']} CPUs", "",
           "| run | seconds | lines/s | peak RSS MB |", "|---|---|---|---|",
           row("bare DuckDB read_json -> Parquet", bare["seconds"], bare["peak_rss_mb"]),
           row("ours, end to end (process wall time)", ours["seconds"], ours["peak_rss_mb"]),
           row("- load + contract check (GX)", stages["load"], rss["pipeline"]),
           row("- dbt build, all marts", stages["dbt"], rss["dbt"]),
           f"| - alert evaluation | {stages.get('alerts', 0):.2f} | | |"]
    if "pandas" in r:
        out.append(row("pandas + GX notebook", r["pandas"]["seconds"], r["pandas"]["peak_rss_mb"]))
    out += ["", f"- ours / bare DuckDB throughput: **{bare['seconds'] / ours['seconds']:.2f}** (bar: >= 0.40)"]
    if "pandas" in r:
        out.append(f"- pandas / ours time: **{r['pandas']['seconds'] / ours['seconds']:.1f}x** (bar: >= 8x)")
    out.append(f"- peak memory of any process of ours: **{max(ours['peak_rss_mb'], rss['dbt']):,.0f} MB** "
               "(bar: < 2048 MB)")
    if "increment" in r:
        inc = r["increment"]
        out.append(f"- an increment of {inc['events']:,} events: {inc['on_history_seconds']:.1f}s on the full history "
                   f"vs {inc['alone_seconds']:.1f}s on an empty warehouse "
                   f"(ratio {inc['on_history_seconds'] / inc['alone_seconds']:.2f}; bar: about 1)")
    return "\n".join(out)
