"""The benchmark harness (`aiw bench`): its two landing-file mixes and the figures it reports.

What the files contain is judged here independently of the generator's own labels: each line is parsed
and checked with the contract's Python reference (`contract.validate_record`), and retries are found by
event id. The harness runs for real (generation, bare DuckDB, `aiw run`, the pandas notebook) at a few
thousand events; its ratios and its printed table are checked against the wall times it measured.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from ingestion import synthetic
from ingestion.contract import schema as contract
from ingestion.layout import Layout
from orchestration.bench import runner

NOW_MS = int(dt.datetime.combine(runner.END_DATE + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() * 1000)


def _violates(line: str) -> bool:
    """Whether one landing line breaks a contract rule, by the reference implementation."""
    try:
        return bool(contract.validate_record(json.loads(line), NOW_MS))
    except ValueError:
        return True  # malformed JSON


def _violations(path: Path) -> int:
    return sum(_violates(line) for line in path.read_text(encoding="utf-8").splitlines())


def _by_day(files: list[Path]) -> dict[str, list[Path]]:
    days: dict[str, list[Path]] = {}
    for f in files:
        days.setdefault(f.parent.name, []).append(f)
    return days


def test_producer_mix_puts_each_days_bad_rows_in_one_file_and_moves_nothing_else(tmp_path: Path) -> None:
    days, per_day = 3, 7
    opts = synthetic.Options(events=6_000, days=days, end_date=runner.END_DATE, files_per_day=per_day)
    layouts = {m: Layout.from_env(tmp_path / m).ensure() for m in synthetic.MIXES}
    gen = synthetic.generate(layouts["uniform"], opts, also={"producer": layouts["producer"]})
    alone = synthetic.generate(Layout.from_env(tmp_path / "alone").ensure(), opts)

    files = {m: sorted(layouts[m].landing_dir("native").rglob("*.ndjson")) for m in synthetic.MIXES}
    bad = {m: {f: _violations(f) for f in files[m]} for m in synthetic.MIXES}

    # The uniform mix is what the generator wrote before mixes existed: byte for byte the same files.
    assert [f.read_bytes() for f in files["uniform"]] == \
        [f.read_bytes() for f in sorted((tmp_path / "alone").rglob("*.ndjson"))]
    assert len(alone.files) == len(files["uniform"]) == len(files["producer"]) == days * per_day

    # Producer mix: exactly one file a day carries violations (1 file in 7), the other files carry none.
    broken = [f for f, n in bad["producer"].items() if n]
    assert len(broken) == days == math.ceil(len(files["producer"]) / 7)
    assert sorted(f.parent.name for f in broken) == sorted(_by_day(files["producer"]))
    assert sum(bad["producer"].values()) == sum(bad["uniform"].values()) > 0
    # ... while in the uniform mix most files carry some.
    assert sum(1 for n in bad["uniform"].values() if n) > len(files["uniform"]) // 2

    # Same lines per landing day in both mixes (so the same events and the same share per load date):
    # only the bad lines moved, and only within their day.
    for day, day_files in _by_day(files["uniform"]).items():
        producer_day = _by_day(files["producer"])[day]
        assert Counter(line for f in day_files for line in f.read_text().splitlines()) == \
            Counter(line for f in producer_day for line in f.read_text().splitlines())
        # The broken file's bad lines are spread through it, not appended in a block at its end.
        (broken_file,) = [f for f in producer_day if bad["producer"][f]]
        broken_lines = broken_file.read_text().splitlines()
        positions = [i for i, line in enumerate(broken_lines) if _violates(line)]
        even_gap = len(broken_lines) / len(positions)
        assert len(positions) >= 10
        gaps = [b - a for a, b in zip([-1, *positions], [*positions, len(broken_lines)], strict=True)]
        assert max(gaps) <= 2 * even_gap

    # The generator's own per-file count, which the harness reports, agrees with the reference's.
    assert {f: gen.violations_per_file[f] for f in files["producer"]} == bad["producer"]
    assert {f: gen.violations_per_file[f] for f in files["uniform"]} == bad["uniform"]


def test_producer_mix_needs_more_than_one_file_a_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="files_per_day >= 2"):
        synthetic.generate(Layout.from_env(tmp_path).ensure(),
                           synthetic.Options(events=100, days=1, end_date=runner.END_DATE, mix="producer"))


def _expected_accepted(files: list[Path]) -> int:
    """Interactions the pipeline must accept: valid interaction records, each event id once (first wins)."""
    ids = set()
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and contract.record_type_of(record) == "interaction" \
                    and not contract.validate_record(record, NOW_MS):
                ids.add(record["event_id"])
    return len(ids)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    workdir = tmp_path_factory.mktemp("bench")
    # One mix and no increment keep the test short: each is one or two more `aiw run`s of ~15 s, and they
    # run the same code as this one (the mixes themselves are compared in the generator's test above).
    # keep_data so the files and the lake can be checked afterwards.
    results = runner.run(2_000, 1, workdir, mix="producer", increment=0, keep_data=True, say=lambda _m: None)
    return results, runner.report(results), workdir


def test_bench_measures_every_reference_on_the_same_lines(bench: tuple[dict, str, Path]) -> None:
    results, _table, workdir = bench
    assert list(results["mixes"]) == ["producer"] and results["complete"]
    assert json.loads((workdir / runner.RESULTS_FILE).read_text())["mixes"].keys() == results["mixes"].keys()
    for mix, m in results["mixes"].items():
        files = sorted((workdir / mix / "aiw" / "landing").rglob("*.ndjson"))
        lines = sum(len(f.read_text().splitlines()) for f in files)
        assert (m["files"], m["lines"]) == (len(files), lines) == (7, results["generation"]["lines"])
        assert m["violations"] == sum(_violations(f) for f in files)
        # Every reference read every line; ours loaded every line and accepted exactly the valid, distinct ones.
        assert m["bare_duckdb"]["detail"]["rows"] == lines
        assert m["pandas"]["detail"]["lines"] == lines
        assert m["ours"]["detail"]["lines"] == lines
        assert m["ours"]["detail"]["accepted"] == _expected_accepted(files)
        # The process wall time includes the stages the pipeline timed itself.
        stages = m["ours"]["detail"]["seconds"]
        assert m["ours"]["seconds"] >= stages["total"] >= stages["load"] + stages["dbt"]
    assert results["mixes"]["producer"]["files_with_violations"] == 1


def test_the_pipeline_quarantined_the_producer_mix_in_one_file(bench: tuple[dict, str, Path]) -> None:
    """Where the pipeline itself put the quarantined rows (its lake, not the generator's labels)."""
    _results, _table, workdir = bench
    quarantine = Layout.from_env(workdir / "producer" / "aiw").quarantine
    per_file = duckdb.connect().execute(f"""
        select source_file, count(*) from read_parquet('{quarantine}/**/*.parquet', union_by_name = true)
        where rule <> '{contract.RULE_DUPLICATE_CONFLICT}' group by 1""").fetchall()
    assert len(per_file) == 1 and per_file[0][1] == _results["mixes"]["producer"]["violations"]


def test_ratios_and_table_come_from_the_measured_times(bench: tuple[dict, str, Path]) -> None:
    results, table, _workdir = bench
    for mix, m in results["mixes"].items():
        ours, bare, pandas = m["ours"]["seconds"], m["bare_duckdb"]["seconds"], m["pandas"]["seconds"]
        q = m["ratios"]
        assert q["ours_over_bare_throughput"] == pytest.approx(bare / ours)
        assert q["pandas_over_ours"] == pytest.approx(pandas / ours)
        assert q["peak_rss_mb"] == max(m["ours"]["peak_rss_mb"], m["ours"]["detail"]["peak_rss_mb"]["dbt"])
        assert q["peak_met"] == (q["peak_rss_mb"] < 2048)
        assert q["pandas_met"] == (pandas / ours >= 8)
        # No throughput bar below 1M events.
        assert q["throughput_bar"] is None and q["throughput_met"] is None
        section = table.split(f"### {mix} mix")[1].split("###")[0]
        assert f"| bare DuckDB read_json -> Parquet | {bare:.1f} | {m['lines'] / bare:,.0f} |" in section
        assert f"| **ours, end to end** (process wall time) | {ours:.1f} | {m['lines'] / ours:,.0f} |" in section
        assert f"**{bare / ours:.2f}** ({bare:.1f} s vs {ours:.1f} s)" in section
        assert f"**{pandas / ours:.1f}x** ({pandas:.1f} s vs {ours:.1f} s)" in section


def test_bars_by_size() -> None:
    assert runner.throughput_bar(10_000_000) == 0.40
    assert runner.throughput_bar(1_000_000) == runner.throughput_bar(5_000_000) == 0.25
    assert runner.throughput_bar(999_999) is None
    assert runner.files_per_day(1_000_000, 7) == runner.files_per_day(10_000_000, 7) == 7
    assert runner.files_per_day(100_000_000, 7) == 29
