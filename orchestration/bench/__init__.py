"""`aiw bench`: our pipeline side by side with bare DuckDB and a pandas notebook, on the same files."""
