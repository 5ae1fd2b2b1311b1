"""The processes `aiw run` starts early (dbt, Great Expectations) do what the cold ones do, and step aside."""

from __future__ import annotations

import os
import subprocess

import duckdb

from expectations import runner
from expectations.runner import validate_parquet, warm_gx_process
from ingestion.lake import loader as lake
from orchestration.defs.warehouse.warm_dbt import REAL_DBT, warm_dbt
from tests.conftest import NOW_MS, event, write_landing


def test_the_warm_dbt_runs_one_command_like_dbt_then_the_client_runs_the_real_dbt(tmp_path):
    real = subprocess.run([REAL_DBT, "no-such-command"], capture_output=True, text=True, cwd=tmp_path)
    assert real.returncode != 0
    with warm_dbt() as warm:
        served = subprocess.run([warm.executable, "no-such-command"], capture_output=True, text=True,
                                cwd=tmp_path)
        assert warm.served
        # dbt's own exit status and message, through the client's stdout/stderr.
        assert served.returncode == real.returncode
        assert "no-such-command" in served.stdout + served.stderr
        assert served.stdout + served.stderr == real.stdout + real.stderr
        # The server took its one command and exited; the client now runs dbt itself.
        again = subprocess.run([warm.executable, "--version"], capture_output=True, text=True, cwd=tmp_path)
        assert again.returncode == 0 and "Core:" in again.stdout
    assert not warm.scratch.exists()


def test_an_unused_warm_dbt_is_stopped(tmp_path):
    with warm_dbt() as warm:
        pid = warm.pid
    assert not warm.served and not warm.scratch.exists()
    # The server is gone (waited for, so not even a zombie is left).
    assert not os.path.exists(f"/proc/{pid}") or "zombie" not in open(f"/proc/{pid}/status").read().lower()


def test_validation_in_the_warm_gx_process_gives_the_same_report_and_survives_its_death(layout):
    write_landing(layout, "a.ndjson", [event(i) for i in range(20)])
    lake.load_partition(layout, "2026-11-20", now_ms=NOW_MS)
    glob = f"{layout.raw_interactions}/**/*.parquet"
    rogue = layout.raw_interactions / "load_date=2026-11-20" / "rogue.parquet"
    duckdb.sql(f"""copy (select * replace ('e3' as event_id, 1.5 as implicit_quality_score)
                         from read_parquet('{glob}') limit 1) to '{rogue}' (format parquet)""")
    here = validate_parquet(glob, NOW_MS)
    assert not here.success and len(here.failed) == 2
    with warm_gx_process():
        worker = runner._warm_worker
        assert worker is not None
        worker_pid = worker.submit(os.getpid).result()
        assert worker_pid != os.getpid()
        assert validate_parquet(glob, NOW_MS) == here  # the same outcomes, counts and examples
        os.kill(worker_pid, 9)
        assert validate_parquet(glob, NOW_MS) == here  # validated in this process instead
    assert runner._warm_worker is None
