"""Resources shared by the code location: where AIW_HOME is and the knobs of the pipeline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ingestion.layout import Layout
from orchestration.defs.lake.quarantine import DEFAULT_QUARANTINE_THRESHOLD


class WarehouseSettings(dg.ConfigurableResource):
    """AIW_HOME and pipeline thresholds. Empty `home` means: $AIW_HOME at run time, else ./.aiw."""

    home: str = ""
    # A load whose quarantined share of lines is above this fails the contract check and blocks the
    # marts (orchestration/defs/lake/quarantine.py says why 5%).
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD
    # Producers land files at least daily; 26 h leaves two hours of slack for a late daily export.
    # 0 means: $AIW_FRESHNESS_MAX_HOURS at run time, else 26.
    freshness_max_hours: float = 0.0
    # Great Expectations reads every accepted row of a load up to this many; a bigger load, which the
    # loader has just checked row by row with the same rules, on a repeatable sample of this many rows
    # plus event_id uniqueness over all rows (expectations/runner.py says why that is enough).
    gx_full_rows: int = 100_000

    def layout(self) -> Layout:
        return Layout.from_env(self.home or None).ensure()


    def max_landing_age_hours(self) -> float:
        """The landing freshness limit in hours (read at check time, never at import)."""
        return self.freshness_max_hours or float(os.environ.get("AIW_FRESHNESS_MAX_HOURS") or 26)


@contextmanager
def dbt_sees_home(layout: Layout) -> Iterator[None]:
    """AIW_HOME set to this layout's home while a dbt process is started, then the environment as it was.

    dbt reads AIW_HOME from its environment (dbt_project/profiles.yml, the lake sources), and dagster-dbt
    starts dbt with a copy of this process's environment and no other way to add to it. Set only around the
    start, the home of one run never leaks into the rest of the process (a later Layout.from_env(), another
    run in the same process, a test).
    """
    previous = os.environ.get("AIW_HOME")
    os.environ["AIW_HOME"] = str(layout.home)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["AIW_HOME"]
        else:
            os.environ["AIW_HOME"] = previous
