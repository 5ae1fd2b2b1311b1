"""One `aiw run` in a process of its own, reporting stage times and peak memory as JSON.

    python -m orchestration.bench.stage <AIW_HOME>
"""

from __future__ import annotations

import json
import resource
import sys
import time

from ingestion.layout import Layout
from orchestration.pipeline import run_pipeline


def main(home: str) -> dict[str, object]:
    started = time.perf_counter()
    summary = run_pipeline(Layout.from_env(home), say=lambda _msg: None)
    total = time.perf_counter() - started
    return {
        "ok": summary.ok,
        "blocked": summary.blocked_reason,
        "dbt_error": summary.dbt_error,
        "lines": summary.counts.lines,
        "accepted": summary.counts.accepted,
        "seconds": {**{k: round(v, 3) for k, v in summary.seconds.items()}, "total": round(total, 3)},
        # ru_maxrss is in KiB on Linux. Children: dbt processes (the largest one).
        "peak_rss_mb": {"pipeline": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        "dbt": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
