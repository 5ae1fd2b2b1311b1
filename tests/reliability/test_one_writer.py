"""One writer per AIW_HOME: the lock itself, concurrent loaders, and two `aiw run` started together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.lake.writer_lock import WriterBusy, writer_lock
from ingestion.layout import Layout
from tests.conftest import NOW_MS, event, write_landing
from tests.paths import REPO
from tests.reliability.conftest import lake_rows, manifest_rows

AIW = Path(sys.executable).parent / "aiw"


def _holder(home: Path, seconds: float) -> subprocess.Popen:
    """A process that takes the writer lock, says so on stdout, and holds it for `seconds`."""
    code = textwrap.dedent(f"""
        import sys, time
        from ingestion.lake.writer_lock import writer_lock
        with writer_lock({str(home)!r}, "test holder"):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_waits_saying_for_whom_or_fails_fast(tmp_path):
    proc = _holder(tmp_path, 1.5)
    with pytest.raises(WriterBusy, match=rf"pid {proc.pid} started at .*test holder"):
        with writer_lock(tmp_path, "impatient", wait=False):
            pass
    said: list[str] = []
    started = time.monotonic()
    with writer_lock(tmp_path, "patient", say=said.append):
        waited = time.monotonic() - started
    proc.wait()
    assert waited > 0.5
    assert len(said) == 1 and said[0].startswith(f"waiting for the run of pid {proc.pid} started at ")


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    proc = _holder(tmp_path, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with writer_lock(tmp_path, "after the kill", wait=False):
        pass


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    with writer_lock(tmp_path, "outer"), writer_lock(tmp_path, "inner", wait=False):
        pass
    with writer_lock(tmp_path, "again", wait=False):
        pass


def _loader(home: Path, delay: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time
        time.sleep({delay})
        from ingestion.lake import loader as lake
        from ingestion.layout import Layout
        lake.load_partition(Layout.from_env({str(home)!r}), "2026-11-20", now_ms={NOW_MS} + int({delay} * 1000))
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "AIW_HOME": str(home)})


@pytest.mark.parametrize("offset", [0.0, 0.05, 0.3, 0.6])
def test_concurrent_loaders_load_each_file_once(layout, offset):
    for n in range(12):
        write_landing(layout, f"f{n:02d}.ndjson", [event(n * 1000 + i) for i in range(300)])
    procs = [_loader(layout.home, 0.0), _loader(layout.home, offset)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert lake_rows(layout, layout.raw_interactions, "count(*), count(distinct event_id)") == (3600, 3600)
    assert len(manifest_rows(layout)) == 12
    assert lake_rows(layout, layout.event_index) == (3600,)


# ---- two `aiw run` at once -------------------------------------------------------------------------------

def _marts(home: Path) -> dict[str, object]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return {
            "interactions": con.execute("select count(*), count(distinct event_id), round(sum(cost_usd), 6) "
                                        "from marts.fct_ai_interactions").fetchone(),
            "sessions": con.execute("select count(*), sum(interactions), round(sum(cost_usd), 6) "
                                    "from marts.mart_session_cost").fetchone(),
            "user_days": con.execute("select count(*), sum(interactions) from marts.mart_user_cost_daily").fetchone(),
        }
    finally:
        con.close()


def _state(home: Path) -> dict[str, object]:
    layout = Layout.from_env(home)
    return {"lake": lake_rows(layout, layout.raw_interactions, "count(*), count(distinct event_id)"),
            "quarantine": lake_rows(layout, layout.quarantine),
            "manifest": sorted((r["relative_path"], r.get("status") or "loaded", r["lines"])
                               for r in manifest_rows(layout)),
            **_marts(home)}


def _generate(home: Path) -> None:
    subprocess.run([str(AIW), "--home", str(home), "generate", "--events", "1500", "--days", "3",
                    "--files-per-day", "4", "--end-date", "2026-11-30", "--seed", "3"], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("single") / "aiw"
    _generate(home)
    subprocess.run([str(AIW), "--home", str(home), "run"], check=True, capture_output=True)
    return _state(home)


# Each pair costs two real runs (~25 s each on 2 cores), so the suite tries one offset here; the loader
# test above tries several, cheaply.
@pytest.mark.parametrize("offset", [0.5])
def test_two_runs_started_together_equal_one_run(tmp_path, single_run, offset):
    home = tmp_path / "aiw"
    _generate(home)
    first = subprocess.Popen([str(AIW), "--home", str(home), "run"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    time.sleep(offset)
    second = subprocess.Popen([str(AIW), "--home", str(home), "run"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    outs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert any("waiting for the run of pid" in out for out in outs), outs
    assert _state(home) == single_run
    assert single_run["lake"][0] > 1000 and single_run["lake"][0] == single_run["interactions"][0]


def test_no_wait_fails_fast_while_a_run_holds_the_home(tmp_path):
    proc = _holder(tmp_path, 30)
    try:
        started = time.monotonic()
        done = subprocess.run([str(AIW), "--home", str(tmp_path), "run", "--no-wait"], capture_output=True,
                              text=True, timeout=60)
        assert time.monotonic() - started < 20
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 3
    assert f"the run of pid {proc.pid} started at" in done.stderr and "Traceback" not in done.stderr
