"""What a dbt build of the marts reads, fingerprinted, so an `aiw run` with nothing new can skip dbt.

A build is a function of: the lake files the dbt sources read (interactions, feedback, quarantine, and the
load manifest: any committed load changes them), the dbt project's own files (models, macros, seeds with
the price table, tests, configuration and vars), the genai-prices release that resolves the lake's models,
the warehouse format (upgrade.py), and the environment variables that choose the lake and the target.
After a complete, successful build the fingerprint of those inputs is written beside the warehouse; a run
whose inputs have the same fingerprint would rebuild the same marts, so it may skip dbt. Anything else
(no stamp, a failed or interrupted build, a subset build, a missing warehouse, any input changed) builds.

The lake part is a listing (path, size, mtime) of the Parquet files, not their contents: the loader only
ever adds or atomically replaces files, so a committed load always changes the listing, and reading
10M events' worth of Parquet to hash it would cost more than the build it saves.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from ingestion.layout import Layout

# The dbt project, found from this file like project.py does (without importing dagster-dbt).
DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# What dbt reads of its project: everything but its own output and installed packages.
_DBT_GENERATED = {"target", "dbt_packages", "logs"}
# Environment variables that change what the build reads or where it writes.
_BUILD_ENV = ("AIW_LAKE_URI", "AIW_DBT_TARGET")
# The lake directories the dbt sources read (staging/_lake__sources.yml) and the manifest of loads.
_LAKE_PARTS = (("raw", "interactions"), ("raw", "feedback"), ("quarantine",), ("manifest",))


def stamp_path(layout: Layout) -> Path:
    """The fingerprint of the inputs of the last successful complete build, beside warehouse.duckdb."""
    return layout.home / "warehouse.inputs.json"


def dbt_project_fingerprint(project_dir: Path | None = None) -> str:
    """sha256 over the path and content of every file of the dbt project (not target/ or packages)."""
    project_dir = project_dir or DBT_PROJECT_DIR
    digest = hashlib.sha256()
    for path in sorted(p for p in project_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(project_dir)
        if relative.parts[0] in _DBT_GENERATED or path.suffix == ".pyc":
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def lake_fingerprint(lake: Path) -> str:
    """sha256 over (path, size, mtime) of the lake files the dbt sources read."""
    digest = hashlib.sha256()
    for part in _LAKE_PARTS:
        directory = lake.joinpath(*part)
        if not directory.exists():
            continue
        for path in sorted(directory.rglob("*.parquet")):
            st = path.stat()
            digest.update(f"{path.relative_to(lake)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build_inputs(layout: Layout) -> dict[str, str]:
    """The fingerprint of everything the next build of the marts would read."""
    from ingestion.prices import lake_directory
    from orchestration.defs.warehouse.upgrade import WAREHOUSE_FORMAT

    return {
        "warehouse_format": WAREHOUSE_FORMAT,
        "dbt_project": dbt_project_fingerprint(),
        "genai_prices": metadata.version("genai-prices"),
        "lake": lake_fingerprint(lake_directory(layout)),
        **{name: os.environ.get(name, "") for name in _BUILD_ENV},
    }


def why_build(layout: Layout) -> str | None:
    """Why the marts must be built now (one line), or None when the last build read exactly these inputs."""
    if not layout.warehouse.exists():
        return "no warehouse yet"
    stamp = stamp_path(layout)
    if not stamp.exists():
        return "no record of a complete, successful build"
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return f"{stamp.name} is unreadable"
    from orchestration.defs.warehouse.upgrade import needs_full_refresh

    if needs_full_refresh(layout):
        return "the warehouse was built by an earlier version of this project"
    try:
        current = build_inputs(layout)
    except ValueError as exc:  # a lake we cannot list (AIW_LAKE_URI on object storage): always build
        return str(exc).split(":")[0]
    changed = [name for name in current if recorded.get(name) != current[name]]
    return f"changed since the last build: {', '.join(changed)}" if changed else None


def forget_build(layout: Layout) -> None:
    """Before a build: until it succeeds, the warehouse may not match any recorded inputs."""
    stamp_path(layout).unlink(missing_ok=True)


def record_build(layout: Layout, inputs: dict[str, str]) -> None:
    """After a complete, successful build that read `inputs` (taken before it started)."""
    stamp = stamp_path(layout)
    partial = stamp.with_suffix(".tmp")
    partial.write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n")
    partial.replace(stamp)
