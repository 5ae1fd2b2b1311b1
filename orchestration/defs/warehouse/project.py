"""The dbt project, its manifest, and how dbt is invoked (one place for all three)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration.defs.warehouse.inputs import DBT_PROJECT_DIR, dbt_project_fingerprint

# dbt lives next to this interpreter; without this, dagster-dbt only finds it in an activated venv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_fingerprint_path(project: DbtProject) -> Path:
    return project.manifest_path.with_name("manifest.fingerprint")


def manifest_is_stale(project: DbtProject) -> bool:
    """True when target/manifest.json is missing or was parsed from other dbt project files than today's.

    Keyed on the content of the project's files (inputs.dbt_project_fingerprint), not their mtimes: a
    checkout, a copy or a branch switch that leaves the files as they were parsed does not re-parse.
    """
    recorded = _manifest_fingerprint_path(project)
    if not project.manifest_path.exists() or not recorded.exists():
        return True
    return recorded.read_text().strip() != dbt_project_fingerprint(DBT_PROJECT_DIR)


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or stale (the manifest is never committed).

    `dagster dev` would do this through prepare_if_dev(), but `aiw run`, tests and CI load the code
    location without it, so every entry point goes through here. A fresh manifest costs a hash of the
    project's files (milliseconds); only a missing or stale one costs a `dbt parse` (seconds).
    """
    project = dbt_project()
    if manifest_is_stale(project):
        fingerprint = dbt_project_fingerprint(DBT_PROJECT_DIR)  # of the files this parse reads
        done = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR)],
            capture_output=True, text=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
        if done.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}:\n{done.stdout}\n{done.stderr}")
        _manifest_fingerprint_path(project).write_text(fingerprint + "\n")
    return project.manifest_path


def finish_invocation(invocation_target: Path) -> None:
    """After a successful build: keep its partial-parse state for the next build, drop the rest of its files.

    dagster-dbt gives every invocation its own target directory and seeds it with target/'s
    partial_parse.msgpack. That file comes from `dbt parse` above, whose profile (AIW_HOME) may differ
    from the build's, so dbt would discard it and re-parse the whole project on every build (2-3 s
    here). dbt checks the file itself (version, profile, vars, file checksums) and re-parses what no
    longer matches, so an outdated copy costs a parse, never a wrong result. The invocation's directory
    (5 MB: manifest, compiled SQL, logs) would otherwise stay behind after every hourly run; a failed
    build's directory is kept, its dbt.log is what to read.
    """
    if not invocation_target.is_absolute():  # dagster-dbt's unique target paths are relative to the project
        invocation_target = DBT_PROJECT_DIR / invocation_target
    built = invocation_target / "partial_parse.msgpack"
    if built.exists():
        target = dbt_project().manifest_path.parent
        partial = target / f"partial_parse.msgpack.{os.getpid()}.tmp"
        shutil.copyfile(built, partial)
        partial.replace(target / "partial_parse.msgpack")
    shutil.rmtree(invocation_target, ignore_errors=True)


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-ups of dbt per build that this project never uses.

    Before each command DbtCliResource (dagster-dbt 0.29) runs `dbt --version` in a subprocess to learn
    which engine it talks to, and imports dbt-core in-process to open an adapter that serves only
    `.fetch_row_counts()` and `.fetch_column_metadata()`. Each is a full dbt start-up (1.5-2 s on 2 cores).
    Here the dbt executable is the one installed beside this interpreter (DBT_EXECUTABLE), so its version
    is the installed dbt-core's, and the marts' metadata comes from with_mart_metadata() (assets.py), not
    from the adapter. Both overrides are private hooks of the pinned dagster-dbt:
    tests/orchestration/test_fixed_costs.py fails if they stop being called.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource(dbt_executable: str = DBT_EXECUTABLE) -> DbtCliResource:
    """The dbt resource; `aiw run` passes the client of its warm dbt process (warm_dbt.py) as the executable."""
    return WarehouseDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable)


def run_unit_tests() -> tuple[bool, str]:
    """`dbt test --select test_type:unit`: the formula unit tests, run after the build (selectors.yml says why)."""
    done = subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", "test_type:unit", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR)],
        capture_output=True, text=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    return done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
