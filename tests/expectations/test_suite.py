"""Great Expectations on DuckDB really evaluates (the persisted-connection fix works) and can fail."""

from __future__ import annotations

import duckdb

from expectations.runner import validate_parquet
from expectations.suite import expectation_specs
from ingestion.lake import loader as lake
from tests.conftest import NOW_MS, event, write_landing


def test_suite_passes_on_accepted_rows_and_catches_a_row_the_loader_did_not_write(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(20)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    report = validate_parquet(glob, NOW_MS)
    assert report.rows == 20
    # Every expectation ran for real: a metric that silently failed would show up as an error here.
    assert [o for o in report.outcomes if o.error] == []
    assert report.success, report.failed
    assert len(report.outcomes) == len(expectation_specs(NOW_MS))

    # A lake file written by something other than the loader, breaking three rules at once.
    rogue = layout.raw_interactions / "load_date=2026-11-20" / "rogue.parquet"
    duckdb.sql(f"""copy (select * replace ('e3' as event_id, 9999.0 as ttft_ms, 1.5 as implicit_quality_score)
                         from read_parquet('{glob}') limit 1) to '{rogue}' (format parquet)""")
    report = validate_parquet(glob, NOW_MS)
    failed = {(o.expectation, o.column): o for o in report.failed}
    assert set(failed) == {
        ("expect_column_values_to_be_unique", "event_id"),
        ("expect_column_values_to_be_between", "implicit_quality_score"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "total_latency_ms >= ttft_ms"),
    }
    assert failed[("expect_column_values_to_be_between", "implicit_quality_score")].unexpected_count == 1
    assert failed[("expect_column_values_to_be_between", "implicit_quality_score")].examples == ["e3"]


def test_a_big_load_is_validated_on_a_sample_and_uniqueness_on_every_row(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(60)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    full = validate_parquet(glob, NOW_MS, full_rows=1000)
    assert (full.rows, full.rows_validated, full.success) == (60, 60, True)
    assert len(full.outcomes) == len(expectation_specs(NOW_MS))

    sampled = validate_parquet(glob, NOW_MS, full_rows=20)
    assert sampled.rows == 60 and 0 < sampled.rows_validated < 60  # about 20: chosen by a hash of event_id
    assert validate_parquet(glob, NOW_MS, full_rows=20).rows_validated == sampled.rows_validated  # repeatable
    assert [o for o in sampled.outcomes if o.error] == [] and sampled.success, sampled.failed
    # The suite on the sample, plus event_id uniqueness counted over all 60 rows.
    assert len(sampled.outcomes) == len(expectation_specs(NOW_MS)) + 1

    # A copy of one accepted row, written beside the loader's file: whether or not the sample holds it,
    # the count over every row finds it.
    partition = layout.raw_interactions / "load_date=2026-11-20"
    duckdb.sql(f"copy (select * from read_parquet('{glob}') where event_id = 'e3') "
               f"to '{partition / 'copy.parquet'}' (format parquet)")
    report = validate_parquet(glob, NOW_MS, full_rows=20)
    (unique_all,) = [o for o in report.outcomes if o.expectation.endswith("(all rows, DuckDB)")]
    assert not unique_all.success and unique_all.unexpected_count == 1 and unique_all.examples == ["e3"]
    (partition / "copy.parquet").unlink()

    # A defect on a class of rows (40 of 100 out of range) is in the sample: the check fails on it.
    duckdb.sql(f"""copy (select * replace ('x' || event_id as event_id, 1.5 as implicit_quality_score)
                         from read_parquet('{glob}') limit 40) to '{partition / 'rogue.parquet'}' (format parquet)""")
    report = validate_parquet(glob, NOW_MS, full_rows=20)
    failed = {(o.expectation, o.column): o for o in report.failed}
    assert set(failed) == {("expect_column_values_to_be_between", "implicit_quality_score")}
    assert 0 < failed[("expect_column_values_to_be_between", "implicit_quality_score")].unexpected_count \
        <= report.rows_validated < report.rows == 100


def test_the_contract_check_reads_the_accepted_rows_of_the_new_load_only(layout):
    from orchestration.defs.lake.checks import contract_check_result

    write_landing(layout, "first.ndjson", [event(i) for i in range(20)])
    first = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    write_landing(layout, "second.ndjson", [event(i) for i in range(100, 105)])
    second = lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    assert first.load_id and second.load_id and first.load_id != second.load_id
    # A lake file of the same date that this run's load did not write, breaking the contract. The rows of
    # earlier loads were validated when they were loaded: the check of the new load does not read them.
    partition = layout.raw_interactions / "load_date=2026-11-20"
    duckdb.sql(f"copy (select * replace (1.5 as implicit_quality_score) from "
               f"read_parquet('{partition / (first.load_id + '.parquet')}')) to '{partition / 'old.parquet'}' "
               "(format parquet)")
    check = contract_check_result(layout, ["2026-11-20"], [second], 0.05, NOW_MS)
    assert check.passed, check.description
    assert check.metadata["accepted_rows"].value == 5
    assert check.metadata["accepted_rows_validated"].value == 5
    # A run that loaded nothing new is judged on every file of the date: the bad file fails it.
    rerun = contract_check_result(layout, ["2026-11-20"], [], 0.05, NOW_MS)
    assert not rerun.passed and rerun.metadata["accepted_rows"].value == 20 + 5 + 20


def test_the_suite_checks_the_tag_limits_on_the_lake_rows(layout):
    tags = {"tenant": "acme", "env": "prod"}
    write_landing(layout, "a.ndjson", [event(i, schema_version="1.2", tags=tags, prompt_version="v1")
                                       for i in range(10)] + [event(i) for i in range(10, 15)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    report = validate_parquet(glob, NOW_MS)
    assert report.rows == 15 and [o for o in report.outcomes if o.error] == [] and report.success, report.failed

    # A lake file that the loader did not write: one row over each tag limit.
    rogue = layout.raw_interactions / "load_date=2026-11-20" / "rogue.parquet"
    duckdb.sql(f"""copy (
        select * replace ('r1' as event_id, map_from_entries([{{'key': 'Tenant', 'value': 'x'}}]) as tags)
        from read_parquet('{glob}') where event_id = 'e1'
        union all
        select * replace ('r2' as event_id, map_from_entries([{{'key': 'a', 'value': repeat('x', 257)}}]) as tags)
        from read_parquet('{glob}') where event_id = 'e1'
        union all
        select * replace ('r3' as event_id, map_from_entries(list_transform(range(33),
                          lambda i: {{'key': 'k' || i, 'value': 'v'}})) as tags)
        from read_parquet('{glob}') where event_id = 'e1') to '{rogue}' (format parquet)""")
    report = validate_parquet(glob, NOW_MS)
    failed = {o.column: o.examples for o in report.failed}
    assert failed == {"tags__malformed_keys": ["r1"], "tags__longest_value": ["r2"], "tags__keys": ["r3"]}


def test_a_lake_written_before_tags_existed_validates(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(5)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    old = layout.raw_interactions / "load_date=2026-11-20" / "old.parquet"
    duckdb.sql(f"copy (select * exclude (tags, prompt_version) replace ('o' || event_id as event_id) "
               f"from read_parquet('{glob}')) to '{old}' (format parquet)")
    for path in (layout.raw_interactions / "load_date=2026-11-20").glob("*.parquet"):
        if path != old:
            path.unlink()
    report = validate_parquet(glob, NOW_MS)
    assert report.rows == 5 and [o for o in report.outcomes if o.error] == [] and report.success, report.failed
