"""`python -m ingestion.collector`: run the collector (same options as `aiw collector`)."""

import sys

from ingestion.collector.server import main

# The guard matters: the collector's parse workers are spawned processes, which import this module again
# (as __mp_main__) and must not start a second collector.
if __name__ == "__main__":
    sys.exit(main())
