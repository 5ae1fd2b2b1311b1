"""The blocking quarantine threshold judges each load on its own (one bad sender does not block a load date
forever), shows the share per source file, and an operator can accept a load with `aiw accept-load`."""

from __future__ import annotations

from ingestion.lake import loader as lake
from orchestration.cli import main
from orchestration.defs.lake.checks import contract_check_result
from tests.conftest import NOW_MS, event, write_landing

DAY = "2026-11-20"


def _check(layout, loads):
    return contract_check_result(layout, [DAY], loads, 0.05, NOW_MS)


def test_a_bad_load_does_not_block_a_later_clean_load_of_the_same_date(layout):
    write_landing(layout, "bad-sender.ndjson", ["{}"] * 1000)
    bad = lake.load_partition(layout, DAY, now_ms=NOW_MS)
    first = _check(layout, [bad])
    assert not first.passed and bad.load_id in first.description
    per_file = first.metadata["quarantine_by_file"].value
    assert "bad-sender.ndjson" in per_file and "100.00%" in per_file

    write_landing(layout, "good-sender.ndjson", [event(i) for i in range(5000)])
    good = lake.load_partition(layout, DAY, now_ms=NOW_MS + 1000)
    assert good.load_id != bad.load_id and (good.lines, good.quarantined) == (5000, 0)
    second = _check(layout, [good])
    assert second.passed, second.description
    # This load's figures only, not the date's.
    assert (second.metadata["lines"].value, second.metadata["quarantined"].value) == (5000, 0)


def test_a_rerun_without_new_files_keeps_the_verdict_until_an_operator_accepts_the_load(layout, capsys):
    write_landing(layout, "a.ndjson", [event(i) for i in range(90)] + ["{}"] * 10)
    load = lake.load_partition(layout, DAY, now_ms=NOW_MS)
    assert not _check(layout, [load]).passed
    assert not _check(layout, []).passed  # a re-run of the date judges its latest load again: still blocked

    assert main(["--home", str(layout.home), "accept-load", "no-such-load", "--reason", "x"]) == 2
    assert "no-such-load" in capsys.readouterr().err
    assert main(["--home", str(layout.home), "accept-load", load.load_id, "--reason", "known bad client"]) == 0
    accepted = _check(layout, [])
    assert accepted.passed, accepted.description
    assert [(a["load_id"], a["reason"]) for a in accepted.metadata["accepted_loads"].value] == [
        (load.load_id, "known bad client")]


def test_a_blocked_loads_rows_never_reach_the_marts_until_it_is_accepted(layout, capsys):
    """A run that loads nothing new (or only another date) must not build the marts from a blocked load."""
    write_landing(layout, "a.ndjson", [event(i) for i in range(90)] + ["{}"] * 10)
    assert main(["--home", str(layout.home), "run"]) == 1
    assert not layout.warehouse.exists()
    # Nothing new, then a clean file of another date: the blocked load still holds the marts back.
    assert main(["--home", str(layout.home), "run"]) == 1
    write_landing(layout, "b.ndjson", [event(1000 + i) for i in range(20)], load_date="2026-11-19")
    assert main(["--home", str(layout.home), "run"]) == 1
    assert not layout.warehouse.exists()
    out = capsys.readouterr().out
    assert "aiw accept-load" in out
    # An operator accepts it: the next run builds, with every accepted row.
    load_id, = {m["load_id"] for m in lake.read_manifest(layout).values() if m["quarantined"]}
    assert main(["--home", str(layout.home), "accept-load", load_id, "--reason", "known bad sender"]) == 0
    assert main(["--home", str(layout.home), "run"]) == 0
    con = __import__("duckdb").connect(str(layout.warehouse), read_only=True)
    assert con.execute("select count(*) from marts.fct_ai_interactions").fetchone()[0] == 110
    con.close()
