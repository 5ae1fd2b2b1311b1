"""Source adapters: foreign formats (OTLP JSON spans, PostHog exports) -> canonical 1.1 contract records.

Each format has two engines for one mapping: `otlp` / `posthog`, the reference written plainly in Python
(one parsed source object in, canonical records out, no I/O), and `otlp_sql` / `posthog_sql`, the same
mapping compiled to DuckDB SQL, which is what the loader runs (`reader` builds the relation for a landing
file). A test runs both on the same records and requires the same result. Mappings pick contract fields by
name, so message content is never copied, only hashed; PII is scrubbed by the contract's SQL on the way to
the lake (the reference also scrubs its own output with `ingestion.contract.pii.scrub`).
"""
