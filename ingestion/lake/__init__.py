"""The Parquet lake and how landing files get into it.

- `landing`: which landing files exist, their load dates and fingerprints, and the line reader;
- `loader`: one load date from landing files to lake Parquet, quarantine and manifest, exactly once;
- `writer_lock`: one writer at a time per AIW_HOME.
"""
