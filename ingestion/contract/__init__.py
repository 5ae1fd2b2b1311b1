"""The event contract: one source of truth and everything that enforces it.

- `schema`: the contract itself (fields, types, rules, versions) and the Python reference validator;
- `staging_sql`: the same rules as the DuckDB SQL the loader runs over every landing line (fast path included);
- `pii`: the scrubber every string passes through before it reaches the lake;
- `quality`: the implicit quality score, computed the same way in the SDK, the loader and dbt.

The SDK imports `schema`, `pii` and `quality` (its own distribution ships them): nothing here may import
DuckDB or the warehouse at module level except `staging_sql`.
"""
