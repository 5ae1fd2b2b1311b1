"""Resources shared by the code location: where AIW_HOME is and the knobs of the pipeline."""

from __future__ import annotations

import dagster as dg

from ingestion.layout import Layout


class WarehouseSettings(dg.ConfigurableResource):
    """AIW_HOME and pipeline thresholds. Empty `home` means: $AIW_HOME at run time, else ./.aiw."""

    home: str = ""
    # A load whose quarantined share of lines is above this fails the contract check and blocks the
    # marts: a few bad rows are normal, a tenth of a file is a broken producer. Default 5% (issue 2).
    quarantine_threshold: float = 0.05

    def layout(self) -> Layout:
        return Layout.from_env(self.home or None).ensure()
