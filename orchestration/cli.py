"""`aiw`: the command line of the AI Analytics Warehouse (README, "Commands")."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path

from ingestion.layout import Layout
from ingestion.sql import quote_path


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from ingestion import synthetic

    layout = Layout.from_env(args.home).ensure()
    started = time.perf_counter()
    end = dt.date.fromisoformat(args.end_date) if args.end_date else None
    gen = synthetic.generate(layout, synthetic.Options(events=args.events, days=args.days, seed=args.seed,
                                                       end_date=end, files_per_day=args.files_per_day))
    _say(f"wrote {gen.lines} lines in {len(gen.files)} file(s) under {layout.landing_dir('native')} "
         f"in {time.perf_counter() - started:.1f}s: {gen.valid_interactions} valid interactions, "
         f"{gen.valid_feedback} feedback records, {gen.duplicates} retries, {gen.quarantined} planted contract "
         f"violations")
    return 0


def _print_summary(layout: Layout, summary: object) -> None:
    from orchestration.pipeline import PipelineSummary

    assert isinstance(summary, PipelineSummary)
    s, n = summary, summary.counts
    _say("")
    _say("summary")
    _say(f"  files loaded        {n.files_loaded}")
    _say(f"  lines landed        {n.lines}")
    _say(f"  rows accepted       {n.accepted}")
    _say(f"  rows quarantined    {n.quarantined}" + (f" ({n.quarantined / n.lines:.2%})" if n.lines else ""))
    _say(f"  duplicates dropped  {n.duplicates_dropped}")
    _say(f"  skipped (not AI)    {n.skipped}")
    if s.dbt_ok:
        from orchestration.warehouse import findings
        from orchestration.warehouse.connection import try_open_readonly

        con = try_open_readonly(layout.warehouse)
        if con is not None:
            try:
                totals = findings.totals(con)
            finally:
                con.close()
            _say(f"  interactions        {totals.interactions}")
            _say(f"  sessions            {totals.sessions} ({totals.sessions_over_budget} over budget)")
    if s.alerts is not None and not s.alerts.skipped_reason:
        _say(f"  alerts fired        {len(s.alerts.fired)} new ({s.alerts.already_fired} fired before) "
             f"-> {layout.alerts / 'alerts.jsonl'}")
    if s.dbt_skipped:
        _say("  dbt build           skipped: nothing the marts read changed since the last build")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in s.seconds.items())
    _say(f"  time                {timing}")
    if s.blocked_reason:
        _say(f"  BLOCKED: {s.blocked_reason}")
    if s.dbt_error:
        _say(f"  dbt FAILED: {s.dbt_error}")


def cmd_run(args: argparse.Namespace) -> int:
    from ingestion.lake.writer_lock import WriterBusy
    from orchestration.pipeline import run_pipeline

    layout = Layout.from_env(args.home).ensure()
    try:
        summary = run_pipeline(layout, say=_say, wait=not args.no_wait, debug=args.debug)
    except WriterBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    _print_summary(layout, summary)
    return 0 if summary.ok else 1


def _open_for_sql(layout: Layout, wait_seconds: float = 30.0):  # noqa: ANN202
    """A locked-down read-only session: the warehouse, plus the lake and the alert log as views.

    Once the views exist, external access is switched off (files outside the lake directories and the
    alert log cannot be read; ATTACH, COPY and EXPORT cannot reach any file) and the configuration is
    locked (no SET can undo that). Extensions are never installed or loaded automatically.
    """
    from ingestion.lake.loader import _parquet_has_files
    from orchestration.warehouse.connection import WarehouseBusy, WarehouseMissing, open_readonly

    no_extensions = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                     "allow_community_extensions": False}
    try:
        con = open_readonly(layout.warehouse, wait_seconds=wait_seconds, config=no_extensions)
    except (WarehouseMissing, WarehouseBusy) as exc:
        raise SystemExit(str(exc)) from None
    # The lake and the alert log as read-only views, so one SQL session sees everything.
    views = {"lake_raw_interactions": layout.raw_interactions, "lake_raw_feedback": layout.raw_feedback,
             "lake_quarantine": layout.quarantine}
    readable_dirs: list[str] = []
    readable_files: list[str] = []
    for name, directory in views.items():
        if _parquet_has_files(directory):
            con.execute(f"create temp view {name} as select * from "
                        f"read_parquet({quote_path(directory / '**' / '*.parquet')}, "
                        "hive_partitioning = true, union_by_name = true)")
            readable_dirs.append(f"{directory}/")
    if _parquet_has_files(layout.manifest):
        con.execute("create temp view lake_manifest as select * from "
                    f"read_parquet({quote_path(layout.manifest / '*.parquet')}, union_by_name = true)")
        readable_dirs.append(f"{layout.manifest}/")
    alert_log = layout.alerts / "alert_log.jsonl"
    if alert_log.exists() and alert_log.stat().st_size:
        con.execute(f"create temp view alert_log as select * from "
                    f"read_json({quote_path(alert_log)}, format='newline_delimited')")
        readable_files.append(str(alert_log))
    # The views read their files when queried, so those paths stay allowed. DuckDB would also let a
    # statement write there; only single SELECT statements reach this connection (see _read_only_statement).
    con.execute("set allowed_directories = ?", [readable_dirs])
    con.execute("set allowed_paths = ?", [readable_files])
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def _read_only_statement(query: str) -> str | None:
    """Why `query` is not one read-only statement (one line), or None when it is a single SELECT/EXPLAIN."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    if len(statements) != 1:
        return f"aiw sql runs exactly one statement per call, got {len(statements)}"
    kind = statements[0].type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = query.strip().rstrip(";").split(None, 1)[1:] or [""]
        inner_text = inner[0]
        if inner_text.lower().startswith("analyze"):
            inner_text = inner_text[len("analyze"):]
        try:
            inner_statements = duckdb.extract_statements(inner_text)
        except duckdb.Error:
            inner_statements = []
        if len(inner_statements) == 1 and inner_statements[0].type == duckdb.StatementType.SELECT:
            return None
        return "aiw sql is read-only: EXPLAIN only of a SELECT"
    if kind != duckdb.StatementType.SELECT:
        name = str(kind).rsplit(".", 1)[-1]
        return (f"aiw sql is read-only: a {name} statement is refused (only SELECT, DESCRIBE, SHOW, SUMMARIZE, "
                "EXPLAIN); it cannot write files, attach databases or change settings")
    return None


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    layout = Layout.from_env(args.home)
    refusal = _read_only_statement(args.query)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    con = _open_for_sql(layout)
    try:
        rel = con.sql(args.query)
        if rel is None:
            return 0
        columns = rel.columns
        rows = rel.fetchall()
    except duckdb.Error as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever DuckDB printed
        return 2
    finally:
        con.close()
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=False)) for r in rows], default=str, indent=2))
    else:
        _print_table(columns, rows)
    return 0


def cmd_accept_load(args: argparse.Namespace) -> int:
    from orchestration.defs.lake.quarantine import accept_load

    layout = Layout.from_env(args.home)
    try:
        entry = accept_load(layout, args.load_id, args.reason)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _say(f"load {entry['load_id']} accepted ({entry['reason']}); re-run the load date (aiw run) to build the marts")
    return 0


def _print_table(columns: list[str], rows: list[tuple]) -> None:
    def fmt(v: object) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, float):
            return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)))
    print("-+-".join("-" * w for w in widths))
    for r in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_demo(args: argparse.Namespace) -> int:
    from ingestion.lake.landing import discover
    from orchestration.pipeline import run_pipeline

    layout = Layout.from_env(args.home).ensure()
    _say(f"AIW_HOME = {layout.home}")
    if discover(layout, ("native",)):
        _say("landing/native already has files: running on them (delete AIW_HOME for a fresh demo)")
    else:
        args.end_date, args.files_per_day = None, 1
        cmd_generate(args)
    started = time.perf_counter()
    summary = run_pipeline(layout, say=_say, debug=args.debug)
    _print_summary(layout, summary)
    if summary.ok:
        con = _open_for_sql(layout)
        _say("\ntop sessions by cost")
        _print_table(*_query(con, "select session_id, user_id, interactions, round(cost_usd, 4) as cost_usd, "
                                  "over_budget from marts.mart_session_cost order by cost_usd desc limit 5"))
        _say("\ncost and quality by feature")
        _print_table(*_query(con, "select feature_id, sum(interactions) as interactions, round(sum(cost_usd), 2) "
                                  "as cost_usd, round(avg(avg_implicit_quality), 3) as avg_quality, "
                                  "round(avg(regeneration_rate), 3) as regeneration_rate "
                                  "from marts.mart_feature_quality_daily group by 1 order by 3 desc"))
        _say("\nfindings")
        for line in _findings(con):
            _say(f"  - {line}")
        con.close()
        if summary.alerts and summary.alerts.fired:
            _say("\nalerts (first 5)")
            for alert in summary.alerts.fired[:5]:
                _say(f"  - {alert.title}")
    _say(f"\ndemo finished in {time.perf_counter() - started:.1f}s; try: "
         "aiw sql \"select * from marts.mart_session_cost order by cost_usd desc limit 5\"")
    return 0 if summary.ok else 1


def _findings(con) -> list[str]:  # noqa: ANN001
    """A few readable lines: model drift, latency SLO breaches, budgets (orchestration/warehouse/findings.py)."""
    from orchestration.warehouse import findings

    lines = [f"drift: {d.model_id} {d.model_version} got worse from {d.first_day}: {d.first_reason}"
             for d in findings.model_drift(con)] or ["drift: no model version drifted"]
    lines += [f"latency: {b.feature_id} on {b.model_id} broke the p95 TTFT SLO in {b.breached_hours} hour(s) "
              f"from {b.first_hour:%Y-%m-%d %H}:00, worst p95 {b.worst_p95_ms:.0f} ms"
              for b in findings.slo_breaches(con)]
    totals = findings.totals(con)
    lines.append(f"budget: {totals.sessions_over_budget} session(s) over the session budget, "
                 f"${totals.over_budget_cost_usd:.2f} in total")
    lines += [f"budget: user {u.user_id} over the ${u.budget_usd:.0f} 7-day budget from {u.first_day} "
              f"(peak ${u.peak_cost_usd:.2f})" for u in findings.users_over_budget(con, "7d")]
    return lines


def _query(con, sql: str) -> tuple[list[str], list[tuple]]:  # noqa: ANN001
    rel = con.sql(sql)
    return rel.columns, rel.fetchall()


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration.report.build import write_report

    layout = Layout.from_env(args.home)
    try:
        result = write_report(layout, Path(args.output).resolve() if args.output else None)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    h, d = result.data.headline, result.data
    _say(f"wrote {result.path} ({result.bytes / 1024:.0f} KiB, self-contained: open it in any browser, offline)")
    _say(f"  events {d.first_date} to {d.last_date}: {h['interactions']} interactions, ${h['cost_usd']:.2f}, "
         f"{h['sessions']} sessions ({h['sessions_over_budget']} over budget), "
         f"{len(d.slo_breaches)} feature x model SLO breach series, {len(d.drift)} drifting model version(s)")
    return 0


def cmd_prices_export(args: argparse.Namespace) -> int:
    from ingestion.prices import catalogue_version, export_seed
    from orchestration.defs.warehouse.inputs import DBT_PROJECT_DIR

    target = Path(args.output) if args.output else DBT_PROJECT_DIR / "seeds" / "model_prices.csv"
    rows = export_seed(target)
    _say(f"wrote {rows} price rows ({catalogue_version()}, every provider) to {target}; "
         "the next `aiw run` re-prices history")
    return 0


def cmd_prices_resolve(args: argparse.Namespace) -> int:
    from ingestion.prices import lake_directory, resolution_path, resolve_lake_models

    lake = Path(args.lake) if args.lake else lake_directory(Layout.from_env(getattr(args, "home", None)))
    keys = resolve_lake_models(lake)
    _say(f"resolved {keys} distinct (provider, model_id, model_version) keys into {resolution_path(lake)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from orchestration.bench import runner

    workdir = Path(args.workdir).resolve()
    results = runner.run(args.events, args.days, workdir, mix=args.mix, increment=args.increment,
                         skip_pandas=args.skip_pandas, keep_data=args.keep_data, say=_say)
    _say("")
    _say(runner.report(results))
    _say(f"\nevery figure: {workdir / runner.RESULTS_FILE}")
    return 0


def cmd_collector(args: argparse.Namespace) -> int:
    try:
        from ingestion.collector import server
    except ImportError:
        print("the collector is not part of this build", file=sys.stderr)
        return 2
    return server.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiw", description="AI Analytics Warehouse: LLM events -> lake -> marts -> alerts.")
    parser.add_argument("--home", help="AIW_HOME (default: $AIW_HOME, else ./.aiw)")
    parser.add_argument("--debug", action="store_true", help="show Dagster's log and full errors (stack traces)")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic landing files under $AIW_HOME/landing/native/")
    gen.add_argument("--events", type=int, default=100_000)
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--end-date", help="last generated day, YYYY-MM-DD (default: today, UTC)")
    gen.add_argument("--files-per-day", type=int, default=1)
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="load pending landing files, build the marts, evaluate alerts")
    run.add_argument("--no-wait", action="store_true",
                     help="exit at once (status 3) when another run holds this AIW_HOME instead of waiting for it")
    run.set_defaults(func=cmd_run)

    sql = sub.add_parser("sql", help="read-only SQL against the warehouse (marts.*, lake_* views, alert_log)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(func=cmd_sql)

    demo = sub.add_parser("demo", help="generate synthetic events, run everything, print a readable summary")
    demo.add_argument("--events", type=int, default=100_000)
    demo.add_argument("--days", type=int, default=7)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="time the pipeline against bare DuckDB and a pandas notebook")
    bench.add_argument("--events", type=int, default=1_000_000)
    bench.add_argument("--days", type=int, default=7)
    bench.add_argument("--mix", choices=("both", "uniform", "producer"), default="both",
                       help="landing-file mix: 1%% bad rows in every file (uniform), bad rows in 1 file in 7 "
                            "(producer), or both on the same events (default)")
    bench.add_argument("--increment", type=int, default=50_000, help="events in the incremental run (0: skip)")
    bench.add_argument("--skip-pandas", action="store_true", help="leave out the pandas reference")
    bench.add_argument("--workdir", default="bench-work", help="scratch directory (default ./bench-work)")
    bench.add_argument("--keep-data", action="store_true",
                       help="keep the landing files (about 0.6 GB per million events per mix) and reuse them in "
                            "the next run with the same options, instead of deleting them at the end")
    bench.set_defaults(func=cmd_bench)

    accept = sub.add_parser("accept-load", help="let one load through the quarantine threshold (it is recorded)")
    accept.add_argument("load_id", help="the load id, as in the check's description or lake_manifest.load_id")
    accept.add_argument("--reason", required=True, help="why (kept in AIW_HOME/lake/accepted_loads.jsonl)")
    accept.set_defaults(func=cmd_accept_load)

    report = sub.add_parser("report", help="write one self-contained HTML report with charts of the marts")
    report.add_argument("--output", help="HTML file to write (default: $AIW_HOME/reports/report.html)")
    report.set_defaults(func=cmd_report)

    prices = sub.add_parser("prices", help="the dated model price table")
    prices_sub = prices.add_subparsers(dest="prices_command", required=True)
    export = prices_sub.add_parser("export", help="write dbt_project/seeds/model_prices.csv from genai-prices")
    export.add_argument("--output", help="CSV path (default: the dbt seed)")
    export.set_defaults(func=cmd_prices_export)
    resolve = prices_sub.add_parser(
        "resolve", help="resolve the lake models with genai-prices (aiw run does it; run it before a plain dbt build)")
    resolve.add_argument("--lake", help="lake directory (default: AIW_LAKE_URI or $AIW_HOME/lake)")
    resolve.set_defaults(func=cmd_prices_resolve)

    try:
        from ingestion.collector import server
    except ImportError:
        server = None
    if server is not None:
        col = sub.add_parser("collector", help="serve the HTTP collector that writes landing files")
        server.add_arguments(col)
        col.set_defaults(func=cmd_collector)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.home:
        args.home = str(Path(args.home).resolve())
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `aiw sql ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
