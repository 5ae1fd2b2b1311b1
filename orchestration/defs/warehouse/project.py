"""The dbt project, its manifest, and how dbt is invoked (one place for all three)."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dbt lives next to this interpreter; without this, dagster-dbt only finds it in an activated venv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_is_stale(project: DbtProject) -> bool:
    """True when target/manifest.json is missing or older than any model, macro, seed or config file."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources.extend(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return any(p.stat().st_mtime > built for p in sources)


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or stale (the manifest is never committed).

    `dagster dev` would do this through prepare_if_dev(), but `aiw run`, tests and CI load the code
    location without it, so every entry point goes through here.
    """
    project = dbt_project()
    if manifest_is_stale(project):
        done = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR)],
            capture_output=True, text=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
        if done.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}:\n{done.stdout}\n{done.stderr}")
    return project.manifest_path


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)


def run_unit_tests() -> tuple[bool, str]:
    """`dbt test --select test_type:unit`: the formula unit tests, run after the build (selectors.yml says why)."""
    done = subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", "test_type:unit", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR)],
        capture_output=True, text=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    return done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
