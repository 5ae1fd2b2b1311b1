"""When a warehouse built by an earlier version of this project must be rebuilt from the lake.

Incremental models re-read their own table (`{{ this }}`): when a release adds a column they read back
(cache_write_tokens, reasoning_tokens, the resolved model, ...), the next incremental build of an older
warehouse fails on the missing column. The warehouse holds nothing the lake and the seeds do not, so the
fix is always the same and always safe: rebuild every model (`dbt build --full-refresh`). A stamp beside
the warehouse says which format built it; bump WAREHOUSE_FORMAT whenever an incremental model's columns
change in a way an older table cannot take.
"""

from __future__ import annotations

from ingestion.layout import Layout

# 1: up to the first release. 2: exact prices (cache writes, reasoning tokens, the resolved model and price
# cell) and first-accepted-wins deduplication in fct_ai_interactions. 3: contract 1.2's tags and prompt_version
# in fct_ai_interactions (its incremental branch reads them back from the table).
WAREHOUSE_FORMAT = "3"


def needs_full_refresh(layout: Layout) -> bool:
    """True when a warehouse exists that this version did not build (or whose build never finished)."""
    if not layout.warehouse.exists():
        return False
    stamp = layout.warehouse_format_stamp
    return not stamp.exists() or stamp.read_text().strip() != WAREHOUSE_FORMAT


def record_format(layout: Layout) -> None:
    """After a complete, successful build: the warehouse now has this version's format."""
    layout.warehouse_format_stamp.write_text(WAREHOUSE_FORMAT + "\n")
