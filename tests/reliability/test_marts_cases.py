"""`aiw run` end to end on planted cases: bad files and lines, glob-named files, a changed re-send on another
day (first accepted wins against all history), both copies in one run, and ties decided by a fixed rule."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.layout import Layout
from tests.conftest import event
from tests.conftest import warehouse_rows as _q  # short: the assertions below are one query each
from tests.reliability.conftest import lake_rows

AIW = Path(sys.executable).parent / "aiw"


def _ms(day: int, minute: int = 0) -> int:
    return int(dt.datetime(2026, 11, day, 9, minute, tzinfo=dt.UTC).timestamp() * 1000)


def _write(layout: Layout, load_date: str, name: str, records: list[dict | bytes]) -> Path:
    path = layout.landing_dir("native") / load_date / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n" for r in records))
    return path


def _on(day: int, i: int, **kw: object) -> dict:
    fields: dict[str, object] = {"timestamp": _ms(day, i % 60), "session_id": f"s{day}_{i // 4}",
                                 "user_id": f"u{i % 5}"}
    return event(i, **(fields | kw))


def _rating(fid: str, target: str, rating: str, ts: int) -> dict:
    return {"record_type": "feedback", "schema_version": "1.1", "feedback_id": fid, "target_event_id": target,
            "timestamp": ts, "kind": "rating", "rating": rating}


def _run(layout: Layout) -> subprocess.CompletedProcess:
    return subprocess.run([str(AIW), "--home", str(layout.home), "run"], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Layout:
    return Layout.from_env(tmp_path_factory.mktemp("marts_cases") / "aiw").ensure()


@pytest.fixture(scope="module")
def first_run(home: Layout) -> subprocess.CompletedProcess:
    d = "2026-11-01"
    _write(home, d, "a.ndjson", [_on(1, i) for i in range(40)]
           + [_on(1, 40, session_id="s_tie", user_id="ua"), _on(1, 41, session_id="s_tie", user_id="ub")])
    _write(home, d, "star*.ndjson", [_on(1, i) for i in range(50, 55)])
    _write(home, d, "stars.ndjson", [_on(1, i) for i in range(60, 65)])
    _write(home, d, "utf8.ndjson", [_on(1, 70), b'{"event_id": "e\xff\xfe"}\n', _on(1, 71)])
    (home.landing_dir("native") / d / "corrupt.ndjson.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00garbage" * 20)
    # Path dates with no load-date partition: rejected files, not a stopped (or hung) run.
    _write(home, "2019-05-01", "old.ndjson", [_on(1, 80)])
    _write(home, "2999-01-01", "future.ndjson", [_on(1, 81)])
    # Two ratings with one timestamp: the later load, then the larger feedback_id wins (fb_b, fb_d).
    _write(home, d, "fb.ndjson", [_rating("fb_a", "e2", "down", _ms(1, 30)), _rating("fb_b", "e2", "up", _ms(1, 30)),
                                  _rating("fb_d", "e3", "down", _ms(1, 31)), _rating("fb_c", "e3", "up", _ms(1, 31))])
    return _run(home)


def test_bad_files_and_lines_are_one_line_each_and_the_rest_loads(home, first_run):
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    out = first_run.stdout + first_run.stderr
    assert "Traceback" not in out
    problems = [line for line in out.splitlines() if line.strip().startswith("problem:")]
    assert len(problems) == 4, problems
    assert any("corrupt.ndjson.gz: rejected:" in p and "replace the file" in p for p in problems)
    assert any("native/2019-05-01/old.ndjson: rejected: path date 2019-05-01 is outside" in p for p in problems)
    assert any("native/2999-01-01/future.ndjson: rejected: path date" in p for p in problems)
    assert any("native/2026-11-01/utf8.ndjson:2 invalid_utf8: quarantined" in p for p in problems)
    # 42 + 5 + 5 + 2 interactions: the glob-named file read only itself, nothing counted twice.
    assert _q(home, "select count(*), count(distinct event_id) from marts.fct_ai_interactions") == [(54, 54)]
    assert lake_rows(home, home.quarantine, "count(*), min(rule)") == (1, "invalid_utf8")


def test_equal_timestamps_resolve_by_the_documented_rule(home, first_run):
    assert _q(home, "select event_id, explicit_rating from marts.fct_ai_interactions "
                    "where event_id in ('e2', 'e3') order by 1") == [("e2", "up"), ("e3", "down")]
    assert _q(home, "select user_id from marts.mart_session_cost where session_id = 's_tie'") == [("ub",)]


@pytest.fixture(scope="module")
def before_resend(home, first_run) -> list[tuple]:
    return _q(home, "select * exclude (source_updated_at) from marts.mart_user_cost_daily order by all")


@pytest.fixture(scope="module")
def second_run(home, before_resend) -> subprocess.CompletedProcess:
    # e1 again, changed and dated two days later, beside 20 new events of that day.
    _write(home, "2026-11-03", "b.ndjson", [_on(3, 1, completion_tokens=99, session_id="s_moved")]
           + [_on(3, i) for i in range(100, 120)])
    # Both copies of e200 in this one run, on two load dates (loaded in date order).
    _write(home, "2026-11-05", "c.ndjson", [_on(5, 200)] + [_on(5, i) for i in range(201, 220)])
    _write(home, "2026-11-06", "d.ndjson", [_on(6, 200, completion_tokens=77)] + [_on(6, i) for i in range(220, 240)])
    return _run(home)


def test_a_changed_resend_on_another_day_changes_no_mart(home, before_resend, second_run):
    assert second_run.returncode == 0, second_run.stdout + second_run.stderr
    assert _q(home, "select event_date, completion_tokens, session_id from marts.fct_ai_interactions "
                    "where event_id = 'e1'") == [(dt.date(2026, 11, 1), 40, "s1_0")]
    after = _q(home, "select * exclude (source_updated_at) from marts.mart_user_cost_daily order by all")
    assert [r for r in after if r[0] == dt.date(2026, 11, 1) or r[1] == dt.date(2026, 11, 1)] == before_resend
    assert _q(home, "select count(*) from marts.fct_ai_interactions where event_date = '2026-11-03'") == [(20,)]
    assert _q(home, "select count(*) from marts.mart_session_cost where session_id = 's_moved'") == [(0,)]
    assert lake_rows(home, home.quarantine, "count(*) filter (where rule = 'duplicate_conflict')") == (2,)


def test_both_copies_in_one_run_keep_the_first_load_dates_copy(home, second_run):
    assert _q(home, "select event_date, completion_tokens from marts.fct_ai_interactions where event_id = 'e200'"
              ) == [(dt.date(2026, 11, 5), 40)]
    assert _q(home, "select event_date, count(*) from marts.fct_ai_interactions where event_date >= '2026-11-05' "
                    "group by 1 order by 1") == [(dt.date(2026, 11, 5), 20), (dt.date(2026, 11, 6), 20)]
    # 54 + 20 + 40 interactions, each counted once in the sessions mart.
    assert _q(home, "select sum(interactions), count(distinct session_id) filter (where session_id = 's_moved') "
                    "from marts.mart_session_cost") == [(114, 0)]
