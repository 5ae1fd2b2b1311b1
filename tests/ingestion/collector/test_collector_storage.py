"""The landing writer: durable appends, rotation by size, age and date, and recovery after a crash."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import orjson

from ingestion.collector.storage import LandingWriter, recover_leftovers
from ingestion.lake.landing import discover
from ingestion.layout import Layout


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(orjson.dumps({"event_id": f"e{i}"}) + b"\n" for i in range(start, start + n))


def _writer(layout: Layout, **kw: object) -> LandingWriter:
    opts = {"rotate_bytes": 1 << 20, "rotate_seconds": 3600.0, **kw}
    return LandingWriter(layout.landing_dir("native"), **opts)  # type: ignore[arg-type]


def test_open_file_is_invisible_to_the_loader_until_rotated(tmp_path: Path) -> None:
    layout = Layout.from_env(tmp_path)
    w = _writer(layout)
    w.append(_lines(3))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    hidden = list(layout.landing_dir("native").rglob("*"))
    assert [p.name.startswith(".") and p.name.endswith(".tmp") for p in hidden if p.is_file()] == [True]
    assert discover(layout, ("native",)) == []
    w.rotate()
    found = discover(layout, ("native",))
    assert len(found) == 1 and found[0].load_date == today
    assert found[0].path.read_bytes() == _lines(3)


def test_rotation_by_size_keeps_whole_lines_in_every_file(tmp_path: Path) -> None:
    layout = Layout.from_env(tmp_path)
    w = _writer(layout, rotate_bytes=200)
    for k in range(20):
        w.append(_lines(5, start=k * 5))
    w.close()
    files = discover(layout, ("native",))
    sizes = [f.path.stat().st_size for f in files]
    assert len(files) > 1
    # A file is finalized by the first append that takes it to 200 bytes or more.
    assert all(200 <= s < 200 + len(_lines(5, start=95)) for s in sizes[:-1])
    ids = [orjson.loads(x)["event_id"] for f in files for x in f.path.read_bytes().splitlines()]
    assert ids == [f"e{i}" for i in range(100)]


def test_rotation_by_age_publishes_a_quiet_file(tmp_path: Path) -> None:
    layout = Layout.from_env(tmp_path)
    w = _writer(layout, rotate_seconds=0.05)
    w.append(_lines(2))
    assert not w.rotate_if_due()
    time.sleep(0.08)
    assert w.rotate_if_due()
    assert len(discover(layout, ("native",))) == 1
    assert not w.rotate_if_due()  # nothing open, nothing to do


def test_a_new_utc_day_starts_a_new_dated_file(tmp_path: Path) -> None:
    layout = Layout.from_env(tmp_path)
    now = [dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC)]
    w = LandingWriter(layout.landing_dir("native"), rotate_bytes=1 << 20, rotate_seconds=3600,
                      clock=lambda: now[0])
    w.append(_lines(1))
    now[0] = dt.datetime(2026, 3, 2, 0, 0, 1, tzinfo=dt.UTC)
    w.append(_lines(1, start=1))
    w.close()
    assert [f.load_date for f in discover(layout, ("native",))] == ["2026-03-01", "2026-03-02"]


def test_recovery_finalizes_dead_files_cuts_partial_lines_and_leaves_live_ones(tmp_path: Path) -> None:
    layout = Layout.from_env(tmp_path)
    day = layout.landing_dir("native") / "2026-03-01"
    day.mkdir(parents=True)
    # Left by a collector killed mid-write: two acknowledged lines and half of a third.
    (day / ".collector-20260301T000000Z-dead0001-000001.ndjson.tmp").write_bytes(_lines(2) + b'{"event_id": "e')
    (day / ".collector-20260301T000000Z-dead0001-000002.ndjson.tmp").write_bytes(b"")
    (day / ".collector-20260301T000000Z-dead0001-000003.ndjson.tmp").write_bytes(b'{"half')
    live = _writer(layout, clock=lambda: dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    live.append(_lines(1))  # a running collector's open file holds a lock

    done = recover_leftovers(layout.landing_dir("native"))

    assert sorted((r.bytes_kept, r.bytes_cut) for r in done) == [(0, 0), (0, 6), (len(_lines(2)), 15)]
    visible = discover(layout, ("native",))
    assert [f.path.name for f in visible] == ["collector-20260301T000000Z-dead0001-000001.ndjson"]
    assert visible[0].path.read_bytes() == _lines(2)
    still_open = [p for p in day.iterdir() if p.name.startswith(".")]
    assert len(still_open) == 1  # the live writer's file was not touched
    live.append(_lines(1, start=1))
    live.close()
    assert len(discover(layout, ("native",))) == 2
    assert not [p for p in day.iterdir() if p.name.startswith(".")]


def test_a_failed_write_is_cut_back_and_raised(tmp_path: Path, monkeypatch: object) -> None:
    layout = Layout.from_env(tmp_path)
    w = _writer(layout)
    w.append(_lines(2))
    real_write = os.write
    calls = {"n": 0}

    def flaky(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data)[:10])  # a short write first, then the failure

    import pytest

    monkeypatch.setattr(os, "write", flaky)  # type: ignore[attr-defined]
    with pytest.raises(OSError):
        w.append(_lines(3, start=2))
    monkeypatch.setattr(os, "write", real_write)  # type: ignore[attr-defined]
    w.append(_lines(1, start=5))
    w.close()
    ids = [orjson.loads(x)["event_id"] for f in discover(layout, ("native",)) for x in f.path.read_bytes().splitlines()]
    assert ids == ["e0", "e1", "e5"]  # the failed batch left nothing behind, not even its first 10 bytes
