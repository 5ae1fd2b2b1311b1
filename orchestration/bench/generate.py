"""Generate the benchmark's landing files once, for every file mix, in a process of its own.

    python -m orchestration.bench.generate <spec.json>

The spec names the events, days, seed, end date, files per day and one AIW_HOME per mix
(`synthetic.MIXES`). All mixes are written from the same generated events (only where the lines
breaking a contract rule land differs), so generating them together costs one generation plus one
more write per mix. A process of its own: the generator's memory is returned to the system before
anything is measured, and its time and peak memory are reported like the other steps'.
Prints one JSON line: the ground truth the runner and the tests compare with.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from ingestion import synthetic
from ingestion.layout import Layout


def main(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    homes = {mix: Layout.from_env(home).ensure() for mix, home in spec["homes"].items()}
    first, *others = homes
    opts = synthetic.Options(events=spec["events"], days=spec["days"], seed=spec["seed"],
                             end_date=dt.date.fromisoformat(spec["end_date"]), files_per_day=spec["files_per_day"],
                             mix=first, whale_sessions_per_day=spec.get("whale_sessions_per_day", 8))
    gen = synthetic.generate(homes[first], opts, also={mix: homes[mix] for mix in others})
    return {
        "seconds": time.perf_counter() - started,
        "lines": gen.lines,
        "valid_interactions": gen.valid_interactions,
        "valid_feedback": gen.valid_feedback,
        "duplicates": gen.duplicates,
        "planted": dict(gen.planted),
        "mixes": {mix: {"files": [str(p) for p in files],
                        "violations_per_file": {str(p): gen.violations_per_file[p] for p in files}}
                  for mix, files in gen.files_by_mix.items()},
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text()))))
