"""`python -m ingestion.collector`: run the collector (same options as `aiw collector`)."""

import sys

from ingestion.collector.server import main

sys.exit(main())
