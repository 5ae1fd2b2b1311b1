"""Runs the benchmark: generate once, then time bare DuckDB, ours and pandas on the same files, per file mix.

Two landing-file mixes of the same events (`ingestion.synthetic`, module docstring): `uniform`, every
file carrying about 1% of lines that break a contract rule, and `producer`, as producers write files:
on each day one file in `files_per_day` holds the day's bad lines and the others are clean. Each mix
gets its own AIW_HOME under the workdir and the same three measurements; then one hourly increment
is timed on the last mix's full history and on an empty warehouse.

Every measured step runs in a fresh process (so peak memory is that step's own, read from the
kernel's rusage) one after the other (so they do not compete for the 2 cores). Throughput is
landed lines per second; every ratio is computed from the measured wall times of the same work on
the same files (`ratios`), stored in results.json and printed by `report`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
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

MIXES = synthetic.MIXES
END_DATE = dt.date(2026, 11, 20)  # fixed, so a run is reproducible and --keep-data files stay valid
LINES_PER_FILE = 500_000  # at most about this many lines per landing file
MIN_FILES_PER_DAY = 7  # so that the producer mix's one broken file a day is 1 file in 7
GENERATION_FILE = "generation.json"  # in the workdir: what the landing files were generated with
RESULTS_FILE = "results.json"  # in the workdir: every figure of the run

# The bars of docs/benchmarks.md. Throughput against bare DuckDB is set at two sizes; below 1M events
# the fixed costs dominate and no bar is set.
BAR_THROUGHPUT_10M = 0.40
BAR_THROUGHPUT_1M = 0.25
BAR_PANDAS_OVER_OURS = 8.0  # set at 10M events
BAR_PEAK_RSS_MB = 2048.0
BAR_INCREMENT_RATIO = 1.2  # an increment on the full history vs the same increment alone


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


def files_per_day(events: int, days: int) -> int:
    """Landing files per day: at least MIN_FILES_PER_DAY, more when a day would exceed LINES_PER_FILE lines."""
    return max(MIN_FILES_PER_DAY, math.ceil(events / days / LINES_PER_FILE))


def throughput_bar(events: int) -> float | None:
    """The ours / bare DuckDB throughput bar at this size (None: no bar below 1M events)."""
    if events >= 10_000_000:
        return BAR_THROUGHPUT_10M
    if events >= 1_000_000:
        return BAR_THROUGHPUT_1M
    return None


def _landing_files(layout: Layout) -> list[str]:
    return sorted(str(p) for p in layout.landing_dir("native").rglob("*.ndjson"))


def _count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _save(workdir: Path, results: dict[str, Any]) -> None:
    """results.json after every measured step: a long run that fails late keeps what it measured."""
    tmp = workdir / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=str))
    tmp.replace(workdir / RESULTS_FILE)


def _reset_outputs(home: Path, increment_day: str) -> None:
    """Keep a mix's landing files, drop everything the pipeline wrote and the last run's increment."""
    for child in home.iterdir() if home.exists() else []:
        if child.name != "landing":
            _remove(child)
    _remove(home / "landing" / "native" / increment_day)


def _generate(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    spec_path = workdir / "generation-spec.json"
    spec_path.write_text(json.dumps(spec))
    gen = _run_child(["orchestration.bench.generate", str(spec_path)])
    spec_path.unlink()
    truth = {**gen.detail, "seconds": gen.seconds, "peak_rss_mb": gen.peak_rss_mb}
    (workdir / GENERATION_FILE).write_text(json.dumps({"spec": spec, "truth": truth}, indent=1))
    return truth


def _mix_files(truth: dict[str, Any], mix: str) -> dict[str, Any]:
    """Lines, files, size and where the contract violations are, for one mix's landing files."""
    files = truth["mixes"][mix]["files"]
    per_file = truth["mixes"][mix]["violations_per_file"]
    lines_per_file = {f: _count_lines(f) for f in files}
    return {
        "files": files,
        "violations_per_file": {str(Path(f).relative_to(Path(f).parents[2])): per_file[f] for f in files},
        "lines": sum(lines_per_file.values()),
        "megabytes": sum(os.path.getsize(f) for f in files) / 1e6,
        "violations": sum(per_file.values()),
        "files_with_violations": sum(1 for f in files if per_file[f]),
        "max_file_violation_share": max((per_file[f] / lines_per_file[f] for f in files if lines_per_file[f]),
                                        default=0.0),
    }


def _measured(m: Measured, lines: int) -> dict[str, Any]:
    return {"seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb, "lines_per_second": lines / m.seconds,
            "detail": m.detail}


def _run_ours(home: Path, env: dict[str, str], lines: int, what: str) -> Measured:
    ours = _run_child(["orchestration.bench.stage", str(home)], env)
    d = ours.detail
    if not d["ok"] or d.get("blocked") or "dbt" not in d["seconds"]:
        # A blocked load or a skipped dbt build would time less work than the references did.
        raise RuntimeError(f"{what}: the pipeline did not load and build everything: {d}")
    if d["lines"] != lines:
        # Fewer lines loaded than landed would time less work than the references did.
        raise RuntimeError(f"{what}: the pipeline loaded {d['lines']:,} lines of {lines:,} landed")
    return ours


def ratios(events: int, mix_result: dict[str, Any]) -> dict[str, Any]:
    """The figures the bars are set on, from one mix's measured wall times and peaks."""
    ours, bare = mix_result["ours"], mix_result["bare_duckdb"]
    throughput = bare["seconds"] / ours["seconds"]  # = ours lines/s / bare lines/s on the same lines
    peak = max(ours["peak_rss_mb"], ours["detail"]["peak_rss_mb"]["dbt"])
    bar = throughput_bar(events)
    out: dict[str, Any] = {
        "ours_over_bare_throughput": throughput,
        "throughput_bar": bar,
        "throughput_met": None if bar is None else throughput >= bar,
        "peak_rss_mb": peak,
        "peak_met": peak < BAR_PEAK_RSS_MB,
    }
    if "pandas" in mix_result:
        speedup = mix_result["pandas"]["seconds"] / ours["seconds"]
        out.update(pandas_over_ours=speedup, pandas_met=speedup >= BAR_PANDAS_OVER_OURS)
    return out


def run(events: int, days: int, workdir: Path, *, mix: str = "both", seed: int = 7, increment: int = 50_000,
        skip_pandas: bool = False, keep_data: bool = False, say=print) -> dict[str, Any]:  # noqa: ANN001
    mixes = MIXES if mix == "both" else (mix,)
    if any(m not in MIXES for m in mixes):
        raise ValueError(f"unknown file mix {mix!r}: one of {', '.join(MIXES)} or both")
    workdir.mkdir(parents=True, exist_ok=True)
    _remove(workdir / RESULTS_FILE)  # an earlier run's figures must not pass for this one's
    homes = {m: workdir / m / "aiw" for m in mixes}
    increment_day = (END_DATE + dt.timedelta(days=1)).isoformat()
    spec = {"events": events, "days": days, "seed": seed, "end_date": END_DATE.isoformat(),
            "files_per_day": files_per_day(events, days), "homes": {m: str(h) for m, h in homes.items()}}

    recorded = json.loads((workdir / GENERATION_FILE).read_text()) if (workdir / GENERATION_FILE).exists() else None
    same = (recorded is not None and {k: v for k, v in recorded["spec"].items() if k != "homes"}
            == {k: v for k, v in spec.items() if k != "homes"}
            and all(m in recorded["truth"]["mixes"] and all(Path(f).exists() for f in recorded["truth"]["mixes"][m]
                                                            ["files"]) for m in mixes))
    if keep_data and same:
        truth = {**recorded["truth"], "reused": True}
        for home in homes.values():
            _reset_outputs(home, increment_day)
        say(f"reusing the landing files of {workdir / GENERATION_FILE} ({', '.join(mixes)})")
    else:
        if keep_data:
            say("--keep-data: no landing files of these options in the workdir; generating them")
        for m in MIXES:
            _remove(workdir / m)
        _remove(workdir / GENERATION_FILE)
        say(f"generating {events:,} events over {days} day(s), {spec['files_per_day']} files a day, "
            f"mixes {', '.join(mixes)} (not timed in the results) ...")
        truth = {**_generate(spec, workdir), "reused": False}
        say(f"  {truth['lines']:,} lines per mix in {truth['seconds']:.0f}s")

    results: dict[str, Any] = {
        "events": events, "days": days, "seed": seed, "files_per_day": spec["files_per_day"], "mixes_run": list(mixes),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "generation": {k: truth[k] for k in ("seconds", "peak_rss_mb", "lines", "planted", "duplicates", "reused")},
        "bars": {"ours_over_bare_throughput": throughput_bar(events), "pandas_over_ours": BAR_PANDAS_OVER_OURS,
                 "peak_rss_mb": BAR_PEAK_RSS_MB, "increment_ratio": BAR_INCREMENT_RATIO},
        "mixes": {}, "complete": False,
    }
    # The loader waits for a landing file to be quiet (unwritten for 2 s); generated files are renamed into
    # place whole, so the benchmark need not wait, and an increment just written must not be skipped.
    env = {"AIW_DUCKDB_MEMORY_LIMIT": os.environ.get("AIW_DUCKDB_MEMORY_LIMIT", "1GB"),
           "AIW_LANDING_QUIET_SECONDS": "0"}

    for n, m in enumerate(mixes):
        info = _mix_files(truth, m)
        files, lines = info["files"], info["lines"]
        info["files"] = len(files)
        say(f"[{m}] {lines:,} lines in {len(files)} files, {info['files_with_violations']} carrying the "
            f"{info['violations']:,} contract violations")
        mix_dir = workdir / m
        say(f"[{m}] bare DuckDB read_json -> Parquet ...")
        bare = _run_child(["orchestration.bench.references", "bare", str(mix_dir), *files])
        _remove(mix_dir / "bare.parquet")
        say(f"[{m}] our pipeline: landing -> contract -> lake -> all marts -> alerts ...")
        ours = _run_ours(homes[m], env, lines, m)
        result = {**info, "bare_duckdb": _measured(bare, lines), "ours": _measured(ours, lines)}
        if not skip_pandas:
            say(f"[{m}] pandas + Great Expectations notebook ...")
            pandas = _run_child(["orchestration.bench.references", "pandas", str(mix_dir), *files])
            result["pandas"] = _measured(pandas, lines)
            for out in mix_dir.glob("pandas_*.parquet"):
                out.unlink()
        result["ratios"] = ratios(events, result)
        results["mixes"][m] = result
        _save(workdir, results)
        if not keep_data and n < len(mixes) - 1:
            _remove(mix_dir)  # measured; the last mix's history is kept for the increment

    if increment:
        history = mixes[-1]
        home = homes[history]
        say(f"increment: {increment:,} more events landing as a new hour, on the full {history} history ...")
        inc_opts = synthetic.Options(events=increment, days=1, seed=seed + 1,
                                     end_date=dt.date.fromisoformat(increment_day), whale_sessions_per_day=0)
        inc = synthetic.generate(Layout.from_env(home).ensure(), inc_opts)
        on_history = _run_ours(home, env, inc.lines, "increment on the history")
        alone_home = workdir / "increment_alone" / "aiw"
        _remove(alone_home.parent)
        alone_landing = Layout.from_env(alone_home).ensure().landing_dir("native") / increment_day
        shutil.copytree(home / "landing" / "native" / increment_day, alone_landing)  # the same files
        say("increment: the same events on an empty warehouse ...")
        alone = _run_ours(alone_home, env, inc.lines, "increment alone")
        _remove(alone_home.parent)
        results["increment"] = {
            "events": increment, "lines": inc.lines, "history_mix": history,
            "history_lines": results["mixes"][history]["lines"],
            "on_history_seconds": on_history.seconds, "alone_seconds": alone.seconds,
            "ratio": on_history.seconds / alone.seconds,
            "ratio_met": on_history.seconds / alone.seconds <= BAR_INCREMENT_RATIO,
            "on_history": on_history.detail, "alone": alone.detail}

    if not keep_data:
        for m in mixes:
            _remove(workdir / m)
        _remove(workdir / GENERATION_FILE)
    results["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["complete"] = True
    _save(workdir, results)
    return results


def _verdict(met: bool | None) -> str:
    return "no bar at this size" if met is None else ("met" if met else "**missed**")


def report(r: dict[str, Any]) -> str:
    """The results as Markdown, one table per mix, with the ratios the bars are set on (docs/benchmarks.md)."""
    out = [f"{r['events']:,} events over {r['days']} days, {r['files_per_day']} files a day, "
           f"{r['machine']['cpus']} CPUs; every ratio from the wall times below"]
    for mix, m in r["mixes"].items():
        lines, ours, bare, q = m["lines"], m["ours"], m["bare_duckdb"], m["ratios"]
        stages, rss = ours["detail"]["seconds"], ours["detail"]["peak_rss_mb"]

        def row(name: str, seconds: float, peak: float | None, lines: int = lines) -> str:
            return f"| {name} | {seconds:.1f} | {lines / seconds:,.0f} | {'' if peak is None else f'{peak:,.0f}'} |"

        out += ["", f"### {mix} mix: {lines:,} lines, {m['files']} files, {m['megabytes']:,.0f} MB NDJSON; "
                f"{m['violations']:,} contract violations in {m['files_with_violations']} files "
                f"(at most {m['max_file_violation_share']:.1%} of a file)", "",
                "| run | seconds | lines/s | peak RSS MB |", "|---|---|---|---|",
                row("bare DuckDB read_json -> Parquet", bare["seconds"], bare["peak_rss_mb"]),
                row("**ours, end to end** (process wall time)", ours["seconds"], ours["peak_rss_mb"]),
                row("- load + contract check (GX)", stages["load"], rss["pipeline"]),
                (row("- dbt build, all marts", stages["dbt"], rss["dbt"]) if "dbt" in stages
                 else "| - dbt build, all marts | skipped | | |"),
                f"| - alert evaluation | {stages.get('alerts', 0):.2f} | | |"]
        if "pandas" in m:
            out.append(row("pandas + GX notebook", m["pandas"]["seconds"], m["pandas"]["peak_rss_mb"]))
        bar = q["throughput_bar"]
        out += ["", "| bar | measured | verdict |", "|---|---|---|",
                f"| ours >= {'-' if bar is None else f'{bar:.2f}'} of bare DuckDB's throughput | "
                f"**{q['ours_over_bare_throughput']:.2f}** ({bare['seconds']:.1f} s vs {ours['seconds']:.1f} s) | "
                f"{_verdict(q['throughput_met'])} |"]
        if "pandas_over_ours" in q:
            pandas = m["pandas"]["seconds"]
            out.append(f"| ours >= {BAR_PANDAS_OVER_OURS:.0f}x faster than pandas (set at 10M) | "
                       f"**{q['pandas_over_ours']:.1f}x** ({pandas:.1f} s vs {ours['seconds']:.1f} s) | "
                       f"{_verdict(q['pandas_met'])} |")
        out.append(f"| peak memory < {BAR_PEAK_RSS_MB:,.0f} MB (largest process of ours) | "
                   f"**{q['peak_rss_mb']:,.0f} MB** | {_verdict(q['peak_met'])} |")
    if "increment" in r:
        inc = r["increment"]
        out += ["", f"### increment: {inc['events']:,} events ({inc['lines']:,} lines) as a new hour", "",
                "| run | seconds | load | dbt |", "|---|---|---|---|"]
        for name, key in ((f"on the full {inc['history_mix']} history ({inc['history_lines']:,} lines)", "on_history"),
                          ("alone, on an empty warehouse", "alone")):
            s = inc[key]["seconds"]
            out.append(f"| {name} | {inc[key + '_seconds']:.1f} | {s['load']:.1f} | {s.get('dbt', 0):.1f} |")
        out += ["", f"- on the history / alone: **{inc['ratio']:.2f}** (bar: <= {BAR_INCREMENT_RATIO}; "
                f"{_verdict(inc['ratio_met'])})"]
    return "\n".join(out)
